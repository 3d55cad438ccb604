import { PgcertsError } from '../errors.js';
import type { StartExporterOptions } from '../serve.js';
import { EXIT, reportError, warn } from './output.js';

/** Flags of `pgcerts serve` as commander passes them (numbers as strings). */
export interface ServeFlags {
  listen?: string;
  sslrootcert?: string;
  file?: string[];
  all?: boolean;
  concurrency?: string;
  minInterval?: string;
  timeout?: string;
  warnDays?: string;
  criticalDays?: string;
  maxRegistryAgeDays?: string;
  printAlertRules?: boolean;
}

function usage(message: string): PgcertsError {
  return new PgcertsError('USAGE', `${message} Run \`pgcerts serve --help\` for usage.`);
}

function parseNumber(value: string | undefined, flag: string, o: { min: number; max: number; integer: boolean }): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < o.min || n > o.max || (o.integer && !Number.isInteger(n))) {
    throw usage(`${flag} "${value}" must be ${o.integer ? 'a whole number' : 'a number'} from ${o.min} to ${o.max}.`);
  }
  return n;
}

/** `[host:]port`, `[v6]:port` or `host:0`, as --listen takes it. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim()) ?? /^()()(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw usage(`--listen "${text}" is not [host:]port (such as 127.0.0.1:9543, 0.0.0.0:9543 or [::1]:9543), with a port from 0 to 65535.`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/**
 * `pgcerts serve [provider...]`: run the Prometheus exporter until SIGTERM or SIGINT, then stop
 * accepting scrapes, let the ones being answered finish and return 0. `--print-alert-rules`
 * prints the alerting rules instead. Usage errors are 2, a failure to listen 1.
 */
export async function runServe(providers: string[], flags: ServeFlags): Promise<number> {
  try {
    if (flags.printAlertRules) {
      const { formatAlertRules } = await import('../serve.js');
      process.stdout.write(formatAlertRules());
      return EXIT.ok;
    }
    if (flags.all && providers.length > 0) throw usage('Give provider ids or --all, not both.');
    const listen = parseListen(flags.listen ?? '127.0.0.1:9543');
    const warnDays = parseNumber(flags.warnDays, '--warn-days', { min: 0, max: 36_500, integer: true });
    const criticalDays = parseNumber(flags.criticalDays, '--critical-days', { min: 0, max: 36_500, integer: true });
    if (warnDays !== undefined && criticalDays !== undefined && criticalDays > warnDays) {
      throw usage(`--critical-days ${criticalDays} is more than --warn-days ${warnDays}; the critical threshold must not exceed the warning one.`);
    }
    const maxAge = parseNumber(flags.maxRegistryAgeDays, '--max-registry-age-days', { min: 0, max: 36_500, integer: true });
    const concurrency = parseNumber(flags.concurrency, '--concurrency', { min: 1, max: 10_000, integer: true });
    const minInterval = parseNumber(flags.minInterval, '--min-interval', { min: 0, max: 86_400, integer: false });
    const timeout = parseNumber(flags.timeout, '--timeout', { min: 0.001, max: 3600, integer: false });
    const { openRegistry } = await import('./context.js');
    const registry = openRegistry();
    for (const name of providers) registry.getProvider(name);
    const { NO_REGISTRY_AGE_WARNING } = await import('./check.js');
    const silenced = (process.env[NO_REGISTRY_AGE_WARNING] ?? '') !== '' && process.env[NO_REGISTRY_AGE_WARNING] !== '0';
    const options: StartExporterOptions = {
      ...listen,
      registry,
      mirror: process.env.PGCERTS_MIRROR || undefined,
      sslrootcert: flags.sslrootcert,
      files: flags.file ?? [],
      providers: providers.map((name) => registry.getProvider(name).id),
      all: flags.all === true,
      concurrency,
      minIntervalMs: minInterval === undefined ? undefined : Math.round(minInterval * 1000),
      timeoutMs: timeout === undefined ? undefined : Math.max(1, Math.round(timeout * 1000)),
      warnDays: warnDays ?? Math.max(30, criticalDays ?? 0),
      criticalDays: criticalDays ?? Math.min(14, warnDays ?? 14),
      maxRegistryAgeDays: silenced ? null : maxAge ?? 180,
    };
    if (flags.sslrootcert !== undefined) {
      // A CA file that cannot be used is a mistake to report now, not on the first scrape.
      const { readProbeCaFile } = await import('../probe.js');
      readProbeCaFile(flags.sslrootcert);
    }
    const { startExporter } = await import('../serve.js');
    const running = await startExporter(options);
    warn(`serving /probe, /metrics and /-/healthy on ${running.url} (registry ${registry.version}); stop with SIGTERM`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    warn(`${signal}: finishing ${running.exporter.active + running.exporter.queued} probe(s) in flight, then stopping`);
    await running.close();
    warn('stopped');
    return EXIT.ok;
  } catch (error) {
    return reportError(error);
  }
}
