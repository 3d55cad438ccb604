// Secrets never printed, through the built CLI: every command that takes a host or a connection
// string, run on generated passwords in every form users write them, prints no password on
// stdout or stderr (text and --json), and leaves none in the cache directory.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, runCli } from './helpers/cli.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';
import { connectionForms, passwordArbitrary, secretForms } from './helpers/secrets.js';
import { createCa } from './helpers/test-ca.js';

const RDS = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
let dir: string;
let cacheDir: string;
let caFile: string;
let env: NodeJS.ProcessEnv;

function filesUnder(path: string): string[] {
  return readdirSync(path).flatMap((name) => {
    const full = join(path, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-secrets-'));
  cacheDir = join(dir, 'cache');
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, createCa({ commonName: 'pgcerts secrets test CA' }).pem);
  // Downloads go to a closed local port: refused at once, never the public network.
  // Without the shipped roots, so that every command that needs a bundle meets a failing download
  // (`url` that succeeds prints the connection string it was given, password and all).
  env = cleanEnv({ PGCERTS_CACHE_DIR: cacheDir, PGCERTS_MIRROR: 'https://127.0.0.1:9/', PGCERTS_NO_SHIPPED_ROOTS: '1' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every command that echoes the input, as argv. */
function commands(input: string): string[][] {
  return [
    ['lookup', input], ['lookup', input, '--json'],
    ['sslrootcert', input, '--json'], ['env', input], ['url', input], ['url', input, '--json'],
    ['doctor', input, '--offline', '--no-env'], ['doctor', input, '--offline', '--json'],
    ['probe', input, '--timeout', '0.5', '--json'], ['check', '--host', input, '--timeout', '0.5', '--wide'],
    ['import', 'rds', caFile, '--host', input],
  ];
}

async function leaks(password: string, input: string): Promise<string[]> {
  const runs = await Promise.all(commands(input).map(async (args) => ({ args, run: await runCli(args, env, { killAfterMs: 20_000 }) })));
  const found: string[] = [];
  for (const { args, run } of runs) {
    for (const secret of secretForms(password)) {
      if (`${run.stdout}\n${run.stderr}`.includes(secret)) found.push(`${args[0]} ${args.slice(2).join(' ')}: ${run.stdout}${run.stderr}`);
    }
  }
  return found;
}

describe('the CLI prints no password', () => {
  it.each([
    ['a URL', `postgres://app:hunter2-url@${RDS}/app?sslmode=require`],
    ['a scheme-less user:password@host', `app:hunter2-bare@${RDS}`],
    ['a JDBC URL', `jdbc:postgresql://${RDS}:5432/app?user=app&password=hunter2-jdbc`],
    ['an unencoded "/" in the password', `postgres://app:hunt/er2-slash@${RDS}/app`],
    ['an unencoded "?" in the password', `postgres://app:hunt?er2-quest@${RDS}/app`],
    ['an oauth_client_secret', `host=${RDS} oauth_client_secret=hunter2-oauth sslmode=require`],
  ])('%s', async (_name, input) => {
    const password = /hunt[^@&\s]*/.exec(input)?.[0] as string;
    expect(await leaks(password, input)).toEqual([]);
  }, 60_000);

  it('for generated passwords in every form', async () => {
    await fc.assert(fc.asyncProperty(passwordArbitrary(), fc.constantFrom(...connectionForms), async (password, form) => {
      expect(await leaks(password, form.write(password, RDS))).toEqual([]);
    }), { numRuns: 8 });
    // Nothing a command wrote to the cache holds one either (the cache may stay empty).
    for (const file of statSync(cacheDir, { throwIfNoEntry: false }) ? filesUnder(cacheDir) : []) {
      expect(readFileSync(file, 'utf8')).not.toMatch(/Qz7|hunter2/);
    }
  }, 300_000);

  it('quotes a 100 kB host argument in a message under 200 characters', async () => {
    const huge = `app:hunter2-huge@${'a'.repeat(100_000)}`;
    for (const args of [['lookup', huge], ['probe', huge], ['check', '--host', huge], ['doctor', `postgres://${huge}/db`]]) {
      const run = await runCli(args, env);
      expect(run.status, args[0]).not.toBe(0);
      expect(run.stderr.length, `${args[0]}: ${run.stderr.slice(0, 300)}`).toBeLessThan(200);
      expect(run.stderr).not.toContain('hunter2');
    }
  }, 60_000);
});

describe('PGCERTS_MIRROR credentials', () => {
  let server: TestHttpsServer;
  beforeAll(async () => {
    server = await startHttpsServer();
  });
  afterAll(async () => server.close());

  it('are not printed when the mirror fails', async () => {
    const caPath = join(dir, 'server-ca.pem');
    writeFileSync(caPath, server.ca);
    const mirror = server.url('/pgcerts/').replace('https://', 'https://mirror-user:t0ken-s3cret@');
    const run = await runCli(['fetch', 'rds', '--json'], cleanEnv({ PGCERTS_CACHE_DIR: join(dir, 'mirror-cache'), PGCERTS_MIRROR: mirror, NODE_EXTRA_CA_CERTS: caPath }));
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/404/);
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/t0ken-s3cret|mirror-user/);
    expect(server.requests.length).toBeGreaterThan(0);
  }, 30_000);
});
