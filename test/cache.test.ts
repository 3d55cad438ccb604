import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  BundleCache,
  checksumBytes, findKernelFileSystem, getCacheDir, type CacheEntry, type CacheKey, type CacheMetaFields, type CacheWriteStep,
} from '../src/cache.js';
import { isPgcertsError, PgcertsError } from '../src/errors.js';
import { cleanEnv, runCli } from './helpers/cli.js';

const WRITER = join(import.meta.dirname, 'helpers', 'cache-writer.mjs');
const isRoot = process.getuid?.() === 0;
const KEY: CacheKey = { provider: 'rds', trust: 'aws', source: 'regional', region: 'eu-west-1' };
const FIELDS: CacheMetaFields = {
  url: 'https://truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem',
  fetchedAt: '2025-01-02T03:04:05.000Z',
  etag: '"abc"',
  lastModified: 'Wed, 01 Jan 2025 00:00:00 GMT',
  registryVersion: '1.0.0',
  certificates: [{ sha256: 'AA:BB', subject: 'CN=Test Root', notBefore: '2024-01-01T00:00:00.000Z', notAfter: '2034-01-01T00:00:00.000Z', key: 'RSA 2048', pinned: true }],
};

const roots: string[] = [];
afterAll(() => {
  for (const root of roots) {
    chmodTree(root);
    rmSync(root, { recursive: true, force: true });
  }
});

function chmodTree(path: string): void {
  if (!existsSync(path) || !statSync(path).isDirectory()) return;
  chmodSync(path, 0o755);
  for (const name of readdirSync(path)) chmodTree(join(path, name));
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgcerts-cache-'));
  roots.push(dir);
  return dir;
}

/** A PEM-shaped text of about `size` bytes, distinct per label. */
/** The file system's clock: the mtime of a file written now (the process clock may differ). */
function fileSystemNow(dir: string): number {
  const probe = join(dir, `clock-${process.pid}-${Math.random().toString(16).slice(2)}`);
  writeFileSync(probe, '');
  try {
    return statSync(probe).mtimeMs;
  } finally {
    rmSync(probe, { force: true });
  }
}

function fakePem(label: string, size = 2_000): string {
  const body = createHash('sha256').update(label).digest('base64').repeat(Math.ceil(size / 44)).slice(0, size);
  return `# ${label}\n-----BEGIN CERTIFICATE-----\n${body.replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
}

function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The bytes of every file of a directory, by name. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((name) => [name, readFileSync(join(dir, name)).toString('base64')]));
}

function thrown(fn: () => unknown): PgcertsError {
  try {
    fn();
  } catch (error) {
    if (error instanceof PgcertsError) return error;
    throw error;
  }
  throw new Error('expected a PgcertsError');
}

async function rejected(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** Assert that an entry is internally consistent: the PEM hashes to its metadata. */
function expectConsistent(entry: CacheEntry | undefined, onDisk = true): asserts entry is CacheEntry {
  expect(entry).toBeDefined();
  expect(entry!.meta.sha256).toBe(sha256(entry!.pem));
  expect(entry!.meta.bytes).toBe(Buffer.byteLength(entry!.pem));
  if (onDisk) expect(readFileSync(entry!.path, 'utf8')).toBe(entry!.pem);
}

interface Writer {
  child: ChildProcess;
  output: string[];
  ready: Promise<void>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startWriter(job: Record<string, unknown>, shellPrefix?: string): Writer {
  const args = [WRITER, JSON.stringify(job)];
  const child = shellPrefix === undefined
    ? spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn('/bin/sh', ['-c', `${shellPrefix}; exec "$0" "$@"`, process.execPath, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const output: string[] = [];
  let buffered = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => { onReady = resolve; });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      output.push(line);
      if (line === 'ready') onReady();
    }
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, output, ready, exit };
}

async function waitForLine(writer: Writer, match: (line: string) => boolean): Promise<void> {
  while (!writer.output.some(match)) {
    if (writer.child.exitCode !== null || writer.child.signalCode !== null) throw new Error(`writer exited: ${writer.output.join(' | ')}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Files a write may leave behind that it should not: temporary files and locks. */
function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.endsWith('.tmp') || name.endsWith('.lock'));
}

describe('getCacheDir', () => {
  const home = () => '/home/ann';

  it('prefers PGCERTS_CACHE_DIR, then XDG_CACHE_HOME/pgcerts, then ~/.cache/pgcerts', () => {
    expect(getCacheDir({ PGCERTS_CACHE_DIR: '/srv/certs', XDG_CACHE_HOME: '/xdg' }, home)).toBe('/srv/certs');
    expect(getCacheDir({ XDG_CACHE_HOME: '/xdg' }, home)).toBe('/xdg/pgcerts');
    expect(getCacheDir({}, home)).toBe('/home/ann/.cache/pgcerts');
  });

  it('treats empty variables as unset and ignores a relative XDG_CACHE_HOME, as the XDG spec says', () => {
    expect(getCacheDir({ PGCERTS_CACHE_DIR: '', XDG_CACHE_HOME: '' }, home)).toBe('/home/ann/.cache/pgcerts');
    expect(getCacheDir({ XDG_CACHE_HOME: 'relative/cache' }, home)).toBe('/home/ann/.cache/pgcerts');
  });

  it('rejects a relative PGCERTS_CACHE_DIR, naming the variable', () => {
    const error = thrown(() => getCacheDir({ PGCERTS_CACHE_DIR: 'certs' }, home));
    expect(error.code).toBe('CACHE_UNAVAILABLE');
    expect(error.message).toBe('PGCERTS_CACHE_DIR "certs" is not an absolute path; set it to an absolute directory such as /var/cache/pgcerts.');
  });

  it('uses the real home directory by default', () => {
    expect(getCacheDir({})).toMatch(/[\\/]\.cache[\\/]pgcerts$/);
  });
});

// procfs and sysfs answer ENOENT to any new directory, and Node's recursive mkdir then retries
// forever. Nothing here may reach a file system call under /proc or /sys: each refusal comes
// first, and nothing can be created there anyway.
describe('a cache under /proc or /sys', () => {
  const home = () => '/home/ann';
  const inProc = '/proc/self/pgcerts-test';

  it('is recognised by its path alone, on label boundaries', () => {
    expect(['/proc', '/proc/self/pgcerts', '/sys', '/sys/fs/cgroup/pgcerts'].map(findKernelFileSystem)).toEqual(['/proc', '/proc', '/sys', '/sys']);
    expect(['/procedures/cache', '/system/cache', '/var/proc', '/home/sys/.cache'].map(findKernelFileSystem)).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('is refused by getCacheDir, naming the variable that put it there and the next step', () => {
    const explicit = thrown(() => getCacheDir({ PGCERTS_CACHE_DIR: inProc }, home));
    expect(explicit.code).toBe('CACHE_UNAVAILABLE');
    expect(explicit.message).toBe('PGCERTS_CACHE_DIR "/proc/self/pgcerts-test" is under /proc, a kernel file system where no cache can be written; set it to a directory such as /var/cache/pgcerts.');
    expect(thrown(() => getCacheDir({ PGCERTS_CACHE_DIR: '/srv/../sys/kernel' }, home)).message).toBe('PGCERTS_CACHE_DIR "/srv/../sys/kernel" is under /sys, a kernel file system where no cache can be written; set it to a directory such as /var/cache/pgcerts.');
    expect(thrown(() => getCacheDir({ XDG_CACHE_HOME: '/sys/fs' }, home)).message).toBe('XDG_CACHE_HOME "/sys/fs" puts the pgcerts cache under /sys, a kernel file system where no cache can be written; set PGCERTS_CACHE_DIR to a directory such as /var/cache/pgcerts.');
    expect(thrown(() => getCacheDir({}, () => '/proc/1/cwd')).message).toBe('The home directory "/proc/1/cwd" puts the pgcerts cache under /proc, a kernel file system where no cache can be written; set PGCERTS_CACHE_DIR to a directory such as /var/cache/pgcerts.');
    expect(getCacheDir({ PGCERTS_CACHE_DIR: '/system/pgcerts' }, home)).toBe('/system/pgcerts');
  });

  it('is refused by the BundleCache constructor, so a library cacheDir never reaches the file system', () => {
    const error = thrown(() => new BundleCache(inProc));
    expect(error.code).toBe('CACHE_UNAVAILABLE');
    expect(error.message).toBe('The pgcerts cache directory "/proc/self/pgcerts-test" is under /proc, a kernel file system where no cache can be written; set PGCERTS_CACHE_DIR (or the cacheDir option) to a directory such as /var/cache/pgcerts.');
    expect(existsSync(inProc)).toBe(false);
  });

  it('is refused on write when a symbolic link leads the cache there, before any directory is made', async () => {
    // Not under tempDir(): its clean-up chmods every directory it reaches, and a link into /proc
    // must never be followed. rmSync removes the link itself, not what it points to.
    const dir = mkdtempSync(join(tmpdir(), 'pgcerts-cache-link-'));
    try {
      symlinkSync('/proc/self', join(dir, 'link'));
      const cache = new BundleCache(join(dir, 'link', 'pgcerts'));
      const error = await cache.write(KEY, fakePem('proc'), FIELDS).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(PgcertsError);
      expect((error as PgcertsError).code).toBe('CACHE_UNAVAILABLE');
      expect((error as PgcertsError).message).toMatch(new RegExp(`^The pgcerts cache directory "${dir}/link/pgcerts/rds" leads into /proc \\("/proc/\\d+/pgcerts/rds"\\) through a symbolic link, a kernel file system where no cache can be written; set PGCERTS_CACHE_DIR \\(or the cacheDir option\\) to a directory such as /var/cache/pgcerts\\.$`));
      expect(existsSync(join(dir, 'link', 'pgcerts'))).toBe(false);
      expect(readdirSync(dir)).toEqual(['link']);
    } finally {
      rmSync(join(dir, 'link'), { force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('makes the CLI exit 1 with one line naming PGCERTS_CACHE_DIR, before any download or write', async () => {
    // The mirror is a closed port: a download attempt would fail with another message.
    const env = cleanEnv({ PGCERTS_CACHE_DIR: inProc, PGCERTS_MIRROR: 'https://127.0.0.1:9' });
    const expected = 'PGCERTS_CACHE_DIR "/proc/self/pgcerts-test" is under /proc, a kernel file system where no cache can be written; set it to a directory such as /var/cache/pgcerts.';
    const sslrootcert = await runCli(['sslrootcert', 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com'], env, { killAfterMs: 20_000 });
    expect(sslrootcert).toEqual({ status: 1, signal: null, stdout: '', stderr: `pgcerts: ${expected}\n` });
    const fetch = await runCli(['fetch', 'neon', '--offline'], env, { killAfterMs: 20_000 });
    expect(fetch).toEqual({ status: 1, signal: null, stdout: '', stderr: `pgcerts: neon: ${expected}\n` });
    expect(existsSync(inProc)).toBe(false);
  });
});

describe('BundleCache.pathFor', () => {
  const cache = new BundleCache('/c');

  it('lays out readable names under one directory per provider', () => {
    expect(cache.pathFor(KEY)).toBe('/c/rds/aws.regional.eu-west-1.pem');
    expect(cache.pathFor({ provider: 'rds', trust: 'aws', source: 'global' })).toBe('/c/rds/aws.global.pem');
    expect(cache.pathFor({ provider: 'neon', trust: 'customer-ca', source: 'import' })).toBe('/c/neon/customer-ca.import.pem');
    expect(cache.pathFor({ provider: 'neon', trust: 'customer-ca', source: 'import', host: 'db.example.com' }))
      .toBe('/c/neon/customer-ca.import@db.example.com.pem');
  });

  it('gives different keys different files, whatever their characters', () => {
    const keys: CacheKey[] = [
      { provider: 'p', trust: 'a-b', source: 'c' },
      { provider: 'p', trust: 'a', source: 'b-c' },
      { provider: 'p', trust: 'a.b', source: 'c' },
      { provider: 'p', trust: 'a', source: 'b.c' },
      { provider: 'p', trust: 'a', source: 'b', region: 'c' },
      { provider: 'p', trust: 'A', source: 'b' },
      { provider: 'p', trust: 'a', source: 'b', host: 'c' },
      { provider: 'p', trust: 'a', source: 'b', region: 'c', host: 'd' },
      { provider: 'p', trust: 'a', source: 'b', host: 'c.d' },
    ];
    const paths = keys.map((key) => cache.pathFor(key));
    expect(new Set(paths.map((p) => p.toLowerCase())).size).toBe(keys.length);
  });

  it('never leaves its directory and keeps names short enough for any file system', () => {
    expect(cache.pathFor({ provider: '..', trust: '../../etc', source: 'x/y' })).toBe('/c/%2E%2E/%2E%2E%2F%2E%2E%2Fetc.x%2Fy.pem');
    const long = cache.pathFor({ provider: 'p', trust: 't', source: 'import', host: `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.example.com` });
    expect(basename(long).length).toBeLessThanOrEqual(200);
    expect(long).not.toBe(cache.pathFor({ provider: 'p', trust: 't', source: 'import', host: `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.example.org` }));
  });

  it('rejects empty ids', () => {
    expect(thrown(() => cache.pathFor({ provider: '', trust: 'a', source: 'b' })).code).toBe('INVALID_INPUT');
    expect(thrown(() => cache.pathFor({ provider: 'p', trust: 'a', source: 'b', region: '' })).code).toBe('INVALID_INPUT');
  });
});

describe('BundleCache write and read', () => {
  let dir: string;
  let cache: BundleCache;
  beforeEach(() => {
    dir = join(tempDir(), 'cache');
    cache = new BundleCache(dir);
  });

  it('reads undefined for an absent entry, even when the cache directory does not exist', () => {
    expect(cache.read(KEY)).toBeUndefined();
    expect(cache.list()).toEqual({ entries: [], problems: [] });
  });

  it('round-trips a bundle with complete metadata, files 0644 in 0755 directories', async () => {
    const pem = fakePem('one');
    const written = await cache.write(KEY, pem, FIELDS);
    const read = cache.read(KEY);
    expect(read).toEqual(written);
    expect(read).toEqual({
      path: join(dir, 'rds', 'aws.regional.eu-west-1.pem'),
      pem,
      meta: {
        formatVersion: 1,
        key: KEY,
        url: FIELDS.url,
        fetchedAt: FIELDS.fetchedAt,
        etag: FIELDS.etag,
        lastModified: FIELDS.lastModified,
        sha256: sha256(pem),
        checksum: checksumBytes(Buffer.from(pem)),
        bytes: Buffer.byteLength(pem),
        registryVersion: '1.0.0',
        certificates: FIELDS.certificates,
      },
    });
    expect(readFileSync(read!.path, 'utf8')).toBe(pem);
    const onDisk = JSON.parse(readFileSync(join(dir, 'rds', 'aws.regional.eu-west-1.json'), 'utf8')) as Record<string, unknown>;
    expect(onDisk).toEqual(read!.meta);
    expect(readdirSync(join(dir, 'rds')).sort()).toEqual(['aws.regional.eu-west-1.json', 'aws.regional.eu-west-1.pem']);
    if (process.platform !== 'win32') {
      expect(statSync(read!.path).mode & 0o777).toBe(0o644);
      expect(statSync(join(dir, 'rds', 'aws.regional.eu-west-1.json')).mode & 0o777).toBe(0o644);
      expect(statSync(dir).mode & 0o777).toBe(0o755);
      expect(statSync(join(dir, 'rds')).mode & 0o777).toBe(0o755);
    }
  });

  it('keeps 0644 and 0755 under a restrictive umask', async () => {
    const previous = process.umask(0o077);
    try {
      const entry = await cache.write(KEY, fakePem('umask'), FIELDS);
      expect(statSync(entry.path).mode & 0o777).toBe(0o644);
      expect(statSync(join(dir, 'rds')).mode & 0o777).toBe(0o755);
    } finally {
      process.umask(previous);
    }
  });

  it('stores an import with its source path and no URL', async () => {
    const key = { provider: 'neon', trust: 'customer-ca', source: 'import', host: 'db.example.com' };
    const { url: _url, ...rest } = FIELDS;
    await cache.write(key, fakePem('imported'), { ...rest, importedFrom: '/home/ann/ca.pem' });
    const entry = cache.read(key);
    expect(entry?.meta.importedFrom).toBe('/home/ann/ca.pem');
    expect(entry?.meta).not.toHaveProperty('url');
    expect(entry?.meta.key).toEqual(key);
  });

  it('replaces an entry, leaving exactly one PEM and one metadata file', async () => {
    await cache.write(KEY, fakePem('old'), FIELDS);
    await cache.write(KEY, fakePem('new'), { ...FIELDS, etag: '"new"' });
    const entry = cache.read(KEY);
    expect(entry?.pem).toBe(fakePem('new'));
    expect(entry?.meta.etag).toBe('"new"');
    expect(readdirSync(join(dir, 'rds')).sort()).toEqual(['aws.regional.eu-west-1.json', 'aws.regional.eu-west-1.pem']);
    expect(readFileSync(join(dir, 'rds', 'aws.regional.eu-west-1.json'), 'utf8')).not.toContain('previous');
  });

  it('rejects metadata fields of the wrong shape without touching the cache', async () => {
    await cache.write(KEY, fakePem('old'), FIELDS);
    const before = snapshot(join(dir, 'rds'));
    const error = await rejected(cache.write(KEY, fakePem('new'), { ...FIELDS, fetchedAt: 'yesterday' }));
    expect(isPgcertsError(error, 'INVALID_INPUT')).toBe(true);
    expect(snapshot(join(dir, 'rds'))).toEqual(before);
  });

  it('touches fetchedAt and validators after a 304 without rewriting the PEM', async () => {
    const written = await cache.write(KEY, fakePem('one'), FIELDS);
    const pemBefore = statSync(written.path);
    const touched = await cache.touch(KEY, { fetchedAt: '2025-02-01T00:00:00.000Z', etag: '"def"' });
    expect(touched?.meta).toEqual({ ...written.meta, fetchedAt: '2025-02-01T00:00:00.000Z', etag: '"def"' });
    expect(cache.read(KEY)).toEqual(touched);
    expect(statSync(written.path).ino).toBe(pemBefore.ino);
    expect(leftovers(join(dir, 'rds'))).toEqual([]);
    expect(await cache.touch({ ...KEY, region: 'us-east-1' }, { fetchedAt: '2025-02-01T00:00:00.000Z' })).toBeUndefined();
  });

  it('lists every entry sorted by path, skipping files that are not entries', async () => {
    const keys: CacheKey[] = [
      { provider: 'rds', trust: 'aws', source: 'global' },
      { provider: 'azure', trust: 'azure-public', source: 'roots' },
      KEY,
    ];
    for (const key of keys) await cache.write(key, fakePem(JSON.stringify(key)), FIELDS);
    writeFileSync(join(dir, 'rds', 'notes.txt'), 'not an entry');
    const { entries, problems } = cache.list();
    expect(problems).toEqual([]);
    expect(entries.map((e) => e.path)).toEqual([
      join(dir, 'azure', 'azure-public.roots.pem'),
      join(dir, 'rds', 'aws.global.pem'),
      join(dir, 'rds', 'aws.regional.eu-west-1.pem'),
    ]);
    for (const entry of entries) expect(entry).toEqual(cache.read(entry.meta.key));
  });

  it('removes temporary files of dead writers and ones older than a minute, and only those', async () => {
    await cache.write(KEY, fakePem('one'), FIELDS);
    // The pid in the name says who wrote it: 999999 and 999998 are not running; this process is.
    const old = join(dir, 'rds', '.aws.regional.eu-west-1.pem.999999.0123456789ab.tmp');
    const deadWriter = join(dir, 'rds', '.aws.global.pem.999998.0123456789ab.tmp');
    const liveWriter = join(dir, 'rds', `.aws.global.pem.${process.pid}.0123456789ab.tmp`);
    const oldLiveWriter = join(dir, 'rds', `.aws.global.json.${process.pid}.abcdef012345.tmp`);
    for (const path of [old, deadWriter, liveWriter, oldLiveWriter]) writeFileSync(path, 'partial');
    // Ages are measured on the file system's clock (as on NFS with skew): set them from it.
    const twoMinutesAgo = new Date(fileSystemNow(dir) - 120_000);
    utimesSync(old, twoMinutesAgo, twoMinutesAgo);
    utimesSync(oldLiveWriter, twoMinutesAgo, twoMinutesAgo);
    await cache.write(KEY, fakePem('two'), FIELDS);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(deadWriter)).toBe(false);
    expect(existsSync(liveWriter)).toBe(true);
    expect(existsSync(oldLiveWriter)).toBe(false);
  });
});

describe('BundleCache failures leave the previous entry intact', () => {
  let dir: string;
  let providerDir: string;
  const oldPem = fakePem('old');

  beforeEach(async () => {
    dir = join(tempDir(), 'cache');
    providerDir = join(dir, 'rds');
    await new BundleCache(dir).write(KEY, oldPem, FIELDS);
  });

  for (const step of ['pem-staged', 'locked', 'meta-replaced'] as const) {
    it(`keeps the old files byte-identical when the write fails at ${step}`, async () => {
      const before = snapshot(providerDir);
      const seen: CacheWriteStep[] = [];
      const cache = new BundleCache(dir, {
        onWriteStep: (current) => {
          seen.push(current);
          if (current === step) throw new Error(`injected failure at ${step}`);
        },
      });
      const error = await rejected(cache.write(KEY, fakePem('new'), { ...FIELDS, etag: '"new"' }));
      expect((error as Error).message).toBe(`injected failure at ${step}`);
      expect(seen.at(-1)).toBe(step);
      expect(snapshot(providerDir)).toEqual(before);
      expect(cache.read(KEY)?.pem).toBe(oldPem);
    });
  }

  it('commits at pem-replaced: a failure after it leaves the new entry, consistent', async () => {
    const cache = new BundleCache(dir, {
      onWriteStep: (step) => {
        if (step === 'pem-replaced') throw new Error('injected failure after the commit');
      },
    });
    await rejected(cache.write(KEY, fakePem('new'), { ...FIELDS, etag: '"new"' }));
    const entry = cache.read(KEY);
    expectConsistent(entry);
    expect(entry.pem).toBe(fakePem('new'));
    expect(entry.meta.etag).toBe('"new"');
    expect(leftovers(providerDir)).toEqual([]);
  });

  // Root ignores file permissions, so as root the file system refuses the write through
  // RLIMIT_FSIZE instead (Node ignores SIGXFSZ, so the write fails with EFBIG).
  it(`reports a write the file system refuses (${isRoot ? 'EFBIG: root, file size limit' : 'EACCES: read-only directory'}) as CACHE_UNAVAILABLE`, async () => {
    const before = snapshot(providerDir);
    const newFile = join(tempDir(), 'new.pem');
    writeFileSync(newFile, fakePem('too big', 1_000_000));
    if (!isRoot) chmodSync(providerDir, 0o555);
    const writer = startWriter(
      { dir, key: KEY, files: [newFile], iterations: 1 },
      isRoot ? 'ulimit -f 64' : undefined,
    );
    const { code } = await writer.exit;
    if (!isRoot) chmodSync(providerDir, 0o755);
    expect(code).toBe(1);
    const line = writer.output.find((l) => l.startsWith('error '));
    const error = JSON.parse(line!.slice(6)) as { code: string; message: string };
    expect(error.code).toBe('CACHE_UNAVAILABLE');
    expect(error.message).toMatch(new RegExp(`^Cannot write the pgcerts cache at "${providerDir}[^"]*" \\((EFBIG|EACCES)\\); .*set PGCERTS_CACHE_DIR to a writable directory\\.$`));
    expect(snapshot(providerDir)).toEqual(before);
  });

  it('reports a cache path that is not a directory as CACHE_UNAVAILABLE', async () => {
    const file = join(tempDir(), 'not-a-dir');
    writeFileSync(file, '');
    const error = await rejected(new BundleCache(file).write(KEY, oldPem, FIELDS));
    expect(isPgcertsError(error, 'CACHE_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toContain(`"${file}`);
    expect((error as Error).message).toContain('PGCERTS_CACHE_DIR');
  });
});

describe('BundleCache corruption', () => {
  let dir: string;
  let cache: BundleCache;
  let pemPath: string;
  let metaPath: string;

  beforeEach(async () => {
    dir = join(tempDir(), 'cache');
    cache = new BundleCache(dir);
    pemPath = (await cache.write(KEY, fakePem('good'), FIELDS)).path;
    metaPath = pemPath.replace(/\.pem$/, '.json');
    await cache.write({ provider: 'rds', trust: 'aws', source: 'global' }, fakePem('other'), FIELDS);
  });

  function expectCorrupt(pattern: RegExp): void {
    const error = thrown(() => cache.read(KEY));
    expect(error.code).toBe('CACHE_CORRUPT');
    expect(error.message).toMatch(pattern);
    expect(error.message).toMatch(/; run `pgcerts fetch rds --force`\.$/);
    const listing = cache.list();
    expect(listing.entries.map((e) => e.meta.key.source)).toEqual(['global']);
    expect(listing.problems.map((p) => p.error.code)).toEqual(['CACHE_CORRUPT']);
  }

  it('rejects a PEM whose bytes were changed', () => {
    const bytes = readFileSync(pemPath);
    bytes[100] = bytes[100]! ^ 0x01;
    writeFileSync(pemPath, bytes);
    expectCorrupt(new RegExp(`^Cached bundle "${pemPath}" does not match its metadata "${metaPath}" \\(checksum ${checksumBytes(bytes)}, ${bytes.length} bytes`));
  });

  it('rejects a truncated PEM', () => {
    writeFileSync(pemPath, readFileSync(pemPath).subarray(0, 500));
    expectCorrupt(/does not match its metadata/);
  });

  it('rejects metadata that is not JSON', () => {
    writeFileSync(metaPath, '{"formatVersion": 1, "key":');
    expectCorrupt(new RegExp(`^Cache metadata "${metaPath}" is not valid JSON`));
  });

  it('rejects metadata of another format version or shape', () => {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(metaPath, JSON.stringify({ ...meta, formatVersion: 2 }));
    expectCorrupt(/is not usable: it has format version 2, this pgcerts reads 1/);
    writeFileSync(metaPath, JSON.stringify({ ...meta, sha256: 42 }));
    expectCorrupt(/is not usable: it has no hex sha256/);
    writeFileSync(metaPath, JSON.stringify({ ...meta, key: { ...KEY, region: 'us-east-1' } }));
    expectCorrupt(/describes another bundle \(rds\/aws\/regional\/us-east-1\)/);
  });

  it('rejects a PEM without metadata', () => {
    rmSync(metaPath);
    expectCorrupt(new RegExp(`^Cached bundle "${pemPath}" has no metadata`));
  });

  it('names the import command for a corrupt import', async () => {
    const key = { provider: 'neon', trust: 'customer-ca', source: 'import' };
    const path = (await cache.write(key, fakePem('imported'), FIELDS)).path;
    writeFileSync(path, 'garbage');
    expect(thrown(() => cache.read(key)).message).toMatch(/; import the file again with `pgcerts import neon <file>`\.$/);
  });

  it('is repaired by the next write', async () => {
    writeFileSync(pemPath, 'garbage');
    await cache.write(KEY, fakePem('repaired'), FIELDS);
    expect(cache.read(KEY)?.pem).toBe(fakePem('repaired'));
  });
});

describe('BundleCache lock', () => {
  let dir: string;
  let lockPath: string;

  beforeEach(async () => {
    dir = join(tempDir(), 'cache');
    lockPath = (await new BundleCache(dir).write(KEY, fakePem('old'), FIELDS)).path.replace(/\.pem$/, '.lock');
  });

  function holdLock(pid: number): void {
    writeFileSync(lockPath, JSON.stringify({ pid, host: hostname(), createdAt: new Date().toISOString(), nonce: 'x' }));
  }

  it('lets readers through while a writer holds the lock, and times out writers naming the lock', async () => {
    holdLock(process.pid);
    const cache = new BundleCache(dir, { lockTimeoutMs: 200 });
    expect(cache.read(KEY)?.pem).toBe(fakePem('old'));
    const started = Date.now();
    const error = await rejected(cache.write(KEY, fakePem('new'), FIELDS));
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(isPgcertsError(error, 'CACHE_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toMatch(new RegExp(`^Lock "${lockPath}" is held by another pgcerts process \\(pid ${process.pid} on .+\\) and was not released within 200 ms; `));
    expect(cache.read(KEY)?.pem).toBe(fakePem('old'));
    expect(readdirSync(join(dir, 'rds')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('breaks a lock older than staleLockMs', async () => {
    holdLock(process.pid);
    const old = new Date(fileSystemNow(dir) - 5_000);
    utimesSync(lockPath, old, old);
    await new BundleCache(dir, { lockTimeoutMs: 500, staleLockMs: 1_000 }).write(KEY, fakePem('new'), FIELDS);
    expect(new BundleCache(dir).read(KEY)?.pem).toBe(fakePem('new'));
    expect(existsSync(lockPath)).toBe(false);
  });

  it('breaks a fresh lock whose process is gone', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    holdLock(dead);
    await new BundleCache(dir, { lockTimeoutMs: 500 }).write(KEY, fakePem('new'), FIELDS);
    expect(new BundleCache(dir).read(KEY)?.pem).toBe(fakePem('new'));
    expect(existsSync(lockPath)).toBe(false);
  });
});

describe('BundleCache under SIGKILL', () => {
  const steps: CacheWriteStep[] = ['pem-staged', 'locked', 'meta-replaced', 'pem-replaced', 'meta-final'];

  for (const step of steps) {
    const committed = step === 'pem-replaced' || step === 'meta-final';
    it(`killed at ${step}: reads the ${committed ? 'new' : 'old'} entry, and the next write breaks the dead lock`, async () => {
      const dir = join(tempDir(), 'cache');
      const cache = new BundleCache(dir, { lockTimeoutMs: 2_000 });
      await cache.write(KEY, fakePem('old'), { ...FIELDS, etag: '"old"' });
      const file = join(tempDir(), 'new.pem');
      writeFileSync(file, fakePem('new', 200_000));
      const writer = startWriter({ dir, key: KEY, files: [file], iterations: 1, killAt: step, etagPrefix: 'new-' });
      expect((await writer.exit).signal).toBe('SIGKILL');

      const entry = cache.read(KEY);
      expectConsistent(entry);
      expect(entry.pem).toBe(committed ? fakePem('new', 200_000) : fakePem('old'));
      expect(entry.meta.etag).toBe(committed ? '"new-0"' : '"old"');
      const metaOnDisk = readFileSync(entry.path.replace(/\.pem$/, '.json'), 'utf8');
      if (step === 'meta-replaced' || step === 'pem-replaced') expect(metaOnDisk).toContain('"previous"');
      expect(existsSync(entry.path.replace(/\.pem$/, '.lock'))).toBe(step !== 'pem-staged');

      await cache.write(KEY, fakePem('third'), FIELDS);
      expect(cache.read(KEY)?.pem).toBe(fakePem('third'));
      expect(readdirSync(join(dir, 'rds')).filter((n) => n.endsWith('.lock'))).toEqual([]);
    });
  }

  it('at 30 random moments never leaves a partial or mismatched entry', async () => {
    const dir = join(tempDir(), 'cache');
    const cache = new BundleCache(dir, { lockTimeoutMs: 2_000 });
    const contents = ['a', 'b', 'c'].map((label) => fakePem(label, 1_000_000 + label.charCodeAt(0)));
    const files = contents.map((pem, i) => {
      const file = join(tempDir(), `${i}.pem`);
      writeFileSync(file, pem);
      return file;
    });
    const initial = fakePem('initial');
    await cache.write(KEY, initial, { ...FIELDS, etag: '"initial"' });
    const seen = new Set<string>();
    let locksLeft = 0;
    for (let round = 0; round < 30; round++) {
      const writer = startWriter({ dir, key: KEY, files, iterations: 1_000, jitterMs: 1, etagPrefix: '' });
      await writer.ready;
      // Odd rounds wait for a completed write first, so some kills surely land after a commit.
      if (round % 2 === 1) await waitForLine(writer, (line) => line.startsWith('wrote'));
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 60));
      writer.child.kill('SIGKILL');
      expect((await writer.exit).signal).toBe('SIGKILL');

      const entry = cache.read(KEY);
      expectConsistent(entry);
      const index = contents.indexOf(entry.pem);
      if (entry.pem === initial) expect(entry.meta.etag).toBe('"initial"');
      else expect(entry.meta.etag).toBe(`"${index}"`);
      seen.add(entry.meta.etag!);
      if (existsSync(entry.path.replace(/\.pem$/, '.lock'))) locksLeft++;
      const names = readdirSync(join(dir, 'rds')).filter((n) => !n.startsWith('.'));
      expect(names.filter((n) => n.endsWith('.pem'))).toEqual(['aws.regional.eu-west-1.pem']);

      // The next write must get past whatever the dead writer left, including its lock.
      await cache.write(KEY, initial, { ...FIELDS, etag: '"initial"' });
      expect(cache.read(KEY)?.pem).toBe(initial);
    }
    // The kills landed on completed writes (not only before the first one) and inside the lock.
    expect(seen.size).toBeGreaterThan(1);
    expect(locksLeft).toBeGreaterThan(0);
  }, 120_000);
});

describe('BundleCache with ten concurrent writers', () => {
  it('ends with one writer\'s PEM and its metadata, readers never see a mismatch, nothing left over', async () => {
    const dir = join(tempDir(), 'cache');
    const cache = new BundleCache(dir);
    const contents = Array.from({ length: 10 }, (_, w) => fakePem(`writer ${w}`, 100_000 + w));
    const writers = contents.map((pem, w) => {
      const file = join(tempDir(), `${w}.pem`);
      writeFileSync(file, pem);
      return startWriter({ dir, key: KEY, files: [file], iterations: 3, jitterMs: 2, waitForGo: true, etagPrefix: `w${w}-` });
    });
    await Promise.all(writers.map((w) => w.ready));
    for (const w of writers) w.child.stdin!.write('go\n');

    let running = true;
    const exits = Promise.all(writers.map((w) => w.exit)).finally(() => { running = false; });
    let reads = 0;
    while (running) {
      const entry = cache.read(KEY);
      if (entry !== undefined) {
        // Not compared with the file: a writer may already have replaced it.
        expectConsistent(entry, false);
        expect(entry.meta.etag).toBe(`"w${contents.indexOf(entry.pem)}-0"`);
        reads++;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    for (const { code, signal } of await exits) expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(writers.map((w) => w.output.filter((l) => l.startsWith('wrote')).length)).toEqual(Array(10).fill(3));

    const entry = cache.read(KEY);
    expectConsistent(entry);
    const winner = contents.indexOf(entry.pem);
    expect(winner).toBeGreaterThanOrEqual(0);
    expect(entry.meta.etag).toBe(`"w${winner}-0"`);
    expect(readdirSync(join(dir, 'rds')).sort()).toEqual(['aws.regional.eu-west-1.json', 'aws.regional.eu-west-1.pem']);
    expect(readFileSync(join(dir, 'rds', 'aws.regional.eu-west-1.json'), 'utf8')).not.toContain('previous');
    expect(reads).toBeGreaterThan(0);
  }, 60_000);
});

describe('checksumBytes', () => {
  it('changes with any single-bit flip, length change or swap of a file', () => {
    const base = Buffer.from(`-----BEGIN CERTIFICATE-----\n${'MIIB'.repeat(400)}\n-----END CERTIFICATE-----\n`);
    const seen = new Set([checksumBytes(base)]);
    for (let i = 0; i < base.length; i += 7) {
      for (const bit of [0x01, 0x80]) {
        const flipped = Buffer.from(base);
        flipped[i] = (flipped[i] as number) ^ bit;
        seen.add(checksumBytes(flipped));
      }
    }
    const variants = 1 + 2 * Math.ceil(base.length / 7);
    expect(seen.size).toBe(variants);
    expect(checksumBytes(base.subarray(0, base.length - 1))).not.toBe(checksumBytes(base));
    const swapped = Buffer.concat([base.subarray(100, 200), base.subarray(0, 100), base.subarray(200)]);
    expect(checksumBytes(swapped)).not.toBe(checksumBytes(base));
    expect(checksumBytes(base)).toMatch(/^c64:[0-9a-f]{16}$/);
    // The same bytes at an odd offset inside a larger buffer give the same checksum.
    expect(checksumBytes(Buffer.concat([Buffer.from('x'), base]).subarray(1))).toBe(checksumBytes(base));
  });
});
