import type { Registry } from '../registry.js';
import type { Provider, Trust } from '../registry-types.js';
import { EXIT, formatRows, out, outJson } from './output.js';

function describeTrust(provider: Provider, trust: Trust): string[] {
  const lines = [`trust ${trust.id} (${trust.kind}${trust.partition ? `, ${trust.partition}` : ''})${trust.cite.confirmed ? '' : ' (unconfirmed)'}`];
  const certs = provider.certificates.filter((c) => c.trust.includes(trust.id));
  const current = certs.filter((c) => c.status === 'current');
  lines.push(...formatRows([
    ['summary', trust.summary],
    ['sslmode', trust.sslmode],
    ['system', trust.systemTrustStore ? 'sslrootcert=system works (PostgreSQL 16+)' : 'sslrootcert=system does not verify these servers'],
    ['sources', trust.sources?.map((s) => `${s.url}${s.regions ? ` (${s.regions.length} regions)` : ''}`).join('\n')],
    ['obtain', trust.obtain?.map((s) => `${s.method}: ${s.how}${s.auth ? ` [auth: ${s.auth}]` : ''}`).join('\n')],
    ['reason', trust.reason],
    ['instead', trust.alternative],
    ['pins', certs.length ? `${current.length} current, ${certs.length - current.length} expired or retired` : undefined],
    ['roots', trust.kind === 'public' ? current.map((c) => `${c.subject} ${c.sha256}`).join('\n') : undefined],
    ['history', trust.history?.map((h) => `${h.url} (${h.status})`).join('\n')],
  ]));
  return lines;
}

/** `pgcerts show <provider>`: everything the registry says about one provider. */
export function runShow(registry: Registry, name: string, options: { json?: boolean }): number {
  const provider = registry.getProvider(name);
  if (options.json) {
    outJson({ registryVersion: registry.version, provider });
    return EXIT.ok;
  }
  out(`${provider.name} (${provider.id})`);
  for (const line of formatRows([['aliases', provider.aliases.join(', ')]], '')) out(line);
  for (const trust of provider.trust) {
    out();
    for (const line of describeTrust(provider, trust)) out(line);
  }
  out();
  out('hosts');
  for (const rule of provider.hosts) {
    out(`  ${rule.kind.padEnd(16)} ${rule.examples[0]}${rule.partition ? `  [${rule.partition}]` : ''}`);
  }
  if (provider.notes.length) {
    out();
    out('notes');
    for (const note of provider.notes) out(`  - ${note.text}${note.cite.confirmed ? '' : ' (unconfirmed)'}`);
  }
  out();
  out('docs');
  for (const doc of provider.docs) out(`  ${doc.title}: ${doc.url}`);
  return EXIT.ok;
}
