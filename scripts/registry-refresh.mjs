#!/usr/bin/env node
// The maintainers' refresh (`npm run registry:refresh`): download every source the registry lists
// (live, or through PGCERTS_MIRROR), check what was served, and print what differs from the pins.
//   node scripts/registry-refresh.mjs [provider...] [--write] [--json]
//   added     a valid CA certificate the source serves that the registry does not pin for it
//   rotated   the same, carrying the common name of a pin (a new edition of a pinned CA)
//   removed   a current pin the source no longer serves
//   expired   a pin marked current whose notAfter has passed
//   expiring  a current pin that expires within --warn-days (30)
//   refused   a certificate that is no CA, or whose signature does not verify (never pinned)
// With --write: new pins (status current, cite unconfirmed), removed pins retired, expired pins
// expired, registry/meta.json's version bumped (patch), a registry/CHANGELOG.md entry, and
// registry.json and roots.json rebuilt (the new certificates from the downloaded files).
//   --registry-dir DIR   work on another copy of registry/ (tests; never the real one there)
//   --now ISO-DATE       the clock (default: now); --date YYYY-MM-DD for the changelog and cites
//   --json               one JSON document on stdout
//   --timeout SECONDS, --retries N   per download
// Exit codes: 0 the pins match every source, 1 something differs (written with --write),
// 2 usage error or a source that could not be downloaded.
// Needs `npm run build` (it reuses dist/: the source list, the downloader, the PEM parser).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const KNOWN = new Set(['--write', '--json', '--registry-dir', '--now', '--date', '--timeout', '--retries', '--warn-days']);
function usage(message) {
  process.stderr.write(`registry-refresh: ${message}\n`);
  process.exit(2);
}
const named = [];
for (let i = 0; i < args.length; i++) {
  if (!args[i].startsWith('--')) {
    named.push(args[i]);
    continue;
  }
  if (!KNOWN.has(args[i])) usage(`unknown argument "${args[i]}"; see the comment at the top of scripts/registry-refresh.mjs.`);
  if (!['--write', '--json'].includes(args[i])) i++;
}
const option = (name) => {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  if (args[i + 1] === undefined) usage(`${name} needs a value.`);
  return args[i + 1];
};
const write = args.includes('--write');
const json = args.includes('--json');
const registryDir = resolve(option('--registry-dir') ?? join(root, 'registry'));
const now = option('--now') ? new Date(option('--now')) : new Date();
if (Number.isNaN(now.getTime())) usage(`--now "${option('--now')}" is not a date.`);
const date = option('--date') ?? now.toISOString().slice(0, 10);
if (!/^\d{4}-\d\d-\d\d$/.test(date)) usage(`--date "${date}" is not YYYY-MM-DD.`);
const warnDays = Number(option('--warn-days') ?? 30);
const timeoutS = option('--timeout') === undefined ? 60 : Number(option('--timeout'));
const retries = option('--retries') === undefined ? 2 : Number(option('--retries'));
if (!Number.isFinite(warnDays) || !Number.isFinite(timeoutS) || timeoutS <= 0 || !Number.isInteger(retries) || retries < 0) usage('--warn-days, --timeout and --retries take numbers.');

const load = (file) => import(join(root, 'dist', file)).catch(() => usage(`dist/${file} is missing: run \`npm run build\` first.`));
const { listMirrorSources } = await load('mirror.js');
const { download } = await load('download.js');
const { parseCertificates, toPem } = await load('pem.js');
const { summarizeCertificate } = await load('certificate.js');
const { loadRegistry } = await load('registry.js');
const { listSourcePins } = await load('shipped-roots.js');

const registry = loadRegistry(join(registryDir, 'registry.json'));
const mirror = process.env.PGCERTS_MIRROR || undefined;
const DAY_MS = 86_400_000;
const cn = (subject) => /(?:^|, )CN=((?:\\.|[^,])*)/.exec(subject)?.[1]?.replace(/\\(.)/g, '$1') ?? subject;

let chosen;
try {
  chosen = named.length === 0 ? registry.providers : [...new Set(named.map((name) => registry.getProvider(name)))];
} catch (error) {
  usage(error.message);
}
const sources = listMirrorSources(chosen);
const downloads = [];
const failures = [];
// Six downloads at a time, as `pgcerts mirror` does.
const queue = [...sources];
const fetchOne = async (source) => {
  try {
    const answer = await download(source.url, { mirror, redirectHosts: source.redirectHosts, totalTimeoutMs: timeoutS * 1000, retries });
    const certs = parseCertificates(answer.body ?? Buffer.alloc(0), { format: source.format, name: source.url });
    downloads.push({ source, certs, body: answer.body });
  } catch (error) {
    failures.push({ provider: source.provider, url: source.url, message: error.message });
  }
};
await Promise.all(Array.from({ length: 6 }, async () => {
  for (let source = queue.shift(); source !== undefined; source = queue.shift()) await fetchOne(source);
}));
downloads.sort((a, b) => (a.source.url < b.source.url ? -1 : 1));
failures.sort((a, b) => (a.url < b.url ? -1 : 1));

/** Whether a certificate is a CA whose signature verifies: by itself (a root) or by a CA in the same file. */
function verified(cert, all) {
  if (!cert.ca) return false;
  const issuers = cert.subject === cert.issuer ? [cert] : all.filter((c) => c.subject === cert.issuer && c.ca && c !== cert);
  return issuers.some((issuer) => {
    try {
      return cert.verify(issuer.publicKey);
    } catch {
      return false;
    }
  });
}

// Findings, once per provider, trust and fingerprint (a global and a regional file hold the same roots).
const findings = new Map();
const note = (kind, provider, trust, entry) => {
  const key = `${kind} ${provider} ${trust} ${entry.sha256}`;
  if (!findings.has(key)) findings.set(key, { kind, provider, trust, ...entry });
};
const downloaded = new Map();
// What any source of a trust serves: a pin is removed only when none of them does.
const servedByTrust = new Map();
for (const { source, certs } of downloads) {
  const key = `${source.provider} ${source.trust}`;
  servedByTrust.set(key, new Set([...(servedByTrust.get(key) ?? []), ...certs.map((c) => c.fingerprint256)]));
}
for (const { source, certs } of downloads) {
  const provider = registry.getProvider(source.provider);
  const trust = provider.trust.find((t) => t.id === source.trust);
  const pins = source.single ? [source.single] : listSourcePins(provider, trust, source.region);
  const pinnedHere = new Set(pins.map((p) => p.sha256));
  const pinnedForTrust = new Set(provider.certificates.filter((p) => p.trust.includes(trust.id)).map((p) => p.sha256));
  const served = servedByTrust.get(`${source.provider} ${source.trust}`);
  for (const cert of certs) {
    const s = summarizeCertificate(cert, { verifySignature: false });
    const entry = { sha256: s.sha256, subject: s.subject, notBefore: s.notBefore, notAfter: s.notAfter, key: s.key, region: source.region, url: source.url };
    if (pinnedHere.has(s.sha256) || pinnedForTrust.has(s.sha256)) continue;
    if (Date.parse(s.notAfter) <= now.getTime()) continue; // an expired certificate a source still serves is no news
    if (!verified(cert, certs)) {
      note('refused', provider.id, trust.id, { ...entry, reason: cert.ca ? 'its signature does not verify' : 'it is not a CA' });
      continue;
    }
    const namesake = provider.certificates.find((p) => cn(p.subject) === cn(s.subject));
    note(namesake ? 'rotated' : 'added', provider.id, trust.id, { ...entry, replaces: namesake?.sha256 });
    downloaded.set(s.sha256, { cert, url: source.url });
  }
  for (const pin of pins) {
    if (!served.has(pin.sha256) && Date.parse(pin.notAfter) > now.getTime()) note('removed', provider.id, trust.id, { sha256: pin.sha256, subject: pin.subject, notAfter: pin.notAfter, region: pin.region, url: source.url });
  }
}
for (const provider of chosen) {
  for (const pin of provider.certificates) {
    if (pin.status !== 'current') continue;
    const left = Date.parse(pin.notAfter) - now.getTime();
    const entry = { sha256: pin.sha256, subject: pin.subject, notAfter: pin.notAfter, region: pin.region };
    if (left <= 0) note('expired', provider.id, pin.trust.join(','), entry);
    else if (left < warnDays * DAY_MS) note('expiring', provider.id, pin.trust.join(','), { ...entry, days: Math.floor(left / DAY_MS) });
  }
}
const ORDER = ['added', 'rotated', 'removed', 'expired', 'expiring', 'refused'];
const list = [...findings.values()].sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind) || (a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0) || (a.sha256 < b.sha256 ? -1 : 1));
const changes = list.filter((f) => f.kind !== 'expiring' && f.kind !== 'refused');

let written;
if (write && changes.length > 0) written = writeChanges(changes);

if (json) {
  process.stdout.write(`${JSON.stringify({ registryVersion: registry.version, checkedAt: now.toISOString(), mirror: mirror ?? null, sources: sources.length, downloaded: downloads.length, findings: list, failures, written: written ?? null }, null, 2)}\n`);
} else {
  const lines = [`registry ${registry.version}: ${downloads.length} of ${sources.length} sources downloaded${mirror ? ` through ${mirror}` : ''}, ${changes.length} change${changes.length === 1 ? '' : 's'}`];
  for (const f of list) {
    const where = `${f.provider} (${f.trust}${f.region ? `, ${f.region}` : ''})`;
    const extra = f.kind === 'expiring' ? ` in ${f.days} days` : f.kind === 'refused' ? `: ${f.reason}` : f.kind === 'rotated' ? `, replacing ${f.replaces}` : '';
    lines.push(`${f.kind.padEnd(8)} ${where}: "${cn(f.subject)}" ${f.sha256} until ${f.notAfter.slice(0, 10)}${extra}`);
  }
  for (const f of failures) lines.push(`failed   ${f.provider}: ${f.message}`);
  if (written) lines.push(`written: registry ${written.version} in ${registryDir} (${written.files.join(', ')})`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
process.exit(failures.length > 0 ? 2 : changes.length > 0 ? 1 : 0);

/** Apply the changes to the provider files (as text, so the hand formatting stays), then rebuild. */
function writeChanges(changes) {
  const files = [];
  const byProvider = new Map();
  for (const change of changes) byProvider.set(change.provider, [...(byProvider.get(change.provider) ?? []), change]);
  for (const [id, items] of byProvider) {
    const file = join(registryDir, 'providers', `${id}.json`);
    let text = readFileSync(file, 'utf8');
    const data = JSON.parse(text);
    const setStatus = (sha256, status) => {
      const at = text.indexOf(`"sha256": "${sha256}"`);
      if (at === -1) return;
      const end = text.indexOf('"cite"', at);
      const block = text.slice(at, end).replace('"status": "current"', `"status": "${status}"`);
      const cite = text.slice(end).replace(/"checked": "\d{4}-\d\d-\d\d"/, `"checked": "${date}"`);
      text = text.slice(0, at) + block + cite;
    };
    const added = [];
    for (const item of items) {
      if (item.kind === 'removed') setStatus(item.sha256, 'retired');
      if (item.kind === 'expired') setStatus(item.sha256, 'expired');
      if (item.kind === 'added' || item.kind === 'rotated') {
        if (added.some((a) => a.sha256 === item.sha256) || data.certificates.some((c) => c.sha256 === item.sha256)) continue;
        const trust = data.trust.find((t) => t.id === item.trust);
        const refs = trust.sources?.find((s) => item.url === s.url || item.url.startsWith(s.url.split('{region}')[0]))?.cite.refs ?? trust.cite.refs;
        added.push({
          sha256: item.sha256, subject: item.subject, notBefore: item.notBefore, notAfter: item.notAfter, key: item.key, status: 'current', trust: [item.trust],
          ...(item.region ? { region: item.region } : {}),
          note: `Added by the maintainers' refresh from ${item.url} on ${date}${item.kind === 'rotated' ? `, as the successor of ${item.replaces}` : ''}; check it against the provider's documentation.`,
          cite: { refs, checked: date, confirmed: false },
        });
      }
    }
    if (added.length > 0) {
      // After the last pin: the certificates array is closed by the line "  ],".
      const start = text.indexOf('"certificates": [');
      const close = text.indexOf('\n  ]', start);
      const render = (pin) => {
        const { cite, ...rest } = pin;
        const fields = Object.entries(rest).map(([k, v]) => `      ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
        return `    {\n${[...fields, `      "cite": { "refs": ${JSON.stringify(cite.refs)}, "checked": "${cite.checked}", "confirmed": ${cite.confirmed} }`].join(',\n')}\n    }`;
      };
      const empty = /\[\s*$/.test(text.slice(start, close));
      text = `${text.slice(0, close)}${empty ? '\n' : ',\n'}${added.map(render).join(',\n')}${text.slice(close)}`;
    }
    JSON.parse(text);
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
    files.push(`providers/${id}.json`);
  }

  const metaFile = join(registryDir, 'meta.json');
  const meta = JSON.parse(readFileSync(metaFile, 'utf8'));
  const [major, minor, patch] = meta.version.split('.').map(Number);
  meta.version = `${major}.${minor}.${patch + 1}`;
  writeFileSync(metaFile, `${JSON.stringify(meta, null, 2)}\n`);
  files.push('meta.json');

  const changelog = join(registryDir, 'CHANGELOG.md');
  const count = (kind) => changes.filter((c) => c.kind === kind);
  const describe = (items, verb) => (items.length === 0 ? [] : [`- ${verb}: ${items.map((c) => `${c.provider} "${cn(c.subject)}"${c.region ? ` (${c.region})` : ''}`).join(', ')}.`]);
  const entry = [
    `## ${meta.version} (${date})`, '',
    `From the maintainers' refresh${mirror ? ' (through a mirror)' : ''}; new pins are unconfirmed until checked against the providers' documentation.`,
    ...describe([...count('added'), ...count('rotated')], 'New pins'),
    ...describe(count('removed'), 'Retired (no longer served)'),
    ...describe(count('expired'), 'Expired'),
    '', '',
  ].join('\n');
  const old = readFileSync(changelog, 'utf8');
  const at = old.indexOf('\n## ');
  writeFileSync(changelog, at === -1 ? `${old}\n${entry}` : `${old.slice(0, at + 1)}${entry}${old.slice(at + 1)}`);
  files.push('CHANGELOG.md');

  // Rebuild registry.json, then roots.json with the downloaded files at hand.
  const extra = mkdtempSync(join(tmpdir(), 'pgcerts-refresh-'));
  try {
    const index = [];
    for (const [sha256, { cert, url }] of downloaded) {
      const name = `${index.length}.pem`;
      writeFileSync(join(extra, name), toPem([cert]));
      index.push({ file: name, from: `downloaded from ${url} on ${date}`, sha256 });
    }
    writeFileSync(join(extra, 'index.json'), JSON.stringify(index));
    const run = (script, more = []) => execFileSync(process.execPath, [join(root, 'scripts', script), '--registry-dir', registryDir, ...more], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    run('build-registry.mjs');
    run('build-roots.mjs', ['--extra', extra]);
  } finally {
    rmSync(extra, { recursive: true, force: true });
  }
  files.push('registry.json', 'roots.json');
  return { version: meta.version, files };
}
