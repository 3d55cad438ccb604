// `pgcerts serve` (issue 14): the exporter's endpoints over real HTTP against fake PostgreSQL
// servers on 127.0.0.1 (slow, stalling, refusing), its request validation, the result cache,
// the concurrency limit and scrape timeouts, a graceful stop; the CLI (SIGTERM, usage errors)
// and the alerting rules, checked and unit-tested with promtool.
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { formatAlertRules, startExporter, type RunningExporter, type StartExporterOptions } from '../src/serve.js';
import { BIN, cleanEnv, runCli } from './helpers/cli.js';
import { getClosedPort, startFakePostgres, type FakeMode, type FakePostgres } from './helpers/fake-postgres.js';
import { createCa, createServerCertificate, daysFromNow, type TestCertificate } from './helpers/test-ca.js';

interface Family {
  name: string;
  type: string;
  metrics: Array<{ labels?: Record<string, string>; value: string }>;
}

const FLEET = 'fleet.test';
const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
const PROMTOOL_LABEL = promtool ? 'promtool' : 'promtool: NOT INSTALLED, these tests are skipped (Debian: apt-get install prometheus)';

let dir: string;
let root: TestCertificate;
let leaf: TestCertificate;
let caFile: string;
const servers: FakePostgres[] = [];
const exporters: RunningExporter[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-serve-'));
  root = createCa({ commonName: 'pgcerts serve test root' });
  leaf = createServerCertificate(root, { commonName: `*.${FLEET}`, dnsNames: [`*.${FLEET}`], notAfter: daysFromNow(90) });
  caFile = join(dir, 'root.pem');
  writeFileSync(caFile, root.pem);
  if (!promtool) console.warn(`serve: ${PROMTOOL_LABEL}`);
});

afterEach(async () => {
  await Promise.all(exporters.splice(0).map((e) => e.close(100)));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function fake(mode: FakeMode = 'tls', answerDelayMs?: number): Promise<FakePostgres> {
  const server = await startFakePostgres({ mode, key: leaf.keyPem, cert: leaf.pem, answerDelayMs });
  servers.push(server);
  return server;
}

async function exporter(options: StartExporterOptions = {}): Promise<RunningExporter> {
  const running = await startExporter({ port: 0, sslrootcert: caFile, cacheDir: join(dir, 'cache'), maxRegistryAgeDays: null, log: () => undefined, ...options });
  exporters.push(running);
  return running;
}

async function get(running: RunningExporter, path: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(`${running.url}${path}`, { headers });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

function families(text: string): Map<string, Family> {
  return new Map((parsePrometheusTextFormat(text) as Family[]).map((f) => [f.name, f]));
}

function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = families(text).get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return found === undefined ? undefined : Number(found.value);
}

const probePath = (host: string, port: number, extra = ''): string => `/probe?target=${encodeURIComponent(`${host}:${port}`)}&hostaddr=127.0.0.1${extra}`;

describe('/probe', () => {
  it('answers a live server with probe_success 1 and its certificates, and a closed port with probe_success 0, both HTTP 200', async () => {
    const server = await fake();
    const running = await exporter();
    const live = await get(running, probePath(`db-1.${FLEET}`, server.port));
    expect(live.status).toBe(200);
    expect(live.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    const target = `db-1.${FLEET}:${server.port}`;
    expect(value(live.body, 'pgcerts_probe_success', { host: target })).toBe(1);
    expect(value(live.body, 'pgcerts_target_status', { kind: 'host', target })).toBe(0);
    const notAfter = Date.parse(new X509Certificate(leaf.pem).validTo) / 1000;
    expect(value(live.body, 'pgcerts_cert_not_after_timestamp_seconds', { source: 'served', subject: `CN=*.${FLEET}` })).toBe(notAfter);
    expect(value(live.body, 'pgcerts_cert_status', { source: 'anchor', subject: 'CN=pgcerts serve test root' })).toBe(0);
    expect(value(live.body, 'pgcerts_probe_duration_seconds')).toBeGreaterThan(0);
    // The same families and labels as `check --format prometheus`, and nothing of the cache or registry.
    expect([...families(live.body).keys()]).toEqual([
      'pgcerts_probe_duration_seconds', 'pgcerts_target_status', 'pgcerts_probe_success',
      'pgcerts_cert_not_after_timestamp_seconds', 'pgcerts_cert_expires_in_seconds', 'pgcerts_cert_status', 'pgcerts_cert_unpinned',
    ]);

    const closed = await getClosedPort();
    const refused = await get(running, `/probe?target=127.0.0.1:${closed}`);
    expect(refused.status).toBe(200);
    expect(value(refused.body, 'pgcerts_probe_success', { host: `127.0.0.1:${closed}` })).toBe(0);
    expect(value(refused.body, 'pgcerts_target_status', { kind: 'host', target: `127.0.0.1:${closed}` })).toBe(3);
    expect(families(refused.body).has('pgcerts_cert_status')).toBe(false);
  });

  const bad: Array<[string, string]> = [
    ['/probe', 'pgcerts: No target: give /probe?target=host[:port] (in Prometheus, relabel __address__ to __param_target).'],
    ['/probe?target=', 'pgcerts: No target: give /probe?target=host[:port] (in Prometheus, relabel __address__ to __param_target).'],
    ['/probe?target=postgres%3A%2F%2Fapp%3Asecret%40db.example.com%2Fapp', 'pgcerts: "postgres://app:***@db.example.com/app" in the target parameter is a URL, not a host; give the host name alone.'],
    ['/probe?target=db.example.com:99999', 'pgcerts: Port "99999" in the target parameter is not a number from 1 to 65535; fix the port.'],
    ['/probe?target=%2Fetc%2Fpasswd', 'pgcerts: "/etc/passwd" in the target parameter is not a valid host name: '],
    ['/probe?target=db.example.com&sslrootcert=%2Fetc%2Fpasswd', 'pgcerts: Unknown parameter "sslrootcert"; /probe takes target, hostaddr, provider and direct.'],
    ['/probe?target=db.example.com&module=tcp_connect', 'pgcerts: Unknown parameter "module"; /probe takes target, hostaddr, provider and direct.'],
    ['/probe?target=a.example.com&target=b.example.com', 'pgcerts: The parameter "target" is given more than once; give it once.'],
    ['/probe?target=db.example.com&hostaddr=db2.example.com', 'pgcerts: hostaddr "db2.example.com" is not an IP address; give the address to connect to.'],
    ['/probe?target=10.0.0.7&provider=rdss', 'pgcerts: Unknown provider "rdss". Did you mean "rds"?'],
    ['/probe?target=db.example.com&direct=yes', 'pgcerts: direct "yes" is not 1, true, 0 or false.'],
  ];

  it.each(bad)('refuses %s with 400 and a message, before connecting anywhere', async (path, message) => {
    const running = await exporter();
    const res = await get(running, path);
    expect(res.status).toBe(400);
    expect(res.type).toBe('text/plain; charset=utf-8');
    expect(res.body.startsWith(message)).toBe(true);
    expect(res.body).not.toContain('secret');
    expect(running.exporter.active + running.exporter.queued).toBe(0);
  });

  it('refuses a malformed scrape-timeout header (400), other paths (404) and other methods (405)', async () => {
    const running = await exporter();
    expect((await get(running, '/probe?target=db.example.com', { 'X-Prometheus-Scrape-Timeout-Seconds': 'soon' })).status).toBe(400);
    expect(await get(running, '/nope')).toMatchObject({ status: 404 });
    expect((await fetch(`${running.url}/probe?target=db.example.com`, { method: 'POST' })).status).toBe(405);
    expect(await get(running, '/-/healthy')).toEqual({ status: 200, type: 'text/plain; charset=utf-8', body: 'OK\n' });
  });

  it('reuses a result for --min-interval (and shares one in flight), so several scrapers make one probe; 0 probes every time', async () => {
    const server = await fake('tls', 100);
    const running = await exporter({ minIntervalMs: 60_000 });
    const path = probePath(`db-1.${FLEET}`, server.port);
    const answers = await Promise.all([get(running, path), get(running, path), get(running, path)]);
    await get(running, path);
    expect(answers.map((a) => value(a.body, 'pgcerts_probe_success'))).toEqual([1, 1, 1]);
    expect(server.requestTimes).toHaveLength(1);
    // Another target is another probe (direct=0 is the same as no direct, so the same one).
    await get(running, `${path}&direct=0`);
    expect(server.requestTimes).toHaveLength(1);
    await get(running, probePath(`db-2.${FLEET}`, server.port));
    expect(server.requestTimes).toHaveLength(2);
    const metrics = (await get(running, '/metrics')).body;
    expect(value(metrics, 'pgcerts_exporter_probes_total')).toBe(2);
    expect(value(metrics, 'pgcerts_exporter_probes_reused_total')).toBe(4);

    const every = await exporter({ minIntervalMs: 0 });
    await get(every, path);
    await get(every, path);
    expect(server.requestTimes).toHaveLength(4);
  });

  it('runs at most --concurrency probes at once; a scrape that finds no slot before its timeout gets probe_success 0', async () => {
    const slow = await fake('tls', 300);
    const running = await exporter({ concurrency: 2 });
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => get(running, probePath(`db-${i}.${FLEET}`, slow.port))));
    expect(answers.map((a) => value(a.body, 'pgcerts_probe_success'))).toEqual(Array(6).fill(1));
    expect(slow.maxWaiting).toBe(2);

    const stall = await fake('stall-tls');
    const single = await exporter({ concurrency: 1, timeoutMs: 20_000 });
    // The first holds the only slot for its whole 3.5 s budget; the second's 0.5 s runs out in the queue.
    const first = get(single, probePath(`db-a.${FLEET}`, stall.port), { 'X-Prometheus-Scrape-Timeout-Seconds': '4' });
    await vi.waitFor(() => expect(single.exporter.active).toBe(1));
    const late = await get(single, probePath(`db-b.${FLEET}`, stall.port), { 'X-Prometheus-Scrape-Timeout-Seconds': '1' });
    expect(late.status).toBe(200);
    expect(value(late.body, 'pgcerts_probe_success', { host: `db-b.${FLEET}:${stall.port}` })).toBe(0);
    expect(stall.requestTimes).toHaveLength(1);
    expect(value((await get(single, '/metrics')).body, 'pgcerts_exporter_probes_late_total')).toBe(1);
    expect(value((await first).body, 'pgcerts_probe_success')).toBe(0);
  });

  it('takes the probe timeout from X-Prometheus-Scrape-Timeout-Seconds, less a margin', async () => {
    const stall = await fake('stall-tls');
    const running = await exporter({ timeoutMs: 20_000 });
    const res = await get(running, probePath(`db-1.${FLEET}`, stall.port), { 'X-Prometheus-Scrape-Timeout-Seconds': '1.5' });
    expect(value(res.body, 'pgcerts_probe_success')).toBe(0);
    // 1.5 s less 0.5 s: a timer never fires early, and far below the exporter's own 20 s.
    const seconds = value(res.body, 'pgcerts_probe_duration_seconds') as number;
    expect(seconds).toBeGreaterThanOrEqual(0.99);
    expect(seconds).toBeLessThan(10);
  });

  it('verifies a host the registry knows against its provider\'s bundle, not --sslrootcert', async () => {
    const server = await fake();
    const running = await exporter({ mirror: 'https://127.0.0.1:1', download: { retries: 0, totalTimeoutMs: 2000 } });
    const res = await get(running, probePath('mydb.abc123xyz.eu-west-1.rds.amazonaws.com', server.port));
    // The RDS bundle cannot be downloaded here (the mirror refuses): no bundle, and the certificate
    // does not name the host, which --sslrootcert would not have changed; with it, the chain would verify.
    expect(value(res.body, 'pgcerts_probe_success')).toBe(1);
    expect(value(res.body, 'pgcerts_target_status', { kind: 'host' })).toBe(2);
    expect(families(res.body).get('pgcerts_cert_status')?.metrics.map((m) => m.labels?.source)).toEqual(['served']);
  });
});

describe('/metrics', () => {
  it('checks the --file CA files and the registry with the names of check --format prometheus, plus the exporter\'s own', async () => {
    const expiring = createCa({ commonName: 'pgcerts serve expiring root', notAfter: daysFromNow(20) });
    const file = join(dir, 'app-ca.pem');
    writeFileSync(file, expiring.pem);
    const running = await exporter({ files: [file], maxRegistryAgeDays: 180 });
    const res = await get(running, '/metrics');
    expect(res.status).toBe(200);
    const names = [...families(res.body).keys()];
    expect(names.slice(0, 3)).toEqual(['pgcerts_check_status', 'pgcerts_check_timestamp_seconds', 'pgcerts_registry_info']);
    expect(names).toContain('pgcerts_cert_expires_in_seconds');
    expect(value(res.body, 'pgcerts_target_status', { kind: 'file', target: file })).toBe(1);
    expect(value(res.body, 'pgcerts_cert_status', { kind: 'file', subject: 'CN=pgcerts serve expiring root' })).toBe(1);
    expect(value(res.body, 'pgcerts_exporter_probes_in_flight')).toBe(0);
    expect(families(res.body).get('pgcerts_exporter_probes_total')?.type).toBe('COUNTER');
  });
});

describe('stopping', () => {
  it('finishes the scrapes being answered, then stops listening', async () => {
    const slow = await fake('tls', 400);
    const running = await exporter();
    const pending = get(running, probePath(`db-1.${FLEET}`, slow.port));
    await vi.waitFor(() => expect(running.exporter.active).toBe(1));
    const closed = running.close();
    const res = await pending;
    expect(value(res.body, 'pgcerts_probe_success')).toBe(1);
    await closed;
    await expect(fetch(`${running.url}/-/healthy`)).rejects.toThrow();
  });
});

describe('pgcerts serve (CLI)', () => {
  it('listens, answers, and on SIGTERM stops with exit 0', async () => {
    const server = await fake();
    const child = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--sslrootcert', caFile], {
      env: cleanEnv({ PGCERTS_CACHE_DIR: join(dir, 'cli-cache'), PGCERTS_NO_REGISTRY_AGE_WARNING: '1' }), stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    await vi.waitFor(() => expect(stderr).toMatch(/serving .* on http:\/\/127\.0\.0\.1:\d+ /), { timeout: 10_000 });
    const url = /on (http:\/\/127\.0\.0\.1:\d+) /.exec(stderr)?.[1] as string;
    const res = await fetch(`${url}/probe?target=db-1.${FLEET}:${server.port}&hostaddr=127.0.0.1`);
    expect(value(await res.text(), 'pgcerts_probe_success')).toBe(1);
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/\npgcerts: SIGTERM: finishing 0 probe\(s\) in flight, then stopping\npgcerts: stopped\n$/);
  });

  it('exits 2 for usage errors, 1 when it cannot listen or use --sslrootcert', async () => {
    const env = cleanEnv({ PGCERTS_CACHE_DIR: join(dir, 'cli-cache') });
    const badListen = await runCli(['serve', '--listen', 'localhost'], env);
    expect(badListen).toMatchObject({ status: 2, stdout: '' });
    expect(badListen.stderr).toBe('pgcerts: --listen "localhost" is not [host:]port (such as 127.0.0.1:9543, 0.0.0.0:9543 or [::1]:9543), with a port from 0 to 65535. Run `pgcerts serve --help` for usage.\n');
    const badInterval = await runCli(['serve', '--min-interval', '-1'], env);
    expect(badInterval.status).toBe(2);
    expect(badInterval.stderr).toContain('--min-interval "-1" must be a number from 0 to 86400.');
    const missing = await runCli(['serve', '--sslrootcert', join(dir, 'missing.pem')], env);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`Cannot read the CA file "${join(dir, 'missing.pem')}": ENOENT`);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    const busy = await runCli(['serve', '--listen', `127.0.0.1:${port}`], env);
    taken.close();
    expect(busy.status).toBe(1);
    expect(busy.stderr).toBe(`pgcerts: Cannot listen on 127.0.0.1:${port}: EADDRINUSE. Another process uses the port: stop it or give another --listen address.\n`);
  });

  it('--help lists the options with examples', async () => {
    const run = await runCli(['serve', '--help'], cleanEnv());
    expect(run.status).toBe(0);
    for (const flag of ['--listen <[host:]port>', '--sslrootcert <file>', '--concurrency <n>', '--min-interval <seconds>', '--timeout <seconds>', '--print-alert-rules']) expect(run.stdout).toContain(flag);
    expect(run.stdout).toContain('  $ pgcerts serve --print-alert-rules > /etc/prometheus/rules/pgcerts.yml\n');
  });
});

describe.skipIf(!promtool)(`alerting rules (${PROMTOOL_LABEL})`, () => {
  it('--print-alert-rules prints rules that promtool check rules accepts', async () => {
    const run = await runCli(['serve', '--print-alert-rules'], cleanEnv());
    expect(run).toMatchObject({ status: 0, stderr: '' });
    expect(run.stdout).toBe(formatAlertRules());
    const file = join(dir, 'pgcerts-rules.yml');
    writeFileSync(file, run.stdout);
    const checked = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    expect(checked.stdout + checked.stderr).toContain('SUCCESS: 8 rules found');
    expect(checked.status).toBe(0);
  });

  it('the README\'s scrape configuration is one promtool check config accepts', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const block = /```yaml\n(scrape_configs:\n {2}- job_name: pgcerts-probe\n[\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const rules = join(dir, 'readme-rules.yml');
    writeFileSync(rules, formatAlertRules());
    const config = join(dir, 'readme-prometheus.yml');
    writeFileSync(config, (block as string).replace('/etc/prometheus/rules/pgcerts.yml', rules));
    const checked = spawnSync('promtool', ['check', 'config', config], { encoding: 'utf8' });
    expect(checked.stdout + checked.stderr).toContain('SUCCESS');
    expect(checked.status).toBe(0);
  });

  it('fire on the series they are meant for, and stay quiet on healthy ones (promtool test rules)', () => {
    const rules = join(dir, 'rules.yml');
    writeFileSync(rules, formatAlertRules());
    const cert = (target: string, sha: string): string => `{kind="host",target="${target}",provider="rds",source="served",subject="CN=${target}",sha256="${sha}"}`;
    const tests = join(dir, 'rules-test.yml');
    // Values: expiry in seconds, constant over the test; 20 days warns, 5 days is critical, -1 expired, 90 days nothing.
    writeFileSync(tests, `rule_files: [${JSON.stringify(rules)}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'pgcerts_cert_expires_in_seconds${cert('warn:5432', 'AA')}'
        values: '${20 * 86400}x180'
      - series: 'pgcerts_cert_expires_in_seconds${cert('crit:5432', 'BB')}'
        values: '${5 * 86400}x180'
      - series: 'pgcerts_cert_expires_in_seconds${cert('dead:5432', 'CC')}'
        values: '-1x180'
      - series: 'pgcerts_cert_expires_in_seconds${cert('fine:5432', 'DD')}'
        values: '${90 * 86400}x180'
      - series: 'pgcerts_probe_success{host="down:5432"}'
        values: '0x180'
      - series: 'pgcerts_probe_success{host="fine:5432"}'
        values: '1x180'
      - series: 'pgcerts_target_status{kind="host",target="bad:5432"}'
        values: '2x180'
      - series: 'pgcerts_cert_unpinned${cert('odd:5432', 'EE')}'
        values: '1x180'
      - series: 'pgcerts_target_status{kind="registry",target="registry"}'
        values: '1x1500'
    alert_rule_test:
      - eval_time: 2h
        alertname: PgcertsCertificateExpiringSoon
        exp_alerts:
          - exp_labels: { severity: warning, kind: host, target: 'warn:5432', provider: rds, source: served, subject: 'CN=warn:5432', sha256: AA }
            exp_annotations:
              summary: 'Certificate CN=warn:5432 expires in 20d 0h 0m 0s'
              description: "A certificate of host warn:5432 (SHA-256 AA) expires within 30 days. Renew a server certificate; for a CA, fetch the provider's current bundle (pgcerts fetch) and deploy it."
      - eval_time: 2h
        alertname: PgcertsCertificateExpiringCritical
        exp_alerts:
          - exp_labels: { severity: critical, kind: host, target: 'crit:5432', provider: rds, source: served, subject: 'CN=crit:5432', sha256: BB }
            exp_annotations:
              summary: 'Certificate CN=crit:5432 expires in 5d 0h 0m 0s'
              description: 'A certificate of host crit:5432 (SHA-256 BB) expires within 14 days; verify-full connections fail once it has.'
      - eval_time: 2h
        alertname: PgcertsCertificateExpired
        exp_alerts:
          - exp_labels: { severity: critical, kind: host, target: 'dead:5432', provider: rds, source: served, subject: 'CN=dead:5432', sha256: CC }
            exp_annotations:
              summary: 'Certificate CN=dead:5432 has expired'
              description: 'A certificate of host dead:5432 (SHA-256 CC) has expired. Run pgcerts check for the details.'
      - eval_time: 2h
        alertname: PgcertsProbeFailed
        exp_alerts:
          - exp_labels: { severity: critical, host: 'down:5432' }
            exp_annotations:
              summary: 'No TLS handshake with PostgreSQL server down:5432'
              description: 'pgcerts could not complete a TLS handshake with down:5432 (refused, timeout, SSL off, not PostgreSQL). Run pgcerts probe down:5432 for the reason.'
      - eval_time: 2h
        alertname: PgcertsServerRejected
        exp_alerts:
          - exp_labels: { severity: critical, kind: host, target: 'bad:5432' }
            exp_annotations:
              summary: 'A verify-full client refuses PostgreSQL server bad:5432'
              description: 'The chain of bad:5432 does not verify against its bundle, does not name the host, or ends at a lookalike CA. Run pgcerts probe bad:5432 for the reason.'
      - eval_time: 2h
        alertname: PgcertsAnchorUnpinned
        exp_alerts:
          - exp_labels: { severity: warning, kind: host, target: 'odd:5432', provider: rds, source: served, subject: 'CN=odd:5432', sha256: EE }
            exp_annotations:
              summary: 'CA CN=odd:5432 is not pinned by the pgcerts registry'
              description: "The CA (SHA-256 EE) of host odd:5432 was accepted by the registry's constraints only. Compare its fingerprint with the provider's documentation and update pgcerts."
      - eval_time: 12h
        alertname: PgcertsRegistryStale
        exp_alerts: []
      - eval_time: 25h
        alertname: PgcertsRegistryStale
        exp_alerts:
          - exp_labels: { severity: warning, kind: registry, target: registry }
            exp_annotations:
              summary: 'The pgcerts registry is stale'
              description: "The registry's newest fact is older than --max-registry-age-days, or a pin it marks current has expired: providers may have rotated CAs since. Update pgcerts."
      - eval_time: 2h
        alertname: PgcertsCheckNotRunning
        exp_alerts: []
`);
    const run = spawnSync('promtool', ['test', 'rules', tests], { encoding: 'utf8' });
    expect(run.stdout + run.stderr).toContain('SUCCESS');
    expect(run.status).toBe(0);
  });
});
