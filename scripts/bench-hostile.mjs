#!/usr/bin/env node
// Hostile bundles, before and after, in one run (BENCHMARKS.md, "Hostile bundles"):
//   npm run build && node scripts/bench-hostile.mjs [--before <git ref>]
// "before" is src/ at that ref (default 6aecdd1, the last commit before issue 9's validation
// work), bundled with esbuild into a temporary directory; "after" is dist/. Nothing is asserted.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const i = process.argv.indexOf('--before');
const before = i < 0 ? '6aecdd1' : process.argv[i + 1];
const work = mkdtempSync(join(tmpdir(), 'pgcerts-bench-hostile-'));

async function load(srcDir, label) {
  const out = {};
  for (const name of ['validate', 'pem']) {
    const file = join(work, `${label}-${name}.mjs`);
    await build({ entryPoints: [join(srcDir, `${name}.ts`)], outfile: file, bundle: true, platform: 'node', format: 'esm', external: ['node-forge'], logLevel: 'warning' });
    Object.assign(out, await import(pathToFileURL(file).href));
  }
  return out;
}

try {
  execFileSync('sh', ['-c', `git -C '${root}' archive ${before} src | tar -x -C '${work}'`]);
  const old = await load(join(work, 'src'), 'before');
  const now = await load(join(root, 'src'), 'after');

  // Minimal DER writer for self-made certificates (EC P-256, signed with node:crypto).
  const len = (n) => (n < 128 ? Buffer.from([n]) : n < 256 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 255]));
  const tlv = (tag, ...parts) => { const body = Buffer.concat(parts); return Buffer.concat([Buffer.from([tag]), len(body.length), body]); };
  const oid = (hex) => tlv(0x06, Buffer.from(hex, 'hex'));
  const name = (cn) => tlv(0x30, tlv(0x31, tlv(0x30, oid('550403'), tlv(0x0c, Buffer.from(cn)))));
  const time = (d) => tlv(0x18, Buffer.from(d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'));
  const ecdsa = tlv(0x30, oid('2a8648ce3d040302'));
  const ca = tlv(0xa3, tlv(0x30, tlv(0x30, oid('551d13'), tlv(0x01, Buffer.from([0xff])), tlv(0x04, tlv(0x30, tlv(0x01, Buffer.from([0xff])))))));
  let serial = 1;
  const cert = (subject, issuer, key, signer) => {
    const tbs = tlv(0x30, tlv(0xa0, tlv(0x02, Buffer.from([2]))), tlv(0x02, Buffer.from([1, serial >> 8 & 255, serial++ & 255])), ecdsa, name(issuer),
      tlv(0x30, time(new Date('2026-01-01')), time(new Date('2036-01-01'))), name(subject), key.publicKey.export({ type: 'spki', format: 'der' }), ca);
    const der = tlv(0x30, tbs, ecdsa, tlv(0x03, Buffer.from([0]), sign('sha256', tbs, signer)));
    return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
  };
  const ec = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const roots = Array.from({ length: 600 }, () => ({ key: ec() }));
  // Each intermediate is signed by the last root, so the old search tries every same-name root first.
  const pems = [...roots.map((r) => cert('Example same Root CA', 'Example same Root CA', r.key, r.key.privateKey)),
    ...Array.from({ length: 600 }, (_, n) => cert(`Example issuing CA ${n}`, 'Example same Root CA', ec(), roots[599].key.privateKey))];
  const hostile = pems.join('');
  const many = Array.from({ length: 4000 }, () => pems[0]).join('');

  const cite = { refs: [], checked: '2026-11-27', confirmed: false };
  const trust = { id: 'test', kind: 'bundle', sslmode: 'verify-full', systemTrustStore: false, summary: '', unpinned: 'constraints', constraints: { subject: '^.+$', selfSigned: false, ca: true, keyTypes: ['rsa', 'ec'] }, cite };
  const provider = { id: 'example', name: 'Example', aliases: [], docs: [], references: {}, hosts: [], trust: [trust], certificates: [], notes: [] };
  const time1 = (f) => { const t = performance.now(); let outcome; try { outcome = `accepted ${f().kept.length}`; } catch (e) { outcome = `refused (${e.message.slice(0, 60)}...)`; } return [(performance.now() - t) / 1000, outcome]; };
  const rows = [];
  for (const [label, impl] of [['before', old], ['after', now]]) {
    const certs = impl.parseCertificates(hostile);
    rows.push([label, `validate 600 same-name roots + 600 intermediates (${(hostile.length / 2 ** 20).toFixed(2)} MiB)`, ...time1(() => impl.validateCertificates(certs, { provider, trust, now: new Date('2026-11-27') }))]);
    rows.push([label, `validate 8 same-name roots + 600 intermediates`, ...time1(() => impl.validateCertificates([...certs.slice(592, 600), ...certs.slice(600)], { provider, trust, now: new Date('2026-11-27') }))]);
    rows.push([label, `parseCertificates, 4000 PEM blocks (${(many.length / 2 ** 20).toFixed(2)} MiB)`, ...time1(() => ({ kept: impl.parseCertificates(many) }))]);
  }
  console.log('| code | measurement | seconds | outcome |\n|---|---|---|---|');
  for (const [label, what, s, outcome] of rows) console.log(`| ${label} | ${what} | ${s.toFixed(3)} | ${outcome} |`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
