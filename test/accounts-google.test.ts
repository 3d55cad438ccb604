// Cloud SQL server CAs through the Cloud SQL Admin API, imitated by a real local HTTPS server
// that follows Google's documented request and response shapes (connectSettings, listServerCas,
// resolveConnectSettings) and Google's token endpoint (refresh-token and JWT-bearer grants),
// reached through PGCERTS_MIRROR as `<mirror>/sqladmin.googleapis.com/...`. gcloud is a script on
// PATH: the one tool boundary faked here.
import { createVerify, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { describeAccountCredentials, fetchAccountBundle, getSslRootCert, runChecks } from '../src/index.js';
import { cleanEnv, runCli } from './helpers/cli.js';
import { rejection } from './helpers/rejection.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';
import { createCa, createIntermediate, type TestCertificate } from './helpers/test-ca.js';

const ACCESS_TOKEN = 'ya29.SECRETaccess7f3e';
const MINTED_TOKEN = 'ya29.SECRETminted9c2d';
const REFRESH_TOKEN = '1//SECRETrefresh4b8a';
const CLIENT_SECRET = 'SECRETclient-d5e6';
const API = '/sqladmin.googleapis.com';
const TOKEN_PATH = '/oauth2.googleapis.com/token';
const PROJECT = 'shop-prod-381207';
const INSTANCE = 'orders';
const REGION = 'europe-west1';
const CONNECTION = `${PROJECT}:${REGION}:${INSTANCE}`;
const PSA_HOST = '3f1a9c2b7d4e.p1q2r3s4t5u6.europe-west1.sql-psa.goog';
const PATH = `${API}/v1/projects/${PROJECT}/instances/${INSTANCE}`;
const SECRETS = [ACCESS_TOKEN, MINTED_TOKEN, REFRESH_TOKEN, CLIENT_SECRET];

let server: TestHttpsServer;
let dir: string;
let cacheDir: string;
let home: string;
let emptyBin: string;
let current: TestCertificate;
let upcoming: TestCertificate;
let sharedRoot: TestCertificate;
let sharedSub: TestCertificate;
const bodies: string[] = [];

function json(auth: string, body: unknown, status = 200): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (req.headers.authorization !== auth) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"code":401,"status":"UNAUTHENTICATED"}}');
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
}

function sslCert(ca: TestCertificate): Record<string, unknown> {
  const x = new X509Certificate(ca.pem);
  return { kind: 'sql#sslCert', cert: ca.pem, commonName: 'C=US,O=Google\\, Inc,CN=Google Cloud SQL Server CA', sha1Fingerprint: x.fingerprint.replace(/:/g, '').toLowerCase(), instance: INSTANCE };
}

/** An instance with the per-instance CA (serverCaMode unset) in the middle of a rotation: listServerCas has the next CA too. */
function servePerInstance(auth = `Bearer ${ACCESS_TOKEN}`): void {
  server.routes[`${PATH}/connectSettings`] = json(auth, { kind: 'sql#connectSettings', serverCaCert: sslCert(current), ipAddresses: [{ type: 'PRIMARY', ipAddress: '34.76.1.2' }], region: REGION, databaseVersion: 'POSTGRES_17', backendType: 'SECOND_GEN' });
  server.routes[`${PATH}/listServerCas`] = json(auth, { certs: [sslCert(current), sslCert(upcoming)], activeVersion: 'abc', kind: 'sql#sslCertsList' });
}

/** An instance on the regional shared CA: the DNS name resolves to it, and serverCaCert holds a chain. */
function serveShared(auth = `Bearer ${ACCESS_TOKEN}`): void {
  server.routes[`${API}/v1/locations/${REGION}/dns/${PSA_HOST}.:resolveConnectSettings`] = json(auth, { connectionName: CONNECTION, region: REGION, serverCaMode: 'GOOGLE_MANAGED_CAS_CA' });
  server.routes[`${PATH}/connectSettings`] = json(auth, {
    serverCaCert: { cert: `${sharedSub.pem}${sharedRoot.pem}` },
    serverCaMode: 'GOOGLE_MANAGED_CAS_CA',
    region: REGION,
    dnsNames: [{ name: PSA_HOST, connectionType: 'PRIVATE_SERVICES_ACCESS', dnsScope: 'INSTANCE' }],
  });
}

function options(env: NodeJS.ProcessEnv, extra: Record<string, unknown> = {}) {
  return { cacheDir, homeDir: home, mirror: server.url(''), download: { ca: server.ca, retries: 0 } as Record<string, unknown>, env, ...extra };
}

/** The SHA-256 fingerprints of every certificate of a PEM bundle, in order. */
function fingerprints(pem: string): string[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((block) => new X509Certificate(block).fingerprint256);
}

function cacheTexts(): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    if (!existsSync(d)) return;
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(readFileSync(path, 'utf8'));
    }
  };
  walk(cacheDir);
  return out;
}

function expectNoSecrets(...texts: string[]): void {
  for (const text of [...texts, ...cacheTexts()]) for (const secret of SECRETS) expect(text).not.toContain(secret);
}

/** A token endpoint that reads the form, checks it with `check` and answers `token`. */
function serveTokenEndpoint(check: (form: URLSearchParams) => boolean, token = MINTED_TOKEN): void {
  server.routes[TOKEN_PATH] = async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    bodies.push(body);
    const form = new URLSearchParams(body);
    if (req.method !== 'POST' || req.headers['content-type'] !== 'application/x-www-form-urlencoded' || !check(form)) {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, expires_in: 3599, token_type: 'Bearer' }));
  };
}

/** A fake gcloud on PATH: prints `token`, or fails like a signed-out gcloud. */
function fakeGcloud(token: string | undefined): string {
  const bin = mkdtempSync(join(dir, 'bin-'));
  const script = token === undefined
    ? '#!/bin/sh\necho "ERROR: (gcloud.auth.print-access-token) You do not currently have an active account selected." >&2\nexit 1\n'
    : `#!/bin/sh\n[ "$1 $2" = "auth print-access-token" ] || { echo "unexpected arguments: $*" >&2; exit 2; }\necho ${token}\n`;
  writeFileSync(join(bin, 'gcloud'), script);
  chmodSync(join(bin, 'gcloud'), 0o755);
  return bin;
}

/**
 * The environment without any Google credential of the machine running the tests: PATH is an
 * empty directory, since a real gcloud may be installed (it is on the machine these were written on).
 */
function googleEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  // METADATA_SERVER_DETECTION=none: on a Google Cloud machine a real metadata server would answer.
  return cleanEnv({ GOOGLE_OAUTH_ACCESS_TOKEN: undefined, GOOGLE_APPLICATION_CREDENTIALS: undefined, CLOUDSDK_CONFIG: undefined, GCE_METADATA_HOST: undefined, K_SERVICE: undefined, FUNCTION_TARGET: undefined, METADATA_SERVER_DETECTION: 'none', PATH: emptyBin, HOME: home, ...extra });
}

beforeAll(async () => {
  server = await startHttpsServer();
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-cloudsql-'));
  emptyBin = mkdtempSync(join(dir, 'empty-bin-'));
  current = createCa({ commonName: 'Google Cloud SQL Server CA' });
  upcoming = createCa({ commonName: 'Google Cloud SQL Server CA' });
  sharedRoot = createCa({ commonName: 'Google Cloud SQL Root CA (test)' });
  sharedSub = createIntermediate(sharedRoot, { commonName: 'Google Cloud SQL europe-west1 Server CA (test)' });
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  cacheDir = mkdtempSync(join(dir, 'cache-'));
  home = mkdtempSync(join(dir, 'home-'));
  for (const key of Object.keys(server.routes)) delete server.routes[key];
  server.requests.length = 0;
  bodies.length = 0;
});

describe('Cloud SQL through the Admin API', () => {
  it('--instance: keeps the current and the upcoming per-instance CA, checks them against the registry, records the instance', async () => {
    servePerInstance();
    const result = await fetchAccountBundle('cloudsql', options(googleEnv({ GOOGLE_OAUTH_ACCESS_TOKEN: ACCESS_TOKEN }), { resource: CONNECTION }));
    expect(result.trust).toBe('per-instance-ca');
    const pem = readFileSync(result.path, 'utf8');
    expect(fingerprints(pem)).toEqual([current, upcoming].map((c) => new X509Certificate(c.pem).fingerprint256));
    const meta = JSON.parse(readFileSync(result.path.replace(/\.pem$/, '.json'), 'utf8')) as { url: string; resource: unknown; key: { host: string } };
    expect(meta.resource).toEqual({ id: CONNECTION, kind: 'instance', project: PROJECT, region: REGION, name: INSTANCE });
    expect(meta.url).toBe(`https://sqladmin.googleapis.com/v1/projects/${PROJECT}/instances/${INSTANCE}/connectSettings`);
    expect(meta.key.host).toBe(`instance=${CONNECTION}`);
    expect(server.requests.map((r) => r.path)).toEqual([`${PATH}/connectSettings`, `${PATH}/listServerCas`]);
    expect(server.requests.every((r) => r.headers.authorization === `Bearer ${ACCESS_TOKEN}`)).toBe(true);
    expectNoSecrets();
  });

  it('a DNS name: resolveConnectSettings in its region (with the final dot), and every block of a shared-CA chain; no listServerCas', async () => {
    serveShared();
    const result = await fetchAccountBundle('cloudsql', options(googleEnv({ GOOGLE_OAUTH_ACCESS_TOKEN: ACCESS_TOKEN }), { host: PSA_HOST.toUpperCase() }));
    expect(server.requests.map((r) => r.path)).toEqual([`${API}/v1/locations/${REGION}/dns/${PSA_HOST}.:resolveConnectSettings`, `${PATH}/connectSettings`]);
    const pem = readFileSync(result.path, 'utf8');
    expect(pem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(result.resource?.id).toBe(CONNECTION);
    // sslrootcert for the same host then serves the cached copy without the API.
    server.requests.length = 0;
    const served = await getSslRootCert(PSA_HOST, options(googleEnv({ GOOGLE_OAUTH_ACCESS_TOKEN: ACCESS_TOKEN })));
    expect(served).toMatchObject({ path: result.path, origin: 'cache' });
    expect(server.requests).toEqual([]);
  });

  it('refuses a per-instance answer whose CA is not a Cloud SQL server CA, and keeps the good copy byte for byte', async () => {
    servePerInstance();
    const env = googleEnv({ GOOGLE_OAUTH_ACCESS_TOKEN: ACCESS_TOKEN });
    const good = await fetchAccountBundle('cloudsql', options(env, { resource: CONNECTION }));
    const before = readFileSync(good.path);
    const forged = createCa({ commonName: 'Google Cloud SQL Server CA (not really)' });
    server.routes[`${PATH}/listServerCas`] = json(`Bearer ${ACCESS_TOKEN}`, { certs: [sslCert(current), sslCert(forged)] });
    const bad = await rejection(fetchAccountBundle('cloudsql', options(env, { resource: CONNECTION })));
    expect(bad.code).toBe('VALIDATION_FAILED');
    expect(bad.message).toContain('constraints');
    server.routes[`${PATH}/connectSettings`] = (_req: IncomingMessage, res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>Sign in</html>');
    expect((await rejection(fetchAccountBundle('cloudsql', options(env, { resource: CONNECTION })))).code).toBe('DECODE_FAILED');
    expect(readFileSync(good.path)).toEqual(before);
  });

  it('names what is wrong: a bad connection name, another region, an unknown instance, a global write endpoint, a refused token', async () => {
    servePerInstance();
    const env = googleEnv({ GOOGLE_OAUTH_ACCESS_TOKEN: ACCESS_TOKEN });
    const badName = await rejection(fetchAccountBundle('cloudsql', options(env, { resource: 'orders' })));
    expect(badName).toMatchObject({ code: 'INVALID_INPUT' });
    expect(badName.message).toContain('--instance "orders" is not a Cloud SQL connection name; give PROJECT:REGION:INSTANCE');
    const region = await rejection(fetchAccountBundle('cloudsql', options(env, { resource: `${PROJECT}:us-east1:${INSTANCE}` })));
    expect(region.message).toContain(`is in region "${REGION}", not "us-east1"; use --instance ${CONNECTION}`);
    const unknown = await rejection(fetchAccountBundle('cloudsql', options(env, { resource: `${PROJECT}:${REGION}:nothing` })));
    expect(unknown).toMatchObject({ code: 'RESOURCE_NOT_FOUND' });
    const asked = server.requests.length;
    const global = await rejection(fetchAccountBundle('cloudsql', options(env, { host: '3f1a9c2b7d4e.p1q2r3s4t5u6.global.sql-psa.goog' })));
    expect(global.code).not.toBe('AUTH_FAILED');
    // Refused before any API call, saying why and what to give instead.
    expect(global).toMatchObject({ code: 'INVALID_INPUT' });
    expect(global.message).toContain('is a global write endpoint, which leads to whichever instance is primary');
    expect(global.message).toContain('pgcerts fetch cloudsql --instance PROJECT:REGION:INSTANCE');
    expect(server.requests.length).toBe(asked);
    servePerInstance('Bearer another');
    const refused = await rejection(fetchAccountBundle('cloudsql', options(env, { resource: CONNECTION })));
    expect(refused.code).toBe('AUTH_FAILED');
    expect(refused.message).toContain('refused the token in GOOGLE_OAUTH_ACCESS_TOKEN (HTTP 401');
    expectNoSecrets(badName.message, region.message, unknown.message, global.message, refused.message);
  });
});

describe('Google credentials', () => {
  it('application default credentials of a user: the refresh token is exchanged at the token endpoint, never shown or stored', async () => {
    const adc = join(home, '.config', 'gcloud', 'application_default_credentials.json');
    mkdirSync(join(home, '.config', 'gcloud'), { recursive: true });
    writeFileSync(adc, JSON.stringify({ type: 'authorized_user', client_id: '764086051850-test.apps.googleusercontent.com', client_secret: CLIENT_SECRET, refresh_token: REFRESH_TOKEN }));
    serveTokenEndpoint((form) => form.get('grant_type') === 'refresh_token' && form.get('refresh_token') === REFRESH_TOKEN && form.get('client_secret') === CLIENT_SECRET);
    servePerInstance(`Bearer ${MINTED_TOKEN}`);
    const env = googleEnv();
    expect((await describeAccountCredentials(env, home)).find((p) => p.provider === 'cloudsql')).toMatchObject({ variable: 'application default credentials', source: `from the application default credentials in "${adc}"` });
    const result = await fetchAccountBundle('cloudsql', options(env, { resource: CONNECTION }));
    expect(result.kept).toHaveLength(2);
    expect(server.requests[0]).toMatchObject({ path: TOKEN_PATH, method: 'POST' });
    expect(server.requests[0]?.headers.authorization).toBeUndefined();
    // A refused refresh token is AUTH_FAILED naming the file and the gcloud command that renews it.
    serveTokenEndpoint(() => false);
    const refused = await rejection(fetchAccountBundle('cloudsql', options(env, { resource: CONNECTION, force: true })));
    expect(refused.code).toBe('AUTH_FAILED');
    expect(refused.message).toContain(`Google refused the credentials from the application default credentials in "${adc}" (HTTP 400`);
    expect(refused.message).toContain('gcloud auth application-default login');
    expectNoSecrets(refused.message, JSON.stringify(await describeAccountCredentials(env, home)));
  });

  it('a service account key from GOOGLE_APPLICATION_CREDENTIALS: a JWT signed with its key, for the Cloud SQL scope', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyFile = join(dir, 'sa.json');
    const email = 'pgcerts@shop-prod-381207.iam.gserviceaccount.com';
    writeFileSync(keyFile, JSON.stringify({ type: 'service_account', project_id: PROJECT, private_key_id: 'k1', private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }), client_email: email, token_uri: 'https://oauth2.googleapis.com/token' }));
    // The clock is injected (whole seconds) and must agree with the test certificates' validity.
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    let claims: Record<string, unknown> = {};
    serveTokenEndpoint((form) => {
      const [header, payload, signature] = (form.get('assertion') ?? '').split('.');
      const verified = createVerify('RSA-SHA256').update(`${header}.${payload}`).verify(publicKey, signature ?? '', 'base64url');
      claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
      return verified && form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:jwt-bearer';
    });
    servePerInstance(`Bearer ${MINTED_TOKEN}`);
    await fetchAccountBundle('cloudsql', options(googleEnv({ GOOGLE_APPLICATION_CREDENTIALS: keyFile }), { resource: CONNECTION, now }));
    expect(claims).toEqual({ iss: email, scope: 'https://www.googleapis.com/auth/sqlservice.admin', aud: 'https://oauth2.googleapis.com/token', iat: now.getTime() / 1000, exp: now.getTime() / 1000 + 3600 });
    // A key file naming another token endpoint is refused before anything is signed or sent.
    writeFileSync(keyFile, JSON.stringify({ type: 'service_account', private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }), client_email: email, token_uri: 'https://evil.example/token' }));
    server.requests.length = 0;
    const evil = await rejection(fetchAccountBundle('cloudsql', options(googleEnv({ GOOGLE_APPLICATION_CREDENTIALS: keyFile }), { resource: CONNECTION, force: true })));
    expect(evil).toMatchObject({ code: 'NO_SOURCE' });
    expect(evil.message).toContain("names the token endpoint 'https://evil.example/token', which is not Google's");
    expect(server.requests).toEqual([]);
  });

  it('the metadata server of a Google Cloud machine (GCE_METADATA_HOST): plain HTTP with Metadata-Flavor, only when nothing else is found', async () => {
    const { createServer } = await import('node:http');
    let flavor: string | undefined;
    const metadata = createServer((req, res) => {
      flavor = req.headers['metadata-flavor'] as string | undefined;
      if (req.url !== '/computeMetadata/v1/instance/service-accounts/default/token' || flavor !== 'Google') {
        res.writeHead(403).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'metadata-flavor': 'Google' }).end(JSON.stringify({ access_token: MINTED_TOKEN, expires_in: 3599, token_type: 'Bearer' }));
    });
    await new Promise<void>((resolve) => metadata.listen(0, '127.0.0.1', resolve));
    try {
      const host = `127.0.0.1:${(metadata.address() as { port: number }).port}`;
      servePerInstance(`Bearer ${MINTED_TOKEN}`);
      const env = googleEnv({ GCE_METADATA_HOST: host });
      expect((await describeAccountCredentials(env, home)).find((p) => p.provider === 'cloudsql')).toMatchObject({ variable: 'metadata server' });
      const result = await fetchAccountBundle('cloudsql', options(env, { resource: CONNECTION }));
      expect(result.kept).toHaveLength(2);
      expect(flavor).toBe('Google');
      // A server that is not the metadata server (no Metadata-Flavor in its answer) gives no token.
      const impostor = createServer((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: MINTED_TOKEN })));
      await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
      try {
        const fake = await rejection(fetchAccountBundle('cloudsql', options(googleEnv({ GCE_METADATA_HOST: `127.0.0.1:${(impostor.address() as { port: number }).port}` }), { resource: CONNECTION, force: true })));
        expect(fake.code).toBe('AUTH_FAILED');
        expect(fake.message).toContain('without Metadata-Flavor: Google');
      } finally {
        impostor.close();
      }
    } finally {
      metadata.close();
    }
  });

  it('gcloud on PATH comes before credential files; a signed-out gcloud with nothing else is AUTH_FAILED with its own words', async () => {
    servePerInstance(`Bearer ${MINTED_TOKEN}`);
    const bin = fakeGcloud(MINTED_TOKEN);
    const env = googleEnv({ PATH: bin, GOOGLE_APPLICATION_CREDENTIALS: join(dir, 'missing.json') });
    expect((await describeAccountCredentials(env, home)).find((p) => p.provider === 'cloudsql')).toMatchObject({ variable: 'gcloud', source: 'from `gcloud auth print-access-token`' });
    await fetchAccountBundle('cloudsql', options(env, { resource: CONNECTION }));
    expect(server.requests.every((r) => r.headers.authorization === `Bearer ${MINTED_TOKEN}`)).toBe(true);

    const out = fakeGcloud(undefined);
    const failed = await rejection(fetchAccountBundle('cloudsql', options(googleEnv({ PATH: out }), { resource: CONNECTION, force: true })));
    expect(failed.code).toBe('AUTH_FAILED');
    expect(failed.message).toContain('auth print-access-token` gave no token (it exited with 1: "ERROR: (gcloud.auth.print-access-token) You do not currently have an active account selected.")');
    expect(failed.message).toContain('Run `gcloud auth login`');
    const none = await rejection(fetchAccountBundle('cloudsql', options(googleEnv(), { resource: CONNECTION, force: true })));
    expect(none.code).toBe('NO_SOURCE');
    expect(none.message).toContain('No Cloud SQL Admin API token: give pgcerts an access token of an account that may view the instance (roles/cloudsql.viewer): sign in with `gcloud auth login`');
  });
});

describe('AlloyDB through its Admin API', () => {
  const CLUSTER = `projects/${PROJECT}/locations/us-central1/clusters/main`;
  const ALLOY = `/alloydb.googleapis.com/v1/${CLUSTER}:generateClientCertificate`;
  let clusterCa: TestCertificate;
  let sent: Record<string, unknown> = {};

  function serveAlloy(auth = `Bearer ${ACCESS_TOKEN}`): void {
    server.routes[ALLOY] = async (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      sent = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      if (req.method !== 'POST' || req.headers.authorization !== auth) {
        res.writeHead(403, { 'content-type': 'application/json' }).end('{"error":{"code":403,"status":"PERMISSION_DENIED"}}');
        return;
      }
      // The client certificate the API signs is answered too; pgcerts must keep only caCert.
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ pemCertificateChain: [upcoming.pem, clusterCa.pem], caCert: clusterCa.pem }));
    };
  }

  beforeAll(() => {
    clusterCa = createCa({ commonName: 'AlloyDB cluster CA (test)' });
  });

  it('--cluster (or an instance URI): POSTs generateClientCertificate with a throw-away public key and keeps only caCert', async () => {
    serveAlloy();
    const env = googleEnv({ GOOGLE_OAUTH_ACCESS_TOKEN: ACCESS_TOKEN });
    const result = await fetchAccountBundle('alloydb', options(env, { resource: `${CLUSTER}/instances/primary` }));
    expect(fingerprints(readFileSync(result.path, 'utf8'))).toEqual([new X509Certificate(clusterCa.pem).fingerprint256]);
    expect(result.resource).toEqual({ id: CLUSTER, kind: 'cluster', project: PROJECT, region: 'us-central1', name: 'main' });
    expect(server.requests).toEqual([expect.objectContaining({ path: ALLOY, method: 'POST' })]);
    expect(String(sent.publicKey)).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(cacheTexts().join('')).not.toContain('PRIVATE KEY');
    const bad = await rejection(fetchAccountBundle('alloydb', options(env, { resource: 'main' })));
    expect(bad.message).toContain('--cluster "main" is not an AlloyDB cluster name; give the cluster name projects/PROJECT/locations/REGION/clusters/CLUSTER');
    const missing = await rejection(fetchAccountBundle('alloydb', options(env, { resource: `projects/${PROJECT}/locations/us-central1/clusters/other` })));
    expect(missing.code).toBe('RESOURCE_NOT_FOUND');
    serveAlloy('Bearer another');
    const refused = await rejection(fetchAccountBundle('alloydb', options(env, { resource: CLUSTER, force: true })));
    expect(refused).toMatchObject({ code: 'AUTH_FAILED' });
    expect(refused.message).toContain('The AlloyDB Admin API refused the token in GOOGLE_OAUTH_ACCESS_TOKEN (HTTP 403');
    expectNoSecrets(bad.message, missing.message, refused.message);
  });

  it('the CLI: fetch alloydb --cluster prints the path; the wrong resource flag for a provider is a usage error', async () => {
    serveAlloy();
    const caFile = join(dir, 'server-ca.pem');
    writeFileSync(caFile, server.ca);
    const env = googleEnv({ GOOGLE_OAUTH_ACCESS_TOKEN: ACCESS_TOKEN, PGCERTS_CACHE_DIR: cacheDir, PGCERTS_MIRROR: server.url(''), NODE_EXTRA_CA_CERTS: caFile });
    const run = await runCli(['fetch', 'alloydb', '--cluster', CLUSTER], env);
    expect(run.status).toBe(0);
    expect(fingerprints(readFileSync(run.stdout.trim(), 'utf8'))).toEqual([new X509Certificate(clusterCa.pem).fingerprint256]);
    const wrong = await runCli(['fetch', 'alloydb', '--instance', CONNECTION], env);
    expect(wrong).toMatchObject({ status: 2, stderr: 'pgcerts: Provider "alloydb" takes --cluster projects/PROJECT/locations/REGION/clusters/CLUSTER, not --instance.\n' });
    const none = await runCli(['fetch', 'cockroachdb', '--cluster', CLUSTER], env);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('Provider "cockroachdb" has no --cluster');
    expectNoSecrets(run.stdout, run.stderr, wrong.stderr, none.stderr);
  });
});

describe('check --refresh of account CAs', () => {
  it('reports a new CA at the API as a rotation (WARNING, the fetch command), unchanged as unchanged, no token as UNKNOWN; the cache stays as it was', async () => {
    servePerInstance();
    const env = googleEnv({ GOOGLE_OAUTH_ACCESS_TOKEN: ACCESS_TOKEN });
    const fetched = await fetchAccountBundle('cloudsql', options(env, { resource: CONNECTION }));
    const before = readFileSync(fetched.path);
    const check = (e: NodeJS.ProcessEnv) => runChecks({ cacheDir, mirror: server.url(''), download: { ca: server.ca, retries: 0 }, env: e, homeDir: home, refresh: true, providers: ['cloudsql'], maxRegistryAgeDays: null });
    const same = (await check(env)).targets.find((t) => t.kind === 'cache');
    expect(same).toMatchObject({ upstream: 'unchanged' });
    // The rotation's next step: the instance adds a new CA (listServerCas now has three).
    const next = createCa({ commonName: 'Google Cloud SQL Server CA' });
    server.routes[`${PATH}/listServerCas`] = json(`Bearer ${ACCESS_TOKEN}`, { certs: [sslCert(current), sslCert(upcoming), sslCert(next)] });
    const rotated = await check(env);
    const target = rotated.targets.find((t) => t.kind === 'cache');
    expect(target?.upstream).toBe('changed');
    expect(target?.problems).toContainEqual(expect.objectContaining({ code: 'upstream-changed', status: 'WARNING' }));
    expect(target?.problems.find((p) => p.code === 'upstream-changed')?.message).toContain(`The cloudsql CA of instance ${CONNECTION} changed at the provider's API (1 added, 0 removed`);
    expect(target?.problems.find((p) => p.code === 'upstream-changed')?.message).toContain(`\`pgcerts fetch cloudsql --instance ${CONNECTION}\``);
    const noToken = (await check(googleEnv())).targets.find((t) => t.kind === 'cache');
    expect(noToken).toMatchObject({ upstream: 'unknown' });
    expect(noToken?.problems).toContainEqual(expect.objectContaining({ code: 'refresh-failed', status: 'UNKNOWN' }));
    expect(readFileSync(fetched.path)).toEqual(before);
    expectNoSecrets(JSON.stringify(rotated));
  });
});

describe('the CLI', () => {
  it('fetch cloudsql --instance prints the path; credentials names the source; usage errors exit 2', async () => {
    servePerInstance();
    const caFile = join(dir, 'server-ca.pem');
    writeFileSync(caFile, server.ca);
    const env = googleEnv({ GOOGLE_OAUTH_ACCESS_TOKEN: ACCESS_TOKEN, PGCERTS_CACHE_DIR: cacheDir, PGCERTS_MIRROR: server.url(''), NODE_EXTRA_CA_CERTS: caFile });
    const run = await runCli(['fetch', 'cloudsql', '--instance', CONNECTION], env);
    expect(run.stderr).toContain(`cloudsql (per-instance-ca, instance "${INSTANCE}" (${CONNECTION})): kept 2 certificates`);
    expect(run.status).toBe(0);
    expect(readFileSync(run.stdout.trim(), 'utf8').match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    const both = await runCli(['fetch', 'cloudsql', '--instance', CONNECTION, '--host', PSA_HOST], env);
    expect(both.status).toBe(2);
    const offline = await runCli(['fetch', 'cloudsql', '--instance', CONNECTION, '--offline'], env);
    expect(offline.status).toBe(2);
    expect(offline.stderr).toContain('--offline does not go with --instance');
    const credentials = await runCli(['credentials'], env);
    expect(credentials.stdout).toMatch(/^cloudsql\s+GOOGLE_OAUTH_ACCESS_TOKEN$/m);
    expectNoSecrets(run.stdout, run.stderr, both.stderr, offline.stderr, credentials.stdout);
  });
});
