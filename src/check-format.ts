// The three outputs of `pgcerts check`: a table for people, JSON, and the Prometheus text
// exposition format for node_exporter's textfile collector. Pure functions of a CheckReport.
import { CHECK_EXIT_CODES, commonName, rankStatus, type CheckReport, type CheckStatus, type ServerCheck } from './check.js';
import { jsonText } from './json-text.js';

/** Options of {@link formatText}. */
export interface FormatTextOptions {
  /** Colour the status column with ANSI escapes (the CLI does so only on a TTY without NO_COLOR). */
  color?: boolean;
  /** Only the rows that are not OK; nothing at all when every row is OK (cron mails nothing). */
  problemsOnly?: boolean;
  /** One line per row with a TARGET column (for grep and awk) instead of the compact table. */
  wide?: boolean;
  /** Columns the compact table fits in (default {@link TEXT_WIDTH}; at least 60). */
  width?: number;
}

const COLORS: Record<CheckStatus, string> = { OK: '\x1b[32m', WARNING: '\x1b[33m', UNKNOWN: '\x1b[35m', CRITICAL: '\x1b[31m' };
const WIDE_HEADER = ['STATUS', 'DAYS', 'EXPIRES', 'TARGET', 'CERTIFICATE', 'SHA-256', 'REASON'] as const;
const COMPACT_HEADER = ['STATUS', 'DAYS', 'EXPIRES', 'CERTIFICATE', 'SHA-256'] as const;

/**
 * Control characters written visibly (`\n`, `\x1b`): keeps one row per line, and keeps terminal
 * escapes in a file name or a server's certificate subject off the terminal.
 */
export function escapeControl(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\n' ? '\\n' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

interface TextRow {
  status: CheckStatus;
  /** Undefined for a target's own problems, which sort before its certificates. */
  days: number | undefined;
  /** The target's label (`file /srv/ca.pem`, `cache rds/aws.global`). */
  target: string;
  /** STATUS, DAYS, EXPIRES, CERTIFICATE, SHA-256 and REASON. */
  cells: [string, string, string, string, string, string];
}

/** The default text width: the report fits 120 columns unless the terminal is narrower or wider. */
export const TEXT_WIDTH = 120;
/** A longer common name is cut (with `...`) in the compact table; `--wide` shows it whole. */
const NAME_WIDTH = 40;
/** The compact table's reason lines start here (after STATUS and a space). */
const REASON_INDENT = 11;

/** `text` in lines of at most `width` characters, broken at spaces (a longer word is cut). */
export function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (let word of text.split(' ')) {
    while (word.length > width) {
      if (line) lines.push(line);
      lines.push(word.slice(0, width));
      word = word.slice(width);
      line = '';
    }
    if (!line) line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line || lines.length === 0) lines.push(line);
  return lines;
}

function rowsOf(report: CheckReport): TextRow[] {
  const clean = escapeControl;
  const label = (kind: string, name: string): string => clean(kind === name ? name : `${kind} ${name}`);
  const rows: TextRow[] = [];
  for (const target of report.targets) {
    for (const problem of target.problems) {
      rows.push({ status: problem.status, days: undefined, target: label(target.kind, target.name), cells: [problem.status, '-', '-', '-', '-', clean(problem.message)] });
    }
  }
  for (const cert of report.certificates) {
    rows.push({
      status: cert.status, days: cert.daysLeft, target: label(cert.kind, cert.target),
      cells: [cert.status, String(cert.daysLeft), cert.notAfter.slice(0, 10), clean(commonName(cert.subject)), cert.sha256.slice(0, 11), clean(cert.reason)],
    });
  }
  return rows.sort((a, b) => rankStatus(b.status) - rankStatus(a.status) || (a.days ?? -Infinity) - (b.days ?? -Infinity));
}

/** Columns padded to their widest cell (DAYS to the right), joined by two spaces. */
function alignColumns(table: string[][]): string[] {
  const columns = Math.max(...table.map((cells) => cells.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(...table.map((cells) => (cells[i] ?? '').length)));
  return table.map((cells) => cells.map((cell, i) => (i === cells.length - 1 ? cell : i === 1 ? cell.padStart(widths[i] as number) : cell.padEnd(widths[i] as number))).join('  ').trimEnd());
}

/**
 * The report for people, most urgent first (CRITICAL, UNKNOWN, WARNING, OK; then fewest days
 * left). Certificates are shown by CN and the first four bytes of their SHA-256; `formatJson`
 * has everything.
 *
 * Compact (the default): one block per target, the targets in the order of their most urgent
 * row, each certificate on one line and its reason wrapped below it, so that every line fits
 * `width` columns (120) whatever the paths and reasons. Wide (`wide: true`): one line per row with
 * a TARGET column, for grep and awk.
 */
export function formatText(report: CheckReport, options: FormatTextOptions = {}): string {
  let rows = rowsOf(report);
  if (options.problemsOnly) {
    rows = rows.filter((r) => r.status !== 'OK');
    if (rows.length === 0) return '';
  }
  if (rows.length === 0) return `Nothing to report: ${report.summary}.\n`;
  // The status cell, padded to its column, is what gets coloured.
  const statusWidth = Math.max('STATUS'.length, ...rows.map((r) => r.cells[0].length));
  const paint = (status: CheckStatus, line: string): string => (options.color ? `${COLORS[status]}${line.slice(0, statusWidth)}\x1b[0m${line.slice(statusWidth)}` : line);
  if (options.wide) {
    const lines = alignColumns([[...WIDE_HEADER], ...rows.map((r) => [r.cells[0], r.cells[1], r.cells[2], r.target, ...r.cells.slice(3)])]);
    return `${lines.map((line, i) => (i === 0 ? line : paint((rows[i - 1] as TextRow).status, line))).join('\n')}\n`;
  }
  const width = Math.max(60, options.width ?? TEXT_WIDTH);
  const cut = (name: string): string => (name.length > NAME_WIDTH ? `${name.slice(0, NAME_WIDTH - 3)}...` : name);
  const byTarget = new Map<string, TextRow[]>();
  for (const row of rows) byTarget.set(row.target, [...(byTarget.get(row.target) ?? []), row]);
  const aligned = alignColumns([[...COMPACT_HEADER], ...rows.map((r) => (r.days === undefined ? [r.cells[0], '-', '-'] : [r.cells[0], r.cells[1], r.cells[2], cut(r.cells[3]), r.cells[4]]))]);
  const lineOf = new Map(rows.map((row, i) => [row, aligned[i + 1] as string]));
  const out = [aligned[0] as string];
  for (const [target, targetRows] of byTarget) {
    out.push(...wrapText(target, width));
    for (const row of targetRows) {
      const line = lineOf.get(row) as string;
      out.push(paint(row.status, line));
      for (const reason of wrapText(row.cells[5], width - REASON_INDENT)) out.push(`${' '.repeat(REASON_INDENT)}${reason}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/** The report as one JSON document (schema version 1, see {@link CheckReport}). */
export function formatJson(report: CheckReport): string {
  return jsonText({ registryVersion: report.registry.version, ...report });
}

/** Escape a label value for the text exposition format: backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

type Sample = [labels: Record<string, string>, value: number];

/** Families in the text exposition format, each with HELP and TYPE, each series once. */
function createExposition(): { family(name: string, help: string, samples: Sample[], type?: 'gauge' | 'counter'): void; text(): string } {
  const lines: string[] = [];
  const series = new Set<string>();
  return {
    family(name, help, samples, type = 'gauge') {
      if (samples.length === 0) return;
      lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) {
        const line = `${name}${formatLabels(labels)}`;
        if (series.has(line)) continue;
        series.add(line);
        lines.push(`${line} ${Number.isInteger(value) ? String(value) : value.toFixed(3)}`);
      }
    },
    text: () => `${lines.join('\n')}\n`,
  };
}

type Exposition = ReturnType<typeof createExposition>;

/** The target and certificate families, shared by `check --format prometheus` and the exporter's `/probe`. */
function addTargetFamilies(out: Exposition, targets: CheckReport['targets'], certificates: CheckReport['certificates'], now: number): void {
  out.family('pgcerts_target_status', 'Status of each checked target: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.',
    targets.map((t) => [{ kind: t.kind, target: t.name }, CHECK_EXIT_CODES[t.status]]));
  out.family('pgcerts_probe_success', 'Whether the TLS handshake with the PostgreSQL server completed and it sent a certificate (1) or not (0).',
    targets.filter((t) => t.kind === 'host').map((t) => [{ host: t.name }, t.probeSuccess ? 1 : 0]));
  const certLabels = (c: CheckReport['certificates'][number]): Record<string, string> => ({
    kind: c.kind, target: c.target, provider: c.provider ?? '', source: c.source, subject: c.subject, sha256: c.sha256,
  });
  out.family('pgcerts_cert_not_after_timestamp_seconds', 'NotAfter of the certificate, in seconds since the Unix epoch.',
    certificates.map((c) => [certLabels(c), Math.floor(Date.parse(c.notAfter) / 1000)]));
  out.family('pgcerts_cert_expires_in_seconds', 'Seconds from the check until the certificate expires; negative once expired.',
    certificates.map((c) => [certLabels(c), Math.floor((Date.parse(c.notAfter) - now) / 1000)]));
  out.family('pgcerts_cert_status', 'Status of the certificate in its target: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.',
    certificates.map((c) => [certLabels(c), CHECK_EXIT_CODES[c.status]]));
  out.family('pgcerts_cert_unpinned', 'Whether the certificate is a CA of a provider-wide trust that the registry does not pin (1) or not (0).',
    certificates.map((c) => [certLabels(c), c.codes.includes('unpinned') ? 1 : 0]));
}

/**
 * The report in the Prometheus text exposition format (version 0.0.4), for node_exporter's
 * textfile collector: gauges named like ssl_exporter's and x509-certificate-exporter's, no
 * timestamps (the collector refuses them), each series once.
 *
 * - `pgcerts_check_status` (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) and `pgcerts_check_timestamp_seconds`
 * - `pgcerts_registry_info{version}` and `pgcerts_registry_age_seconds`
 * - `pgcerts_target_status{kind,target}` and `pgcerts_probe_success{host}`
 * - `pgcerts_cert_not_after_timestamp_seconds`, `pgcerts_cert_expires_in_seconds`,
 *   `pgcerts_cert_status` and `pgcerts_cert_unpinned`, labelled `{kind,target,provider,source,subject,sha256}`
 */
export function formatPrometheus(report: CheckReport): string {
  const now = Date.parse(report.checkedAt);
  const out = createExposition();
  out.family('pgcerts_check_status', 'Overall status of the pgcerts check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.', [[{}, report.exitCode]]);
  out.family('pgcerts_check_timestamp_seconds', 'When the pgcerts check ran, in seconds since the Unix epoch.', [[{}, Math.floor(now / 1000)]]);
  out.family('pgcerts_registry_info', 'The pgcerts registry version used by the check (always 1).', [[{ version: report.registry.version }, 1]]);
  const checked = report.registry.checked === null ? NaN : Date.parse(`${report.registry.checked}T00:00:00Z`);
  out.family('pgcerts_registry_age_seconds', 'Seconds since the newest fact in the pgcerts registry was checked against its source.',
    Number.isNaN(checked) ? [] : [[{}, Math.max(0, Math.floor((now - checked) / 1000))]]);
  addTargetFamilies(out, report.targets, report.certificates, now);
  return out.text();
}

/** Options of {@link formatProbePrometheus}. */
export interface ProbeMetricsOptions {
  /** How long the probe took, in seconds (`pgcerts_probe_duration_seconds`). */
  durationSeconds: number;
  /** Extra families the exporter adds about itself, appended as given. */
  extra?: Array<{ name: string; help: string; samples: Sample[]; type?: 'gauge' | 'counter' }>;
}

/**
 * One server's check in the text exposition format, for the exporter's `/probe` (the
 * multi-target pattern of blackbox_exporter): `pgcerts_probe_success`, `pgcerts_probe_duration_seconds`,
 * `pgcerts_target_status` and the certificate families of {@link formatPrometheus}, with the same
 * names and labels.
 */
export function formatProbePrometheus(check: ServerCheck, options: ProbeMetricsOptions): string {
  const out = createExposition();
  out.family('pgcerts_probe_duration_seconds', 'How long the probe took, from its connection to its verdict, in seconds.', [[{}, options.durationSeconds]]);
  addTargetFamilies(out, [check.target], check.certificates, Date.parse(check.checkedAt));
  for (const extra of options.extra ?? []) out.family(extra.name, extra.help, extra.samples, extra.type);
  return out.text();
}

/** Families in the text exposition format, for the exporter's own metrics after a report's. */
export function formatFamilies(families: NonNullable<ProbeMetricsOptions['extra']>): string {
  const out = createExposition();
  for (const f of families) out.family(f.name, f.help, f.samples, f.type);
  return families.length === 0 ? '' : out.text();
}
