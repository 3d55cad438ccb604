import type { Registry } from '../registry.js';
import { EXIT, out, outJson } from './output.js';

/** `pgcerts list`: every provider with its trust kinds. */
export function runList(registry: Registry, options: { json?: boolean }): number {
  const rows = registry.providers.map((p) => ({
    id: p.id,
    name: p.name,
    aliases: p.aliases,
    trustKinds: [...new Set(p.trust.map((t) => t.kind))],
    sslmode: p.trust[0]?.sslmode,
  }));
  if (options.json) {
    outJson({ registryVersion: registry.version, providers: rows });
    return EXIT.ok;
  }
  const idWidth = Math.max(...rows.map((r) => r.id.length));
  const kindWidth = Math.max(...rows.map((r) => r.trustKinds.join(',').length));
  for (const row of rows) {
    out(`${row.id.padEnd(idWidth)}  ${row.trustKinds.join(',').padEnd(kindWidth)}  ${row.name}`);
  }
  return EXIT.ok;
}
