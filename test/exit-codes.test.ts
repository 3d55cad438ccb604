// The README's exit-code table, walked: every case it lists for codes 1 and 2 is one scenario
// here, run through the built CLI, and a case added to the table without a scenario (or a
// scenario the table no longer lists) fails the test. Usage errors are tried in every command,
// and the commands with their own codes (probe, check: 3; doctor: 1 on warnings) are held to them.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, runCli } from './helpers/cli.js';
import { getClosedPort } from './helpers/fake-postgres.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';
import { createCa, daysFromNow } from './helpers/test-ca.js';

const README = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
const NEON = 'ep-cool-darkness-123456.us-east-2.aws.neon.tech';
const RDS = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
const DO_HOST = 'db-postgresql-fra1-12345-do-user-1234567-0.b.db.ondigitalocean.com';
const TOKEN = 'dop_v1_exitcodetesttoken';

let dir: string;
let api: TestHttpsServer;
let caFile: string;
let closedPort: number;
let neonRoots: string;
let n = 0;

/** A fresh cache per scenario, the test API as the mirror (it answers 404 to any download). */
function env(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return cleanEnv({
    PGCERTS_CACHE_DIR: join(dir, `cache-${++n}`), PGCERTS_MIRROR: api.url(''), NODE_EXTRA_CA_CERTS: join(dir, 'server-ca.pem'),
    PATH: '', HOME: dir, PGHOST: undefined, DATABASE_URL: undefined, DIGITALOCEAN_ACCESS_TOKEN: undefined, DIGITALOCEAN_TOKEN: undefined, ...extra,
  });
}

function answer(status: number, body: unknown): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) res.writeHead(401, { 'content-type': 'application/json' }).end('{"id":"Unauthorized"}');
    else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
}

/** Run `pgcerts ...args` and return its exit code (stderr in the failure message). */
async function code(args: string[], environment: NodeJS.ProcessEnv = env()): Promise<number | null> {
  const run = await runCli(args, environment);
  if (run.status !== 0) expect(run.stderr, args.join(' ')).toMatch(/^pgcerts[: ]/);
  return run.status;
}

/** The cases one row of the table lists, e.g. `not found (a, b, c) or failed (d, e (F), g)`. */
function listedCases(row: string): string[] {
  const cases: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of row) {
    if (char === '(') {
      depth += 1;
      if (depth === 1) continue;
    }
    if (char === ')') {
      depth -= 1;
      if (depth === 0) {
        cases.push(current.trim());
        current = '';
        continue;
      }
    }
    if (depth === 0) continue;
    if (char === ',' && depth === 1) {
      cases.push(current.trim());
      current = '';
    } else {
      current += char;
    }
  }
  return cases;
}

function tableRow(exitCode: number): string {
  // The table under "### Exit codes" (probe's and check's tables come earlier).
  const section = README.slice(README.indexOf('\n### Exit codes\n'));
  const row = section.split('\n').find((line) => line.startsWith(`| ${exitCode} | `));
  if (!row) throw new Error(`README has no exit-code row for ${exitCode}`);
  return row.slice(`| ${exitCode} | `.length, -2);
}

/** A cache holding a DigitalOcean CA imported for DO_HOST, then damaged behind pgcerts' back. */
async function damagedCache(): Promise<NodeJS.ProcessEnv> {
  const environment = env();
  expect(await code(['import', 'digitalocean', caFile, '--host', DO_HOST], environment)).toBe(0);
  const cacheDir = environment.PGCERTS_CACHE_DIR as string;
  const pem = (await runCli(['sslrootcert', DO_HOST], environment)).stdout.trim();
  expect(pem.startsWith(cacheDir)).toBe(true);
  writeFileSync(pem, 'not a certificate\n');
  return environment;
}

const CODE_1: Record<string, () => Promise<number | null>> = {
  'a host no provider claims': () => code(['lookup', 'db.example.com']),
  'an IP address': () => code(['sslrootcert', '10.0.0.7']),
  '`localhost`': () => code(['lookup', 'localhost']),
  'an invalid host': () => code(['env', 'bad..host']),
  'no cluster of the account has the host': () => code(['fetch', 'digitalocean', '--host', DO_HOST], env({ DIGITALOCEAN_ACCESS_TOKEN: TOKEN })),
  'a refused or failed download': async () => {
    // Refused: the mirror answers 404 for every source. Failed: nothing listens. (The shipped
    // roots would serve RDS without a download: they are turned off here.)
    expect(await code(['fetch', 'rds'], env({ PGCERTS_NO_SHIPPED_ROOTS: '1' }))).toBe(1);
    return code(['sslrootcert', RDS], env({ PGCERTS_MIRROR: `https://127.0.0.1:${closedPort}`, PGCERTS_NO_SHIPPED_ROOTS: '1' }));
  },
  'a refused API token': () => code(['fetch', 'digitalocean', '--host', DO_HOST], env({ DIGITALOCEAN_ACCESS_TOKEN: 'dop_v1_wrong' })),
  'a provider with no downloadable CA and no token set': async () => {
    // A per-cluster CA: nothing to download or ship, and no DIGITALOCEAN_TOKEN.
    return code(['sslrootcert', DO_HOST]);
  },
  'an unreadable connection string or file': async () => {
    expect(await code(['lookup', "host=x password='unterminated"])).toBe(1);
    return code(['import', 'rds', join(dir, 'no-such-file.pem')]);
  },
  'a damaged cache': async () => code(['sslrootcert', DO_HOST, '--offline'], await damagedCache()),
  'a cache others could change (`CACHE_UNSAFE`)': async () => {
    const environment = env();
    expect(await code(['sslrootcert', NEON, '--offline'], environment)).toBe(0);
    chmodSync(join(environment.PGCERTS_CACHE_DIR as string, 'neon'), 0o777);
    return code(['sslrootcert', NEON, '--offline'], environment);
  },
  'a broken registry': async () => {
    const broken = join(dir, 'broken-registry.json');
    writeFileSync(broken, '{"schemaVersion": "1.0", "providers": [');
    return code(['lookup', RDS], env({ PGCERTS_REGISTRY: broken }));
  },
};

// Every command the CLI has, with arguments that make it succeed here.
const COMMANDS: Record<string, string[]> = {
  list: ['list'],
  show: ['show', 'rds'],
  lookup: ['lookup', RDS],
  fetch: ['fetch', 'neon', '--offline'],
  sslrootcert: ['sslrootcert', NEON, '--offline'],
  env: ['env', NEON, '--offline'],
  url: ['url', `postgres://app@${NEON}/app`, '--offline'],
  import: ['import', 'digitalocean', 'CA_FILE', '--host', DO_HOST],
  credentials: ['credentials'],
  doctor: ['doctor', `postgres://app@${NEON}/app?sslmode=verify-full&sslrootcert=NEON_ROOTS`, '--offline', '--no-env'],
  completion: ['completion', 'bash'],
  pgbouncer: ['pgbouncer', NEON, '--offline'],
  mirror: ['mirror', 'MIRROR_DIR', 'rds', '--offline'],
};

const withCa = (args: string[]): string[] => args.map((arg) => arg.replace('CA_FILE', caFile).replace('NEON_ROOTS', neonRoots).replace('MIRROR_DIR', join(dir, 'mirror')));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-exit-'));
  api = await startHttpsServer();
  writeFileSync(join(dir, 'server-ca.pem'), api.ca);
  const ca = createCa({ commonName: 'Exit code test CA', notBefore: daysFromNow(-1), notAfter: daysFromNow(3650) });
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, ca.pem);
  closedPort = await getClosedPort();
  neonRoots = (await runCli(['sslrootcert', NEON, '--offline'], env())).stdout.trim();
  api.routes['/api.digitalocean.com/v2/databases'] = answer(200, { databases: [], links: {}, meta: { total: 0 } });
});

afterAll(async () => {
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('README exit-code table', () => {
  it('lists exactly the cases tested here for code 1', () => {
    expect(listedCases(tableRow(1)).sort()).toEqual(Object.keys(CODE_1).sort());
    expect(tableRow(2).replace(/^usage error: /, '').split(', ')).toEqual(['unknown command', 'unknown flag', 'missing argument', 'unknown provider id']);
  });

  it.each(Object.keys(CODE_1))('exit 1: %s', async (name) => {
    expect(await CODE_1[name]?.()).toBe(1);
  });

  it('exit 0: every command, when it succeeds', async () => {
    for (const [name, args] of Object.entries(COMMANDS)) expect(await code(withCa(args)), name).toBe(0);
  });

  it('exit 2: an unknown command, and an unknown flag in every command', async () => {
    expect(await code(['frobnicate'])).toBe(2);
    for (const [name, args] of Object.entries(COMMANDS)) expect(await code([...withCa(args), '--no-such-flag']), name).toBe(2);
  });

  it('exit 2: a missing argument and an unknown provider id', async () => {
    for (const args of [['show'], ['import'], ['import', 'rds'], ['fetch'], ['completion'], ['lookup'], ['sslrootcert'], ['env'], ['url'], ['doctor', '--no-env']]) {
      expect(await code(args), args.join(' ')).toBe(2);
    }
    for (const args of [['show', 'nope'], ['fetch', 'nope'], ['import', 'nope', caFile]]) expect(await code(args), args.join(' ')).toBe(2);
  });

  it('probe and check: usage errors are UNKNOWN (3), as the README says', async () => {
    expect(README).toContain('`pgcerts probe` and `pgcerts check` use the monitoring codes 0 to 3 instead (see above); their usage\nerrors exit 3.');
    for (const args of [['probe', 'db.example.com', '--no-such-flag'], ['probe', 'db.example.com', '--provider', 'nope'], ['probe', 'db.example.com', '--timeout', '0'], ['check', '--no-such-flag'], ['check', 'nope'], ['check', '--warn-days', 'x']]) {
      expect(await code(args), args.join(' ')).toBe(3);
    }
  });

  it('doctor: 1 when it finds warnings or errors, 0 when nothing worse than info', async () => {
    expect(README).toContain('`pgcerts doctor` exits 1 when it finds warnings or errors (see above).');
    expect(await code(['doctor', `postgres://app@${RDS}/app?sslmode=require`, '--offline', '--no-env'])).toBe(1);
    expect(await code(withCa(COMMANDS.doctor as string[]))).toBe(0);
  });
});
