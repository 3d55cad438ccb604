// `pgcerts serve` scraped by a real Prometheus (Debian's `prometheus` package; `.ci/run` installs
// it), configured the way blackbox_exporter users configure the multi-target pattern: static
// targets relabelled into `__param_target`, `__address__` pointing at the exporter, metrics path
// /probe. Prometheus's own query API must then show probe_success 1 and the certificate's expiry
// for a live fake PostgreSQL server, and 0 for a closed port; its rule manager loads the rules.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BIN, cleanEnv } from './helpers/cli.js';
import { getClosedPort, startFakePostgres, type FakePostgres } from './helpers/fake-postgres.js';
import { createCa, createServerCertificate, daysFromNow } from './helpers/test-ca.js';

const version = ((): string | undefined => {
  const run = spawnSync('prometheus', ['--version'], { encoding: 'utf8' });
  return run.status === 0 ? (run.stdout + run.stderr).split('\n')[0] : undefined;
})();
const LABEL = version ?? 'prometheus: NOT INSTALLED, these tests are skipped (Debian: apt-get install prometheus; .ci/run installs it)';
if (!version) console.warn(`prometheus: ${LABEL}`);

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Start a child and collect its stderr; `exited` settles when it ends. */
function start(command: string, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, output: () => output, exited };
}

describe.skipIf(!version)(`scraped by Prometheus (${LABEL})`, () => {
  let dir: string;
  let server: FakePostgres;
  let closed: number;
  let serve: ReturnType<typeof start>;
  let prometheus: ReturnType<typeof start>;
  let api: string;
  let leafNotAfter: number;
  const host = 'db-1.fleet.test';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgcerts-prometheus-'));
    const root = createCa({ commonName: 'pgcerts prometheus test root' });
    const leaf = createServerCertificate(root, { commonName: '*.fleet.test', dnsNames: ['*.fleet.test'], notAfter: daysFromNow(45) });
    leafNotAfter = Date.parse(new X509Certificate(leaf.pem).validTo) / 1000;
    writeFileSync(join(dir, 'root.pem'), root.pem);
    server = await startFakePostgres({ mode: 'tls', key: leaf.keyPem, cert: leaf.pem });
    closed = await getClosedPort();

    const servePort = await freePort();
    serve = start(process.execPath, [BIN, 'serve', '--listen', `127.0.0.1:${servePort}`, '--sslrootcert', join(dir, 'root.pem')],
      cleanEnv({ PGCERTS_CACHE_DIR: join(dir, 'cache'), PGCERTS_NO_REGISTRY_AGE_WARNING: '1' }));
    await vi.waitFor(() => expect(serve.output()).toContain('serving /probe'), { timeout: 10_000 });
    const rules = spawnSync(process.execPath, [BIN, 'serve', '--print-alert-rules'], { encoding: 'utf8' });
    writeFileSync(join(dir, 'pgcerts-rules.yml'), rules.stdout);

    // The multi-target pattern, as blackbox_exporter's and ssl_exporter's READMEs configure it.
    writeFileSync(join(dir, 'prometheus.yml'), `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - ${JSON.stringify(join(dir, 'pgcerts-rules.yml'))}
scrape_configs:
  - job_name: pgcerts
    metrics_path: /probe
    params:
      hostaddr: ['127.0.0.1']
    static_configs:
      - targets: ['${host}:${server.port}', '127.0.0.1:${closed}']
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:${servePort}
`);
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    prometheus = start('prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
    ], { ...process.env });
  }, 60_000);

  afterAll(async () => {
    for (const proc of [prometheus, serve]) {
      if (proc && proc.child.exitCode === null) {
        proc.child.kill('SIGTERM');
        await proc.exited;
      }
    }
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function query(expr: string): Promise<Sample[]> {
    const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = await res.json() as { status: string; data: { result: Sample[] } };
    expect(body.status).toBe('success');
    return body.data.result;
  }

  it('reads probe_success 1 and the certificate\'s expiry for the live server, 0 for the closed port', async () => {
    let samples: Sample[] = [];
    await vi.waitFor(async () => {
      expect(prometheus.child.exitCode, prometheus.output()).toBeNull();
      samples = await query('pgcerts_probe_success');
      expect(samples).toHaveLength(2);
    }, { timeout: 40_000, interval: 500 });
    const byInstance = Object.fromEntries(samples.map((s) => [s.metric.instance, Number(s.value[1])]));
    expect(byInstance).toEqual({ [`${host}:${server.port}`]: 1, [`127.0.0.1:${closed}`]: 0 });
    expect(samples.every((s) => s.metric.job === 'pgcerts')).toBe(true);
    const expiry = await query(`pgcerts_cert_not_after_timestamp_seconds{instance="${host}:${server.port}",source="served"}`);
    expect(expiry.map((s) => Number(s.value[1]))).toEqual([leafNotAfter]);
    const left = await query(`pgcerts_cert_expires_in_seconds{instance="${host}:${server.port}",source="served"}`);
    expect(Number(left[0]?.value[1]) / 86_400).toBeGreaterThan(43);
    const up = await query('up{job="pgcerts"}');
    expect(up.map((s) => Number(s.value[1]))).toEqual([1, 1]);
    // Prometheus sent its scrape timeout; every probe answered within it.
    const duration = await query('pgcerts_probe_duration_seconds');
    expect(duration.every((s) => Number(s.value[1]) < 1)).toBe(true);
  });

  it('loads the alerting rules, and fires PgcertsProbeFailed\'s pending state for the closed port only', async () => {
    await vi.waitFor(async () => {
      const res = await fetch(`${api}/api/v1/rules`);
      const body = await res.json() as { data: { groups: Array<{ name: string; rules: Array<{ name: string; health: string }> }> } };
      const rules = body.data.groups.flatMap((g) => g.rules);
      expect(rules).toHaveLength(8);
      expect(rules.every((r) => r.health === 'ok')).toBe(true);
    }, { timeout: 20_000, interval: 500 });
    await vi.waitFor(async () => {
      const alerts = await query('ALERTS{alertname="PgcertsProbeFailed"}');
      expect(alerts.map((a) => [a.metric.instance, a.metric.alertstate])).toEqual([[`127.0.0.1:${closed}`, 'pending']]);
    }, { timeout: 20_000, interval: 500 });
  });
});
