// `check` spread over worker threads (src/check-workers.ts, dist/check-worker.cjs): the same
// report as on one thread, errors that stop the run as they would there, and usage errors. Runs
// the built CLI and the built library (dist/index.js), where the worker script sits beside them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckReport, runChecks as RunChecks } from '../src/check.js';
import { cleanEnv, runCli } from './helpers/cli.js';
import { getClosedPort, startFakePostgres, type FakePostgres } from './helpers/fake-postgres.js';
import { createCa, createServerCertificate, type TestCertificate } from './helpers/test-ca.js';

let dir: string;
let ca: TestCertificate;
let caFile: string;
let fleet: FakePostgres;
let closedPort: number;
let hostsFile: string;
let env: NodeJS.ProcessEnv;
const HOSTS = 40;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-workers-'));
  ca = createCa({ commonName: 'pgcerts workers test CA' });
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, ca.pem);
  const leaf = createServerCertificate(ca, { commonName: '*.fleet.test', dnsNames: ['*.fleet.test'] });
  fleet = await startFakePostgres({ mode: 'tls', key: leaf.keyPem, cert: leaf.pem, answerDelayMs: 20 });
  closedPort = await getClosedPort();
  // Good servers, a name the certificate does not cover, a closed port, and a duplicate.
  const lines = Array.from({ length: HOSTS }, (_, i) => `db-${i + 1}.fleet.test:${fleet.port}`);
  lines.push(`db.other.test:${fleet.port}`, `db-closed.fleet.test:${closedPort}`, `DB-1.fleet.test:${fleet.port}`);
  hostsFile = join(dir, 'hosts.txt');
  writeFileSync(hostsFile, `${lines.join('\n')}\n`);
  env = cleanEnv({ PGCERTS_CACHE_DIR: join(dir, 'cache'), PGCERTS_NO_REGISTRY_AGE_WARNING: '1' });
});

afterAll(async () => {
  await fleet.close();
  rmSync(dir, { recursive: true, force: true });
});

const checkArgs = (...extra: string[]): string[] => ['check', '--hosts-file', hostsFile, '--hostaddr', '127.0.0.1', '--sslrootcert', caFile, '--timeout', '5', '--json', ...extra];

function withoutClock(report: CheckReport): Omit<CheckReport, 'checkedAt'> {
  const { checkedAt: _checkedAt, ...rest } = report;
  return rest;
}

describe('pgcerts check --workers', () => {
  it('gives the report one thread gives, in the order of the list', async () => {
    const one = await runCli(checkArgs('--workers', '1'), env);
    const three = await runCli(checkArgs('--workers', '3'), env);
    expect([one.status, three.status]).toEqual([2, 2]);
    const [a, b] = [JSON.parse(one.stdout) as CheckReport, JSON.parse(three.stdout) as CheckReport];
    expect(withoutClock(b)).toEqual(withoutClock(a));
    const hosts = a.targets.filter((t) => t.kind === 'host');
    expect(hosts.map((t) => t.name)).toEqual([...Array.from({ length: HOSTS }, (_, i) => `db-${i + 1}.fleet.test:${fleet.port}`), `db.other.test:${fleet.port}`, `db-closed.fleet.test:${closedPort}`]);
    expect(hosts.slice(0, HOSTS).every((t) => t.status === 'OK')).toBe(true);
    expect(hosts[HOSTS]?.problems.map((p) => p.code)).toEqual(['hostname-mismatch']);
    expect(hosts[HOSTS + 1]?.problems.map((p) => p.code)).toEqual(['connection-refused']);
    expect(three.stderr).toBe(one.stderr);
  });

  it('stops at bad input as one thread does (exit 3, the same message)', async () => {
    const missing = join(dir, 'missing.pem');
    const runs = await Promise.all(['1', '2'].map((w) => runCli(['check', '--hosts-file', hostsFile, '--hostaddr', '127.0.0.1', '--sslrootcert', missing, '--workers', w], env)));
    for (const run of runs) {
      expect(run.status).toBe(3);
      expect(run.stderr).toBe(`pgcerts: Cannot read the CA file "${missing}": ENOENT. Check the path given as sslrootcert.\n`);
    }
  });

  it('refuses a bad --workers, and --workers without hosts (usage errors are 3)', async () => {
    for (const bad of ['0', '65', '1.5', 'many', '']) {
      const run = await runCli(['check', '--host', 'db.example.com', '--workers', bad], env);
      expect(run.status, bad).toBe(3);
      expect(run.stderr).toContain(`--workers "${bad}" must be a whole number from 1 to 64`);
    }
    const alone = await runCli(['check', '--workers', '2'], env);
    expect(alone.status).toBe(3);
    expect(alone.stderr).toContain('--workers applies to --host and --hosts-file');
  });
});

describe('runChecks({ workers }) in the built library', () => {
  it('probes on worker threads (none on this one) and returns the same report', async () => {
    const lib = (await import(pathToFileURL(join(import.meta.dirname, '..', 'dist', 'index.js')).href)) as { runChecks: typeof RunChecks };
    const hosts = Array.from({ length: HOSTS }, (_, i) => ({ host: `db-${i + 1}.fleet.test`, port: fleet.port }));
    const base = { hosts, hostaddr: '127.0.0.1', sslrootcert: caFile, maxRegistryAgeDays: null, cacheDir: join(dir, 'lib-cache'), now: new Date() };
    const watch = async (workers: number): Promise<{ report: CheckReport; resources: Set<string> }> => {
      const resources = new Set<string>();
      const sample = setInterval(() => process.getActiveResourcesInfo().forEach((r) => resources.add(r)), 2);
      try {
        return { report: await lib.runChecks({ ...base, workers }), resources };
      } finally {
        clearInterval(sample);
      }
    };
    const threads = await watch(2);
    const single = await watch(1);
    expect(threads.report).toEqual(single.report);
    expect(single.report.status).toBe('OK');
    // The workers' message ports are this thread's; their connections are not.
    expect(threads.resources.has('MessagePort')).toBe(true);
    expect(single.resources.has('MessagePort')).toBe(false);
    expect(single.resources.has('TCPSocketWrap')).toBe(true);
    await expect(lib.runChecks({ ...base, workers: 0 })).rejects.toThrow(/workers "0" is not a whole number from 1 to 64/);
  });
});
