import { STATUS_EXIT_CODES } from '../status.js';
import { parseHostPort } from '../connection.js';
import { PgcertsError } from '../errors.js';
import type { AnchorCertificate, BundleVerdict, ProbeReport, TrustVerdict } from '../probe.js';
import { readArgs } from './args.js';
import { formatRows, out, outJson, outJsonError, reportError, warn } from './output.js';

/**
 * Exit codes of `pgcerts probe`, the monitoring-plugin convention (see README, "Exit codes").
 * Usage errors are UNKNOWN too: a bad command line gives no verdict, and 2 would read as CRITICAL.
 */
export const PROBE_EXIT = STATUS_EXIT_CODES;

/** Flags of `pgcerts probe` as commander passes them (numbers as strings). */
export interface ProbeFlags {
  hostaddr?: string;
  provider?: string;
  sslrootcert?: string;
  direct?: boolean;
  timeout?: string;
  warnDays?: string;
  criticalDays?: string;
  json?: boolean;
}

/**
 * The command line of `pgcerts probe` read without commander (its load costs a probe a tenth of
 * its time), or `undefined` for anything this reader does not take exactly as commander would
 * (help, unknown flags, missing values, two targets): commander reports those.
 */
export function parseProbeArgv(argv: string[]): { target: string | undefined; flags: ProbeFlags } | undefined {
  const read = readArgs(argv, {
    hostaddr: { type: 'string' },
    provider: { type: 'string' },
    sslrootcert: { type: 'string' },
    direct: { type: 'boolean' },
    timeout: { type: 'string' },
    'warn-days': { type: 'string' },
    'critical-days': { type: 'string' },
    json: { type: 'boolean' },
  });
  if (!read || read.positionals.length > 1) return undefined;
  const { values } = read;
  return {
    target: read.positionals[0],
    flags: {
      hostaddr: values.hostaddr, provider: values.provider, sslrootcert: values.sslrootcert, direct: values.direct,
      timeout: values.timeout, warnDays: values['warn-days'], criticalDays: values['critical-days'], json: values.json,
    },
  };
}

function parseNumber(value: string | undefined, flag: string, options: { integer: boolean; min: number; max: number }): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < options.min || n > options.max || (options.integer && !Number.isInteger(n))) {
    const kind = options.integer ? 'a whole number' : 'a number';
    throw new PgcertsError('USAGE', `${flag} "${value}" must be ${kind} from ${options.min} to ${options.max}. Run \`pgcerts probe --help\` for usage.`);
  }
  return n;
}

/** --warn-days and --critical-days; one given alone moves the other's default out of its way. */
function thresholds(flags: ProbeFlags): { warnDays: number; criticalDays: number } {
  const warn = parseNumber(flags.warnDays, '--warn-days', { integer: true, min: 0, max: 36_500 });
  const critical = parseNumber(flags.criticalDays, '--critical-days', { integer: true, min: 0, max: 36_500 });
  if (warn !== undefined && critical !== undefined && critical > warn) {
    throw new PgcertsError('USAGE', `--critical-days ${critical} is more than --warn-days ${warn}; the critical threshold must not exceed the warning one.`);
  }
  return { warnDays: warn ?? Math.max(30, critical ?? 0), criticalDays: critical ?? Math.min(14, warn ?? 14) };
}

function describeAnchor(anchor: AnchorCertificate | undefined): string {
  if (!anchor) return '';
  const pin = anchor.pinned ? `pinned by ${anchor.pinned.provider}${anchor.pinned.region ? ` (${anchor.pinned.region})` : ''}, ${anchor.pinned.status}` : 'not pinned in the registry';
  return `\nanchor "${anchor.subject}"\n  ${pin}; ${anchor.key}; expires ${anchor.notAfter} (${anchor.daysLeft} days)\n  SHA-256 ${anchor.sha256}`;
}

function describeVerdict(verdict: TrustVerdict): string {
  return verdict.verified ? `verifies${describeAnchor(verdict.anchor)}` : `does not verify: ${verdict.reason}`;
}

function describeBundle(bundle: BundleVerdict): string {
  const origin = bundle.source === 'sslrootcert'
    ? `--sslrootcert ${bundle.file}`
    : bundle.file ? `${bundle.file} (${bundle.provider}/${bundle.trust}, ${bundle.certificates} certificates)` : 'none';
  if (!bundle.file) return `none: ${bundle.reason}`;
  return `${origin}\n${describeVerdict(bundle)}`;
}

/** The readable report for stdout. */
export function formatProbeReport(report: ProbeReport): string[] {
  const lines: string[] = [];
  const where = `${report.host.includes(':') ? `[${report.host}]` : report.host}:${report.port}`;
  lines.push(`${where}${report.address && report.address !== report.host ? ` (${report.address})` : ''}`);
  const negotiation = report.address === undefined ? 'not connected' : report.negotiation === 'direct'
    ? 'direct TLS (sslnegotiation=direct)'
    : `SSLRequest${report.sslResponse ? `, answered "${report.sslResponse}"` : ', no answer'}`;
  const name = report.hostname && (report.hostname.matches
    ? `matches (${report.hostname.matchedBy})`
    : `does not match "${report.hostname.name}"${report.hostname.required ? '' : ' (not required: the provider recommends verify-ca)'}`);
  const expiry = report.expiry && `server certificate ${report.expiry.serverDaysLeft} days${report.expiry.anchorDaysLeft === undefined ? '' : `, anchor ${report.expiry.anchorDaysLeft} days`}`;
  lines.push(...formatRows([
    ['status', report.status],
    ['checked', report.checkedAt],
    ['negotiation', negotiation],
    ['tls', report.tls && `${report.tls.version}, ${report.tls.cipher}, ALPN ${report.tls.alpn ?? 'none'}`],
    ['host name', name],
    ['bundle', report.bundle && describeBundle(report.bundle)],
    ['system roots', report.publicRoots && `${describeVerdict(report.publicRoots)}${report.publicRoots.verified ? '' : ' (sslrootcert=system would fail)'}`],
    ['expiry', expiry],
  ]));
  if (report.chain.length > 0) {
    lines.push(`served chain (${report.chain.length} certificate${report.chain.length === 1 ? '' : 's'})`);
    report.chain.forEach((cert, index) => {
      lines.push(`  ${index}. ${cert.subject}`);
      lines.push(...formatRows([
        ['issuer', cert.issuer],
        ['names', cert.subjectAltNames.join(', ')],
        ['valid', `${cert.notBefore} to ${cert.notAfter} (${cert.daysLeft} days left)`],
        ['key', `${cert.key}${cert.ca ? ', CA' : ''}`],
        ['sha256', cert.sha256],
      ], '       '));
    });
  }
  if (report.problems.length > 0) {
    lines.push('problems');
    for (const problem of report.problems) lines.push(`  ${problem.status.padEnd(8)}  ${problem.message}`);
  }
  return lines;
}

/**
 * `PGCERTS OK - <summary> | days=59;30;14;0 anchor_days=3100;30;14;0`: the plugin status line, with
 * the days left of the server certificate and of the anchor as performance data (warning and
 * critical thresholds included), when the handshake got that far.
 */
export function nagiosLine(report: ProbeReport, thresholds: { warnDays: number; criticalDays: number }): string {
  const perf: string[] = [];
  const limits = `${thresholds.warnDays};${thresholds.criticalDays};0`;
  if (report.expiry) {
    perf.push(`days=${report.expiry.serverDaysLeft};${limits}`);
    if (report.expiry.anchorDaysLeft !== undefined) perf.push(`anchor_days=${report.expiry.anchorDaysLeft};${limits}`);
  }
  const summary = report.summary.replace(/[|\r\n]/g, ' ');
  return `PGCERTS ${report.status} - ${summary}${perf.length > 0 ? ` | ${perf.join(' ')}` : ''}`;
}

/**
 * `pgcerts probe <host[:port]>`: connect, check the served chain, print the report, and return
 * the monitoring exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, also for bad input).
 */
export async function runProbe(target: string | undefined, flags: ProbeFlags, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    const { openRegistry, environmentOptions } = await import('./context.js');
    // As libpq: no target means PGHOST (and PGPORT); PGHOSTADDR and PGSSLROOTCERT apply unless
    // flags say otherwise (PGSSLROOTCERT=system means the registry's bundle is not overridden).
    if (target === undefined) target = (await import('./defaults.js')).defaultProbeTarget(env);
    const pgRoot = env.PGSSLROOTCERT?.trim();
    flags = { ...flags, hostaddr: flags.hostaddr ?? (env.PGHOSTADDR?.trim() || undefined), sslrootcert: flags.sslrootcert ?? (pgRoot && pgRoot !== 'system' ? pgRoot : undefined) };
    const { host, port } = parseHostPort(target, 'the probe target');
    const timeoutS = parseNumber(flags.timeout, '--timeout', { integer: false, min: 0.001, max: 3600 });
    const options = {
      ...environmentOptions(),
      // Opened when first asked for: probeServer reads it while the server answers the SSLRequest.
      get registry() {
        return openRegistry();
      },
      host,
      port,
      hostaddr: flags.hostaddr,
      provider: flags.provider,
      sslrootcert: flags.sslrootcert,
      direct: flags.direct === true,
      timeoutMs: timeoutS === undefined ? undefined : Math.round(timeoutS * 1000),
      ...thresholds(flags),
    };
    const { probeServer } = await import('../probe.js');
    const report = await probeServer(options);
    const exitCode = PROBE_EXIT[report.status];
    if (flags.json) {
      outJson({ registryVersion: options.registry.version, ...report, exitCode });
    } else {
      // Monitoring plugins' convention (Nagios, Icinga): the first line of stdout is the verdict
      // with performance data; the report follows.
      out(nagiosLine(report, options));
      for (const line of formatProbeReport(report)) out(line);
      for (const message of report.bundle?.warnings ?? []) out(`warning: ${message}`);
    }
    // stderr holds the status line alone (the bundle's warnings are in the report).
    if (flags.json) for (const message of report.bundle?.warnings ?? []) warn(message);
    warn(`${report.status} - ${report.summary}`);
    return exitCode;
  } catch (error) {
    // Bad input (a host, a flag, a provider id, an unreadable CA file) gives no verdict: UNKNOWN.
    if (error instanceof PgcertsError) {
      warn(error.message);
      outJsonError(error, PROBE_EXIT.UNKNOWN);
    } else {
      reportError(error);
    }
    return PROBE_EXIT.UNKNOWN;
  }
}
