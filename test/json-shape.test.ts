// Every `--json` document has one shape (README, "Rules of the command line"): camelCase keys,
// `registryVersion` first, every key of a result present (null when absent), and an error is
// `{ error: { code, message, exitCode } }` whose exitCode is the process's. Each command is run
// as a user would run it: the built CLI, a temporary cache, local servers, no network.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getBundledRegistry } from '../src/registry.js';
import { cleanEnv, runCli, type CliRun } from './helpers/cli.js';
import { getClosedPort, startFakePostgres, type FakePostgres } from './helpers/fake-postgres.js';
import { createCa, createServerCertificate, daysFromNow } from './helpers/test-ca.js';

const NEON = 'ep-cool-darkness-123456.us-east-2.aws.neon.tech';
const RDS = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
const DO_HOST = 'db-postgresql-fra1-12345-do-user-1234567-0.b.db.ondigitalocean.com';
const VERSION = getBundledRegistry().version;
// Objects whose keys are data, not field names: pattern captures, reference ids, libpq variables,
// pgbouncer.ini settings.
const MAP_KEYS = new Set(['captures', 'references', 'variables', 'pgbouncer']);

let dir: string;
let caFile: string;
let server: FakePostgres;
let closedPort: number;

function env(): NodeJS.ProcessEnv {
  // A mirror that refuses connections: nothing can reach the internet, and a download fails fast.
  return cleanEnv({ PGCERTS_CACHE_DIR: join(dir, 'cache'), PGCERTS_MIRROR: `https://127.0.0.1:${closedPort}`, PATH: '', HOME: dir, PGHOST: undefined, DATABASE_URL: undefined, DIGITALOCEAN_TOKEN: undefined, DIGITALOCEAN_ACCESS_TOKEN: undefined });
}

/** Key paths that are not camelCase, outside objects whose keys are data. */
function badKeys(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => badKeys(item, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, child]) => [
    ...(/^[a-z][a-zA-Z0-9]*$/.test(key) ? [] : [`${path}.${key}`]),
    ...(MAP_KEYS.has(key) ? [] : badKeys(child, `${path}.${key}`)),
  ]);
}

/** The one JSON document on stdout, checked against the common rules. */
function doc(run: CliRun, what: string): Record<string, unknown> {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(run.stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`${what}: stdout is not one JSON document: ${run.stdout.slice(0, 200)} (stderr ${run.stderr})`);
  }
  expect(badKeys(parsed), what).toEqual([]);
  if ('error' in parsed) {
    expect(Object.keys(parsed), what).toEqual(['error']);
    const error = parsed.error as Record<string, unknown>;
    expect(Object.keys(error), what).toEqual(['code', 'message', 'exitCode']);
    expect(error.exitCode, what).toBe(run.status);
    expect(run.stderr, what).toContain(error.message as string);
  } else {
    expect(Object.keys(parsed)[0], what).toBe('registryVersion');
    expect(parsed.registryVersion, what).toBe(VERSION);
  }
  return parsed;
}

async function json(args: string[], status: number | number[], extra: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const run = await runCli(args, { ...env(), ...extra });
  expect([status].flat(), `${args.join(' ')}: ${run.stderr}`).toContain(run.status);
  return doc(run, args.join(' '));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-json-'));
  const ca = createCa({ commonName: 'JSON shape test CA', notBefore: daysFromNow(-1), notAfter: daysFromNow(3650) });
  const leaf = createServerCertificate(ca, { commonName: DO_HOST, notBefore: daysFromNow(-1), notAfter: daysFromNow(300) });
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, ca.pem);
  server = await startFakePostgres({ mode: 'tls', key: leaf.keyPem, cert: leaf.pem });
  closedPort = await getClosedPort();
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('--json: one shape in every command', () => {
  it('list, show and credentials', async () => {
    expect((await json(['list', '--json'], 0)).providers).toBeInstanceOf(Array);
    expect((await json(['show', 'rds', '--json'], 0)).provider).toMatchObject({ id: 'rds' });
    const credentials = await json(['credentials', '--json'], 0);
    const rows = credentials.providers as Array<Record<string, unknown>>;
    // One key set for every provider, whether a token is found or not (null when not).
    for (const row of rows) expect(Object.keys(row).sort()).toEqual(Object.keys(rows[0] as object).sort());
  });

  it('lookup: a match has every key whatever the trust kind, and no match is match: null', async () => {
    const results = (await json(['lookup', '--json', `host=${RDS},${NEON},${DO_HOST}`], 0)).results as Array<Record<string, unknown>>;
    const keys = results.map((r) => Object.keys(r.match as object).sort());
    expect(keys[1]).toEqual(keys[0]);
    expect(keys[2]).toEqual(keys[0]);
    const neon = results[1]?.match as Record<string, unknown>;
    expect(neon).toMatchObject({ partition: null, source: null, reason: null });
    const none = (await json(['lookup', '--json', 'db.example.com'], 1)).results as Array<Record<string, unknown>>;
    expect(Object.keys(none[0] as object).sort()).toEqual(Object.keys(results[0] as object).sort());
    expect(none[0]).toMatchObject({ match: null, port: null });
  });

  it('sslrootcert, env and url', async () => {
    const root = await json(['sslrootcert', NEON, '--offline', '--json'], 0);
    expect(root).toMatchObject({ provider: 'neon', sslmode: 'verify-full', origin: expect.any(String) });
    const shell = await json(['env', NEON, '--offline', '--json'], 0);
    expect(shell).toEqual({ registryVersion: VERSION, provider: 'neon', variables: { PGSSLMODE: 'verify-full', PGSSLROOTCERT: root.path } });
    const url = await json(['url', `postgres://app@${NEON}/app`, '--offline', '--json'], 0);
    expect(url).toMatchObject({ sslrootcert: root.path, sslmode: 'verify-full', provider: 'neon' });
  });

  it('fetch, import and import --remove', async () => {
    const fetched = await json(['fetch', 'neon', '--offline', '--json'], 0);
    expect(fetched.errors).toEqual([]);
    const imported = await json(['import', 'digitalocean', caFile, '--host', DO_HOST, '--json'], 0);
    expect(imported.result).toMatchObject({ provider: 'digitalocean' });
    const removed = await json(['import', 'digitalocean', '--remove', '--host', DO_HOST, '--json'], 0);
    expect(removed.removed).toBeInstanceOf(Array);
  });

  it('pgbouncer and mirror', async () => {
    expect(await json(['pgbouncer', NEON, '--offline', '--json'], 0)).toMatchObject({ registryVersion: VERSION });
    expect(await json(['mirror', join(dir, 'mirror'), 'rds', '--offline', '--json'], 0)).toMatchObject({ registryVersion: VERSION });
  });

  it('doctor, probe and check: the same keys for a good and a bad answer', async () => {
    const { path } = await json(['sslrootcert', NEON, '--offline', '--json'], 0);
    const good = await json(['doctor', `postgres://app@${NEON}/app?sslmode=verify-full&sslrootcert=${path as string}`, '--offline', '--no-env', '--json'], 0);
    const bad = await json(['doctor', `postgres://app:pw@${RDS}/app?sslmode=require`, '--offline', '--no-env', '--json'], 1);
    expect(Object.keys(bad).sort()).toEqual(Object.keys(good).sort());
    const up = await json(['probe', `${DO_HOST}:${server.port}`, '--hostaddr', '127.0.0.1', '--sslrootcert', caFile, '--json'], 0);
    const down = await json(['probe', `${DO_HOST}:${closedPort}`, '--hostaddr', '127.0.0.1', '--sslrootcert', caFile, '--json'], 3);
    expect(Object.keys(down).sort()).toEqual(Object.keys(up).sort());
    // OK, or WARNING once the registry's data is old (the suite also runs years ahead).
    const check = await json(['check', '--file', caFile, '--json'], [0, 1]);
    expect(check).toMatchObject({ schemaVersion: 1, targets: [{ kind: 'file', status: 'OK' }, { kind: 'registry' }] });
  });

  it('errors: a JSON document on stdout with the process exit code, in every command', async () => {
    // A failed download (1), a usage error (2), and probe/check's UNKNOWN for usage errors (3).
    // Downloads that fail: without the shipped roots, which would serve RDS offline.
    const noShipped = { PGCERTS_NO_SHIPPED_ROOTS: '1', PGCERTS_CACHE_DIR: join(dir, 'cache-errors') };
    await json(['sslrootcert', RDS, '--json'], 1, noShipped);
    await json(['env', RDS, '--json'], 1, noShipped);
    await json(['url', `postgres://app@${RDS}/app`, '--json'], 1, noShipped);
    await json(['fetch', 'rds', '--json'], 1, noShipped);
    await json(['sslrootcert', DO_HOST, '--json'], 1);
    await json(['show', 'no-such-provider', '--json'], 2);
    await json(['lookup', '--json'], 2);
    await json(['import', 'rds', join(dir, 'missing.pem'), '--json'], 1);
    await json(['probe', 'db.example.com', '--provider', 'no-such-provider', '--json'], 3);
    await json(['check', 'no-such-provider', '--json'], 3);
    await json(['doctor', '--json', '--no-env'], 2);
  });
});
