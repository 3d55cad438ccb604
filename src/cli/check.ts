import { fstatSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { CheckOptions } from '../check.js';
import { PgcertsError } from '../errors.js';
import { readArgs } from './args.js';
import { outJsonError, reportError, stdout, warn } from './output.js';

/**
 * Exit code of `pgcerts check` usage errors: UNKNOWN, as for `pgcerts probe`. A bad command line
 * gives no verdict, and 2 would read as CRITICAL to a monitoring system.
 */
export const CHECK_USAGE_EXIT = 3;

/** Flags of `pgcerts check` as commander passes them (numbers as strings). */
export interface CheckFlags {
  all?: boolean;
  host?: string[];
  /** A file of hosts, one host[:port] per line. */
  hostsFile?: string;
  /** Probes at once. */
  concurrency?: string;
  /** Worker threads for the probes (1: none). */
  workers?: string;
  hostaddr?: string;
  sslrootcert?: string;
  file?: string[];
  warnDays?: string;
  criticalDays?: string;
  maxRegistryAgeDays?: string;
  refresh?: boolean;
  /** Text report: only what is not OK, and nothing at all (not even the status line) when all is OK. */
  problemsOnly?: boolean;
  wide?: boolean;
  timeout?: string;
  format?: string;
  json?: boolean;
  output?: string;
}

const FORMATS = ['text', 'json', 'prometheus'] as const;
type Format = (typeof FORMATS)[number];

/** The environment variable that turns the registry-age warning off. */
export const NO_REGISTRY_AGE_WARNING = 'PGCERTS_NO_REGISTRY_AGE_WARNING';

function usage(message: string): PgcertsError {
  return new PgcertsError('USAGE', `${message} Run \`pgcerts check --help\` for usage.`);
}

function parseWhole(value: string | undefined, flag: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > max) throw usage(`${flag} "${value}" must be a whole number from 0 to ${max}.`);
  return n;
}

/** --warn-days and --critical-days; one given alone moves the other's default out of its way (as probe). */
function thresholds(flags: CheckFlags): { warnDays: number; criticalDays: number } {
  const warnDays = parseWhole(flags.warnDays, '--warn-days', 36_500);
  const criticalDays = parseWhole(flags.criticalDays, '--critical-days', 36_500);
  if (warnDays !== undefined && criticalDays !== undefined && criticalDays > warnDays) {
    throw usage(`--critical-days ${criticalDays} is more than --warn-days ${warnDays}; the critical threshold must not exceed the warning one.`);
  }
  return { warnDays: warnDays ?? Math.max(30, criticalDays ?? 0), criticalDays: criticalDays ?? Math.min(14, warnDays ?? 14) };
}

function chooseFormat(flags: CheckFlags): Format {
  const format = flags.format ?? (flags.json ? 'json' : 'text');
  if (!(FORMATS as readonly string[]).includes(format)) throw usage(`--format "${format}" is not one of ${FORMATS.join(', ')}.`);
  if (flags.json && format !== 'json') throw usage(`--json and --format ${format} disagree; give one of them.`);
  return format as Format;
}

/**
 * The command line of `pgcerts check` read without commander (its load costs more than checking a
 * cache), or `undefined` for anything this reader does not accept exactly as commander would:
 * help, unknown flags, missing values. Those go through commander, which reports them.
 */
export function parseCheckArgv(argv: string[]): { providers: string[]; flags: CheckFlags } | undefined {
  const read = readArgs(argv, {
    all: { type: 'boolean' },
    host: { type: 'string', multiple: true },
    'hosts-file': { type: 'string' },
    concurrency: { type: 'string' },
    workers: { type: 'string' },
    hostaddr: { type: 'string' },
    sslrootcert: { type: 'string' },
    file: { type: 'string', multiple: true },
    'warn-days': { type: 'string' },
    'critical-days': { type: 'string' },
    'max-registry-age-days': { type: 'string' },
    refresh: { type: 'boolean' },
    'problems-only': { type: 'boolean' },
    wide: { type: 'boolean' },
    timeout: { type: 'string' },
    format: { type: 'string' },
    json: { type: 'boolean' },
    output: { type: 'string' },
  });
  if (!read) return undefined;
  const { values } = read;
  return {
    providers: read.positionals,
    flags: {
      all: values.all, host: values.host, hostsFile: values['hosts-file'], concurrency: values.concurrency, workers: values.workers, hostaddr: values.hostaddr, sslrootcert: values.sslrootcert, file: values.file,
      warnDays: values['warn-days'], criticalDays: values['critical-days'], maxRegistryAgeDays: values['max-registry-age-days'],
      refresh: values.refresh, problemsOnly: values['problems-only'], wide: values.wide, timeout: values.timeout, format: values.format, json: values.json, output: values.output,
    },
  };
}

/**
 * Write all of `text` to stdout or stderr with plain writes: setting up `process.stdout` and
 * `process.stderr` streams costs a check of cached files a noticeable part of its start-up (see
 * BENCHMARKS.md). A non-blocking pipe that fills up falls back to the stream; a reader that went
 * away (`| head`) only ends the output, not the check.
 */
function writeAll(fd: 1 | 2, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  let offset = 0;
  try {
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EPIPE') return;
    if (code !== 'EAGAIN') throw error;
    (fd === 1 ? stdout() : process.stderr).write(bytes.subarray(offset));
  }
}

/**
 * Whether text output gets colour: a terminal, and no NO_COLOR (https://no-color.org/). node:tty
 * loads node:net, which costs a check of cached files more than the check itself, so it is asked
 * only when stdout is a character device other than /dev/null (cron and systemd give a pipe, a
 * file or /dev/null).
 */
function useColor(): boolean {
  const noColor = process.env.NO_COLOR;
  if (noColor !== undefined && noColor !== '') return false;
  try {
    const stat = fstatSync(1);
    if (!stat.isCharacterDevice() || stat.rdev === statSync('/dev/null').rdev) return false;
  } catch {
    return false;
  }
  const { isatty } = createRequire(import.meta.url)('node:tty') as typeof import('node:tty');
  return isatty(1);
}

/** The compact table's width: COLUMNS when it is set to a number (at least 60), else 120. */
function textWidth(): number | undefined {
  const columns = process.env.COLUMNS?.trim();
  return columns && /^\d{2,4}$/.test(columns) ? Math.max(60, Number(columns)) : undefined;
}

/** The hosts of `--hosts-file`; a file that cannot be read or holds a bad line is a usage error naming it. */
async function readHostsFile(file: string): Promise<NonNullable<CheckOptions['hosts']>> {
  const { readRegularFile, describeReadError } = await import('../read-file.js');
  let text: string;
  try {
    text = readRegularFile(file, { maxBytes: MAX_HOSTS_FILE_BYTES }).toString('utf8');
  } catch (error) {
    throw usage(`Cannot read --hosts-file "${file}": ${describeReadError(error)}.`);
  }
  const { parseHostList } = await import('../check.js');
  try {
    return await parseHostList(text, `--hosts-file "${file}"`);
  } catch (error) {
    if (error instanceof PgcertsError) throw usage(error.message);
    throw error;
  }
}

/** A host list of 100,000 names of 255 characters fits; anything larger is not one. */
const MAX_HOSTS_FILE_BYTES = 32 * 1024 * 1024;

/**
 * `pgcerts check [provider...]`: check cached bundles, files and hosts, print the report in the
 * chosen format (or write it atomically to --output), one `pgcerts: STATUS - summary` line on
 * stderr, and return the monitoring exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; usage
 * errors and an --output that cannot be written are 3 too).
 */
export async function runCheck(providers: string[], flags: CheckFlags): Promise<number> {
  try {
    const format = chooseFormat(flags);
    if (flags.problemsOnly && format !== 'text') throw usage(`--problems-only shapes the text report; the ${format} report always has every row (filter it with your tools).`);
    if (flags.wide && format !== 'text') throw usage(`--wide shapes the text report; it does not go with the ${format} report.`);
    if (flags.all && providers.length > 0) throw usage('Give provider ids or --all, not both.');
    const hostFlags = flags.host ?? [];
    const anyHosts = hostFlags.length > 0 || flags.hostsFile !== undefined;
    if (!anyHosts && flags.hostaddr !== undefined) throw usage('--hostaddr needs --host: give the name to verify with --host and the address to connect to with --hostaddr.');
    if (!anyHosts && flags.sslrootcert !== undefined) throw usage('--sslrootcert applies to --host; to check a CA file itself, use --file.');
    if (!anyHosts && flags.concurrency !== undefined) throw usage('--concurrency applies to --host and --hosts-file: it limits the probes in flight.');
    if (!anyHosts && flags.workers !== undefined) throw usage('--workers applies to --host and --hosts-file: it spreads the probes over threads.');
    const workers = flags.workers === undefined ? undefined : Number(flags.workers);
    if (workers !== undefined && (flags.workers?.trim() === '' || !Number.isInteger(workers) || workers < 1 || workers > 64)) {
      throw usage(`--workers "${flags.workers}" must be a whole number from 1 to 64 (1: probe on the main thread only).`);
    }
    const concurrency = flags.concurrency === undefined ? undefined : Number(flags.concurrency);
    if (concurrency !== undefined && (flags.concurrency?.trim() === '' || !Number.isInteger(concurrency) || concurrency < 1 || concurrency > 10_000)) {
      throw usage(`--concurrency "${flags.concurrency}" must be a whole number from 1 to 10000.`);
    }
    const maxAge = parseWhole(flags.maxRegistryAgeDays, '--max-registry-age-days', 36_500);
    const timeoutS = flags.timeout === undefined ? undefined : Number(flags.timeout);
    if (timeoutS !== undefined && (flags.timeout?.trim() === '' || !Number.isFinite(timeoutS) || timeoutS < 0.001 || timeoutS > 3600)) {
      throw usage(`--timeout "${flags.timeout}" must be a number of seconds from 0.001 to 3600.`);
    }
    const silenced = (process.env[NO_REGISTRY_AGE_WARNING] ?? '') !== '' && process.env[NO_REGISTRY_AGE_WARNING] !== '0';
    const { noShippedRoots, openRegistry } = await import('./context.js');
    const options: CheckOptions = {
      registry: openRegistry(),
      mirror: process.env.PGCERTS_MIRROR || undefined,
      providers,
      all: flags.all === true,
      files: flags.file ?? [],
      hostaddr: flags.hostaddr,
      sslrootcert: flags.sslrootcert,
      refresh: flags.refresh === true,
      maxRegistryAgeDays: silenced ? null : maxAge ?? 180,
      shippedRoots: noShippedRoots() ? false : undefined,
      ...thresholds(flags),
    };
    if (anyHosts) {
      const { parseHostPort } = await import('../connection.js');
      options.hosts = hostFlags.map((text) => parseHostPort(text, '--host'));
      if (flags.hostsFile !== undefined) options.hosts.push(...(await readHostsFile(flags.hostsFile)));
      if (concurrency !== undefined) options.concurrency = concurrency;
      if (workers !== undefined) options.workers = workers;
    }
    if (timeoutS !== undefined) {
      const { downloadFlags } = await import('./fetch.js');
      options.timeoutMs = Math.max(1, Math.round(timeoutS * 1000));
      options.download = downloadFlags({ timeout: flags.timeout });
    }
    const { runChecks } = await import('../check.js');
    const report = await runChecks(options);
    const { escapeControl, formatJson, formatPrometheus, formatText } = await import('../check-format.js');
    if (flags.output !== undefined) {
      const text = format === 'json' ? formatJson(report) : format === 'prometheus' ? formatPrometheus(report) : formatText(report, { problemsOnly: flags.problemsOnly, wide: flags.wide, width: textWidth() });
      const { writeFileAtomic } = await import('./write-file.js');
      writeFileAtomic(flags.output, text, '--output');
    } else {
      const text = format === 'json' ? formatJson(report) : format === 'prometheus' ? formatPrometheus(report) : formatText(report, { color: useColor(), problemsOnly: flags.problemsOnly, wide: flags.wide, width: textWidth() });
      if (text !== '') writeAll(1, text);
    }
    if (!(flags.problemsOnly && report.status === 'OK')) writeAll(2, `pgcerts: ${report.status} - ${escapeControl(report.summary)}\n`);
    return report.exitCode;
  } catch (error) {
    // Bad input (a flag, a provider id, a host) gives no verdict: UNKNOWN.
    if (error instanceof PgcertsError) {
      warn(error.message);
      // With --output the report's channel is the file, which keeps its previous content.
      if (flags.output === undefined) outJsonError(error, CHECK_USAGE_EXIT);
    } else {
      reportError(error);
    }
    return CHECK_USAGE_EXIT;
  }
}
