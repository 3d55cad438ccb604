// `pgcerts serve`: a Prometheus exporter. `/probe?target=host[:port]` checks one PostgreSQL
// server per scrape (the multi-target pattern of blackbox_exporter and ssl_exporter), `/metrics`
// the cached bundles, CA files and the registry (as `pgcerts check --format prometheus`), and
// `/-/healthy` says the process answers. Probes share one concurrency limit, take their timeout
// from the scrape's own, and are remembered for a minimum interval so that several Prometheus
// replicas scraping the same targets do not multiply them. Nothing but a host, a port and the
// named options is read from a request: never a file path.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { CheckHost, CheckOptions, ServerCheck } from './check.js';
import { parseHostPort } from './connection.js';
import { PgcertsError } from './errors.js';
import { normalizeHost } from './hostname.js';
import { createLimiter, type Limiter } from './limiter.js';
import { quoteInput } from './redact.js';
import { getBundledRegistry, type Registry } from './registry.js';

/** The port `pgcerts serve` listens on unless told otherwise (see the README for the choice). */
export const DEFAULT_SERVE_PORT = 9543;
/** A probe result is reused for this long (ms) unless `minIntervalMs` says otherwise. */
export const DEFAULT_MIN_INTERVAL_MS = 30_000;
/** The longest a probe may take (ms) when neither the scrape nor `timeoutMs` says less. */
export const DEFAULT_SERVE_TIMEOUT_MS = 10_000;
/** Probes in flight at once unless `concurrency` says otherwise. */
export const DEFAULT_SERVE_CONCURRENCY = 64;
/** What is kept back from the scrape's timeout for the answer to reach Prometheus (as blackbox_exporter's `timeout_offset`). */
const TIMEOUT_OFFSET_MS = 500;
/** The query parameters `/probe` reads; anything else is refused. */
const PROBE_PARAMS = new Set(['target', 'hostaddr', 'provider', 'direct']);
const TEXT_FORMAT = 'text/plain; version=0.0.4; charset=utf-8';
const PROBE_SUCCESS_HELP = 'Whether the TLS handshake with the PostgreSQL server completed and it sent a certificate (1) or not (0).';
// Results of this many targets are kept; the oldest goes first. A fleet of thousands fits.
const MAX_REMEMBERED = 20_000;

/** Options of {@link createExporter} (and {@link startExporter}). */
export interface ExporterOptions extends Pick<CheckOptions, 'cacheDir' | 'mirror' | 'download' | 'env' | 'homeDir' | 'warnDays' | 'criticalDays' | 'maxRegistryAgeDays'> {
  /** Defaults to the registry shipped with pgcerts. */
  registry?: Registry;
  /** The CA file for targets the registry does not know (an address without `provider=`, your own host names). */
  sslrootcert?: string;
  /** `/metrics`: these CA files, as `check --file`. */
  files?: string[];
  /** `/metrics`: these providers' cached bundles (default every cached bundle), as `check <provider...>`. */
  providers?: string[];
  /** `/metrics`: every cached bundle and every downloadable provider, as `check --all`. */
  all?: boolean;
  /** Probes in flight at once (default {@link DEFAULT_SERVE_CONCURRENCY}). */
  concurrency?: number;
  /** Reuse a target's result (and `/metrics`) for this long; 0 probes on every scrape. Default 30 s. */
  minIntervalMs?: number;
  /** The longest a probe may take; a scrape's `X-Prometheus-Scrape-Timeout-Seconds` can only shorten it. Default 10 s. */
  timeoutMs?: number;
  /** The clock; defaults to `new Date()` on every call. */
  now?: () => Date;
  /** Where the exporter reports failures of its own (an unreadable CA file, a bug); default stderr. */
  log?: (message: string) => void;
}

/** A request handler for the exporter's endpoints, usable in any `node:http` server. */
export interface Exporter {
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Probes running, and waiting for a slot. */
  readonly active: number;
  readonly queued: number;
  /** Resolves when no request is being answered any more (for a graceful stop). */
  idle(): Promise<void>;
}

interface Remembered {
  /** The metrics text, and whether it is a verdict worth reusing (not a probe that found no slot). */
  done: Promise<{ text: string; keep: boolean }>;
  /** When the result was complete (ms), or undefined while it runs. */
  at: number | undefined;
}

/** A `/probe` request, read and checked. */
interface ProbeRequest {
  key: string;
  spec: CheckHost;
  /** Whether the registry names a provider for the target (else `sslrootcert` applies). */
  known: boolean;
}

class HttpError extends Error {
  constructor(readonly status: 400 | 404 | 405 | 500 | 503, message: string) {
    super(message);
  }
}

/**
 * The exporter's request handler.
 * @throws PgcertsError `INVALID_INPUT` for a concurrency, interval or timeout out of range.
 * @example createServer(createExporter({ sslrootcert: '/etc/ssl/pg-ca.pem' }).handle).listen(9543, '127.0.0.1')
 */
export function createExporter(options: ExporterOptions = {}): Exporter {
  const registry = options.registry ?? getBundledRegistry();
  const limiter: Limiter = createLimiter(options.concurrency ?? DEFAULT_SERVE_CONCURRENCY);
  const minIntervalMs = options.minIntervalMs ?? DEFAULT_MIN_INTERVAL_MS;
  const maxTimeoutMs = options.timeoutMs ?? DEFAULT_SERVE_TIMEOUT_MS;
  if (!(minIntervalMs >= 0) || !Number.isFinite(minIntervalMs)) throw new PgcertsError('INVALID_INPUT', `The minimum interval "${minIntervalMs}" ms is not a number from 0 up; give 0 to probe on every scrape.`);
  if (!(maxTimeoutMs > 0) || !Number.isFinite(maxTimeoutMs)) throw new PgcertsError('INVALID_INPUT', `Timeout "${maxTimeoutMs}" ms is not a positive number; give a timeout above 0.`);
  const clock = options.now ?? (() => new Date());
  const log = options.log ?? ((message: string) => process.stderr.write(`pgcerts: ${message}\n`));
  const remembered = new Map<string, Remembered>();
  let metrics: Remembered | undefined;
  const counts = { probes: 0, reused: 0, late: 0 };
  let inFlight = 0;
  let idleWaiters: Array<() => void> = [];

  const checkOptions: CheckOptions = {
    registry, cacheDir: options.cacheDir, mirror: options.mirror, download: options.download, env: options.env, homeDir: options.homeDir,
    warnDays: options.warnDays, criticalDays: options.criticalDays,
  };

  const readProbeRequest = (url: URL): ProbeRequest => {
    for (const name of new Set(url.searchParams.keys())) {
      if (!PROBE_PARAMS.has(name)) throw new HttpError(400, `Unknown parameter ${quoteInput(name, 40)}; /probe takes target, hostaddr, provider and direct.`);
      if (url.searchParams.getAll(name).length > 1) throw new HttpError(400, `The parameter "${name}" is given more than once; give it once.`);
    }
    const target = url.searchParams.get('target');
    if (target === null || target.trim() === '') throw new HttpError(400, 'No target: give /probe?target=host[:port] (in Prometheus, relabel __address__ to __param_target).');
    return parseProbeTarget(target, url.searchParams, registry);
  };

  const budgetOf = (req: IncomingMessage): number => {
    const header = req.headers['x-prometheus-scrape-timeout-seconds'];
    if (header === undefined) return maxTimeoutMs;
    const seconds = Number(Array.isArray(header) ? header[0] : header);
    if (!(seconds > 0) || !Number.isFinite(seconds)) throw new HttpError(400, `X-Prometheus-Scrape-Timeout-Seconds ${quoteInput(String(header), 20)} is not a positive number of seconds.`);
    const ms = seconds * 1000;
    return Math.min(maxTimeoutMs, ms - Math.min(TIMEOUT_OFFSET_MS, ms / 2));
  };

  const runProbe = async (request: ProbeRequest, budgetMs: number): Promise<{ text: string; keep: boolean }> => {
    const { checkServer } = await import('./check.js');
    const { formatFamilies, formatProbePrometheus } = await import('./check-format.js');
    const deadline = performance.now() + budgetMs;
    return limiter.run(async () => {
      const left = Math.floor(deadline - performance.now());
      const started = performance.now();
      if (left <= 0) {
        counts.late++;
        // No verdict about the target, so nothing is remembered: the next scrape tries again.
        log(`no probe slot for ${request.spec.host}:${request.spec.port ?? 5432} within the scrape timeout (${limiter.max} probes in flight, ${limiter.queued} waiting); raise --concurrency or the scrape timeout.`);
        const where = `${request.spec.host.includes(':') ? `[${request.spec.host}]` : request.spec.host}:${request.spec.port ?? 5432}`;
        return { text: formatFamilies([{ name: 'pgcerts_probe_success', help: PROBE_SUCCESS_HELP, samples: [[{ host: where }, 0]] }]), keep: false };
      }
      counts.probes++;
      const check: ServerCheck = await checkServer({ ...request.spec, timeoutMs: left }, {
        ...checkOptions, now: clock(), sslrootcert: request.known ? undefined : options.sslrootcert,
        download: { ...checkOptions.download, totalTimeoutMs: Math.min(checkOptions.download?.totalTimeoutMs ?? Infinity, left) },
      });
      return { text: formatProbePrometheus(check, { durationSeconds: (performance.now() - started) / 1000 }), keep: true };
    });
  };

  const probe = async (req: IncomingMessage, url: URL): Promise<string> => {
    const request = readProbeRequest(url);
    const budgetMs = budgetOf(req);
    const now = performance.now();
    const known = remembered.get(request.key);
    if (known && (known.at === undefined || now - known.at < minIntervalMs)) {
      counts.reused++;
      return (await known.done).text;
    }
    const entry: Remembered = { done: runProbe(request, budgetMs), at: undefined };
    remembered.delete(request.key);
    if (remembered.size >= MAX_REMEMBERED) remembered.delete(remembered.keys().next().value as string);
    remembered.set(request.key, entry);
    try {
      const result = await entry.done;
      if (result.keep && minIntervalMs > 0) entry.at = performance.now();
      else if (remembered.get(request.key) === entry) remembered.delete(request.key);
      return result.text;
    } catch (error) {
      if (remembered.get(request.key) === entry) remembered.delete(request.key);
      throw error;
    }
  };

  const collect = async (): Promise<string> => {
    const now = performance.now();
    if (!metrics || (metrics.at !== undefined && now - metrics.at >= minIntervalMs)) {
      const entry: Remembered = {
        at: undefined,
        done: (async () => {
          const { runChecks } = await import('./check.js');
          const { formatPrometheus } = await import('./check-format.js');
          const report = await runChecks({
            ...checkOptions, now: clock(), files: options.files ?? [], providers: options.providers, all: options.all,
            maxRegistryAgeDays: options.maxRegistryAgeDays,
          });
          return { text: formatPrometheus(report), keep: true };
        })(),
      };
      metrics = entry;
      entry.done.then(() => {
        entry.at = minIntervalMs > 0 ? performance.now() : -Infinity;
      }, () => {
        if (metrics === entry) metrics = undefined;
      });
    }
    const { formatFamilies } = await import('./check-format.js');
    const text = (await metrics.done).text;
    return text + formatFamilies([
      { name: 'pgcerts_exporter_probes_in_flight', help: 'Probes running now.', samples: [[{}, limiter.active]] },
      { name: 'pgcerts_exporter_probes_queued', help: 'Probes waiting for a free slot (--concurrency).', samples: [[{}, limiter.queued]] },
      { name: 'pgcerts_exporter_probes_total', help: 'Probes run since the exporter started.', samples: [[{}, counts.probes]], type: 'counter' },
      { name: 'pgcerts_exporter_probes_reused_total', help: 'Scrapes of /probe answered with a result less than --min-interval old, or one in flight.', samples: [[{}, counts.reused]], type: 'counter' },
      { name: 'pgcerts_exporter_probes_late_total', help: 'Scrapes of /probe that found no free slot before their timeout.', samples: [[{}, counts.late]], type: 'counter' },
    ]);
  };

  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://exporter.invalid');
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${quoteInput(req.method ?? '', 20)} is not allowed; the exporter answers GET.`);
    if (url.pathname === '/-/healthy') return send(res, 200, 'text/plain; charset=utf-8', 'OK\n');
    if (url.pathname === '/probe') return send(res, 200, TEXT_FORMAT, await probe(req, url));
    if (url.pathname === '/metrics') return send(res, 200, TEXT_FORMAT, await collect());
    if (url.pathname === '/') {
      return send(res, 200, 'text/plain; charset=utf-8', 'pgcerts exporter\n\n/probe?target=host[:port][&hostaddr=IP][&provider=ID][&direct=1]  one PostgreSQL server\n/metrics  cached bundles, CA files and the registry\n/-/healthy  liveness\n');
    }
    throw new HttpError(404, `No such page ${quoteInput(url.pathname, 60)}; the exporter serves /probe, /metrics and /-/healthy.`);
  };

  return {
    get active() {
      return limiter.active;
    },
    get queued() {
      return limiter.queued;
    },
    handle(req, res) {
      inFlight++;
      const finished = (): void => {
        inFlight--;
        if (inFlight === 0) {
          const waiters = idleWaiters;
          idleWaiters = [];
          for (const wake of waiters) wake();
        }
      };
      answer(req, res).catch((error: unknown) => {
        if (error instanceof HttpError) return send(res, error.status, 'text/plain; charset=utf-8', `pgcerts: ${error.message}\n`);
        const message = error instanceof PgcertsError ? error.message : `internal error (please report it): ${error instanceof Error ? error.stack : String(error)}`;
        log(message);
        return send(res, 500, 'text/plain; charset=utf-8', `pgcerts: ${message}\n`);
      }).finally(finished);
    },
    idle() {
      return inFlight === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** Read `target`, `hostaddr`, `provider` and `direct` of a `/probe` request; HttpError 400 for anything else. */
function parseProbeTarget(target: string, params: URLSearchParams, registry: Registry): ProbeRequest {
  let spec: CheckHost;
  try {
    const parsed = parseHostPort(target, 'the target parameter');
    const normalized = normalizeHost(parsed.host);
    if (normalized.type === 'invalid') throw new PgcertsError('INVALID_INPUT', `${quoteInput(parsed.host)} in the target parameter is not a valid host name: ${normalized.reason}.`);
    spec = { host: normalized.host, port: parsed.port ?? 5432 };
  } catch (error) {
    if (error instanceof PgcertsError) throw new HttpError(400, error.message);
    throw error;
  }
  const hostaddr = params.get('hostaddr');
  if (hostaddr !== null) {
    if (isIP(hostaddr) === 0) throw new HttpError(400, `hostaddr ${quoteInput(hostaddr, 60)} is not an IP address; give the address to connect to.`);
    spec.hostaddr = hostaddr;
  }
  const provider = params.get('provider');
  if (provider !== null) {
    try {
      spec.provider = registry.getProvider(provider).id;
    } catch (error) {
      if (error instanceof PgcertsError) throw new HttpError(400, error.message);
      throw error;
    }
  }
  const direct = params.get('direct');
  if (direct !== null) {
    if (!['1', 'true', '0', 'false'].includes(direct)) throw new HttpError(400, `direct ${quoteInput(direct, 20)} is not 1, true, 0 or false.`);
    spec.direct = direct === '1' || direct === 'true';
  }
  const known = spec.provider !== undefined || registry.hostMatcher.match(spec.host) !== undefined;
  const key = JSON.stringify([spec.host, spec.port, spec.hostaddr ?? null, spec.provider ?? null, spec.direct === true]);
  return { key, spec, known };
}

/** Options of {@link startExporter}. */
export interface StartExporterOptions extends ExporterOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default {@link DEFAULT_SERVE_PORT}; 0 picks a free one. */
  port?: number;
}

/** A running exporter. */
export interface RunningExporter {
  server: Server;
  exporter: Exporter;
  /** `http://host:port`. */
  url: string;
  port: number;
  /**
   * Stop accepting connections, let the requests being answered finish (no longer than
   * `graceMs`, default the probe timeout plus 5 s), then close every connection.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Start the exporter on `host:port`.
 * @throws PgcertsError `INVALID_INPUT` for bad options, and for an address it cannot listen on
 *   (EADDRINUSE, EACCES), naming it.
 */
export async function startExporter(options: StartExporterOptions = {}): Promise<RunningExporter> {
  const exporter = createExporter(options);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_SERVE_PORT;
  let closing = false;
  const server = createServer((req, res) => {
    // Once stopping, every answer closes its connection, so keep-alive scrapers let go.
    if (closing) res.setHeader('connection', 'close');
    exporter.handle(req, res);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      reject(new PgcertsError('INVALID_INPUT', `Cannot listen on ${where}: ${error.code ?? error.message}. ${error.code === 'EADDRINUSE' ? 'Another process uses the port: stop it or give another --listen address.' : 'Check the address and your permissions.'}`, { cause: error }));
    });
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as { port: number };
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    server, exporter, port: address.port, url: `http://${shown}:${address.port}`,
    async close(graceMs = (options.timeoutMs ?? DEFAULT_SERVE_TIMEOUT_MS) + 5000) {
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
      await Promise.race([exporter.idle(), grace]);
      server.closeAllConnections();
      await stopped;
    },
  };
}

/**
 * Prometheus alerting rules for pgcerts' metrics, as YAML for a rule file (`promtool check
 * rules` accepts it): certificates expiring (warning within 30 days, critical within 14) or
 * expired, servers whose probe fails or whose chain a verify-full client refuses, an unpinned
 * anchor, a stale registry, and a textfile check that stopped running.
 */
export function formatAlertRules(): string {
  const rule = (name: string, expr: string, forDuration: string, severity: 'warning' | 'critical', summary: string, description: string): string => [
    `      - alert: ${name}`,
    `        expr: ${expr}`,
    `        for: ${forDuration}`,
    '        labels:',
    `          severity: ${severity}`,
    '        annotations:',
    `          summary: ${JSON.stringify(summary)}`,
    `          description: ${JSON.stringify(description)}`,
  ].join('\n');
  return [
    '# Prometheus alerting rules for pgcerts (pgcerts serve --print-alert-rules).',
    '# Thresholds are examples: edit them to match your --warn-days and --critical-days.',
    'groups:',
    '  - name: pgcerts',
    '    rules:',
    rule('PgcertsCertificateExpiringSoon', 'pgcerts_cert_expires_in_seconds > 14 * 86400 and pgcerts_cert_expires_in_seconds <= 30 * 86400', '1h', 'warning',
      'Certificate {{ $labels.subject }} expires in {{ $value | humanizeDuration }}',
      'A certificate of {{ $labels.kind }} {{ $labels.target }} (SHA-256 {{ $labels.sha256 }}) expires within 30 days. Renew a server certificate; for a CA, fetch the provider\'s current bundle (pgcerts fetch) and deploy it.'),
    rule('PgcertsCertificateExpiringCritical', 'pgcerts_cert_expires_in_seconds > 0 and pgcerts_cert_expires_in_seconds <= 14 * 86400', '15m', 'critical',
      'Certificate {{ $labels.subject }} expires in {{ $value | humanizeDuration }}',
      'A certificate of {{ $labels.kind }} {{ $labels.target }} (SHA-256 {{ $labels.sha256 }}) expires within 14 days; verify-full connections fail once it has.'),
    rule('PgcertsCertificateExpired', 'pgcerts_cert_expires_in_seconds <= 0', '5m', 'critical',
      'Certificate {{ $labels.subject }} has expired',
      'A certificate of {{ $labels.kind }} {{ $labels.target }} (SHA-256 {{ $labels.sha256 }}) has expired. Run pgcerts check for the details.'),
    rule('PgcertsProbeFailed', 'pgcerts_probe_success == 0', '10m', 'critical',
      'No TLS handshake with PostgreSQL server {{ $labels.host }}',
      'pgcerts could not complete a TLS handshake with {{ $labels.host }} (refused, timeout, SSL off, not PostgreSQL). Run pgcerts probe {{ $labels.host }} for the reason.'),
    rule('PgcertsServerRejected', 'pgcerts_target_status{kind="host"} == 2', '10m', 'critical',
      'A verify-full client refuses PostgreSQL server {{ $labels.target }}',
      'The chain of {{ $labels.target }} does not verify against its bundle, does not name the host, or ends at a lookalike CA. Run pgcerts probe {{ $labels.target }} for the reason.'),
    rule('PgcertsAnchorUnpinned', 'pgcerts_cert_unpinned == 1', '1h', 'warning',
      'CA {{ $labels.subject }} is not pinned by the pgcerts registry',
      'The CA (SHA-256 {{ $labels.sha256 }}) of {{ $labels.kind }} {{ $labels.target }} was accepted by the registry\'s constraints only. Compare its fingerprint with the provider\'s documentation and update pgcerts.'),
    rule('PgcertsRegistryStale', 'pgcerts_target_status{kind="registry"} > 0', '1d', 'warning',
      'The pgcerts registry is stale',
      'The registry\'s newest fact is older than --max-registry-age-days, or a pin it marks current has expired: providers may have rotated CAs since. Update pgcerts.'),
    rule('PgcertsCheckNotRunning', 'time() - pgcerts_check_timestamp_seconds > 3 * 3600', '15m', 'warning',
      'pgcerts check has not run for {{ $value | humanizeDuration }}',
      'The textfile written by pgcerts check --format prometheus is old: its cron job or timer stopped.'),
    '',
  ].join('\n');
}
