import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { BundleCache, getCacheDir, isCacheReadOnlyError, type CacheEntry, type CacheKey, type CacheMeta } from './cache.js';
import { PgcertsError } from './errors.js';
import type { FetchOptions } from './fetch.js';
import { lookup, type HostMatch } from './lookup.js';
import { getBundledRegistry } from './registry.js';
import type { Provider, SslMode, Trust, TrustKind } from './registry-types.js';
import { findShippedBundle, holdsExactly, listSourcePins, loadShippedRoots, storeShippedBundle, type ShippedBundle, type ShippedRoots } from './shipped-roots.js';
import { ACCOUNT_SOURCE, describeGuess, importedRegions, IMPORT_SOURCE, OFFLINE_SOURCE, explainNoSource, findSource } from './sources.js';

const DAY_MS = 86_400_000;

/** Options of {@link getSslRootCert} and the functions built on it. */
export interface ResolveOptions extends Omit<FetchOptions, 'trust' | 'region' | 'force'> {
  /** A cached download older than this is refreshed (default 7 days); imports never age out. */
  maxAgeDays?: number;
}

/** The CA bundle to use for a host. */
export interface RootCertForHost {
  /** The normalised host name. */
  host: string;
  provider: string;
  trust: string;
  kind: TrustKind;
  /** The sslmode to use with this bundle (`verify-full`, or `verify-ca` where the provider's names cannot be checked). */
  sslmode: SslMode;
  /** Absolute path of the bundle file. */
  path: string;
  /**
   * Where the path came from this time: an imported file, a fresh cached copy, the roots shipped
   * with pgcerts (written to the cache), a download, or an older cached copy when nothing better
   * could be had.
   */
  origin: 'import' | 'cache' | 'shipped' | 'download' | 'stale-cache';
  warnings: string[];
}

function hostOf(match: HostMatch | undefined, host: string | undefined, hint: string | undefined, input: string): { match: HostMatch; host: string } {
  if (match && host) return { match, host };
  throw new PgcertsError('NO_SOURCE', `pgcerts knows no provider for "${host ?? input}": ${hint ?? 'no rule matches it.'} Pass the CA file yourself as sslrootcert, or run \`pgcerts list\`.`);
}

function isFresh(meta: CacheMeta, now: Date, maxAgeDays: number): boolean {
  const age = now.getTime() - Date.parse(meta.fetchedAt);
  return age >= 0 && age < maxAgeDays * DAY_MS && meta.certificates.every((c) => Date.parse(c.notAfter) > now.getTime());
}

/** What {@link resolveOne} reads of a host match: enough for a provider chosen by name too. */
type MatchedTrust = Pick<HostMatch, 'provider' | 'sslmode' | 'region' | 'guess'> & { trust: Pick<HostMatch['trust'], 'id'> };

async function resolveOne(match: MatchedTrust, host: string, options: ResolveOptions): Promise<RootCertForHost> {
  const registry = options.registry ?? getBundledRegistry();
  const provider = registry.getProvider(match.provider);
  const trust = provider.trust.find((t) => t.id === match.trust.id) as Trust;
  if (trust.kind === 'none') throw new PgcertsError('NO_SOURCE', `${match.guess ? describeGuess(host, provider) : ''}${explainNoSource(provider, trust)}`);
  const now = options.now ?? new Date();
  const cache = new BundleCache(options.cacheDir ?? getCacheDir());
  const warnings: string[] = [];
  const base = { host, provider: provider.id, trust: trust.id, kind: trust.kind, sslmode: match.sslmode };

  // A file the user imported for this host, then for the whole provider, wins over downloads;
  // a provider-wide file whose pinned roots are all for other regions is passed over (see below).
  for (const key of [{ host }, {}]) {
    const entry = cache.read({ provider: provider.id, trust: trust.id, source: IMPORT_SOURCE, ...key });
    const covered = entry && key.host === undefined ? importedRegions(provider, entry.meta.certificates) : undefined;
    if (entry && covered !== undefined && match.region !== undefined && !covered.includes(match.region)) {
      warnings.push(`The file imported for ${provider.id} holds roots for ${covered.slice(0, 4).join(', ')}${covered.length > 4 ? `, and ${covered.length - 4} more regions` : ''} only, not for ${match.region} where "${host}" is, so its own bundle is used; import a file for that region too (\`pgcerts import ${provider.id} <file> --host ${host}\`), or \`pgcerts import ${provider.id} --remove\`.`);
      continue;
    }
    if (entry) {
      const expired = entry.meta.certificates.filter((c) => Date.parse(c.notAfter) <= now.getTime());
      if (expired.length > 0) warnings.push(`The imported CA file for ${provider.id} holds ${expired.length} expired certificate(s) (${expired.map((c) => `"${c.subject}"`).join(', ')}); import a current one.`);
      return { ...base, path: entry.path, origin: 'import', warnings };
    }
  }
  // A provider-wide account CA the registry pins (Supabase's root) is served from the shipped roots.
  const shippedAccount = trust.kind === 'account' && trust.scope === 'provider' && options.shippedRoots !== false && listSourcePins(provider, trust, undefined).length > 0;
  if (trust.kind === 'account' && !shippedAccount) return resolveAccount(provider, trust, host, base, cache, warnings, options);

  const picked = trust.kind === 'bundle' ? findSource(trust, match.region) : undefined;
  const key: CacheKey = trust.kind === 'bundle'
    ? { provider: provider.id, trust: trust.id, source: picked?.source.id ?? '', region: picked?.region }
    : { provider: provider.id, trust: trust.id, source: OFFLINE_SOURCE };
  // A damaged copy is not handed out; the fetch below replaces it and says so. If the fetch fails
  // too, the error says the cached copy was damaged, not merely that the network failed.
  let damaged: string | undefined;
  const cached = cache.readOrReport(key, (message) => {
    damaged = message;
  });
  if (cached && isFresh(cached.meta, now, options.maxAgeDays ?? 7)) return { ...base, path: cached.path, origin: 'cache', warnings };

  // Then the shipped roots, when they hold every pin of the source: no network at all. A host in
  // a region the registry does not know gets the partition's download instead, which holds its
  // roots; a stale download holding certificates the shipped set lacks is refreshed first.
  const unknownRegion = trust.kind === 'bundle' && match.region !== undefined && (picked === undefined || picked.fallback);
  const roots = options.shippedRoots === false || unknownRegion ? undefined : loadShippedRoots(options.shippedRoots);
  const shipped = roots && findShippedBundle(roots, provider, trust, key.region, now);
  const nowMs = now.getTime();
  const knowsMore = shipped !== undefined && cached !== undefined && cached.meta.certificates.some((c) => Date.parse(c.notAfter) > nowMs && !shipped.certificates.some((s) => s.sha256 === c.sha256));
  if (roots && shipped && !knowsMore) return serveShipped(cache, key, shipped, roots, cached, base, warnings, options, now);
  if (trust.kind === 'account') return resolveAccount(provider, trust, host, base, cache, warnings, options);
  if (options.offline && trust.kind === 'bundle') {
    if (cached) {
      warnings.push(`Offline: using the ${provider.id} bundle cached on ${cached.meta.fetchedAt}, which is due for a refresh; run \`pgcerts fetch ${provider.id}${key.region ? ` --region ${key.region}` : ''}\` when the network is back.`);
      return { ...base, path: cached.path, origin: 'stale-cache', warnings };
    }
    const what = unknownRegion ? `no bundle for region "${match.region}", which the registry does not know` : `no roots for ${provider.id} (${trust.id}${key.region ? `, ${key.region}` : ''})`;
    throw new PgcertsError('NO_SOURCE', `pgcerts ships ${what}, and --offline forbids a download; run without --offline, or set PGCERTS_MIRROR to a mirror (\`pgcerts mirror\`), or import the CA file (\`pgcerts import ${provider.id} <file>\`).`);
  }

  const { fetchBundle } = await import('./fetch.js');
  try {
    const result = await fetchBundle(provider.id, { ...options, trust: trust.id, region: picked?.region, onWarning: undefined });
    warnings.push(...result.warnings);
    return { ...base, path: result.path, origin: 'download', warnings };
  } catch (error) {
    // A read-only cache (an image built with its bundles, run as another user) keeps serving
    // its verified copy when the refreshed one cannot be written.
    if (cached && isCacheReadOnlyError(error)) {
      const code = ((error as Error).cause as NodeJS.ErrnoException).code;
      warnings.push(`Cannot save the refreshed ${provider.id} bundle in "${dirname(cached.path)}" (${code}); using the cached copy from ${cached.meta.fetchedAt}. Make the cache writable for this user, or refresh it where it is built (\`pgcerts fetch ${provider.id}\`).`);
      return { ...base, path: cached.path, origin: 'stale-cache', warnings };
    }
    if (damaged !== undefined && error instanceof PgcertsError && error.code === 'DOWNLOAD_FAILED') {
      throw new PgcertsError('DOWNLOAD_FAILED', `${error.message} The cached copy could not be used either: ${damaged}`, { cause: error });
    }
    if (!cached || !(error instanceof PgcertsError) || error.code !== 'DOWNLOAD_FAILED') throw error;
    warnings.push(`${error.message} Using the cached copy from ${cached.meta.fetchedAt}.`);
    return { ...base, path: cached.path, origin: 'stale-cache', warnings };
  }
}

/** Serve a shipped bundle: the cached copy when it already holds exactly that set, else a new one. */
async function serveShipped(
  cache: BundleCache,
  key: CacheKey,
  shipped: ShippedBundle,
  roots: ShippedRoots,
  cached: CacheEntry | undefined,
  base: Omit<RootCertForHost, 'path' | 'origin' | 'warnings'>,
  warnings: string[],
  options: ResolveOptions,
  now: Date,
): Promise<RootCertForHost> {
  const registry = options.registry ?? getBundledRegistry();
  if (shipped.dropped.length > 0) {
    warnings.push(`Left out ${shipped.dropped.map((p) => `"${p.subject.replace(/.*CN=/, '').replace(/,.*/, '')}" (expired ${p.notAfter.slice(0, 10)})`).join(', ')} of the roots shipped for ${base.provider}; update pgcerts for a registry that knows their successors.`);
  }
  if (cached && holdsExactly(cached.meta.certificates, shipped.certificates)) return { ...base, path: cached.path, origin: 'shipped', warnings };
  try {
    const entry = await storeShippedBundle(cache, key, shipped, roots, registry.version, now);
    return { ...base, path: entry.path, origin: 'shipped', warnings };
  } catch (error) {
    if (!cached || !isCacheReadOnlyError(error)) throw error;
    const code = ((error as Error).cause as NodeJS.ErrnoException).code;
    warnings.push(`Cannot save the ${base.provider} bundle in "${dirname(cached.path)}" (${code}); using the cached copy from ${cached.meta.fetchedAt}. Make the cache writable for this user, or refresh it where it is built (\`pgcerts fetch ${base.provider}\`).`);
    return { ...base, path: cached.path, origin: 'stale-cache', warnings };
  }
}

/**
 * An account CA: a fresh copy fetched earlier through the provider's API, else a new fetch when
 * a token is set, else the stale copy, else the way to get one. Account code loads only here.
 */
async function resolveAccount(
  provider: Provider,
  trust: Trust,
  host: string,
  base: Omit<RootCertForHost, 'path' | 'origin' | 'warnings'>,
  cache: BundleCache,
  warnings: string[],
  options: ResolveOptions,
): Promise<RootCertForHost> {
  const now = options.now ?? new Date();
  const key: CacheKey = { provider: provider.id, trust: trust.id, source: ACCOUNT_SOURCE, host };
  const cached = cache.readOrReport(key, () => undefined);
  if (cached && isFresh(cached.meta, now, options.maxAgeDays ?? 7)) return { ...base, path: cached.path, origin: 'cache', warnings };
  // --offline never lets a request (or a token) leave the machine.
  if (options.offline) {
    if (cached) {
      warnings.push(`Offline: using the ${provider.id} CA for "${host}" fetched on ${cached.meta.fetchedAt}, which is due for a refresh; run \`pgcerts fetch ${provider.id} --host ${host}\` when the network is back.`);
      return { ...base, path: cached.path, origin: 'stale-cache', warnings };
    }
    throw new PgcertsError('NO_SOURCE', `--offline: pgcerts fetches no account CA through the provider's API. ${explainNoSource(provider, trust, host)}`);
  }
  const accounts = await import('./accounts/index.js');
  const account = accounts.findAccountProvider(provider.id);
  // Only whether a token source exists is asked here; the fetch below gets the token itself.
  const credential = account && accounts.describeCredential(account, options.env ?? process.env, options.homeDir);
  if (!account || !credential) {
    const setup = account && accounts.describeTokenSetup(account);
    const viaApi = setup ? ` Or ${setup}, and pgcerts fetches it through the ${account?.name} API.` : '';
    if (cached) {
      warnings.push(`The ${provider.id} CA for "${host}" was fetched on ${cached.meta.fetchedAt} and is due for a refresh, but no token is set; ${setup ? `${setup}, and pgcerts fetches it through the ${account?.name} API.` : 'import a current one.'}`);
      return { ...base, path: cached.path, origin: 'stale-cache', warnings };
    }
    throw new PgcertsError('NO_SOURCE', `${explainNoSource(provider, trust, host)}${viaApi}`);
  }
  const { fetchAccountBundle } = await import('./fetch.js');
  try {
    const result = await fetchAccountBundle(provider.id, { ...options, host });
    warnings.push(...result.warnings);
    return { ...base, path: result.path, origin: 'download', warnings };
  } catch (error) {
    if (cached && (isCacheReadOnlyError(error) || (error instanceof PgcertsError && error.code === 'DOWNLOAD_FAILED'))) {
      warnings.push(`${(error as Error).message} Using the cached copy from ${cached.meta.fetchedAt}.`);
      return { ...base, path: cached.path, origin: 'stale-cache', warnings };
    }
    throw error;
  }
}

/**
 * A provider's bundle for a host whose name does not name the provider (an IP address, an alias),
 * chosen as for its own hosts: a file imported for the host, then for the provider, then a fresh
 * cached download, then a download. The provider's first trust entry pgcerts can serve is used.
 * @throws PgcertsError as {@link getSslRootCert}.
 * @example await getSslRootCertForProvider('rds', '10.0.3.17')
 */
export async function getSslRootCertForProvider(providerName: string, host: string, options: ResolveOptions = {}): Promise<RootCertForHost> {
  const registry = options.registry ?? getBundledRegistry();
  const provider = registry.getProvider(providerName);
  const cache = new BundleCache(options.cacheDir ?? getCacheDir());
  // An imported file of any trust entry, for the host or the provider, comes first.
  const imported = provider.trust.find((t) => t.kind !== 'none' && [{ host }, {}].some((key) => cache.read({ provider: provider.id, trust: t.id, source: IMPORT_SOURCE, ...key })));
  const trust = imported ?? provider.trust.find((t) => t.kind === 'bundle' || t.kind === 'public') ?? provider.trust.find((t) => t.kind !== 'none') ?? (provider.trust[0] as Trust);
  return resolveOne({ provider: provider.id, trust: { id: trust.id }, sslmode: trust.sslmode, region: undefined, guess: false }, host, { ...options, registry });
}

/**
 * The CA bundle for a host (or every host of a URL or libpq string, which must share one
 * bundle): an imported file, a fresh cached download, or a new download. For account CAs, the
 * download goes through the provider's API when its token is set (see `fetchAccountBundle`).
 * @throws PgcertsError `NO_SOURCE` (unknown host, `none` provider, account CA neither imported
 * nor fetchable), `AUTH_FAILED` and `RESOURCE_NOT_FOUND` from the provider's API,
 * `INVALID_INPUT`, and the download and validation errors of {@link fetchBundle}.
 * @example const { path } = await getSslRootCert('mydb.abc123.eu-west-1.rds.amazonaws.com');
 */
export async function getSslRootCert(input: string, options: ResolveOptions = {}): Promise<RootCertForHost> {
  const results = lookup(input, { registry: options.registry });
  const hosts = results.map((result) => hostOf(result.match, result.host, result.hint, input.includes('://') || input.includes('=') ? 'the connection string' : input));
  // Hosts of one provider and trust in several regions (an RDS URL across regions) share the
  // trust's region-free bundle (RDS's global one verifies every region of the partition).
  const [first] = hosts;
  const regions = new Set(hosts.map((h) => h.match.region));
  const spread = first !== undefined && regions.size > 1 && hosts.every((h) => h.match.provider === first.match.provider && h.match.trust.id === first.match.trust.id);
  const resolved: RootCertForHost[] = [];
  for (const { match, host } of hosts) {
    resolved.push(await resolveOne(spread ? { ...match, region: undefined } : match, host, options));
  }
  const chosen = resolved[0] as RootCertForHost;
  const other = resolved.find((r) => r.path !== chosen.path);
  if (other) {
    throw new PgcertsError('NO_SOURCE', `The hosts "${chosen.host}" and "${other.host}" need different CA bundles (${chosen.provider}/${chosen.trust} and ${other.provider}/${other.trust}); one sslrootcert cannot serve both. Use one connection string per provider.`);
  }
  return { ...chosen, warnings: resolved.flatMap((r) => r.warnings) };
}

/** node-postgres `ssl` options that verify the server like libpq's verify-full. */
export interface PgSslOptions {
  ca: string;
  rejectUnauthorized: true;
  /** The name to verify (and send as SNI) when connecting by address. */
  servername?: string;
}

/**
 * `ssl` options for node-postgres (`new pg.Client({ host, ssl })`) for this host.
 * @param options.hostaddr when you connect to an IP address, the certificate is still checked
 * against `host`: pass the address here and use it as pg's `host`.
 * @example new pg.Client({ host, ssl: await getPgSslOptions(host) })
 */
export async function getPgSslOptions(host: string, options: ResolveOptions & { hostaddr?: string } = {}): Promise<PgSslOptions> {
  const resolved = await getSslRootCertCached(host, options);
  const ssl: PgSslOptions = { ca: resolved.ca ?? readFileSync(resolved.path, 'utf8'), rejectUnauthorized: true };
  if (options.hostaddr !== undefined) ssl.servername = resolved.host;
  return ssl;
}

/**
 * The connection string with `sslmode=verify-full` (or the provider's recommended verifying mode)
 * and `sslrootcert` pointing at the right bundle; everything else is kept.
 */
export async function getSecureConnectionString(input: string, options: ResolveOptions = {}): Promise<string> {
  const { secureConnectionString } = await import('./connection.js');
  const resolved = await getSslRootCert(input, options);
  return secureConnectionString(input, resolved.path, resolved.sslmode === 'verify-ca' ? 'verify-ca' : 'verify-full');
}

function stampsHold(stamps: ReadonlyArray<[path: string, stamp: string]>): boolean {
  for (const [path, stamp] of stamps) if (stampOf(path) !== stamp) return false;
  return true;
}

interface ResolveMemo {
  result: RootCertForHost;
  /** The bundle's text, once read. */
  ca: string | undefined;
  /** Files and directories the answer depends on, and how they looked. */
  stamps: Array<[path: string, stamp: string]>;
  /** The answer holds for `now` in [validFrom, validUntil) (ms): a cached download ages out, a certificate expires. */
  validFrom: number;
  validUntil: number;
}

const resolveMemos = new WeakMap<object, Map<string, ResolveMemo>>();
// Enough for a fleet's hosts in one exporter; the oldest answer goes first.
const MAX_RESOLVE_MEMOS = 4096;

/** What `stat` says of a path, as a string that changes whenever its content, identity, owner or mode can have. */
function stampOf(path: string): string {
  const stat = statSync(path, { throwIfNoEntry: false });
  return stat ? `${stat.ino} ${stat.size} ${stat.mtimeMs} ${stat.ctimeMs} ${stat.mode} ${stat.uid} ${stat.dev}` : '-';
}

/**
 * {@link getSslRootCert}, remembered for a host whose answer came from the cache or an import with
 * no warning, for as long as nothing it rests on changes: the cache directory (owner, mode, a
 * replacement), the provider's directory (a new import, a refetch or a removal renames a file in
 * it), the bundle (an edit in place, a changed owner or mode), and the clock within the copy's
 * freshness and its certificates' validity. Such a repeat costs a few `stat` calls instead of reading the
 * imports, the metadata and the bundle again (`getPgSslOptions` per connection, a probe per host).
 * Anything else (a download, a warning, an error) is worked out afresh each time.
 */
export async function getSslRootCertCached(input: string, options: ResolveOptions = {}): Promise<RootCertForHost & { ca?: string }> {
  const registry = options.registry ?? getBundledRegistry();
  let memos = resolveMemos.get(registry);
  if (!memos) {
    memos = new Map();
    resolveMemos.set(registry, memos);
  }
  const given = options.cacheDir ?? getCacheDir();
  const key = `${options.maxAgeDays ?? 7}\0${given}\0${input}`;
  const now = (options.now ?? new Date()).getTime();
  const known = memos.get(key);
  if (known && now >= known.validFrom && now < known.validUntil && stampsHold(known.stamps)) {
    if (known.ca === undefined) known.ca = readFileSync(known.result.path, 'utf8');
    return { ...known.result, warnings: [], ca: known.ca };
  }
  memos.delete(key);
  const cacheDir = resolvePath(given);
  const memorable = (r: RootCertForHost): boolean => r.warnings.length === 0 && (r.origin === 'cache' || r.origin === 'import') && r.path.endsWith('.pem');
  const first = await getSslRootCert(input, { ...options, registry });
  if (!memorable(first)) return first;
  // The answer is remembered only when a second resolution, between two identical looks at the
  // files, gives the same one: a fetch or an import racing with the first cannot be captured.
  const metaPath = first.path.replace(/\.pem$/, '.json');
  // Not the metadata: it is replaced by a rename (which the provider's directory shows), and what is
  // handed out is the bundle, verified against it when remembered.
  const paths = [cacheDir, dirname(first.path), first.path];
  const before = paths.map(stampOf);
  const result = await getSslRootCert(input, { ...options, registry });
  const window = readValidity(metaPath, result.origin === 'cache' ? (options.maxAgeDays ?? 7) * DAY_MS : Infinity);
  if (!memorable(result) || result.path !== first.path || result.origin !== first.origin || !window) return result;
  const stamps = paths.map((path, i): [string, string] => [path, before[i] as string]);
  if (stamps.some(([path, stamp]) => stampOf(path) !== stamp)) return result;
  if (memos.size >= MAX_RESOLVE_MEMOS) memos.delete(memos.keys().next().value as string);
  memos.set(key, { result: { ...result, warnings: [] }, ca: undefined, stamps, ...window });
  return result;
}

/**
 * When a cached entry's answer holds, from its metadata (the current record and the previous one
 * it may still describe): from the latest fetch, until the earliest of its ageing out and the
 * first certificate's expiry. Undefined when the metadata cannot be read.
 */
function readValidity(metaPath: string, maxAgeMs: number): { validFrom: number; validUntil: number } | undefined {
  let data: { fetchedAt?: unknown; certificates?: unknown; previous?: unknown };
  try {
    data = JSON.parse(readFileSync(metaPath, 'utf8')) as typeof data;
  } catch {
    return undefined;
  }
  let validFrom = -Infinity;
  let validUntil = Infinity;
  for (const meta of [data, data.previous as typeof data | undefined]) {
    if (meta === undefined || meta === null || typeof meta !== 'object') continue;
    const fetchedAt = typeof meta.fetchedAt === 'string' ? Date.parse(meta.fetchedAt) : NaN;
    if (Number.isNaN(fetchedAt) || !Array.isArray(meta.certificates)) return undefined;
    validFrom = Math.max(validFrom, maxAgeMs === Infinity ? -Infinity : fetchedAt);
    validUntil = Math.min(validUntil, fetchedAt + maxAgeMs);
    for (const cert of meta.certificates as Array<{ notAfter?: unknown }>) {
      const notAfter = typeof cert?.notAfter === 'string' ? Date.parse(cert.notAfter) : NaN;
      if (Number.isNaN(notAfter)) return undefined;
      validUntil = Math.min(validUntil, notAfter);
    }
  }
  return validUntil > validFrom ? { validFrom, validUntil } : undefined;
}
