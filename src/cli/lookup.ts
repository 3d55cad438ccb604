import { lookup, type HostMatch, type LookupResult } from '../lookup.js';
import type { Registry } from '../registry.js';
import { EXIT, formatRows, out, outJson, warn } from './output.js';

function describe(match: HostMatch): Array<[string, string | undefined]> {
  return [
    ['provider', `${match.guess ? 'probably ' : ''}${match.provider} (${match.providerName})${match.guess ? ': other hosts share this name form' : ''}`],
    ['kind', match.kind],
    ['partition', match.partition],
    ['region', match.region],
    ['trust', `${match.trust.kind}: ${match.trust.summary}${match.trust.confirmed ? '' : ' (unconfirmed)'}`],
    ['sslmode', match.sslmode],
    ['bundle', match.source && `${match.source.url}${match.source.fallback ? ' (partition-wide fallback)' : ''}`],
    ['roots', match.roots?.map((r) => r.url ? `${r.subject}\n  ${r.url}` : r.subject).join('\n')],
    ['obtain', match.obtain?.map((s) => `${s.method}: ${s.how}`).join('\n')],
    ['why', match.reason],
    ['instead', match.alternative],
    ['system', match.trust.systemTrustStore ? `sslrootcert=system also works (libpq 16+)${match.trust.confirmed ? '' : ' (unconfirmed)'}` : undefined],
    ['notes', match.notes.map((n) => `- ${n}`).join('\n')],
  ];
}

/** `pgcerts lookup <host|url|conninfo>`: which provider, region and certificate source. */
export function runLookup(registry: Registry, input: string, options: { json?: boolean }): number {
  const results: LookupResult[] = lookup(input, { registry });
  const missing = results.filter((r) => !r.match);
  if (options.json) {
    outJson({ registryVersion: registry.version, results });
  } else {
    for (const result of results.filter((r) => r.match)) {
      out(result.host ?? result.input);
      for (const line of formatRows(describe(result.match as HostMatch))) out(line);
    }
  }
  for (const result of missing) {
    const name = result.host ?? (result.input || 'the connection string');
    warn(`no provider matches "${name}". ${result.hint ?? ''} Run \`pgcerts list\` to see the providers pgcerts knows.`);
  }
  return missing.length === 0 ? EXIT.ok : EXIT.failed;
}
