// The maintainers' refresh (scripts/registry-refresh.mjs) against a local mirror: a local HTTPS
// server, reached through PGCERTS_MIRROR, serving the RDS sources from the real certificates
// pgcerts ships, with one root dropped and one made-up root added; the clock is injected past the
// GovCloud RSA4096 intermediates' expiry. --write goes into a temporary copy of registry/.
import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMirrorSources } from '../src/mirror.js';
import { getBundledRegistry, loadRegistry } from '../src/registry.js';
import type { Trust } from '../src/registry-types.js';
import { listSourcePins, loadShippedRoots } from '../src/shipped-roots.js';
import { cleanEnv } from './helpers/cli.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';
import { createCaWithSubject } from './helpers/test-ca.js';

const root = join(import.meta.dirname, '..');
const registry = getBundledRegistry();
const roots = loadShippedRoots();
const rds = registry.getProvider('rds');
const DAY_MS = 86_400_000;
// One day after the first GovCloud RSA4096 intermediate expiry (2027-01-03), whatever today is.
const govRsa4096 = rds.certificates.filter((c) => c.status === 'current' && c.trust.includes('aws-us-gov') && / RSA4096 G1$/.test(c.subject));
const NOW = new Date(Math.max(...govRsa4096.map((c) => Date.parse(c.notAfter))) + DAY_MS);
const DATE = NOW.toISOString().slice(0, 10);
const dropped = rds.certificates.find((c) => c.region === 'eu-west-1' && c.subject.includes('RSA4096')) as (typeof rds.certificates)[number];

let origin: TestHttpsServer;
let dir: string;
let copy: string;
let added: X509Certificate;
let env: NodeJS.ProcessEnv;

/** Run the script without blocking this process's event loop, where the mirror answers. */
function refresh(extra: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'scripts', 'registry-refresh.mjs'), 'rds', '--registry-dir', copy, '--now', NOW.toISOString(), '--retries', '0', ...extra], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

interface Finding { kind: string; provider: string; trust: string; sha256: string; region?: string }

beforeAll(async () => {
  origin = await startHttpsServer();
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-refresh-'));
  copy = join(dir, 'registry');
  cpSync(join(root, 'registry'), copy, { recursive: true });
  writeFileSync(join(dir, 'ca.pem'), origin.ca);
  env = cleanEnv({ PGCERTS_MIRROR: origin.url(''), NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') });
  const made = createCaWithSubject(
    [['C', 'US'], ['O', 'Amazon Web Services, Inc.'], ['OU', 'Amazon RDS'], ['ST', 'WA'], ['CN', 'Amazon RDS xx-test-1 Root CA RSA2048 G1'], ['L', 'Seattle']],
    { notBefore: new Date(NOW.getTime() - DAY_MS), notAfter: new Date(NOW.getTime() + 3650 * DAY_MS) },
  );
  added = new X509Certificate(made.pem);
  for (const source of listMirrorSources([rds])) {
    const trust = rds.trust.find((t) => t.id === source.trust) as Trust;
    const pems = listSourcePins(rds, trust, source.region).filter((p) => p.sha256 !== dropped.sha256).map((p) => roots.bySha.get(p.sha256)?.pem as string);
    const isGlobal = source.url === 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem';
    const body = `${pems.join('')}${isGlobal ? made.pem : ''}`;
    const url = new URL(source.url);
    origin.routes[`/${url.host}${url.pathname}`] = (_req, res) => void res.writeHead(200).end(body);
  }
});

afterAll(async () => {
  await origin.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('npm run registry:refresh', () => {
  it('reports an added root, a removed one and the expired ones, and changes nothing without --write', async () => {
    const before = readFileSync(join(copy, 'providers', 'rds.json'), 'utf8');
    const run = await refresh(['--json']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(1);
    const doc = JSON.parse(run.stdout) as { registryVersion: string; findings: Finding[]; failures: unknown[]; written: unknown; downloaded: number; sources: number };
    expect(doc).toMatchObject({ registryVersion: registry.version, failures: [], written: null });
    expect(doc.downloaded).toBe(doc.sources);
    const of = (kind: string): Finding[] => doc.findings.filter((f) => f.kind === kind);
    expect(of('added')).toEqual([expect.objectContaining({ provider: 'rds', trust: 'aws', sha256: added.fingerprint256 })]);
    expect(of('removed')).toEqual([expect.objectContaining({ provider: 'rds', trust: 'aws', sha256: dropped.sha256, region: 'eu-west-1' })]);
    expect(of('expired').map((f) => f.sha256).sort()).toEqual(govRsa4096.map((c) => c.sha256).sort());
    expect(of('rotated')).toEqual([]);
    expect(readFileSync(join(copy, 'providers', 'rds.json'), 'utf8')).toBe(before);
    const text = await refresh([]);
    expect(text.stdout).toMatch(/^registry [\d.]+: \d+ of \d+ sources downloaded through https:\/\/127\.0\.0\.1:\d+, 4 changes\n/);
    expect(text.stdout).toContain(`added    rds (aws): "Amazon RDS xx-test-1 Root CA RSA2048 G1" ${added.fingerprint256}`);
    expect(text.stdout).toContain(`removed  rds (aws, eu-west-1): "Amazon RDS eu-west-1 Root CA RSA4096 G1" ${dropped.sha256}`);
    expect(text.stdout).toMatch(/expired  rds \(aws-us-gov, us-gov-(east|west)-1\): "Amazon RDS us-gov-(east|west)-1 RSA4096 G1"/);
  });

  it('--write updates the pins, bumps the version, adds a changelog entry and rebuilds registry.json and roots.json', async () => {
    const run = await refresh(['--write', '--date', DATE]);
    expect(run.status).toBe(1);
    const [major, minor, patch] = registry.version.split('.').map(Number);
    const version = `${major}.${minor}.${(patch as number) + 1}`;
    expect(run.stdout).toContain(`written: registry ${version} in ${copy} (providers/rds.json, meta.json, CHANGELOG.md, registry.json, roots.json)`);
    const updated = loadRegistry(join(copy, 'registry.json'));
    expect(updated.version).toBe(version);
    const pins = updated.getProvider('rds').certificates;
    expect(pins.find((p) => p.sha256 === added.fingerprint256)).toMatchObject({ status: 'current', trust: ['aws'], cite: { checked: DATE, confirmed: false } });
    expect(pins.find((p) => p.sha256 === dropped.sha256)).toMatchObject({ status: 'retired', cite: { checked: DATE } });
    for (const c of govRsa4096) expect(pins.find((p) => p.sha256 === c.sha256)?.status).toBe('expired');
    expect(readFileSync(join(copy, 'CHANGELOG.md'), 'utf8')).toContain(`## ${version} (${DATE})`);
    const shipped = JSON.parse(readFileSync(join(copy, 'roots.json'), 'utf8')) as { registryVersion: string; certificates: Array<{ sha256: string; from: string }> };
    expect(shipped.registryVersion).toBe(version);
    expect(shipped.certificates.find((c) => c.sha256 === added.fingerprint256)?.from).toBe(`downloaded from https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem on ${DATE}`);
    expect(shipped.certificates.some((c) => c.sha256 === dropped.sha256 || govRsa4096.some((g) => g.sha256 === c.sha256))).toBe(false);
    // The rebuilt files are fresh for both build scripts, and the real registry is untouched.
    execFileSync(process.execPath, [join(root, 'scripts', 'build-registry.mjs'), '--check', '--registry-dir', copy]);
    const roots = execFileSync(process.execPath, [join(root, 'scripts', 'build-roots.mjs'), '--check', '--registry-dir', copy], { encoding: 'utf8' });
    expect(roots).toContain('build is fresh');
    expect(getBundledRegistry().version).toBe(registry.version);
    expect(JSON.parse(readFileSync(join(root, 'registry', 'meta.json'), 'utf8')).version).toBe(registry.version);
    // Against the same mirror, the updated registry has nothing left to report.
    const again = await refresh(['--json']);
    expect(again.status).toBe(0);
    expect((JSON.parse(again.stdout) as { findings: Finding[] }).findings.filter((f) => f.kind !== 'expiring')).toEqual([]);
  });

  it('exits 2 naming the source that could not be downloaded, and on a usage error', async () => {
    const route = '/truststore.pki.rds.amazonaws.com/us-east-1/us-east-1-bundle.pem';
    const saved = origin.routes[route];
    origin.routes[route] = (_req, res) => void res.writeHead(404).end();
    try {
      const run = await refresh([]);
      expect(run.status).toBe(2);
      expect(run.stdout).toContain('failed   rds: ');
      expect(run.stdout).toContain('us-east-1-bundle.pem');
    } finally {
      origin.routes[route] = saved as NonNullable<typeof saved>;
    }
    const bad = await refresh(['--bogus']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('unknown argument "--bogus"');
  });
});
