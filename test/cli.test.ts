import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const BIN = join(root, 'dist', 'pgcerts.cjs');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const registryFile = JSON.parse(readFileSync(join(root, 'registry', 'registry.json'), 'utf8')) as { version: string };

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function pgcerts(args: string[], env: Record<string, string> = {}): Run {
  // Run both ways in turn: the fast path of main.ts and the commander program must agree.
  const result = run(args, env);
  const slow = run(args, { ...env, PGCERTS_CLI_FAST_PATH: '0' });
  expect(slow).toEqual(result);
  return result;
}

function run(args: string[], env: Record<string, string>): Run {
  const { PGCERTS_REGISTRY: _ignored, ...base } = process.env;
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...base, NO_COLOR: '1', ...env } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Exit 0 with nothing on stderr; returns stdout. */
function ok(args: string[], env?: Record<string, string>): string {
  const result = pgcerts(args, env);
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result.stdout;
}

/** Exit with `code`, nothing on stdout and exactly one `pgcerts:` line on stderr; returns it. */
function fail(code: number, args: string[], env?: Record<string, string>): string {
  const result = pgcerts(args, env);
  expect(result.status).toBe(code);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(/^pgcerts: [^\n]+\n$/);
  return result.stderr;
}

describe('pgcerts --version and --help', () => {
  it('prints the package and registry versions', () => {
    expect(ok(['--version'])).toBe(`pgcerts ${pkg.version} (registry ${registryFile.version})\n`);
    expect(ok(['-V'])).toBe(`pgcerts ${pkg.version} (registry ${registryFile.version})\n`);
  });

  it('shows examples and exit codes in --help, for each command too', () => {
    const help = ok(['--help']);
    expect(help).toContain('Examples:');
    expect(help).toContain('Exit codes: 0 success, 1 not found or failed, 2 usage error');
    for (const command of ['list', 'show', 'lookup']) expect(ok([command, '--help'])).toContain(`$ pgcerts ${command}`);
  });

  it('prints help on stderr and exits 2 without a command', () => {
    const result = pgcerts([]);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Usage: pgcerts');
  });
});

describe('usage errors exit 2 naming the bad value', () => {
  it('unknown command', () => {
    expect(fail(2, ['frobnicate'])).toContain("'frobnicate'");
  });
  it('unknown flag', () => {
    expect(fail(2, ['lookup', '--frob', 'x'])).toContain("'--frob'");
  });
  it('missing argument', () => {
    expect(fail(2, ['show'])).toContain("'provider'");
  });
  it('unknown provider id, with a suggestion and the next step', () => {
    const message = fail(2, ['show', 'supabse']);
    expect(message).toContain('"supabse"');
    expect(message).toContain('"supabase"');
    expect(message).toContain('pgcerts list');
  });
});

describe('pgcerts list', () => {
  it('lists every provider, one per line', () => {
    const lines = ok(['list']).trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(18);
    expect(lines.some((line) => /^rds\s+bundle\S*\s+Amazon RDS/.test(line))).toBe(true);
    expect(lines.some((line) => /^heroku\s+.*none/.test(line))).toBe(true);
  });

  it('--json prints one document', () => {
    const doc = JSON.parse(ok(['list', '--json'])) as { registryVersion: string; providers: Array<{ id: string; trustKinds: string[] }> };
    expect(doc.registryVersion).toBe(registryFile.version);
    expect(doc.providers.find((p) => p.id === 'neon')?.trustKinds).toEqual(['public']);
  });
});

describe('pgcerts show', () => {
  it('describes a provider by alias, with sources, pins and docs', () => {
    const text = ok(['show', 'aurora']);
    expect(text).toMatch(/^Amazon RDS/);
    expect(text).toContain('https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem');
    expect(text).toMatch(/pins\s+\d+ current/);
    expect(text).toContain('docs');
  });

  it('--json prints the registry entry', () => {
    const doc = JSON.parse(ok(['show', 'heroku', '--json'])) as { provider: { id: string; trust: Array<{ kind: string }> } };
    expect(doc.provider.id).toBe('heroku');
    expect(doc.provider.trust.map((t) => t.kind)).toContain('none');
  });
});

describe('pgcerts lookup', () => {
  it('gives the regional bundle of an RDS host', () => {
    const text = ok(['lookup', 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com']);
    expect(text).toMatch(/^mydb\.abc123xyz\.eu-west-1\.rds\.amazonaws\.com\n/);
    expect(text).toMatch(/provider\s+rds \(/);
    expect(text).toMatch(/region\s+eu-west-1/);
    expect(text).toContain('https://truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem');
  });

  it('--json prints one document with a result per host and never the password', () => {
    const stdout = ok(['lookup', '--json', 'postgres://app:hunter2@ep-a-1.us-east-2.aws.neon.tech,db.abcdefghijklmnopqrst.supabase.co/db']);
    expect(stdout).not.toContain('hunter2');
    const doc = JSON.parse(stdout) as { results: Array<{ host: string; match?: { provider: string } }> };
    expect(doc.results.map((r) => r.match?.provider)).toEqual(['neon', 'supabase']);
  });

  it('exits 1 for an unknown host with a hint on stderr', () => {
    const message = fail(1, ['lookup', 'db.example.com']);
    expect(message).toContain('"db.example.com"');
    expect(message).toContain('pgcerts list');
  });

  it('exits 1 for IPs, localhost and garbage, explaining each', () => {
    expect(fail(1, ['lookup', '10.0.0.7'])).toContain('Cloud SQL');
    expect(fail(1, ['lookup', 'localhost'])).toContain('proxy');
    expect(fail(1, ['lookup', 'db..example.com'])).toContain('not a valid host name');
  });

  it('--json still prints the document when nothing matches', () => {
    const result = pgcerts(['lookup', '--json', 'db.example.com']);
    expect(result.status).toBe(1);
    const doc = JSON.parse(result.stdout) as { results: Array<{ match?: unknown; hint: string }> };
    // Absent values are null: every key of a result is always there.
    expect(doc.results[0]?.match).toBeNull();
    expect(doc.results[0]?.hint).toContain('No provider');
  });

  it('exits 1 for an unreadable connection string without echoing its password', () => {
    const message = fail(1, ['lookup', "host=x password='hunter2"]);
    expect(message).not.toContain('hunter2');
  });
});

describe('pgcerts fetch (both argument paths)', () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'pgcerts-cli-fetch-'));
  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

  it('says "probably" for a host rule that is a guess, and in the error sslrootcert gives for it', () => {
    expect(ok(['lookup', 'ec2-54-163-1-2.compute-1.amazonaws.com'])).toMatch(/^ {2}provider +probably heroku \(Heroku Postgres\): other hosts share this name form$/m);
    expect(fail(1, ['sslrootcert', 'ec2-54-163-1-2.compute-1.amazonaws.com'], { PGCERTS_CACHE_DIR: cacheDir })).toContain('"ec2-54-163-1-2.compute-1.amazonaws.com" is probably a Heroku Postgres host (other servers, such as plain EC2 instances, have names of the same form)');
  });

  it('builds an offline public bundle the same way on both paths', () => {
    // A first copy is said to be one; after it, both paths see the previous copy and say the same.
    const first = spawnSync(process.execPath, [BIN, 'fetch', 'neon', '--offline', '--force'], { env: { ...process.env, PGCERTS_CACHE_DIR: cacheDir }, encoding: 'utf8' });
    expect(first.stderr).toContain('the first copy in this cache');
    const result = pgcerts(['fetch', 'neon', '--offline', '--force'], { PGCERTS_CACHE_DIR: cacheDir });
    expect(result.stderr).toContain('0 added and 0 removed since the previous copy');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`${join(cacheDir, 'neon', 'public.roots.pem')}\n`);
    // Neon pins ISRG Root X1 and X2.
    expect(result.stderr).toMatch(/^pgcerts: neon \(public\): kept 2 certificates, dropped 0;/);
  });

  it('answers usage errors and unknown flags the same way on both paths', () => {
    expect(fail(2, ['fetch'], { PGCERTS_CACHE_DIR: cacheDir })).toContain('pgcerts list');
    expect(fail(2, ['fetch', 'nosuch'], { PGCERTS_CACHE_DIR: cacheDir })).toContain('"nosuch"');
    expect(fail(2, ['fetch', 'neon', '--frob'], { PGCERTS_CACHE_DIR: cacheDir })).toContain("'--frob'");
    expect(fail(2, ['fetch', 'neon', '--retries', 'many'], { PGCERTS_CACHE_DIR: cacheDir })).toContain('"many"');
  });
});

describe('PGCERTS_REGISTRY', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgcerts-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads another registry file', () => {
    const data = JSON.parse(readFileSync(join(root, 'registry', 'registry.json'), 'utf8')) as { version: string };
    const path = join(dir, 'copy.json');
    writeFileSync(path, JSON.stringify(data));
    expect(ok(['--version'], { PGCERTS_REGISTRY: path })).toContain(`(registry ${data.version})`);
  });

  it('refuses a broken registry with one clear line naming it', () => {
    const path = join(dir, 'broken.json');
    writeFileSync(path, '{"schemaVersion": "9.0.0"}');
    const message = fail(1, ['list'], { PGCERTS_REGISTRY: path });
    expect(message).toContain(path);
    expect(message).toContain('9.0.0');
  });
});
