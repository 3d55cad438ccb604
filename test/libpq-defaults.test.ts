// With no argument, the commands read what libpq reads (PGHOST, PGPORT, PGHOSTADDR, PGSSLROOTCERT)
// and what applications read (DATABASE_URL), on both CLI paths (fast and commander).
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, runCli } from './helpers/cli.js';

const NEON = 'ep-cool-darkness-123456.us-east-2.aws.neon.tech';
const RDS = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
let dir: string;

function env(extra: Record<string, string | undefined>, fastPath = true): NodeJS.ProcessEnv {
  return cleanEnv({ PGHOST: undefined, PGPORT: undefined, PGHOSTADDR: undefined, PGSSLROOTCERT: undefined, DATABASE_URL: undefined, PGCERTS_CACHE_DIR: join(dir, 'cache'), PGCERTS_CLI_FAST_PATH: fastPath ? undefined : '0', ...extra });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-defaults-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.each([['fast path', true], ['commander', false]] as const)('no argument (%s)', (_name, fast) => {
  it('lookup, sslrootcert and env take the host from PGHOST (a list as libpq reads it)', async () => {
    const named = await runCli(['lookup', RDS, '--json'], env({}, fast));
    const fromEnv = await runCli(['lookup', '--json'], env({ PGHOST: RDS }, fast));
    expect(fromEnv.status).toBe(0);
    expect(JSON.parse(fromEnv.stdout)).toEqual(JSON.parse(named.stdout));
    const list = await runCli(['lookup', '--json'], env({ PGHOST: `${NEON},${RDS}`, PGPORT: '6432' }, fast));
    expect((JSON.parse(list.stdout) as { results: Array<{ host: string; port?: number }> }).results.map((r) => r.host)).toEqual([NEON, RDS]);
    const sslrootcert = await runCli(['sslrootcert', '--offline'], env({ PGHOST: NEON }, fast));
    expect(sslrootcert).toMatchObject({ status: 0, stderr: '' });
    expect(sslrootcert.stdout.trim()).toBe(join(dir, 'cache', 'neon', 'public.roots.pem'));
    const shell = await runCli(['env', '--offline'], env({ PGHOST: NEON }, fast));
    expect(shell.stdout).toBe(`export PGSSLMODE=verify-full\nexport PGSSLROOTCERT='${join(dir, 'cache', 'neon', 'public.roots.pem')}'\n`);
  });

  it('url and doctor take DATABASE_URL', async () => {
    const url = `postgres://app:s3cret@${NEON}/app?sslmode=require`;
    const fixed = await runCli(['url', '--offline'], env({ DATABASE_URL: url }, fast));
    expect(fixed.status).toBe(0);
    expect(fixed.stdout.trim()).toBe(`postgres://app:s3cret@${NEON}/app?sslmode=verify-full&sslrootcert=${join(dir, 'cache', 'neon', 'public.roots.pem')}`);
    const doctor = await runCli(['doctor', '--json', '--offline'], env({ DATABASE_URL: url }, fast));
    expect((JSON.parse(doctor.stdout) as { input: string }).input).toBe(`postgres://app:***@${NEON}/app?sslmode=require`);
  });

  it('says which variable to set when it is missing, and refuses a Unix-socket PGHOST (exit 2, one line)', async () => {
    for (const command of ['lookup', 'sslrootcert', 'env']) {
      const run = await runCli([command], env({}, fast));
      expect(run.status, command).toBe(2);
      expect(run.stderr).toBe(`pgcerts: pgcerts ${command} needs a host: give one (\`pgcerts ${command} db.example.com\`), or set PGHOST as for psql. Run \`pgcerts ${command} --help\` for usage.\n`);
    }
    const url = await runCli(['url'], env({}, fast));
    expect(url.status).toBe(2);
    expect(url.stderr).toContain('or set DATABASE_URL');
    const socket = await runCli(['sslrootcert'], env({ PGHOST: '/var/run/postgresql' }, fast));
    expect(socket.status).toBe(2);
    expect(socket.stderr).toContain('PGHOST "/var/run/postgresql" is a Unix socket, where TLS does not apply');
  });
});

describe('probe with no argument', () => {
  it('connects to PGHOST:PGPORT at PGHOSTADDR and reads PGSSLROOTCERT; flags win', async () => {
    const refused = await runCli(['probe', '--json', '--provider', 'neon', '--timeout', '2'], env({ PGHOST: 'db.example.com', PGPORT: '1', PGHOSTADDR: '127.0.0.1' }));
    const report = JSON.parse(refused.stdout) as { host: string; port: number; summary: string };
    expect(report).toMatchObject({ host: 'db.example.com', port: 1 });
    expect(report.summary).toContain('(at 127.0.0.1) refused');
    const missing = join(dir, 'no-such-ca.pem');
    const root = await runCli(['probe'], env({ PGHOST: 'localhost', PGPORT: '1', PGSSLROOTCERT: missing }));
    expect(root.status).toBe(3);
    expect(root.stderr).toContain(`"${missing}"`);
    // The argument and the flags win over the variables.
    const other = join(dir, 'other-ca.pem');
    const flag = await runCli(['probe', 'localhost:1', '--sslrootcert', other], env({ PGHOST: 'db.example.com', PGSSLROOTCERT: missing }));
    expect(flag.stderr).toContain(`"${other}"`);
    expect(flag.stdout + flag.stderr).not.toContain(missing);
    const named = await runCli(['probe', 'localhost:1', '--json', '--provider', 'neon', '--timeout', '2'], env({ PGHOST: 'db.example.com', PGPORT: '7' }));
    expect(JSON.parse(named.stdout)).toMatchObject({ host: 'localhost', port: 1 });
  });
});

describe('download flags', () => {
  it('refuse --timeout 0 and --retries 1.5 before anything is downloaded', async () => {
    for (const [args, message] of [
      [['fetch', 'rds', '--timeout', '0'], '--timeout "0" must be a number of seconds from more than 0 to 3600.'],
      [['fetch', 'rds', '--retries', '1.5'], '--retries "1.5" must be a whole number from 0 to 10.'],
      [['sslrootcert', RDS, '--timeout', '0'], '--timeout "0" must be a number of seconds from more than 0 to 3600.'],
    ] as const) {
      const run = await runCli([...args], env({}));
      expect(run.status, args.join(' ')).toBe(2);
      expect(run.stderr).toBe(`pgcerts: ${message}\n`);
    }
    expect(existsSync(join(dir, 'cache', 'rds')) ? readdirSync(join(dir, 'cache', 'rds')) : []).toEqual([]);
  });
});

describe('errors under --json', () => {
  it('are one JSON document on stdout as well as the line on stderr, with the exit code, on both paths', async () => {
    for (const fast of [true, false]) {
      const cases: Array<[string[], string, number]> = [
        [['sslrootcert', 'nothing.example', '--json'], 'NO_SOURCE', 1],
        [['lookup', 'db.example.com', '--bogus', '--json'], 'USAGE', 2],
        [['fetch', 'nosuch', '--json'], 'UNKNOWN_PROVIDER', 2],
        [['check', '--warn-days', 'x', '--json'], 'USAGE', 3],
        [['probe', 'bad host!', '--json'], 'INVALID_INPUT', 3],
      ];
      for (const [args, code, exitCode] of cases) {
        const run = await runCli(args, env({}, fast));
        expect(run.status, args.join(' ')).toBe(exitCode);
        const doc = JSON.parse(run.stdout) as { error: { code: string; message: string; exitCode: number } };
        expect(doc.error).toMatchObject({ code, exitCode });
        expect(run.stderr).toBe(`pgcerts: ${doc.error.message}\n`);
      }
    }
    // Without --json, stdout stays empty.
    expect((await runCli(['sslrootcert', 'nothing.example'], env({}))).stdout).toBe('');
  });
});

describe('usage errors', () => {
  it('are one line, and point at the help of the command given', async () => {
    const lookup = await runCli(['lookup', 'db.example.com', '--bogus'], env({}, false));
    expect(lookup.stderr).toBe("pgcerts: unknown option '--bogus'. Run `pgcerts lookup --help` for usage.\n");
    const unknown = await runCli(['frob'], env({}, false));
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toBe("pgcerts: unknown command 'frob' (Did you mean probe?). Run `pgcerts --help` for usage.\n");
  });
});

describe('network failures', () => {
  it('name the proxy when the proxy is what fails (its credentials hidden), and the offline way out otherwise', async () => {
    const viaProxy = await runCli(['fetch', 'rds', '--retries', '0'], env({ HTTPS_PROXY: 'http://proxyuser:proxySECRET@127.0.0.1:1' }));
    expect(viaProxy.status).toBe(1);
    expect(viaProxy.stderr).toContain('the proxy http://127.0.0.1:1 (HTTPS_PROXY) refused the connection (ECONNREFUSED). Check HTTPS_PROXY, or add the host to NO_PROXY');
    expect(viaProxy.stderr).not.toContain('proxySECRET');
    const mirror = await runCli(['fetch', 'rds', '--retries', '0'], env({ PGCERTS_MIRROR: 'https://127.0.0.1:1' }));
    expect(mirror.stderr).toContain('connection refused by 127.0.0.1:1');
    expect(mirror.stderr).toContain('Check that the mirror (PGCERTS_MIRROR) is up.');
  });
});
