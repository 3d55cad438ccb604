// Renewed intermediates (schema 1.2 `intermediates`): an unpinned intermediate CA that a pinned
// root of the same source signed, within the trust's declared constraints, is accepted and
// reported as new; anything else stays refused. Nobody has AWS's keys, so the provider, its
// pinned root and the renewals are made here; the bundled registry's GovCloud entry is checked
// for the refusals.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarizeCertificate } from '../src/certificate.js';
import { runChecks } from '../src/check.js';
import { fetchBundle } from '../src/fetch.js';
import { Registry, getBundledRegistry } from '../src/registry.js';
import type { PinnedCertificate, Provider, Trust } from '../src/registry-types.js';
import { validateCertificates } from '../src/validate.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';
import { createCa, createIntermediate, createServerCertificate, daysFromNow, type TestCertificate } from './helpers/test-ca.js';

const cite = { refs: ['test'], checked: '2026-12-03', confirmed: true };
const SUBJECT = { O: 'Example Cloud', OU: 'Example DB' };
const now = new Date();

function pinOf(cert: TestCertificate, region: string): PinnedCertificate {
  const s = summarizeCertificate(new X509Certificate(cert.pem), { verifySignature: false });
  return { sha256: s.sha256, subject: s.subject, notBefore: s.notBefore, notAfter: s.notAfter, key: s.key, status: 'current', trust: ['gov'], region, cite };
}

let root: TestCertificate;
let oldIntermediate: TestCertificate;
let provider: Provider;
let trust: Trust;

beforeAll(() => {
  root = createCa({ commonName: 'Example DB gov-west-1 Root CA RSA2048 G1', subject: SUBJECT, notBefore: daysFromNow(-1000), notAfter: daysFromNow(10_000) });
  oldIntermediate = createIntermediate(root, { commonName: 'Example DB gov-west-1 RSA2048 G1', subject: SUBJECT, notBefore: daysFromNow(-1800), notAfter: daysFromNow(20) });
  trust = {
    id: 'gov', kind: 'bundle', sslmode: 'verify-full', systemTrustStore: false, summary: 'A test partition whose bundle carries intermediates.',
    sources: [
      { id: 'regional', url: 'https://certs.example.test/{region}/bundle.pem', format: 'pem', regions: ['gov-west-1'], cite },
      { id: 'global', url: 'https://certs.example.test/global/bundle.pem', format: 'pem', cite },
    ],
    unpinned: 'constraints',
    constraints: { subject: '^(?=.*(?:^|, )CN=Example DB gov-[a-z]+-\\d+ Root CA RSA2048 G1(?:,|$)).*$', selfSigned: true, ca: true, keyTypes: ['rsa'] },
    intermediates: { subject: '^(?=.*(?:^|, )CN=Example DB gov-[a-z]+-\\d+ RSA2048 G\\d+(?:,|$))(?=.*(?:^|, )O=Example Cloud(?:,|$)).*$', keyTypes: ['rsa', 'ec'], maxValidityDays: 1830, cite },
    cite,
  };
  provider = {
    id: 'exampledb', name: 'Example DB', aliases: [], docs: [{ title: 'docs', url: 'https://docs.example.test/' }],
    references: { test: { title: 'made for this test', url: 'https://docs.example.test/', primary: true } },
    hosts: [], trust: [trust], certificates: [pinOf(root, 'gov-west-1'), pinOf(oldIntermediate, 'gov-west-1')], notes: [],
  };
});

const validate = (pems: string[], options: { region?: string; trust?: Trust; strict?: boolean } = {}) =>
  validateCertificates(pems.map((pem) => new X509Certificate(pem)), { provider, trust: options.trust ?? trust, region: options.region ?? 'gov-west-1', now, strict: options.strict });
const refusal = (pems: string[], options: { region?: string; trust?: Trust; strict?: boolean } = {}): string => {
  try {
    validate(pems, options);
  } catch (error) {
    return (error as Error).message;
  }
  return 'accepted';
};

describe('a renewed intermediate', () => {
  it('signed by the pinned root of the region, with the old name and a new key, is accepted and reported as new', () => {
    const renewed = createIntermediate(root, { commonName: 'Example DB gov-west-1 RSA2048 G1', subject: SUBJECT, notBefore: daysFromNow(-1), notAfter: daysFromNow(1825) });
    const result = validate([root.pem, oldIntermediate.pem, renewed.pem]);
    expect(result.kept.map((c) => c.fingerprint256)).toEqual([root, oldIntermediate, renewed].map((c) => new X509Certificate(c.pem).fingerprint256));
    expect(result.added.map((r) => r.summary.sha256)).toEqual([new X509Certificate(renewed.pem).fingerprint256]);
    const rootSha = new X509Certificate(root.pem).fingerprint256;
    expect(result.added[0]?.renewedFrom).toBe(`"Example DB gov-west-1 Root CA RSA2048 G1" (SHA-256 ${rootSha})`);
    expect(result.warnings.find((w) => w.includes('unpinned: a new intermediate'))).toContain(`signed by pinned root "Example DB gov-west-1 Root CA RSA2048 G1" (SHA-256 ${rootSha}) and within the registry's intermediate constraints for exampledb (gov)`);
    // The global source, and a second generation name, are accepted the same way.
    const g2 = createIntermediate(root, { commonName: 'Example DB gov-west-1 RSA2048 G2', subject: SUBJECT, notBefore: daysFromNow(-1), notAfter: daysFromNow(1000) });
    expect(validate([root.pem, g2.pem], { region: undefined }).added.length).toBe(1);
  });

  it('stays refused when anything does not hold: unpinned signer, name, lifetime, not a CA, no constraints, strict mode', () => {
    const forger = createCa({ commonName: 'Example DB gov-west-1 Root CA RSA2048 G1', subject: { ...SUBJECT, L: 'Elsewhere' }, notBefore: daysFromNow(-1), notAfter: daysFromNow(3650) });
    const forged = createIntermediate(forger, { commonName: 'Example DB gov-west-1 RSA2048 G1', subject: SUBJECT, notBefore: daysFromNow(-1), notAfter: daysFromNow(1825) });
    // Its issuer is a lookalike of the pinned root: refused as such before anything else.
    expect(refusal([root.pem, forger.pem, forged.pem])).toMatch(/carries the name of pinned "Example DB gov-west-1 Root CA RSA2048 G1".*lookalike/);
    // Without its issuer in the set it cannot verify, and it carries a pinned name.
    expect(refusal([root.pem, forged.pem])).toMatch(/carries the name of pinned "Example DB gov-west-1 RSA2048 G1".*lookalike/);
    const otherName = createIntermediate(root, { commonName: 'Example DB gov-west-1 Issuing CA', subject: SUBJECT, notBefore: daysFromNow(-1), notAfter: daysFromNow(1825) });
    expect(refusal([root.pem, otherName.pem])).toMatch(/is not pinned for region "gov-west-1"/);
    const tooLong = createIntermediate(root, { commonName: 'Example DB gov-west-1 RSA2048 G1', subject: SUBJECT, notBefore: daysFromNow(-1), notAfter: daysFromNow(3650) });
    expect(refusal([root.pem, tooLong.pem])).toMatch(/carries the name of pinned "Example DB gov-west-1 RSA2048 G1"/);
    const leaf = createServerCertificate(root, { commonName: 'Example DB gov-west-1 RSA2048 G1', dnsNames: ['db.example.test'] });
    expect(refusal([root.pem, leaf.pem])).toMatch(/carries the name of pinned|is not a CA certificate/);
    const renewed = createIntermediate(root, { commonName: 'Example DB gov-west-1 RSA2048 G1', subject: SUBJECT, notBefore: daysFromNow(-1), notAfter: daysFromNow(1825) });
    const { intermediates: _none, ...withoutRules } = trust;
    expect(refusal([root.pem, renewed.pem], { trust: withoutRules as Trust })).toMatch(/carries the name of pinned "Example DB gov-west-1 RSA2048 G1"/);
    expect(refusal([root.pem, renewed.pem])).toBe('accepted');
    // A root pinned for another region does not vouch for this region's intermediates.
    provider.certificates[0] = { ...(provider.certificates[0] as PinnedCertificate), region: 'gov-east-1' };
    try {
      expect(refusal([root.pem, renewed.pem])).not.toBe('accepted');
    } finally {
      provider.certificates[0] = { ...(provider.certificates[0] as PinnedCertificate), region: 'gov-west-1' };
    }
  });

  it('is refused for the bundled GovCloud entry unless one of its pinned roots signed it (nobody but AWS can)', () => {
    const rds = getBundledRegistry().getProvider('rds');
    const gov = rds.trust.find((t) => t.id === 'aws-us-gov') as Trust;
    expect(gov.intermediates?.maxValidityDays).toBe(1830);
    const fake = createCa({ commonName: 'Amazon RDS us-gov-west-1 Root CA RSA2048 G1', subject: { C: 'US', O: 'Amazon Web Services, Inc.', OU: 'Amazon RDS' } });
    const renewal = createIntermediate(fake, { commonName: 'Amazon RDS us-gov-west-1 RSA2048 G1', subject: { C: 'US', O: 'Amazon Web Services, Inc.', OU: 'Amazon RDS' }, notAfter: daysFromNow(1800) });
    expect(() => validateCertificates([new X509Certificate(renewal.pem)], { provider: rds, trust: gov, region: 'us-gov-west-1', now })).toThrow(/lookalike/);
  });
});

describe('fetch --region with a renewed intermediate', () => {
  let server: TestHttpsServer;
  let dir: string;
  beforeAll(async () => {
    server = await startHttpsServer();
    dir = mkdtempSync(join(tmpdir(), 'pgcerts-renewed-'));
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the renewal in the bundle and lists it as unpinned, with its warning', async () => {
    const renewed = createIntermediate(root, { commonName: 'Example DB gov-west-1 RSA2048 G1', subject: SUBJECT, notBefore: daysFromNow(-1), notAfter: daysFromNow(1825) });
    const registry = new Registry({ schemaVersion: '1.2.0', version: '0.0.1', contentSha256: 'test', providers: [provider] });
    server.routes['/certs.example.test/gov-west-1/bundle.pem'] = (_req, res) => void res.writeHead(200).end(`${root.pem}${oldIntermediate.pem}${renewed.pem}`);
    const result = await fetchBundle('exampledb', { registry, region: 'gov-west-1', cacheDir: join(dir, 'cache'), mirror: server.url(''), download: { ca: server.ca, retries: 0 }, now });
    const sha = new X509Certificate(renewed.pem).fingerprint256;
    expect(result.kept.map((c) => c.sha256)).toContain(sha);
    expect(result.unpinned).toEqual([expect.objectContaining({ sha256: sha, pinned: false })]);
    expect(result.warnings.join('\n')).toContain('unpinned: a new intermediate, signed by pinned root "Example DB gov-west-1 Root CA RSA2048 G1"');
    // check flags it as unpinned (a WARNING), not as a lookalike of the old one (CRITICAL).
    const report = await runChecks({ registry, cacheDir: join(dir, 'cache'), now, maxRegistryAgeDays: null });
    const row = report.certificates.find((c) => c.sha256 === sha);
    expect(row).toMatchObject({ status: 'WARNING', codes: ['unpinned'] });
    expect(row?.reason).toContain('a new intermediate that a pinned root in the bundle signed');
    expect(report.certificates.filter((c) => c.codes.includes('lookalike'))).toEqual([]);
  });
});
