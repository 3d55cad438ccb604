// `pgcerts check`: one run over cached bundles, local CA files, live servers and the registry's
// calendar. Checking cached files runs in cron jobs, so this module imports only cheap modules
// up front; parsing files (node:crypto), probing and refreshing load their modules on demand.
import { basename, resolve as resolvePath } from 'node:path';
import { BundleCache, getCacheDir, type CacheEntry, type CacheKey, type CacheMeta } from './cache.js';
import { PgcertsError } from './errors.js';
import { quoteInput } from './redact.js';
import { MAX_CA_FILE_BYTES, describeReadError, readRegularFile } from './read-file.js';
import type { DownloadOptions } from './download.js';
import type { ProbeProblemCode, ProbeReport } from './probe.js';
import { getBundledRegistry, type Registry } from './registry.js';
import { createLimiter, type Limiter } from './limiter.js';
import { STATUS_EXIT_CODES, rankStatus, worseStatus, type MonitoringStatus } from './status.js';
import type { CertificateStatus, Cite, HistoryEntry, PinnedCertificate, Provider } from './registry-types.js';
import { ACCOUNT_SOURCE, IMPORT_SOURCE, OFFLINE_SOURCE, findSource, isDownloadable, selectTrust } from './sources.js';
import { findLookalikePin } from './validate.js';

/** A verdict in the monitoring convention (exit codes 0, 1, 2, 3). */
export type CheckStatus = MonitoringStatus;

/** What was checked: a cached bundle, a local file, a live server, or the registry itself. */
export type CheckTargetKind = 'cache' | 'file' | 'host' | 'registry';

/** Machine-readable reasons; a host target's problems also use the probe's codes. */
export type CheckCode =
  /** A certificate: fine for more than `warnDays`. */
  | 'valid'
  | 'expires-soon'
  | 'expired'
  | 'not-yet-valid'
  /** The registry pins the certificate with status `expired` or `retired`. */
  | 'registry-expired'
  | 'registry-retired'
  /** A bundle in which no certificate is valid now: verify-full fails with it. */
  | 'all-expired'
  | 'empty'
  /** A file name the registry lists as a legacy download (e.g. `rds-combined-ca-bundle.pem`). */
  | 'legacy-file'
  | 'not-cached'
  | 'nothing-to-check'
  | 'cache-corrupt'
  /** A cached PEM holds other certificates than its metadata lists: the file was changed behind pgcerts. */
  | 'cache-mismatch'
  /** The cache directory or a file in it could be changed by another user (owner, mode, a link). */
  | 'cache-unsafe'
  | 'file-unreadable'
  | 'file-invalid'
  /** `refresh`: the source now serves other certificates than the cached copy. */
  | 'upstream-changed'
  | 'upstream-refused'
  | 'refresh-failed'
  | 'registry-stale'
  /** The registry pins a certificate as current that has expired since the registry was checked. */
  | 'registry-pin-expired'
  /** A rotation of the registry's calendar has passed, and the registry's pins were checked before it. */
  | 'registry-predates-rotation'
  /** A rotation has passed that the registry knows but the roots shipped with pgcerts predate. */
  | 'shipped-roots-predate-rotation'
  /**
   * WARNING: a CA of a provider-wide trust that the registry does not pin (accepted by the
   * registry's constraints, or imported by you): nothing but its shape vouches for it.
   */
  | 'unpinned'
  /** CRITICAL: a CA carrying the common name of a pinned certificate with another fingerprint (a forgery or lookalike). */
  | 'lookalike'
  | ProbeProblemCode;

/** One finding about a target. */
export interface CheckProblem {
  code: CheckCode;
  status: Exclude<CheckStatus, 'OK'>;
  /** One sentence naming the value and the next step. */
  message: string;
}

/** Something checked, with its own verdict. */
export interface CheckTarget {
  kind: CheckTargetKind;
  /** `rds/aws.global` (cache), an absolute path (file), `host:port` (host), `registry`. */
  name: string;
  provider: string | null;
  trust: string | null;
  /** Cache: the source id (`global`, `regional`, `roots`, `import`); file: `file`; host: `registry` or `sslrootcert`. */
  source: string | null;
  region: string | null;
  /** The host an imported CA belongs to, or the probed host name. */
  host: string | null;
  /** The PEM file (cache, file), or the bundle a host was verified against. */
  path: string | null;
  status: CheckStatus;
  /** Worst first. */
  problems: CheckProblem[];
  /** Certificate rows of this target. */
  certificates: number;
  /** Cache: when the bundle was fetched or imported. */
  fetchedAt: string | null;
  /** With `refresh`: whether the source still serves the cached certificates; null when not refreshed. */
  upstream: 'unchanged' | 'changed' | 'unknown' | null;
  /** Hosts: whether the TLS handshake completed and the server sent a certificate; null for other kinds. */
  probeSuccess: boolean | null;
}

/** The registry's pin of a certificate. */
export interface CheckPin {
  provider: string;
  status: CertificateStatus;
  region: string | null;
}

/** One certificate of one target. */
export interface CheckedCertificate {
  kind: CheckTargetKind;
  /** The target's `name`. */
  target: string;
  provider: string | null;
  /** Cache: `<trust>.<source>[.<region>]`; file: `file`; host: `served` or `anchor`. */
  source: string;
  subject: string;
  /** Upper-case colon-separated SHA-256 of the DER. */
  sha256: string;
  notBefore: string;
  notAfter: string;
  /** Whole days from the check until `notAfter`, truncated; negative once expired. */
  daysLeft: number;
  status: CheckStatus;
  /** Every reason that applies, worst first; `valid` when none. */
  codes: CheckCode[];
  reason: string;
  pinned: CheckPin | null;
}

/** The registry the check used. */
export interface CheckRegistryInfo {
  version: string;
  /** The newest `cite.checked` date in the data (YYYY-MM-DD): when its facts were last checked. */
  checked: string | null;
  /** Whole days from `checked` to the check. */
  ageDays: number | null;
  status: CheckStatus;
}

/**
 * The result of {@link runChecks}, which is also the JSON document `pgcerts check --format json`
 * prints (schema version 1: fields are only ever added; absent values are `null`).
 */
export interface CheckReport {
  schemaVersion: 1;
  /** ISO-8601 UTC. */
  checkedAt: string;
  /** The worst status of any target. */
  status: CheckStatus;
  exitCode: 0 | 1 | 2 | 3;
  /** One line: what is wrong, or what is fine. */
  summary: string;
  thresholds: { warnDays: number; criticalDays: number; maxRegistryAgeDays: number | null };
  registry: CheckRegistryInfo;
  /** In the order checked: cache, files, hosts, registry. */
  targets: CheckTarget[];
  /** Worst first, then fewest days left. */
  certificates: CheckedCertificate[];
}

/** A live server to check. */
export interface CheckHost {
  host: string;
  /** Default 5432. */
  port?: number;
  /** Connect to this address, still verifying `host`; overrides {@link CheckOptions.hostaddr}. */
  hostaddr?: string;
  /** Verify against this provider's bundle although the name does not name it (an IP address, an alias). */
  provider?: string;
  /** PostgreSQL 17+ direct TLS (ALPN `postgresql`, no SSLRequest). */
  direct?: boolean;
  /** This probe's timeout, overriding {@link CheckOptions.timeoutMs}. */
  timeoutMs?: number;
}

/** Options of {@link runChecks}. */
export interface CheckOptions {
  /**
   * Check the cached bundles of these providers (ids or aliases). The cache is checked when
   * providers are named, with `all`, or when neither `files` nor `hosts` are given (then every
   * cached bundle is).
   */
  providers?: string[];
  /** Every cached bundle, and every downloadable provider (as `pgcerts fetch --all`) that has none is UNKNOWN. */
  all?: boolean;
  /** CA files to check (PEM, DER or PKCS#7), e.g. the sslrootcert an application ships. */
  files?: string[];
  /** Servers to probe (SSLRequest and TLS, no login). */
  hosts?: CheckHost[];
  /** Connect to this address for every host, still verifying the host name (libpq hostaddr). */
  hostaddr?: string;
  /** Verify hosts against this CA file instead of the registry's bundle. */
  sslrootcert?: string;
  /** For each probe, from the moment its connection starts; default 10 s. */
  timeoutMs?: number;
  /**
   * Probes in flight at once (default {@link DEFAULT_CHECK_CONCURRENCY}); the others wait, and
   * their timeouts start only when they connect. A limiter shared with other work may be given.
   */
  concurrency?: number | Limiter;
  /**
   * Worker threads that share the probes (default 1: every probe on this thread), each with its
   * share of `concurrency`; for machines with cores to spare. Used only when the options can be
   * handed to a thread: a registry read from a file, a numeric `concurrency`, `download` options
   * without functions.
   */
  workers?: number;
  /** WARNING when a certificate expires within this many days (default 30). */
  warnDays?: number;
  /** CRITICAL when a certificate expires within this many days (default 14). */
  criticalDays?: number;
  /** WARNING when the registry's newest fact is older than this (default 180 days); `null` turns the check off. */
  maxRegistryAgeDays?: number | null;
  /** Ask each cached bundle's source, by conditional request, whether it changed. The cache is not modified. */
  refresh?: boolean;
  /** Defaults to the registry shipped with pgcerts. */
  registry?: Registry;
  /** Defaults to {@link getCacheDir}. */
  cacheDir?: string;
  /** Base URL replacing the origin of every source (`PGCERTS_MIRROR`). */
  mirror?: string;
  /** Passed to the downloader (timeouts, retries; `ca` for tests). */
  download?: Omit<DownloadOptions, 'etag' | 'lastModified' | 'mirror'>;
  /** The clock; defaults to now. */
  now?: Date;
  /** Where `refresh` reads account API tokens (`DIGITALOCEAN_ACCESS_TOKEN`, ...); defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Where `refresh` looks for gcloud's credentials; default `os.homedir()`. */
  homeDir?: string;
  /** The shipped roots whose age the registry's calendar is compared with (the package's unless given); `false` leaves them out. */
  shippedRoots?: string | false;
}

const DAY_MS = 86_400_000;
/**
 * Probes `check` runs at once unless told otherwise. Each waits about one round trip for the
 * SSLRequest answer and one for the handshake, and costs a few milliseconds of CPU, so 64 keep a
 * core busy with servers tens of milliseconds away without letting a probe's timer run while it
 * waits for the CPU (see BENCHMARKS.md).
 */
export const DEFAULT_CHECK_CONCURRENCY = 64;
/** Exit codes of the monitoring convention. */
export const CHECK_EXIT_CODES = STATUS_EXIT_CODES;
export { rankStatus, worseStatus };

/** The certificate facts a check needs, from cache metadata or a parsed file. */
interface CertFacts {
  sha256: string;
  subject: string;
  notBefore: string;
  notAfter: string;
  /** Host chains: the server certificate. */
  leaf?: boolean;
  source: string;
  /** Judge it as a CA someone trusts: a lookalike of a pinned name is CRITICAL. */
  trusted?: boolean;
  /** Not pinned, where the registry could pin it: a WARNING (code `unpinned`). */
  unpinned?: 'constraints' | 'imported' | 'anchor' | 'renewed';
}

interface Built {
  target: CheckTarget;
  rows: CheckedCertificate[];
}

/** One host's target and certificate rows, before they are settled: what a check worker sends back. */
export type HostCheck = Built;

interface Context {
  registry: Registry;
  now: Date;
  warnDays: number;
  criticalDays: number;
  pins: Map<string, Array<{ provider: Provider; pin: PinnedCertificate }>>;
}

/**
 * Check cached bundles, CA files and live servers in one run: the days left on every
 * certificate, the registry's calendar (certificates it marks expired or retired, legacy files),
 * whether cached sources changed upstream (`refresh`) and the age of the registry. The library
 * reads the clock only through `now`; network failures are findings, not exceptions.
 *
 * @example const report = await runChecks({ providers: ['rds'], files: ['/app/rds-ca.pem'] });
 * @throws PgcertsError `INVALID_INPUT` (thresholds, hosts), `UNKNOWN_PROVIDER`, and
 *   `CACHE_UNAVAILABLE` when the cache directory cannot be read.
 */
export async function runChecks(options: CheckOptions = {}): Promise<CheckReport> {
  const warnDays = options.warnDays ?? 30;
  const criticalDays = options.criticalDays ?? 14;
  const maxRegistryAgeDays = options.maxRegistryAgeDays === undefined ? 180 : options.maxRegistryAgeDays;
  for (const [name, days] of [['warnDays', warnDays], ['criticalDays', criticalDays], ['maxRegistryAgeDays', maxRegistryAgeDays ?? 0]] as const) {
    if (!Number.isInteger(days) || days < 0) throw new PgcertsError('INVALID_INPUT', `${name} "${days}" is not a whole number of days from 0 up; fix it.`);
  }
  if (criticalDays > warnDays) {
    throw new PgcertsError('INVALID_INPUT', `criticalDays ${criticalDays} is more than warnDays ${warnDays}; the critical threshold must not exceed the warning one.`);
  }
  const registry = options.registry ?? getBundledRegistry();
  const now = options.now ?? new Date();
  const providers = [...new Set((options.providers ?? []).map((name) => registry.getProvider(name).id))];
  const files = [...new Set((options.files ?? []).map((file) => resolvePath(file)))];
  const hosts = options.hosts ?? [];
  if (options.hostaddr !== undefined && hosts.length === 0) throw new PgcertsError('INVALID_INPUT', 'hostaddr needs at least one host to verify; give the host name too.');
  const ctx: Context = { registry, now, warnDays, criticalDays, pins: registryPins(registry) };

  const built: Built[] = [];
  const checkCache = providers.length > 0 || options.all === true || (files.length === 0 && hosts.length === 0);
  const cacheTargets = checkCache ? await checkCachedBundles(ctx, options, providers) : [];
  built.push(...cacheTargets.map((c) => c.built));
  for (const file of files) built.push(await checkFile(ctx, file));

  const pending: Array<Promise<unknown>> = [];
  if (options.refresh) {
    const withEntries = cacheTargets.filter((c): c is CachedTarget & { entry: CacheEntry } => c.entry !== undefined);
    if (withEntries.length > 0) pending.push(refreshAll(ctx, options, withEntries));
  }
  const seen = new Set<string>();
  const unique = hosts.filter((spec) => {
    const key = `${spec.host.toLowerCase()}:${spec.port ?? 5432}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  let hostTargets: Promise<Built[]> = Promise.resolve([]);
  if (unique.length > 0) {
    const concurrency = typeof options.concurrency === 'object' ? options.concurrency.max : options.concurrency ?? DEFAULT_CHECK_CONCURRENCY;
    const { planWorkers, checkHostsInWorkers } = await import('./check-workers.js');
    const plan = planWorkers({ ...options, registry, now, warnDays, criticalDays }, unique.length, concurrency);
    if (plan) {
      hostTargets = checkHostsInWorkers(unique, plan);
    } else {
      const limiter = typeof options.concurrency === 'object' ? options.concurrency : createLimiter(concurrency);
      hostTargets = Promise.all(unique.map((spec) => limiter.run(() => checkHost(ctx, options, spec))));
    }
  }
  // Settled together, so that a rejection of either is not left unhandled while the other runs.
  const [, hostBuilt] = await Promise.all([Promise.all(pending), hostTargets]);
  built.push(...hostBuilt);
  const age = findRegistryAge(registry, now);
  built.push(checkRegistry(ctx, age, maxRegistryAgeDays));
  if (maxRegistryAgeDays !== null && registry.providers.some((p) => p.rotations?.length)) {
    const { findRotationWarnings } = await import('./rotations.js');
    const rotations = findRotationWarnings(registry, now, options.shippedRoots);
    (built[built.length - 1] as Built).target.problems.push(...rotations.map(({ code, message }) => ({ code, status: 'WARNING' as const, message })));
  }

  built.forEach(settleTarget);
  const targets = built.map((b) => b.target);
  const certificates = built.flatMap((b) => b.rows).sort(compareRows);
  const status = targets.reduce<CheckStatus>((worst, t) => worseStatus(worst, t.status), 'OK');
  const registryTarget = targets[targets.length - 1] as CheckTarget;
  return {
    schemaVersion: 1,
    checkedAt: now.toISOString(),
    status,
    exitCode: CHECK_EXIT_CODES[status],
    summary: summarize(targets, certificates, warnDays, criticalDays),
    thresholds: { warnDays, criticalDays, maxRegistryAgeDays },
    registry: { version: registry.version, checked: age?.checked ?? null, ageDays: age?.ageDays ?? null, status: registryTarget.status },
    targets,
    certificates,
  };
}

/**
 * Read a host list, the format of `pgcerts check --hosts-file`: one `host`, `host:port` or
 * `[v6]:port` per line; blank lines and everything from a `#` that starts a line or follows white
 * space are ignored. A bad line is refused with its number, before anything is probed.
 * @throws PgcertsError `INVALID_INPUT` naming `source`, the line number and what is wrong.
 * @example parseHostList('db1.example.com\n# staging\ndb2.example.com:6432\n', 'hosts.txt')
 */
export async function parseHostList(text: string, source: string): Promise<CheckHost[]> {
  const { parseHostPort } = await import('./connection.js');
  const hosts: CheckHost[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.replace(/(?:^|\s)#.*$/, '').trim();
    if (line === '') return;
    const where = `${source}, line ${index + 1}`;
    if (/\s/.test(line)) throw new PgcertsError('INVALID_INPUT', `${where} holds more than one word (${quoteInput(line)}); write one host[:port] per line.`);
    try {
      hosts.push(parseHostPort(line, where));
    } catch (error) {
      if (error instanceof PgcertsError) throw new PgcertsError('INVALID_INPUT', error.message, { cause: error });
      throw error;
    }
  });
  return hosts;
}

/** A target's problems worst first, its row count and its status, the worst of both. */
function settleTarget({ target, rows }: Built): void {
  target.certificates = rows.length;
  target.problems.sort((a, b) => rankStatus(b.status) - rankStatus(a.status));
  target.status = [...target.problems.map((p) => p.status), ...rows.map((r) => r.status)].reduce<CheckStatus>(worseStatus, 'OK');
}

/** One server checked by {@link checkServer}: its target and certificate rows, as in a {@link CheckReport}. */
export interface ServerCheck {
  checkedAt: string;
  target: CheckTarget;
  /** Worst first, then fewest days left. */
  certificates: CheckedCertificate[];
}

const pinIndexes = new WeakMap<Registry, Context['pins']>();

/** The registry's pins by fingerprint, indexed once per registry (runChecks, the exporter's scrapes, check workers). */
function registryPins(registry: Registry): Context['pins'] {
  let pins = pinIndexes.get(registry);
  if (!pins) {
    pins = indexPins(registry);
    pinIndexes.set(registry, pins);
  }
  return pins;
}

/**
 * Check one live server as {@link runChecks} checks a host (the same target, rows and codes),
 * without the cache, file and registry-age parts: what the exporter's `/probe` runs per scrape.
 * `options.hosts`, `files`, `providers` and `concurrency` are ignored.
 * @throws PgcertsError `INVALID_INPUT` (thresholds, the host), `UNKNOWN_PROVIDER`, and
 *   `INVALID_INPUT` when `sslrootcert` cannot be read.
 */
export async function checkServer(spec: CheckHost, options: CheckOptions = {}): Promise<ServerCheck> {
  const warnDays = options.warnDays ?? 30;
  const criticalDays = options.criticalDays ?? 14;
  for (const [name, days] of [['warnDays', warnDays], ['criticalDays', criticalDays]] as const) {
    if (!Number.isInteger(days) || days < 0) throw new PgcertsError('INVALID_INPUT', `${name} "${days}" is not a whole number of days from 0 up; fix it.`);
  }
  const registry = options.registry ?? getBundledRegistry();
  const now = options.now ?? new Date();
  const built = await checkHost({ registry, now, warnDays, criticalDays, pins: registryPins(registry) }, options, spec);
  settleTarget(built);
  return { checkedAt: now.toISOString(), target: built.target, certificates: built.rows.sort(compareRows) };
}

/**
 * The host part of {@link runChecks} for a check worker (check-worker.ts): the same context and
 * results as on the main thread, unsettled.
 */
export function createHostChecker(options: CheckOptions & { registry: Registry; now: Date; warnDays: number; criticalDays: number }): (spec: CheckHost) => Promise<HostCheck> {
  const ctx: Context = { registry: options.registry, now: options.now, warnDays: options.warnDays, criticalDays: options.criticalDays, pins: registryPins(options.registry) };
  return (spec) => checkHost(ctx, options, spec);
}

/** Worst first, then fewest days left, then by target and subject (a stable order). */
function compareRows(a: CheckedCertificate, b: CheckedCertificate): number {
  return rankStatus(b.status) - rankStatus(a.status) || a.daysLeft - b.daysLeft || compareText(`${a.kind} ${a.target}`, `${b.kind} ${b.target}`) || compareText(a.subject, b.subject) || compareText(a.sha256, b.sha256);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function indexPins(registry: Registry): Context['pins'] {
  const pins: Context['pins'] = new Map();
  for (const provider of registry.providers) {
    for (const pin of provider.certificates) {
      const list = pins.get(pin.sha256) ?? [];
      list.push({ provider, pin });
      pins.set(pin.sha256, list);
    }
  }
  return pins;
}

/** The pin for a fingerprint, preferring the target's own provider. */
function findPin(ctx: Context, sha256: string, provider: string | null): { provider: Provider; pin: PinnedCertificate } | undefined {
  const list = ctx.pins.get(sha256);
  return list?.find((p) => p.provider.id === provider) ?? list?.[0];
}

function newTarget(kind: CheckTargetKind, name: string, fields: Partial<CheckTarget> = {}): CheckTarget {
  return {
    kind, name, provider: null, trust: null, source: null, region: null, host: null, path: null,
    status: 'OK', problems: [], certificates: 0, fetchedAt: null, upstream: null, probeSuccess: null, ...fields,
  };
}

/** Whole days until `notAfter`: 5.9 days left is 5, expired 2.1 days ago is -2 (as probe). */
function daysUntil(iso: string, now: Date): number {
  return Math.trunc((Date.parse(iso) - now.getTime()) / DAY_MS) || 0;
}

function day(iso: string): string {
  return iso.slice(0, 10);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The CN of a one-line subject, else the whole subject. */
export function commonName(subject: string): string {
  return /(?:^|, )CN=((?:[^,\\]|\\.)*)/.exec(subject)?.[1] ?? subject;
}

/**
 * Rows for the certificates of a bundle (a cached bundle or a CA file). An expired certificate
 * next to valid ones is a WARNING: connections through the others still work, but the bundle is
 * stale (fetch leaves expired certificates out). When none is valid now, every row is CRITICAL.
 */
function evaluateBundle(ctx: Context, target: CheckTarget, certs: CertFacts[], nextStep: string): CheckedCertificate[] {
  const t = ctx.now.getTime();
  const unique = [...new Map(certs.map((c) => [c.sha256, c])).values()];
  const validNow = unique.filter((c) => Date.parse(c.notBefore) <= t && Date.parse(c.notAfter) > t);
  const noneValid = unique.length > 0 && validNow.length === 0;
  if (unique.length === 0) {
    target.problems.push({ code: 'empty', status: 'CRITICAL', message: `${describeTarget(target)} holds no certificate, so verify-full fails with it; ${nextStep}.` });
  } else if (noneValid) {
    const expired = unique.filter((c) => Date.parse(c.notAfter) <= t).length;
    const what = expired === unique.length ? `every certificate in ${describeTarget(target)} has expired` : `no certificate in ${describeTarget(target)} is valid now`;
    target.problems.push({ code: 'all-expired', status: 'CRITICAL', message: `${capitalize(what)} (${plural(unique.length, 'certificate')}), so verify-full fails with it; ${nextStep}.` });
  }
  return unique.map((cert) => evaluateCertificate(ctx, target, cert, { bundle: true, noneValid, nextStep }));
}

function evaluateCertificate(ctx: Context, target: CheckTarget, cert: CertFacts, o: { bundle: boolean; noneValid: boolean; nextStep: string }): CheckedCertificate {
  const t = ctx.now.getTime();
  const days = daysUntil(cert.notAfter, ctx.now);
  const findings: CheckProblem[] = [];
  const found = findPin(ctx, cert.sha256, target.provider);
  const pinned: CheckPin | null = found ? { provider: found.provider.id, status: found.pin.status, region: found.pin.region ?? null } : null;
  const registryNote = found ? ` The registry lists it as ${found.pin.status} for ${found.provider.id}${found.pin.note ? ` (${found.pin.note.replace(/\.$/, '')})` : ''}.` : '';
  // In a bundle, a dead certificate next to valid ones only makes the bundle stale; on a
  // server's chain, or when nothing else is valid, it breaks verification.
  const deadStatus: CheckProblem['status'] = o.bundle && !o.noneValid ? 'WARNING' : 'CRITICAL';
  const consequence = o.bundle
    ? o.noneValid ? '' : ' Harmless while the other certificates verify, but the bundle is stale'
    : '';
  if (Date.parse(cert.notAfter) <= t) {
    findings.push({ code: 'expired', status: deadStatus, message: `Expired on ${day(cert.notAfter)} (${plural(-days, 'day')} ago).${consequence}${consequence ? `: ${o.nextStep}.` : ` ${capitalize(o.nextStep)}.`}` });
    if (found?.pin.status === 'expired') findings.push({ code: 'registry-expired', status: deadStatus, message: registryNote.trim() });
  } else if (Date.parse(cert.notBefore) > t) {
    findings.push({ code: 'not-yet-valid', status: deadStatus, message: `Not valid before ${cert.notBefore}. Check this machine's clock.` });
  } else if (days < ctx.criticalDays || days < ctx.warnDays) {
    const critical = days < ctx.criticalDays;
    findings.push({
      code: 'expires-soon', status: critical ? 'CRITICAL' : 'WARNING',
      message: `Expires in ${plural(days, 'day')} (${day(cert.notAfter)}), within the ${critical ? 'critical' : 'warning'} threshold of ${critical ? ctx.criticalDays : ctx.warnDays} days. ${capitalize(o.nextStep)}.`,
    });
  }
  const lookalike = !found && cert.trusted && cert.unpinned !== 'renewed' ? findLookalikePin(ctx.registry.providers, cert.subject, cert.sha256) : undefined;
  if (lookalike) {
    findings.push({
      code: 'lookalike', status: 'CRITICAL',
      message: `Carries the name of pinned "${commonName(lookalike.pin.subject)}" (${lookalike.provider.id}, SHA-256 ${lookalike.pin.sha256}) but another fingerprint: a forgery or lookalike, not that CA. Stop trusting it: ${o.nextStep}.`,
    });
  } else if (!found && cert.unpinned) {
    const why = cert.unpinned === 'imported'
      ? 'you imported it and the registry pins nothing it could be checked against'
      : cert.unpinned === 'anchor'
        ? 'the chain verifies against it, but the registry does not pin it'
        : cert.unpinned === 'renewed'
          ? 'a new intermediate that a pinned root in the bundle signed (a renewal the registry has not learned yet)'
          : 'it was accepted only because it fits the registry\'s constraints';
    findings.push({
      code: 'unpinned', status: 'WARNING',
      message: `Unpinned: ${why}, so nothing but its shape vouches for it. Compare its SHA-256 with the provider's documentation, and update pgcerts (install a newer release tarball, or run \`git pull && npm ci\` in your clone) for a registry that pins it.`,
    });
  }
  if (found && found.pin.status !== 'current' && !findings.some((f) => f.code === 'registry-expired')) {
    const code = found.pin.status === 'retired' ? 'registry-retired' : 'registry-expired';
    findings.push({ code, status: 'WARNING', message: `${registryNote.trim()} ${capitalize(o.nextStep)}.` });
  }
  findings.sort((a, b) => rankStatus(b.status) - rankStatus(a.status));
  const status = findings.reduce<CheckStatus>((worst, f) => worseStatus(worst, f.status), 'OK');
  const pinText = found ? `; pinned by ${found.provider.id}${found.pin.region ? ` (${found.pin.region})` : ''}` : '; not pinned by the registry';
  return {
    kind: target.kind, target: target.name, provider: target.provider, source: cert.source,
    subject: cert.subject, sha256: cert.sha256, notBefore: cert.notBefore, notAfter: cert.notAfter, daysLeft: days,
    status, codes: findings.length > 0 ? findings.map((f) => f.code) : ['valid'],
    reason: findings.length > 0 ? findings.map((f) => f.message).join(' ') : `Expires in ${plural(days, 'day')}${pinText}.`,
    pinned,
  };
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function describeTarget(target: CheckTarget): string {
  if (target.kind === 'cache') return `the cached bundle ${target.name}`;
  if (target.kind === 'file') return `"${target.name}"`;
  return target.name;
}

interface CachedTarget {
  built: Built;
  entry: CacheEntry | undefined;
}

function cacheName(key: CacheKey): string {
  return `${key.provider}/${[key.trust, key.source, key.region].filter((p) => p !== undefined).join('.')}${key.host === undefined ? '' : `@${key.host}`}`;
}

/** The command that replaces a cached entry. */
/**
 * The fetch flag and value that name an account CA's cache key: an entry fetched by resource is
 * keyed `<flag>=<id>` (`instance=p:r:i`, `cluster=<uuid>`, `project=<name>`), others by host.
 */
function accountFlag(key: CacheKey): { flag: string; value: string } {
  const m = /^(instance|cluster|project)=(.+)$/.exec(key.host ?? '');
  return m ? { flag: `--${m[1]}`, value: m[2] as string } : { flag: '--host', value: key.host ?? '<host>' };
}

function refetchCommand(ctx: Context, key: CacheKey, force: boolean): string {
  if (key.source === IMPORT_SOURCE) return `\`pgcerts import ${key.provider} <file>${key.host === undefined ? '' : ` --host ${key.host}`}\``;
  if (key.source === ACCOUNT_SOURCE) {
    const { flag, value } = accountFlag(key);
    return `\`pgcerts fetch ${key.provider} ${flag} ${value}\``;
  }
  const provider = ctx.registry.findProvider(key.provider);
  let defaultTrust: string | undefined;
  try {
    defaultTrust = provider && selectTrust(provider, { region: key.region }).id;
  } catch {
    defaultTrust = undefined;
  }
  const flags = [key.region !== undefined ? ` --region ${key.region}` : '', defaultTrust !== key.trust ? ` --trust ${key.trust}` : '', force ? ' --force' : ''];
  return `\`pgcerts fetch ${key.provider}${flags.join('')}\``;
}

async function checkCachedBundles(ctx: Context, options: CheckOptions, providers: string[]): Promise<CachedTarget[]> {
  const cache = new BundleCache(options.cacheDir ?? getCacheDir());
  const dir = cache.dir;
  let listing: ReturnType<BundleCache['list']>;
  try {
    listing = cache.list();
  } catch (error) {
    // A cache others could write proves nothing about any bundle in it.
    if (!(error instanceof PgcertsError) || error.code !== 'CACHE_UNSAFE') throw error;
    const target = newTarget('cache', 'cache', { path: dir });
    target.problems.push({ code: 'cache-unsafe', status: 'CRITICAL', message: error.message });
    return [{ built: { target, rows: [] }, entry: undefined }];
  }
  const wanted = (provider: string): boolean => providers.length === 0 || providers.includes(provider);
  const out: CachedTarget[] = [];
  for (const entry of listing.entries) {
    const key = entry.meta.key;
    if (!wanted(key.provider)) continue;
    const target = newTarget('cache', cacheName(key), {
      provider: key.provider, trust: key.trust, source: key.source, region: key.region ?? null, host: key.host ?? null,
      path: entry.path, fetchedAt: entry.meta.fetchedAt,
    });
    const source = [key.trust, key.source, key.region].filter((p) => p !== undefined).join('.');
    // A 304 refresh keeps the file, so only a forced download drops certificates that expired since.
    const next = `run ${refetchCommand(ctx, key, true)}`;
    const unpinned = unpinnedKind(ctx, key);
    const certs = await readCachedCertificates(target, entry, source, next);
    // Intermediates renewed under a trust's `intermediates` constraints are no lookalikes (renewals.ts).
    const rules = ctx.registry.findProvider(key.provider)?.trust.find((t) => t.id === key.trust)?.intermediates;
    const renewed = certs === undefined || !rules ? new Set<string>() : (await import('./renewals.js')).findRenewedInBundle(ctx.registry, key, entry.pem);
    const rows = certs === undefined ? [] : evaluateBundle(ctx, target, certs.map((cert) => ({ ...cert, trusted: true, unpinned: renewed.has(cert.sha256) ? 'renewed' : unpinned })), next);
    out.push({ built: { target, rows }, entry });
  }
  for (const problem of listing.problems) {
    const provider = problemProvider(dir, problem.path);
    if (!wanted(provider)) continue;
    const target = newTarget('cache', problem.path.slice(dir.length + 1).replace(/\.(json|pem)$/, ''), { provider, path: problem.path });
    target.problems.push({ code: problem.error.code === 'CACHE_UNSAFE' ? 'cache-unsafe' : 'cache-corrupt', status: 'CRITICAL', message: problem.error.message });
    out.push({ built: { target, rows: [] }, entry: undefined });
  }
  const cachedProviders = new Set([...listing.entries.map((e) => e.meta.key.provider), ...listing.problems.map((p) => problemProvider(dir, p.path))]);
  const expected = options.all
    ? ctx.registry.providers.filter((p) => p.trust.some(isDownloadable)).map((p) => p.id)
    : providers;
  for (const id of expected) {
    if (cachedProviders.has(id)) continue;
    const provider = ctx.registry.getProvider(id);
    const downloadable = provider.trust.some(isDownloadable);
    const how = downloadable ? `run \`pgcerts fetch ${id}\`` : `get its CA and run \`pgcerts import ${id} <file>\` (see \`pgcerts show ${id}\`)`;
    const target = newTarget('cache', id, { provider: id });
    target.problems.push({ code: 'not-cached', status: 'UNKNOWN', message: `Nothing is cached for ${id} in "${dir}", so there is nothing to check; ${how}.` });
    out.push({ built: { target, rows: [] }, entry: undefined });
  }
  if (out.length === 0 && providers.length === 0 && !options.all) {
    const target = newTarget('cache', 'cache', { path: dir });
    target.problems.push({ code: 'nothing-to-check', status: 'UNKNOWN', message: `The cache "${dir}" holds no bundle, so there is nothing to check; run \`pgcerts fetch <provider>\`, or give --file or --host.` });
    out.push({ built: { target, rows: [] }, entry: undefined });
  }
  return out;
}

/**
 * The certificates a cached PEM really holds, compared with its metadata's record: the record
 * alone could describe pinned roots while the file, changed behind pgcerts with its checksum,
 * holds another CA. A mismatch is a `cache-mismatch` problem, and the rows show the file's own
 * certificates; `undefined` when the file does not parse.
 */
async function readCachedCertificates(target: CheckTarget, entry: CacheEntry, source: string, next: string): Promise<CertFacts[] | undefined> {
  const { createHash } = await import('node:crypto');
  const bytes = Buffer.from(entry.pem, 'utf8');
  const fileHash = createHash('sha256').update(bytes).digest('hex');
  const recorded = entry.meta.certificates.map((c) => ({ sha256: c.sha256, subject: c.subject, notBefore: c.notBefore, notAfter: c.notAfter, source }));
  // The common case costs one hash per certificate: the DER of each block, as the cache writes
  // them. Anything else (another PEM label, a difference) gets the full parse below.
  const blocks = [...entry.pem.matchAll(/-----BEGIN ([^-\r\n]*)-----([^-]*)-----END \1-----/g)];
  const labels = entry.pem.match(/-----BEGIN /g)?.length ?? 0;
  if (fileHash === entry.meta.sha256 && blocks.length === labels && blocks.every((m) => m[1] === 'CERTIFICATE')) {
    const held = new Set(blocks.map((m) => fingerprint(createHash('sha256').update(Buffer.from(m[2] as string, 'base64')).digest('hex'))));
    const listed = new Set(recorded.map((c) => c.sha256));
    if (held.size === listed.size && [...held].every((f) => listed.has(f))) return recorded;
  }
  const { parseCertificates } = await import('./pem.js');
  const { summarizeCertificate } = await import('./certificate.js');
  let certs: CertFacts[];
  try {
    certs = parseCertificates(bytes, { name: entry.path }).map((cert) => {
      const s = summarizeCertificate(cert, { verifySignature: false });
      return { sha256: s.sha256, subject: s.subject, notBefore: s.notBefore, notAfter: s.notAfter, source };
    });
  } catch (error) {
    if (!(error instanceof PgcertsError)) throw error;
    target.problems.push({ code: 'cache-corrupt', status: 'CRITICAL', message: `The cached bundle ${target.name} does not parse: ${error.message} ${capitalize(next)}.` });
    return undefined;
  }
  const listed = new Set(entry.meta.certificates.map((c) => c.sha256));
  const held = new Set(certs.map((c) => c.sha256));
  const unlisted = certs.filter((c) => !listed.has(c.sha256));
  const missing = entry.meta.certificates.filter((c) => !held.has(c.sha256));
  if (unlisted.length > 0 || missing.length > 0 || fileHash !== entry.meta.sha256) {
    const parts = [
      unlisted.length > 0 ? `${plural(unlisted.length, 'certificate')} its record does not list (${unlisted.map((c) => `${commonName(c.subject)}, SHA-256 ${c.sha256.slice(0, 23)}...`).join('; ')})` : '',
      missing.length > 0 ? `lacks ${plural(missing.length, 'certificate')} the record lists (${missing.map((c) => commonName(c.subject)).join('; ')})` : '',
      unlisted.length === 0 && missing.length === 0 ? `has SHA-256 ${fileHash}, not the ${entry.meta.sha256} its record lists` : '',
    ].filter((p) => p !== '');
    target.problems.push({
      code: 'cache-mismatch', status: 'CRITICAL',
      message: `The cached bundle ${target.name} "${entry.path}" ${unlisted.length > 0 ? 'holds ' : ''}${parts.join(' and ')}: the file was changed behind pgcerts, so do not trust it; find out who can write the cache, then ${next}.`,
    });
  }
  return certs;
}

/** `AB:CD:...`, as certificate summaries and the registry write SHA-256 fingerprints. */
function fingerprint(hex: string): string {
  return hex.toUpperCase().replace(/(..)(?!$)/g, '$1:');
}

/**
 * How an unpinned certificate got into a cached bundle of this trust, when the registry could
 * have pinned it: by the constraints of a provider-wide trust, or by an import for a trust that
 * is not per account. A per-account CA (DigitalOcean, Aiven, ...) cannot be pinned: undefined.
 */
function unpinnedKind(ctx: Context, key: CacheKey): CertFacts['unpinned'] {
  const trust = ctx.registry.findProvider(key.provider)?.trust.find((t) => t.id === key.trust);
  if (!trust || trust.kind === 'account' || trust.kind === 'none') return undefined;
  return key.source === IMPORT_SOURCE ? 'imported' : 'constraints';
}

function problemProvider(dir: string, path: string): string {
  const first = path.slice(dir.length + 1).split(/[\\/]/)[0] ?? '';
  try {
    return decodeURIComponent(first);
  } catch {
    return first;
  }
}

/** Legacy downloads the registry knows, by file name. */
function findLegacy(registry: Registry, file: string): { provider: Provider; entry: HistoryEntry } | undefined {
  const name = basename(file).toLowerCase();
  for (const provider of registry.providers) {
    for (const trust of provider.trust) {
      const entry = trust.history?.find((h) => basename(new URL(h.url).pathname).toLowerCase() === name);
      if (entry) return { provider, entry };
    }
  }
  return undefined;
}

async function checkFile(ctx: Context, path: string): Promise<Built> {
  const target = newTarget('file', path, { source: 'file', path });
  let bytes: Buffer;
  try {
    bytes = readRegularFile(path, { maxBytes: MAX_CA_FILE_BYTES });
  } catch (error) {
    if (error instanceof PgcertsError) {
      target.problems.push({ code: 'file-unreadable', status: 'UNKNOWN', message: `Cannot check --file: ${error.message}` });
    } else {
      target.problems.push({ code: 'file-unreadable', status: 'UNKNOWN', message: `Cannot read "${path}" (${describeReadError(error)}); check the path and its permissions.` });
    }
    return { target, rows: [] };
  }
  const { parseCertificates } = await import('./pem.js');
  const { summarizeCertificate } = await import('./certificate.js');
  let certs: CertFacts[];
  try {
    certs = parseCertificates(bytes, { name: path }).map((cert) => {
      const s = summarizeCertificate(cert, { verifySignature: false });
      return { sha256: s.sha256, subject: s.subject, notBefore: s.notBefore, notAfter: s.notAfter, source: 'file', trusted: true };
    });
  } catch (error) {
    if (!(error instanceof PgcertsError)) throw error;
    target.problems.push({ code: 'file-invalid', status: 'CRITICAL', message: `${error.message} A client given this file as sslrootcert fails.` });
    return { target, rows: [] };
  }
  // The provider whose pins the file holds most of names the fix.
  const counts = new Map<string, number>();
  for (const cert of certs) {
    const pin = findPin(ctx, cert.sha256, null);
    if (pin) counts.set(pin.provider.id, (counts.get(pin.provider.id) ?? 0) + 1);
  }
  const provider = [...counts].sort((a, b) => b[1] - a[1] || compareText(a[0], b[0]))[0]?.[0] ?? null;
  target.provider = provider;
  const next = provider
    ? `replace the file with the current bundle (\`pgcerts fetch ${provider} --out ${path}\`)`
    : "replace the file with the server's current CA";
  // Beside a provider's pinned certificates, an unpinned one is a CA nobody vouches for.
  if (provider) for (const cert of certs) cert.unpinned = 'constraints';
  const rows = evaluateBundle(ctx, target, certs, next);
  const legacy = findLegacy(ctx.registry, path);
  if (legacy && rows.some((r) => r.status !== 'OK')) {
    target.problems.push({ code: 'legacy-file', status: 'WARNING', message: `"${basename(path)}" is a legacy ${legacy.provider.id} download: ${legacy.entry.text} Run \`pgcerts lookup <host>\` for the bundle to use instead.` });
  }
  return { target, rows };
}

async function checkHost(ctx: Context, options: CheckOptions, spec: CheckHost): Promise<Built> {
  const { probeServer } = await import('./probe.js');
  const report: ProbeReport = await probeServer({
    host: spec.host, port: spec.port, hostaddr: spec.hostaddr ?? options.hostaddr, provider: spec.provider, direct: spec.direct,
    sslrootcert: options.sslrootcert, timeoutMs: spec.timeoutMs ?? options.timeoutMs,
    warnDays: ctx.warnDays, criticalDays: ctx.criticalDays, registry: ctx.registry, cacheDir: options.cacheDir, mirror: options.mirror,
    download: options.download, now: ctx.now,
  });
  const name = `${report.host.includes(':') ? `[${report.host}]` : report.host}:${report.port}`;
  const target = newTarget('host', name, {
    provider: report.bundle?.provider ?? null, trust: report.bundle?.trust ?? null, source: report.bundle?.source ?? null,
    host: report.host, path: report.bundle?.file ?? null,
  });
  // Expiry findings become the certificate rows below; the target keeps the rest (trust, name, network).
  const rowCodes = new Set<ProbeProblemCode>(['expired', 'expires-soon', 'not-yet-valid', 'unpinned', 'lookalike']);
  target.problems.push(...report.problems.filter((p) => !rowCodes.has(p.code)).map((p) => ({ code: p.code, status: p.status, message: p.message })));
  const served: CertFacts[] = report.chain.map((c, i) => ({ sha256: c.sha256, subject: c.subject, notBefore: c.notBefore, notAfter: c.notAfter, leaf: i === 0, source: 'served' }));
  const anchor = report.bundle?.anchor ?? report.publicRoots?.anchor;
  const unpinnedAnchor = report.problems.some((p) => p.code === 'unpinned');
  if (anchor && !served.some((c) => c.sha256 === anchor.sha256)) {
    served.push({ sha256: anchor.sha256, subject: anchor.subject, notBefore: anchor.notBefore, notAfter: anchor.notAfter, source: 'anchor', trusted: true });
  }
  for (const cert of served) {
    if (anchor && cert.sha256 === anchor.sha256) {
      cert.trusted = true;
      if (unpinnedAnchor) cert.unpinned = 'anchor';
    }
  }
  const rows = served.map((cert) => evaluateCertificate(ctx, target, cert, {
    bundle: false, noneValid: false,
    nextStep: cert.leaf ? 'renew the server certificate' : cert.source === 'anchor' ? 'move the server to a certificate from a current CA, and clients to its bundle' : 'install a current intermediate on the server',
  }));
  target.probeSuccess = report.chain.length > 0;
  return { target, rows };
}

/**
 * With `refresh`: ask each cached bundle's source whether it changed, by a conditional request
 * through {@link fetchBundle} against a temporary copy of the entry, so the cache itself is never
 * modified (`pgcerts fetch` stays the one command that changes it).
 */
async function refreshAll(ctx: Context, options: CheckOptions, cached: Array<CachedTarget & { entry: CacheEntry }>): Promise<void> {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { fetchBundle } = await import('./fetch.js');
  const temp = mkdtempSync(join(tmpdir(), 'pgcerts-check-'));
  try {
    await Promise.all(cached.map(async ({ built: { target }, entry }, index) => {
      const key = entry.meta.key;
      if (key.source === ACCOUNT_SOURCE) {
        await refreshAccount(ctx, options, target, entry, join(temp, String(index)));
        return;
      }
      if (key.source === IMPORT_SOURCE || key.host !== undefined) return;
      const provider = ctx.registry.findProvider(key.provider);
      const trust = provider?.trust.find((t) => t.id === key.trust);
      // A provider-wide account CA written from the shipped roots (Supabase's) has no source to ask.
      if (key.source === OFFLINE_SOURCE && trust?.kind === 'account') return;
      const sourceMatches = trust !== undefined && (trust.kind === 'public' ? key.source === OFFLINE_SOURCE : findSource(trust, key.region)?.source.id === key.source);
      if (!provider || !trust || !isDownloadable(trust) || !sourceMatches) {
        target.upstream = 'unknown';
        target.problems.push({ code: 'refresh-failed', status: 'UNKNOWN', message: `The registry ${ctx.registry.version} has no source "${key.source}" for ${cacheName(key)}, so its upstream cannot be checked; run \`pgcerts fetch ${key.provider} --force\` to replace it.` });
        return;
      }
      const cacheDir = join(temp, String(index));
      try {
        await new BundleCache(cacheDir).write(key, entry.pem, copyFields(entry.meta));
        const result = await fetchBundle(provider.id, {
          registry: ctx.registry, cacheDir, mirror: options.mirror, download: options.download, now: ctx.now,
          trust: key.trust, region: key.region, onWarning: undefined,
        });
        const before = new Set(entry.meta.certificates.map((c) => c.sha256));
        const after = new Set(result.kept.map((c) => c.sha256));
        const added = [...after].filter((f) => !before.has(f)).length;
        const removed = [...before].filter((f) => !after.has(f)).length;
        if (result.notModified || (added === 0 && removed === 0)) {
          target.upstream = 'unchanged';
          return;
        }
        target.upstream = 'changed';
        target.problems.push({ code: 'upstream-changed', status: 'WARNING', message: `The ${provider.id} bundle changed upstream (${added} added, ${removed} removed since the cached copy of ${day(entry.meta.fetchedAt)}); run ${refetchCommand(ctx, key, false)}.` });
      } catch (error) {
        if (!(error instanceof PgcertsError)) throw error;
        target.upstream = 'unknown';
        if (error.code === 'DECODE_FAILED' || error.code === 'VALIDATION_FAILED') {
          target.problems.push({ code: 'upstream-refused', status: 'WARNING', message: `The ${provider.id} source now serves something pgcerts refuses; the cached copy stays in use. ${error.message}` });
        } else {
          target.problems.push({ code: 'refresh-failed', status: 'UNKNOWN', message: `Cannot check whether the ${provider.id} bundle changed upstream: ${error.message}` });
        }
      }
    }));
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

/**
 * With `refresh`, for an account CA: fetch it again through the provider's API into a temporary
 * cache and compare. A different CA is a rotation (or a replaced cluster): WARNING, naming the
 * command that takes it. No token, or a failing API, leaves the upstream unknown.
 */
async function refreshAccount(ctx: Context, options: CheckOptions, target: CheckTarget, entry: CacheEntry, cacheDir: string): Promise<void> {
  const key = entry.meta.key;
  const { fetchAccountBundle } = await import('./fetch.js');
  const { flag, value } = accountFlag(key);
  const byResource = flag !== '--host';
  const what = `the ${key.provider} CA of ${flag.slice(2)} ${value}`;
  try {
    await new BundleCache(cacheDir).write(key, entry.pem, copyFields(entry.meta));
    const result = await fetchAccountBundle(key.provider, {
      registry: ctx.registry, cacheDir, mirror: options.mirror, download: options.download, now: ctx.now, env: options.env, homeDir: options.homeDir,
      ...(byResource ? { resource: value } : { host: value }),
    });
    const before = new Set(entry.meta.certificates.map((c) => c.sha256));
    const after = new Set(result.kept.map((c) => c.sha256));
    const added = [...after].filter((f) => !before.has(f)).length;
    const removed = [...before].filter((f) => !after.has(f)).length;
    if (added === 0 && removed === 0) {
      target.upstream = 'unchanged';
      return;
    }
    target.upstream = 'changed';
    target.problems.push({ code: 'upstream-changed', status: 'WARNING', message: `${capitalize(what)} changed at the provider's API (${added} added, ${removed} removed since the cached copy of ${day(entry.meta.fetchedAt)}): a CA rotation or a replaced cluster. Run ${refetchCommand(ctx, key, false)} and deploy the new file before the old CA is retired.` });
  } catch (error) {
    if (!(error instanceof PgcertsError)) throw error;
    target.upstream = 'unknown';
    if (error.code === 'DECODE_FAILED' || error.code === 'VALIDATION_FAILED') {
      target.problems.push({ code: 'upstream-refused', status: 'WARNING', message: `The provider's API now answers something pgcerts refuses for ${what}; the cached copy stays in use. ${error.message}` });
    } else {
      target.problems.push({ code: 'refresh-failed', status: 'UNKNOWN', message: `Cannot check whether ${what} changed: ${error.message}` });
    }
  }
}

function copyFields(meta: CacheMeta): Parameters<BundleCache['write']>[2] {
  return {
    url: meta.url, importedFrom: meta.importedFrom, fetchedAt: meta.fetchedAt, etag: meta.etag, lastModified: meta.lastModified,
    registryVersion: meta.registryVersion, certificates: meta.certificates, resource: meta.resource,
  };
}

/**
 * The registry's age: the newest `cite.checked` date anywhere in its data, i.e. when its facts
 * were last checked against their sources; `undefined` when it records none.
 */
export function findRegistryAge(registry: Registry, now: Date): { checked: string; ageDays: number; ageSeconds: number } | undefined {
  // Every place the schema (provider.schema.json) puts a cite, walked directly: a generic walk
  // over the whole registry costs `pgcerts check` several milliseconds of its start-up.
  let newest = '';
  const see = (item: { cite: Cite }): void => {
    if (item.cite.checked > newest) newest = item.cite.checked;
  };
  for (const provider of registry.providers) {
    provider.hosts.forEach(see);
    provider.certificates.forEach(see);
    provider.notes.forEach(see);
    for (const trust of provider.trust) {
      see(trust);
      trust.sources?.forEach(see);
      trust.obtain?.forEach(see);
      trust.history?.forEach(see);
    }
  }
  const at = Date.parse(`${newest}T00:00:00Z`);
  if (newest === '' || Number.isNaN(at)) return undefined;
  const ageSeconds = Math.max(0, Math.floor((now.getTime() - at) / 1000));
  return { checked: newest, ageDays: Math.floor(ageSeconds / 86_400), ageSeconds };
}

function checkRegistry(ctx: Context, age: ReturnType<typeof findRegistryAge>, maxAgeDays: number | null): Built {
  const target = newTarget('registry', 'registry', { path: ctx.registry.path ?? null });
  if (maxAgeDays !== null && age && age.ageDays > maxAgeDays) {
    target.problems.push({
      code: 'registry-stale', status: 'WARNING',
      message: `The pgcerts registry ${ctx.registry.version} was last checked on ${age.checked}, ${age.ageDays} days ago (more than ${maxAgeDays}); providers may have rotated CAs since. Update pgcerts (install a newer release tarball, or run \`git pull && npm ci\` in your clone), or set PGCERTS_NO_REGISTRY_AGE_WARNING=1.`,
    });
  }
  if (maxAgeDays !== null) {
    // Pins record a certificate's status on the day it was checked. One marked current that has
    // expired since means the registry predates a rotation: the maintainers' refresh (or a newer
    // pgcerts) has to catch up. Same switch as the age warning: both say "the registry is old".
    const now = ctx.now.getTime();
    const seen = new Set<string>();
    for (const provider of ctx.registry.providers) {
      for (const pin of provider.certificates) {
        if (pin.status !== 'current' || Date.parse(pin.notAfter) > now || seen.has(pin.sha256)) continue;
        seen.add(pin.sha256);
        target.problems.push({
          code: 'registry-pin-expired', status: 'WARNING',
          message: `The pgcerts registry ${ctx.registry.version} pins ${commonName(pin.subject)} (${provider.id}, SHA-256 ${pin.sha256.slice(0, 23)}...) as current, but it expired on ${pin.notAfter.slice(0, 10)}, after the registry was checked (${pin.cite.checked}); the provider has probably renewed it. Update pgcerts (install a newer release tarball, or run \`git pull && npm ci\` in your clone) and fetch again, or set PGCERTS_NO_REGISTRY_AGE_WARNING=1.`,
        });
      }
    }
  }
  return { target, rows: [] };
}

/** Target names a summary lists per problem before it counts the rest. */
const SUMMARY_NAMES = 10;

/** One line: the problems, worst first, or what is fine. */
function summarize(targets: CheckTarget[], rows: CheckedCertificate[], warnDays: number, criticalDays: number): string {
  const count = (test: (r: CheckedCertificate) => boolean): number => rows.filter(test).length;
  const worstOf = (test: (r: CheckedCertificate) => boolean): CheckStatus => rows.filter(test).reduce<CheckStatus>((w, r) => worseStatus(w, r.status), 'OK');
  const soonCritical = count((r) => r.codes.includes('expires-soon') && r.status === 'CRITICAL');
  const expired = count((r) => r.codes.includes('expired'));
  const soonWarning = count((r) => r.codes.includes('expires-soon') && r.status === 'WARNING');
  const notYet = count((r) => r.codes.includes('not-yet-valid'));
  const retired = count((r) => r.codes.includes('registry-retired') || (r.codes.includes('registry-expired') && !r.codes.includes('expired')));
  const lookalikes = count((r) => r.codes.includes('lookalike'));
  const unpinned = count((r) => r.codes.includes('unpinned'));
  // The first count names its noun: "1 certificate expires within 14 days, 2 expired, ...".
  const counts: Array<[number, CheckStatus, string, string]> = [
    [lookalikes, 'CRITICAL', 'carries a pinned name with another fingerprint', 'carry a pinned name with another fingerprint'],
    [soonCritical, 'CRITICAL', `expires within ${criticalDays} days`, `expire within ${criticalDays} days`],
    [expired, worstOf((r) => r.codes.includes('expired')), 'expired', 'expired'],
    [soonWarning, 'WARNING', `expires within ${warnDays} days`, `expire within ${warnDays} days`],
    [notYet, worstOf((r) => r.codes.includes('not-yet-valid')), 'is not yet valid', 'are not yet valid'],
    [retired, 'WARNING', 'retired by the registry', 'retired by the registry'],
    [unpinned, 'WARNING', 'is unpinned', 'are unpinned'],
  ];
  const items: Array<{ status: CheckStatus; count: boolean; text: (first: boolean) => string }> = [];
  for (const [n, status, one, many] of counts) {
    if (n !== 0) items.push({ status, count: true, text: (first) => `${first ? plural(n, 'certificate') : n} ${n === 1 ? one : many}` });
  }
  // Target problems grouped by code: "not cached (azure, neon)".
  const covered = new Set<CheckCode>(['all-expired', 'legacy-file']);
  const groups = new Map<CheckCode, { status: CheckStatus; names: string[] }>();
  for (const t of targets) {
    for (const p of t.problems) {
      if (covered.has(p.code)) continue;
      const group = groups.get(p.code) ?? { status: p.status, names: [] };
      group.status = worseStatus(group.status, p.status);
      if (t.kind !== 'registry' && !group.names.includes(t.name)) group.names.push(t.name);
      groups.set(p.code, group);
    }
  }
  for (const [code, group] of groups) {
    const phrase = code === 'registry-stale' ? 'registry data is stale' : code === 'registry-pin-expired' ? 'registry pins expired since it was checked' : code.replace(/-/g, ' ');
    // A fleet's worth of names would make the one status line unreadable: the first few, and a count.
    const names = group.names.length > SUMMARY_NAMES ? `${group.names.slice(0, SUMMARY_NAMES).join(', ')} and ${group.names.length - SUMMARY_NAMES} more` : group.names.join(', ');
    items.push({ status: group.status, count: false, text: () => (group.names.length > 0 ? `${phrase} (${names})` : phrase) });
  }
  // Worst first; within one status, certificate counts before target problems (a stable sort).
  items.sort((a, b) => rankStatus(b.status) - rankStatus(a.status));
  let named = false;
  const parts = items.map((item) => {
    const text = item.text(item.count && !named);
    if (item.count) named = true;
    return text;
  });
  const checked = targets.filter((t) => t.kind !== 'registry');
  const scope = `${plural(rows.length, 'certificate')} in ${plural(checked.length, 'target')}`;
  if (parts.length > 0) return `${parts.join(', ')}; ${scope}`;
  const first = [...rows].sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter))[0];
  return first ? `${scope}, first expiry in ${plural(first.daysLeft, 'day')} (${commonName(first.subject)}, ${first.kind} ${first.target})` : scope;
}
