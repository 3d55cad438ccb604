#!/usr/bin/env node
// Maintainer tool: print registry `certificates` entries (without trust/cite) for every
// certificate in one or more PEM/DER files, so pins are taken from real files, never typed.
// Usage: node scripts/describe-certs.mjs FILE... [--region-from-cn]
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';

const files = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const regionFromCn = process.argv.includes('--region-from-cn');

function splitCertificates(bytes) {
  const text = bytes.toString('latin1');
  if (!text.includes('-----BEGIN')) return [new X509Certificate(bytes)];
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => {
    const body = block.split(/\r?\n/).map((line) => line.trim()).join('\n');
    return new X509Certificate(body);
  });
}

function describeKey(cert) {
  const key = cert.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return `RSA ${details.modulusLength}`;
  if (key.asymmetricKeyType === 'ec') {
    const curves = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
    return `EC ${curves[details.namedCurve] ?? details.namedCurve}`;
  }
  return String(key.asymmetricKeyType);
}

const seen = new Set();
const out = [];
for (const file of files) {
  for (const cert of splitCertificates(readFileSync(file))) {
    if (seen.has(cert.fingerprint256)) continue;
    seen.add(cert.fingerprint256);
    const entry = {
      sha256: cert.fingerprint256,
      subject: cert.subject.split('\n').join(', '),
      notBefore: new Date(cert.validFrom).toISOString(),
      notAfter: new Date(cert.validTo).toISOString(),
      key: describeKey(cert),
      selfSigned: cert.subject === cert.issuer && cert.verify(cert.publicKey),
      ca: cert.ca,
    };
    if (regionFromCn) {
      const m = /CN=Amazon RDS ([a-z]{2}(?:-[a-z]+)+-\d+) /.exec(entry.subject);
      if (m) entry.region = m[1];
    }
    out.push(entry);
  }
}
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
