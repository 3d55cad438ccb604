#!/usr/bin/env node
// Maintainer tool: print registry `certificates` entries (without trust/cite) for every
// certificate in one or more PEM, DER or PKCS#7 files, so pins are taken from real files, never
// typed. Uses the built library (run `npm run build` first).
// Usage: node scripts/describe-certs.mjs FILE... [--region-from-cn]
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const { parseCertificates } = await import(pathToFileURL(join(dist, 'pem.js')).href);
const { summarizeCertificate } = await import(pathToFileURL(join(dist, 'certificate.js')).href);

const files = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const regionFromCn = process.argv.includes('--region-from-cn');

const seen = new Set();
const out = [];
for (const file of files) {
  for (const cert of parseCertificates(readFileSync(file), { name: file })) {
    const { sha256, subject, notBefore, notAfter, key, selfSigned, ca } = summarizeCertificate(cert);
    if (seen.has(sha256)) continue;
    seen.add(sha256);
    const entry = { sha256, subject, notBefore, notAfter, key, selfSigned, ca };
    if (regionFromCn) {
      const m = /CN=Amazon RDS ([a-z]{2}(?:-[a-z]+)+-\d+) /.exec(subject);
      if (m) entry.region = m[1];
    }
    out.push(entry);
  }
}
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
