import type { ClientBehaviour, DiagnosedHost, Diagnosis, DriverDiagnosis } from '../doctor.js';
import type { DriverBehaviour } from '../drivers.js';
import type { Registry } from '../registry.js';
import type { ResolveOptions } from '../resolve.js';
import { EXIT, formatRows, out, outJson } from './output.js';

/** Flags of `pgcerts doctor`. */
export interface DoctorFlags {
  json?: boolean;
  showPassword?: boolean;
  cwd?: string;
  /** `--no-env` sets this to false. */
  env?: boolean;
  resolve?: boolean;
  offline?: boolean;
  /** Judge the string as this driver reads it (see src/drivers.ts). */
  driver?: string;
}

function describeHost(h: DiagnosedHost): string {
  if (!h.provider) {
    const what = h.type === 'ip' ? 'IP address' : h.type === 'local' ? 'this machine' : h.type === 'invalid' ? 'not a valid host' : h.aliasOf ? `alias of ${h.aliasOf}` : 'no provider claims it';
    return what;
  }
  const parts = [`${h.provider} (${h.providerName})`, `trust ${h.trust} (${h.trustKind})`];
  if (h.region) parts.push(`region ${h.region}`);
  if (h.sslmode) parts.push(h.trustKind === 'none' ? `at most sslmode=${h.sslmode}` : `wants sslmode=${h.sslmode}`);
  return parts.join(', ');
}

/** The sslmode, roots and effect rows of a client's (or a driver's) reading of the string. */
function behaviourRows(b: Pick<DriverBehaviour, 'sslmode' | 'sslmodeFrom' | 'roots' | 'summary'>, systemRoots: string): Array<[string, string | undefined]> {
  const roots = b.roots.kind === 'file' ? `file "${b.roots.path}" (${b.roots.from})`
    : b.roots.kind === 'file+system' ? `file "${b.roots.path}" and the system's roots`
      : b.roots.kind === 'system' ? systemRoots
        : b.roots.kind === 'node' ? 'Node\'s built-in roots'
          : 'none';
  return [
    ['sslmode', b.sslmode === undefined ? undefined : `${b.sslmode} (${b.sslmodeFrom})`],
    ['roots', roots],
    ['effect', b.summary],
  ];
}

function describeClient(b: ClientBehaviour): Array<[string, string | undefined]> {
  if (!b.reads) return [['reads', `no: ${b.refusal ?? ''}`]];
  return behaviourRows(b, 'the SSL library\'s default roots (sslrootcert=system)');
}

/** The human report, for stderr: the hosts, what each client does, the findings. */
export function formatDiagnosis(d: Diagnosis, flags: { showPassword?: boolean } = {}): string[] {
  const lines = [`pgcerts doctor: ${d.input}`, '', 'Hosts'];
  if (d.hosts.length === 0) lines.push('  (none)');
  lines.push(...formatRows(d.hosts.map((h) => [h.host ?? h.input, describeHost(h)])));
  lines.push('', 'libpq (psql and libpq-based drivers)', ...formatRows(describeClient(d.libpq)));
  lines.push('', 'node-postgres (pg 8)', ...formatRows(describeClient(d.nodePostgres)));
  lines.push('', 'Findings');
  if (d.findings.length === 0) lines.push('  none: the string verifies the server under both clients.');
  for (const f of d.findings) lines.push(`  ${f.severity.padEnd(7)}  ${f.code} [${f.client}]: ${f.message}`);
  lines.push('');
  if (d.fixed === null) {
    lines.push('No fixed connection string: see the findings.');
  } else if (!d.findings.some((f) => f.severity !== 'info')) {
    lines.push('Nothing to fix; the connection string as it is:');
  } else {
    const redacted = d.fixed.includes('***') && !flags.showPassword;
    lines.push(`Fixed connection string${redacted ? ' (password hidden; --show-password prints it)' : ''}:`);
  }
  return lines;
}

function describeDriverBehaviour(b: DriverBehaviour): Array<[string, string | undefined]> {
  return behaviourRows(b, 'the system\'s default roots');
}

/** The human report of `doctor --driver`, for stderr. */
export function formatDriverDiagnosis(d: DriverDiagnosis, flags: { showPassword?: boolean } = {}): string[] {
  const lines = [`pgcerts doctor --driver ${d.driver.id}: ${d.input}`, '', 'Hosts'];
  if (d.hosts.length === 0) lines.push('  (none)');
  lines.push(...formatRows(d.hosts.map((h) => [h.host ?? h.input, describeHost(h)])));
  lines.push('', `${d.driver.name} (${d.driver.covers}; ${d.driver.versions})`, ...formatRows(describeDriverBehaviour(d.behaviour)));
  lines.push('', 'Findings');
  if (d.findings.length === 0) lines.push(`  none: ${d.driver.name} verifies the server with this string.`);
  for (const f of d.findings) lines.push(`  ${f.severity.padEnd(7)}  ${f.code} [${f.client}]: ${f.message}`);
  lines.push('', 'Sources (checked; "from source" where the documentation does not say it)');
  const sources = new Map<string, { checked: string; confirmed: boolean }>();
  for (const fact of d.facts) {
    const seen = sources.get(fact.source);
    sources.set(fact.source, { checked: fact.checked, confirmed: (seen?.confirmed ?? true) && fact.confirmed });
  }
  for (const [source, { checked, confirmed }] of sources) lines.push(`  ${source} (${checked}${confirmed ? '' : ', from source'})`);
  lines.push('');
  if (d.fixed === null) {
    lines.push(`No fixed connection string for ${d.driver.name}: see the findings${d.notes.length > 0 ? ` and: ${d.notes.join(' ')}` : '.'}`);
  } else if (!d.findings.some((f) => f.severity !== 'info')) {
    lines.push('Nothing to fix; the connection string as it is:');
  } else {
    for (const note of d.notes) lines.push(`Note: ${note}`);
    const redacted = d.fixed.includes('***') && !flags.showPassword;
    lines.push(`Fixed connection string for ${d.driver.name}${redacted ? ' (password hidden; --show-password prints it)' : ''}:`);
  }
  return lines;
}

/**
 * `pgcerts doctor <connection>`: the report on stderr, the fixed string alone on stdout (so
 * `$(pgcerts doctor ... --show-password)` is usable); `--json` prints one document on stdout.
 * Exit 0 when nothing worse than info was found, 1 otherwise.
 */
export async function runDoctor(registry: Registry, input: string | undefined, flags: DoctorFlags, base: ResolveOptions): Promise<number> {
  const { diagnoseAndFixConnection, resolveCnames } = await import('../doctor.js');
  const env = flags.env === false ? {} : process.env;
  // No string: DATABASE_URL, the variable applications read.
  if (input === undefined) input = (await import('./defaults.js')).defaultConnectionInput('doctor', env);
  let cnames: Record<string, string[]> | undefined;
  if (flags.resolve) {
    const { lookup } = await import('../lookup.js');
    const unknown = lookup(input, { registry }).filter((r) => !r.match && r.host !== undefined).map((r) => r.host as string);
    cnames = await resolveCnames(unknown);
  }
  if (flags.driver !== undefined) {
    const { diagnoseForDriver } = await import('../doctor.js');
    const d = await diagnoseForDriver(input, flags.driver, { ...base, registry, env, cwd: flags.cwd, cnames, offline: flags.offline, showPassword: flags.showPassword === true });
    if (flags.json) {
      outJson({ registryVersion: registry.version, ...JSON.parse(JSON.stringify(d, (_key, value: unknown) => (value === undefined ? null : value))) });
    } else {
      process.stderr.write(`${formatDriverDiagnosis(d, flags).join('\n')}\n`);
      if (d.fixed !== null) out(d.fixed);
    }
    return d.findings.some((f) => f.severity !== 'info') ? EXIT.failed : EXIT.ok;
  }
  const diagnosis = await diagnoseAndFixConnection(input, {
    ...base,
    registry,
    env,
    cwd: flags.cwd,
    cnames,
    offline: flags.offline,
    showPassword: flags.showPassword === true,
  });
  if (flags.json) {
    outJson({ registryVersion: registry.version, ...diagnosis });
  } else {
    process.stderr.write(`${formatDiagnosis(diagnosis, flags).join('\n')}\n`);
    if (diagnosis.fixed !== null) out(diagnosis.fixed);
  }
  return diagnosis.findings.some((f) => f.severity !== 'info') ? EXIT.failed : EXIT.ok;
}
