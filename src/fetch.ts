import { X509Certificate } from 'node:crypto';
import { loadTls } from './anchors.js';
import { BundleCache, getCacheDir, type CacheKey, type CacheMeta } from './cache.js';
import { summarizeCertificate } from './certificate.js';
import { PgcertsError } from './errors.js';
import { MAX_CA_FILE_BYTES, describeReadError, readRegularFile } from './read-file.js';
import type { AccountResource } from './accounts/provider.js';
import type { DownloadOptions } from './download.js';
import { getBundledRegistry, suggest, type Registry } from './registry.js';
import type { PinnedCertificate, Provider, Trust } from './registry-types.js';
import { describeShippedRoots, listSourcePins, loadShippedRoots, type ShippedCertificate } from './shipped-roots.js';
import { ACCOUNT_SOURCE, IMPORT_SOURCE, OFFLINE_SOURCE, explainNoSource, isDownloadable, publicRoots, selectSource, selectTrust } from './sources.js';

/** Options shared by fetching, importing and resolving bundles. */
export interface BundleOptions {
  /** Defaults to the registry shipped with pgcerts. */
  registry?: Registry;
  /** Defaults to {@link getCacheDir}. */
  cacheDir?: string;
  /** Base URL that replaces the origin of every source (`PGCERTS_MIRROR`). */
  mirror?: string;
  /** The clock; defaults to now. */
  now?: Date;
  /** Accept pinned certificates only. */
  strict?: boolean;
  /** Keep expired certificates in the written bundle. */
  keepExpired?: boolean;
  /** Warn about certificates that expire within this many days (default 30). */
  warnDays?: number;
  /** Passed to the downloader (timeouts, retries; `ca` for tests). */
  download?: Omit<DownloadOptions, 'etag' | 'lastModified' | 'mirror' | 'headers'>;
  /** Where account API tokens are read (`DIGITALOCEAN_ACCESS_TOKEN`, ...); defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Where provider CLIs keep credentials (gcloud's application default credentials); default `os.homedir()`. */
  homeDir?: string;
  /**
   * The roots shipped with pgcerts, which serve pinned bundles without a download: a roots file
   * (`registry/roots.json` of the package unless given), or `false` to never use them
   * (`PGCERTS_NO_SHIPPED_ROOTS=1`).
   */
  shippedRoots?: string | false;
}

/** Options of {@link fetchBundle}. */
export interface FetchOptions extends BundleOptions {
  /** Trust entry id; defaults to the one covering `region`, else the provider's first downloadable one. */
  trust?: string;
  /** Region for region-templated sources (RDS: `eu-west-1`). */
  region?: string;
  /** Download again even when the cached copy is fresh, without conditional headers. */
  force?: boolean;
  /**
   * Never touch the network: build the bundle from the roots shipped with pgcerts (any provider
   * whose pins they hold), else, for `public` providers, from Node's root store.
   */
  offline?: boolean;
  /** Receives progress and warnings meant for people. */
  onWarning?: (message: string) => void;
}

/** A certificate as reported after a fetch or import. */
export interface ReportedCertificate {
  sha256: string;
  subject: string;
  notAfter: string;
  pinned: boolean;
}

/** What {@link fetchBundle} or {@link importBundle} did. */
export interface BundleResult {
  provider: string;
  trust: string;
  source: string;
  region: string | undefined;
  /** The source URL (after `{region}`), or the imported file, or `node:tls rootCertificates`. */
  from: string;
  /** Absolute path of the cached bundle. */
  path: string;
  /** True when the server answered 304 and the cached copy was kept. */
  notModified: boolean;
  /** True when the bundle came from Node's root store or the shipped roots (offline, or the network failed). */
  offline: boolean;
  /** True when it came from the roots shipped with pgcerts (`from` names the set). */
  shipped: boolean;
  kept: ReportedCertificate[];
  /** Left out: expired or not yet valid. */
  dropped: ReportedCertificate[];
  /** Accepted without a pin (they met the source's constraints). */
  unpinned: ReportedCertificate[];
  /** For account CAs fetched through an API: the provider resource (cluster, project) that serves the host. */
  resource?: CacheMeta['resource'];
  /** Fingerprints present now but not in the previous cached copy. */
  added: string[];
  /** Fingerprints in the previous cached copy but not now. */
  removed: string[];
  /** True when there was no previous cached copy to compare with (`added` and `removed` are then empty). */
  firstCopy: boolean;
  earliestExpiry: string | undefined;
  warnings: string[];
}

/** --timeout bounds the validation of what was downloaded as well as the download (60 s unless given). */
function validationTimeoutMs(options: BundleOptions): number {
  return options.download?.totalTimeoutMs ?? 60_000;
}

function openCache(options: BundleOptions): BundleCache {
  return new BundleCache(options.cacheDir ?? getCacheDir());
}

function report(cert: X509Certificate, pins: Set<string>): ReportedCertificate {
  const summary = summarizeCertificate(cert, { verifySignature: false });
  return { sha256: summary.sha256, subject: summary.subject, notAfter: summary.notAfter, pinned: pins.has(summary.sha256) };
}

/**
 * Validate certificates for a trust entry, write them to the cache and describe the change.
 * @throws PgcertsError `VALIDATION_FAILED`, `CACHE_UNAVAILABLE`.
 */
async function validateAndStore(
  certs: X509Certificate[],
  context: { provider: Provider; trust: Trust; key: CacheKey; from: string; single?: PinnedCertificate; anyCa?: boolean; etag?: string; lastModified?: string; offline: boolean; shipped?: string; importedFrom?: string; resource?: CacheMeta['resource'] },
  options: BundleOptions,
): Promise<BundleResult> {
  const { validateCertificates } = await import('./validate.js');
  const { toPem } = await import('./pem.js');
  const registry = options.registry ?? getBundledRegistry();
  const now = options.now ?? new Date();
  const result = validateCertificates(certs, {
    provider: context.provider,
    trust: context.trust,
    region: context.key.region,
    single: context.single,
    now,
    strict: options.strict,
    keepExpired: options.keepExpired,
    warnDays: options.warnDays,
    anyCa: context.anyCa,
    timeoutMs: validationTimeoutMs(options),
  });
  const pins = new Set(context.provider.certificates.map((c) => c.sha256));
  const cache = openCache(options);
  let previous: CacheMeta | undefined;
  try {
    previous = cache.read(context.key)?.meta;
  } catch {
    previous = undefined; // A corrupt previous copy is replaced below; nothing to compare with.
  }
  const kept = result.kept.map((c) => report(c, pins));
  const written = await cache.write(context.key, toPem(result.kept), {
    url: context.importedFrom ? undefined : context.from,
    importedFrom: context.importedFrom,
    shipped: context.shipped,
    resource: context.resource,
    fetchedAt: now.toISOString(),
    etag: context.etag,
    lastModified: context.lastModified,
    registryVersion: registry.version,
    certificates: result.kept.map((c) => {
      const s = summarizeCertificate(c, { verifySignature: false });
      return { sha256: s.sha256, subject: s.subject, notBefore: s.notBefore, notAfter: s.notAfter, key: s.key, pinned: pins.has(s.sha256) };
    }),
  });
  const before = new Set(previous?.certificates.map((c) => c.sha256) ?? []);
  const after = new Set(kept.map((c) => c.sha256));
  return {
    provider: context.provider.id,
    trust: context.trust.id,
    source: context.key.source,
    region: context.key.region,
    from: context.from,
    path: written.path,
    resource: context.resource,
    notModified: false,
    offline: context.offline,
    shipped: context.shipped !== undefined,
    kept,
    dropped: result.dropped.map((r) => ({ sha256: r.summary.sha256, subject: r.summary.subject, notAfter: r.summary.notAfter, pinned: r.pinned })),
    unpinned: result.added.map((r) => ({ sha256: r.summary.sha256, subject: r.summary.subject, notAfter: r.summary.notAfter, pinned: false })),
    added: previous ? [...after].filter((f) => !before.has(f)) : [],
    removed: previous ? [...before].filter((f) => !after.has(f)) : [],
    firstCopy: previous === undefined,
    earliestExpiry: result.earliestExpiry,
    warnings: result.warnings,
  };
}

function resultFromCache(entry: { path: string; meta: CacheMeta }, provider: Provider, trust: Trust, from: string, warnings: string[]): BundleResult {
  const kept = entry.meta.certificates.map((c) => ({ sha256: c.sha256, subject: c.subject, notAfter: c.notAfter, pinned: c.pinned }));
  const earliest = kept.map((c) => c.notAfter).sort()[0];
  return {
    provider: provider.id, trust: trust.id, source: entry.meta.key.source, region: entry.meta.key.region, from, path: entry.path,
    notModified: true, offline: false, shipped: entry.meta.shipped !== undefined, kept, dropped: [], unpinned: [], added: [], removed: [], firstCopy: false, earliestExpiry: earliest, warnings,
  };
}

/** Say which download a decoding or validation error is about; other errors pass through. */
function naming(url: string, error: unknown): unknown {
  if (error instanceof PgcertsError && (error.code === 'DECODE_FAILED' || error.code === 'VALIDATION_FAILED')) {
    return new PgcertsError(error.code, `Rejected the download "${url}": ${error.message}`, { cause: error });
  }
  return error;
}

/** Build a `public` trust's bundle from Node's built-in root store, by pinned fingerprint. */
function rootsFromNode(provider: Provider, trust: Trust): X509Certificate[] {
  const wanted = new Set(publicRoots(provider, trust).map((c) => c.sha256));
  const found = loadTls().rootCertificates.map((pem) => new X509Certificate(pem)).filter((c) => wanted.has(c.fingerprint256));
  const missing = publicRoots(provider, trust).filter((c) => !found.some((f) => f.fingerprint256 === c.sha256));
  if (missing.length > 0) {
    throw new PgcertsError('NO_SOURCE', `Node's root store lacks ${missing.map((c) => `"${c.subject}"`).join(', ')} needed by ${provider.id} (${trust.id}); run without --offline so pgcerts can download ${missing.length === 1 ? 'it' : 'them'}.`);
  }
  return found;
}

/**
 * With `offline`, a provider whose every trust entry lacks a download may still have shipped
 * roots (Supabase's provider-wide CA): that trust entry, unless one is named or downloadable.
 */
function selectOfflineTrust(provider: Provider, options: FetchOptions): Trust | undefined {
  if (!options.offline || options.trust !== undefined || provider.trust.some(isDownloadable)) return undefined;
  return provider.trust.find((t) => listSourcePins(provider, t, undefined).length > 0);
}

/**
 * Every shipped certificate that a download of the source would hold (expired pins too, which
 * validation then drops and reports), parsed; `undefined` when a pin of the source is not shipped.
 */
function findShippedCertificates(provider: Provider, trust: Trust, region: string | undefined, options: BundleOptions): { certs: X509Certificate[]; from: string; name: string } | undefined {
  const roots = loadShippedRoots(options.shippedRoots === false ? undefined : options.shippedRoots);
  const pins = listSourcePins(provider, trust, region);
  const shipped = pins.map((pin) => roots.bySha.get(pin.sha256));
  if (pins.length === 0 || shipped.some((c) => c === undefined)) return undefined;
  const name = describeShippedRoots(roots);
  return { certs: (shipped as ShippedCertificate[]).map((c) => new X509Certificate(c.pem)), from: `the roots shipped with pgcerts (${name})`, name };
}

/**
 * `fetch --offline` of a `bundle` trust or a provider-wide account CA: the shipped roots of the
 * source the options select, validated and cached like a download, with no network.
 * @throws PgcertsError `NO_SOURCE` when the shipped roots do not hold the source's pins.
 */
async function storeShipped(provider: Provider, trust: Trust, options: FetchOptions): Promise<BundleResult> {
  let key: CacheKey;
  if (trust.kind === 'bundle') {
    const picked = selectSource(trust, options.region);
    if (options.region !== undefined && picked.region === undefined) throw unknownRegion(provider, trust, options.region);
    key = { provider: provider.id, trust: trust.id, source: picked.source.id, region: picked.region };
  } else {
    key = { provider: provider.id, trust: trust.id, source: OFFLINE_SOURCE };
  }
  const shipped = options.shippedRoots === false ? undefined : findShippedCertificates(provider, trust, key.region, options);
  if (!shipped) {
    const what = `${provider.id} (${trust.id}${key.region ? `, ${key.region}` : ''})`;
    const why = options.shippedRoots === false ? 'the shipped roots are turned off (PGCERTS_NO_SHIPPED_ROOTS)' : trust.kind === 'bundle' || trust.kind === 'account' ? 'the registry pins no certificate for it that pgcerts ships' : 'it has no CA pgcerts could ship';
    const next = trust.kind === 'account' || trust.kind === 'none' ? explainNoSource(provider, trust) : `Run without --offline to download it, or point PGCERTS_MIRROR at a mirror (\`pgcerts mirror\`).`;
    throw new PgcertsError('NO_SOURCE', `No offline bundle for ${what}: ${why}. ${next}`);
  }
  return validateAndStore(shipped.certs, { provider, trust, key, from: shipped.from, offline: true, shipped: shipped.name }, options);
}

/** An explicit region the registry does not know: a typo, or a region too new for it. */
function unknownRegion(provider: Provider, trust: Trust, region: string): PgcertsError {
  const known = [...new Set(provider.trust.flatMap((t) => (t.sources ?? []).flatMap((s) => s.regions ?? [])))];
  const suggestion = suggest(region, known);
  const hint = known.length === 0
    ? `${provider.id} has no per-region bundles; leave --region out`
    : `${suggestion ? `did you mean "${suggestion}"? ` : ''}\`pgcerts show ${provider.id}\` lists its regions; leave --region out for the partition-wide bundle, which verifies every region`;
  return new PgcertsError('INVALID_INPUT', `Region "${region}" has no bundle of its own for ${provider.id} (${trust.id}): ${hint}.`);
}

/**
 * Download, validate and cache the bundle of one provider's trust entry (for `bundle` and
 * `public` kinds). A failed or rejected fetch leaves the previous cached copy as it was.
 * @throws PgcertsError `NO_SOURCE` for `account` and `none` trust, `DOWNLOAD_FAILED`,
 * `DECODE_FAILED`, `VALIDATION_FAILED`, `CACHE_UNAVAILABLE`.
 */
export async function fetchBundle(providerName: string, options: FetchOptions = {}): Promise<BundleResult> {
  // Region names are compared in lower case, as AWS writes them (`EU-West-1` is eu-west-1).
  if (options.region !== undefined) options = { ...options, region: options.region.trim().toLowerCase() };
  const registry = options.registry ?? getBundledRegistry();
  const provider = registry.getProvider(providerName);
  const trust = selectOfflineTrust(provider, options) ?? selectTrust(provider, options);
  if (options.offline && trust.kind !== 'public') return storeShipped(provider, trust, options);
  if (!isDownloadable(trust)) throw new PgcertsError('NO_SOURCE', explainNoSource(provider, trust));
  const { download } = await import('./download.js');
  const { redactUrlsInText } = await import('./redact.js');
  const servedFrom = (url: string, finalUrl: string): string => (finalUrl === url ? url : `${url} (served by ${redactUrlsInText(finalUrl)})`);
  const { parseCertificates } = await import('./pem.js');
  const warnings: string[] = [];
  const warn = (message: string): void => {
    warnings.push(message);
    options.onWarning?.(message);
  };

  if (trust.kind === 'public') {
    const key: CacheKey = { provider: provider.id, trust: trust.id, source: OFFLINE_SOURCE };
    const roots = publicRoots(provider, trust);
    if (!options.force) {
      // Every root is pinned by fingerprint, so a download could only confirm what the cached
      // copy (checked against its metadata) already holds: nothing to transfer.
      const cached = openCache(options).readOrReport(key, (message) => warn(`${message} Downloading a new copy.`));
      const held = new Set(cached?.meta.certificates.map((c) => c.sha256));
      if (cached && roots.every((root) => held.has(root.sha256))) {
        return resultFromCache(cached, provider, trust, roots.map((r) => r.url).join(' '), warnings);
      }
    }
    if (!options.offline) {
      try {
        const certs: X509Certificate[] = [];
        // Each root comes from its own official URL and must be exactly the pinned certificate.
        const settled = await Promise.allSettled(roots.map(async (root) => {
          const url = root.url as string;
          const answer = await download(url, { ...options.download, mirror: options.mirror, redirectHosts: root.redirectHosts });
          const served = servedFrom(url, answer.url);
          try {
            const parsed = parseCertificates(answer.body ?? Buffer.alloc(0), { format: root.format, name: served });
            const { validateCertificates } = await import('./validate.js');
            validateCertificates(parsed, { provider, trust, single: root, now: options.now ?? new Date(), keepExpired: true, timeoutMs: validationTimeoutMs(options) });
            return parsed;
          } catch (error) {
            throw naming(served, error);
          }
        }));
        // A root that was refused says more than one that could not be downloaded: its error wins.
        const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason as unknown);
        const refusal = failures.find((e) => !(e instanceof PgcertsError) || e.code !== 'DOWNLOAD_FAILED') ?? failures[0];
        if (refusal !== undefined) throw refusal;
        for (const part of settled) if (part.status === 'fulfilled') certs.push(...part.value);
        const result = await validateAndStore(certs, { provider, trust, key, from: roots.map((r) => r.url).join(' '), offline: false }, options);
        return { ...result, warnings: [...warnings, ...result.warnings] };
      } catch (error) {
        if (!(error instanceof PgcertsError) || error.code !== 'DOWNLOAD_FAILED') throw error;
        warn(`${error.message} Building the ${provider.id} bundle from Node's built-in root store instead.`);
      }
    }
    const shipped = options.shippedRoots === false ? undefined : findShippedCertificates(provider, trust, undefined, options);
    const result = shipped
      ? await validateAndStore(shipped.certs, { provider, trust, key, from: shipped.from, offline: true, shipped: shipped.name }, options)
      : await validateAndStore(rootsFromNode(provider, trust), { provider, trust, key, from: 'node:tls rootCertificates', offline: true }, options);
    return { ...result, warnings: [...warnings, ...result.warnings] };
  }

  const picked = selectSource(trust, options.region);
  // An explicit region the registry does not know is a typo or a region too new for it: the
  // partition-wide bundle would be handed out under the wrong name, so say so instead.
  if (options.region !== undefined && picked.region === undefined) throw unknownRegion(provider, trust, options.region);
  const key: CacheKey = { provider: provider.id, trust: trust.id, source: picked.source.id, region: picked.region };
  const cache = openCache(options);
  const cached = cache.readOrReport(key, (message) => warn(`${message} Downloading a new copy.`));
  const conditional = !options.force && cached ? { etag: cached.meta.etag, lastModified: cached.meta.lastModified } : {};
  const answer = await download(picked.url, { ...options.download, ...conditional, mirror: options.mirror, redirectHosts: picked.source.redirectHosts });
  if (answer.status === 304 && cached) {
    const touched = await cache.touch(key, { fetchedAt: (options.now ?? new Date()).toISOString(), etag: answer.etag ?? cached.meta.etag, lastModified: answer.lastModified ?? cached.meta.lastModified });
    return resultFromCache(touched ?? cached, provider, trust, picked.url, warnings);
  }
  try {
    const certs = parseCertificates(answer.body ?? Buffer.alloc(0), { format: picked.source.format, name: servedFrom(picked.url, answer.url) });
    const result = await validateAndStore(certs, {
      provider, trust, key, from: picked.url, etag: answer.etag, lastModified: answer.lastModified, offline: false,
    }, options);
    return { ...result, warnings: [...warnings, ...result.warnings] };
  } catch (error) {
    throw naming(picked.url, error);
  }
}

/** Options of {@link fetchAccountBundle}: a `host`, or a `resource` named directly. */
export interface AccountFetchOptions extends BundleOptions {
  /** The host whose CA to fetch: the provider's API is searched for the resource that serves it. */
  host?: string;
  /**
   * The resource itself, for providers with a resource flag: Cloud SQL's connection name
   * `PROJECT:REGION:INSTANCE` (`--instance`), for instances reached by IP address.
   */
  resource?: string;
}

/** The host, normalised, and the trust entry the registry gives it, which must be this provider's. */
async function ownHost(registry: Registry, provider: Provider, input: string, flag: string, use: 'stored' | 'imported' = 'stored'): Promise<{ host: string; trust: Trust }> {
  const { normalizeHost } = await import('./hostname.js');
  const normalized = normalizeHost(input);
  if (normalized.type === 'invalid') {
    const { quoteInput } = await import('./redact.js');
    throw new PgcertsError('INVALID_INPUT', `${flag} ${quoteInput(input)} is not a valid host name: ${normalized.reason}. Give the server's DNS name.`);
  }
  const host = normalized.host;
  const match = registry.hostMatcher.match(host);
  if (match?.provider.id !== provider.id) {
    const who = match ? `belongs to provider "${match.provider.id}"` : 'is not a host of any provider in the registry';
    const next = use === 'imported' ? 'import it for the right provider' : 'use the right provider';
    throw new PgcertsError('INVALID_INPUT', `${flag} "${host}" ${who}, not "${provider.id}", so a CA ${use} for it would never be used; ${next} (\`pgcerts lookup ${host}\`), or pass --sslrootcert to the command that connects.`);
  }
  return { host, trust: provider.trust.find((t) => t.id === match.rule.trust) ?? (provider.trust[0] as Trust) };
}

/**
 * Fetch the CA of the account resource (cluster, project, instance) that serves a host, or of a
 * resource named directly, through the provider's API, with the token the provider's own tools
 * use; validate it like a download and cache it for that host (or resource). A failed or
 * rejected fetch leaves the previous cached copy as it was.
 * @throws PgcertsError `NO_SOURCE` (no API for the provider, or no token set), `AUTH_FAILED`
 *   (token refused), `RESOURCE_NOT_FOUND` (no resource has the host), `INVALID_INPUT`, `USAGE`,
 *   `DOWNLOAD_FAILED`, `DECODE_FAILED`, `VALIDATION_FAILED`, `CACHE_UNAVAILABLE`.
 * @example await fetchAccountBundle('digitalocean', { host: 'db-pg-do-user-1-0.b.db.ondigitalocean.com' })
 * @example await fetchAccountBundle('cloudsql', { resource: 'my-project:europe-west1:orders' })
 */
export async function fetchAccountBundle(providerName: string, options: AccountFetchOptions): Promise<BundleResult> {
  const registry = options.registry ?? getBundledRegistry();
  const provider = registry.getProvider(providerName);
  const accounts = await import('./accounts/index.js');
  const account = accounts.findAccountProvider(provider.id);
  if ((options.host === undefined) === (options.resource === undefined)) {
    const flag = account?.resourceFlag ? ` or ${account.resourceFlag.flag} ${account.resourceFlag.shape}` : '';
    throw new PgcertsError('USAGE', `Fetching an account CA needs exactly one of --host HOST${flag}.`);
  }
  let host: string | undefined;
  let trust: Trust;
  let named: AccountResource | undefined;
  if (options.host !== undefined) {
    ({ host, trust } = await ownHost(registry, provider, options.host, '--host'));
    if (trust.kind !== 'account') {
      throw new PgcertsError('NO_SOURCE', `"${host}" uses the ${provider.id} ${trust.kind} CA (${trust.id}), not an account CA; run \`pgcerts fetch ${provider.id}\` without --host.`);
    }
  } else {
    if (!account?.resourceFlag) {
      throw new PgcertsError('USAGE', `Provider "${provider.id}" has no resource flag; give --host HOST, the host you connect to.`);
    }
    named = account.resourceFlag.parse(options.resource as string);
    trust = provider.trust.find((t) => t.kind === 'account') ?? (provider.trust[0] as Trust);
  }
  if (!account) throw new PgcertsError('NO_SOURCE', `pgcerts cannot fetch CAs through the ${provider.name} API yet. ${explainNoSource(provider, trust)}`);
  const now = options.now;
  const credential = await accounts.getCredential(account, {
    env: options.env ?? process.env, homeDir: options.homeDir, mirror: options.mirror, download: options.download, nowSeconds: now && (() => now.getTime() / 1000),
  });
  const importHint = `\`pgcerts import ${provider.id} <file> --host ${host ?? '<host>'}\``;
  if (!credential) {
    throw new PgcertsError('NO_SOURCE', `No ${account.name} API token: ${accounts.describeTokenSetup(account)}, or get the CA yourself and run ${importHint}.`);
  }
  const api = accounts.createAccountApi(account, credential, { mirror: options.mirror, download: options.download });
  let resource = named;
  if (resource === undefined) {
    const search = await account.findResource(host as string, api);
    if (!search.resource) {
      throw new PgcertsError('RESOURCE_NOT_FOUND', `None of the ${search.searched} that the token ${accounts.tokenLabel(credential)} can see has the host "${host}". Check the host name and that the token belongs to the cluster's account or team, or import its CA: ${importHint}.`);
    }
    resource = search.resource;
  }
  const fetched = await account.fetchCa(resource, api, { credential, env: options.env ?? process.env });
  // The API's word on which CA the resource uses (Cloud SQL's CA mode) decides the checks; a host
  // keeps the cache entry its host rule names, so that the next lookup finds it.
  const shown = fetched.trust === undefined ? undefined : provider.trust.find((t) => t.id === fetched.trust);
  const checkTrust = shown ?? trust;
  const keyTrust = host === undefined ? checkTrust : trust;
  const { parseCertificates } = await import('./pem.js');
  try {
    const certs = parseCertificates(fetched.bytes, { name: fetched.url });
    const hasPins = provider.certificates.some((c) => c.trust.includes(checkTrust.id) && c.status === 'current');
    // A resource fetched by name is cached under its flag and id (`instance=p:r:i`), which no host name looks like.
    const key: CacheKey = { provider: provider.id, trust: keyTrust.id, source: ACCOUNT_SOURCE, host: host ?? `${(account.resourceFlag as { flag: string }).flag.slice(2)}=${resource.id}` };
    return await validateAndStore(certs, { provider, trust: checkTrust, key, from: fetched.url, anyCa: !hasPins, offline: false, resource }, options);
  } catch (error) {
    throw naming(fetched.url, error);
  }
}

/** One account provider's credential as {@link describeAccountCredentials} reports it: never the token. */
export interface AccountCredentialReport {
  provider: string;
  name: string;
  /** The variable (or tool, or file kind) pgcerts would take the token from, or `null` when none is set. */
  variable: string | null;
  /** The same in words, with the tool's or file's path: `from the application default credentials in "/home/me/..."`. */
  source: string | null;
  /** Every variable it looks at, in order. */
  variables: string[];
  /** What to do when nothing is found, e.g. `set A or B`, `... or sign in with gcloud`. */
  hint: string;
  /** Where the token is sent. */
  apiOrigin: string;
}

/** Which token pgcerts would use for each provider it can fetch account CAs from; no secrets. */
export async function describeAccountCredentials(env: NodeJS.ProcessEnv = process.env, homeDir?: string): Promise<AccountCredentialReport[]> {
  const accounts = await import('./accounts/index.js');
  return accounts.ACCOUNT_PROVIDERS.map((account) => {
    // Looked up once: for Google it searches PATH and the ADC file.
    const found = accounts.describeCredential(account, env, homeDir);
    return {
      provider: account.id,
      name: account.name,
      variable: found?.variable ?? null,
      source: found?.label ?? null,
      variables: [...account.tokenVariables],
      hint: account.credentialHint ?? `set ${account.tokenVariables.join(' or ')}`,
      apiOrigin: account.apiOrigin,
    };
  });
}

/**
 * Remove a file imported for a provider (or, with `host`, for one host), so that downloads or API
 * fetches serve it again; `removed` lists the trust entries whose import was removed.
 * @throws PgcertsError `UNKNOWN_PROVIDER`, `INVALID_INPUT` (an unknown trust), `CACHE_UNAVAILABLE`.
 * @example await removeImport('supabase')
 */
export async function removeImport(providerName: string, options: BundleOptions & { host?: string; trust?: string } = {}): Promise<{ provider: string; host: string | undefined; removed: string[] }> {
  const registry = options.registry ?? getBundledRegistry();
  const provider = registry.getProvider(providerName);
  let host: string | undefined;
  if (options.host !== undefined) {
    const { normalizeHost } = await import('./hostname.js');
    const normalized = normalizeHost(options.host);
    if (normalized.type === 'invalid') {
      const { quoteInput } = await import('./redact.js');
      throw new PgcertsError('INVALID_INPUT', `--host ${quoteInput(options.host)} is not a valid host name: ${normalized.reason}. Give the host the file was imported for.`);
    }
    host = normalized.host;
  }
  const trusts = options.trust === undefined ? provider.trust : provider.trust.filter((t) => t.id === options.trust);
  if (trusts.length === 0) throw new PgcertsError('INVALID_INPUT', `Provider "${provider.id}" has no trust entry "${options.trust}"; choose one of ${provider.trust.map((t) => `"${t.id}"`).join(', ')}.`);
  const cache = openCache(options);
  const removed: string[] = [];
  for (const trust of trusts) {
    if (await cache.remove({ provider: provider.id, trust: trust.id, source: IMPORT_SOURCE, host })) removed.push(trust.id);
  }
  return { provider: provider.id, host, removed };
}

/** Options of {@link importBundle}. */
export interface ImportOptions extends BundleOptions {
  /** Use the file only for this host (per-cluster CAs). */
  host?: string;
  /** Trust entry id; defaults to the provider's first `account` entry, else its first entry. */
  trust?: string;
}

/**
 * Validate a user-supplied certificate file and cache it for a provider (or one host). Where the
 * registry pins a provider-wide root, the file must hold it; for per-cluster CAs any valid CA
 * certificate is accepted.
 * @throws PgcertsError `DECODE_FAILED`, `VALIDATION_FAILED`, `NO_SOURCE` (kind none), `INVALID_INPUT`.
 */
export async function importBundle(providerName: string, file: string, options: ImportOptions = {}): Promise<BundleResult> {
  const registry = options.registry ?? getBundledRegistry();
  const provider = registry.getProvider(providerName);
  const trust = options.trust !== undefined
    ? selectTrust(provider, { trust: options.trust })
    : provider.trust.find((t) => t.kind === 'account') ?? (provider.trust[0] as Trust);
  if (trust.kind === 'none') throw new PgcertsError('NO_SOURCE', explainNoSource(provider, trust));
  let bytes: Buffer;
  try {
    bytes = readRegularFile(file, { maxBytes: MAX_CA_FILE_BYTES });
  } catch (cause) {
    if (cause instanceof PgcertsError) throw new PgcertsError('INVALID_INPUT', `Cannot import the CA file: ${cause.message}`, { cause });
    throw new PgcertsError('INVALID_INPUT', `Cannot read "${file}": ${describeReadError(cause)}; check the path.`, { cause });
  }
  const { parseCertificates } = await import('./pem.js');
  // A per-host import is only ever served for a host that the registry gives to this provider.
  const host = options.host === undefined ? undefined : (await ownHost(registry, provider, options.host, '--host', 'imported')).host;
  const certs = parseCertificates(bytes, { name: file });
  const hasPins = provider.certificates.some((c) => c.trust.includes(trust.id) && c.status === 'current');
  const key: CacheKey = { provider: provider.id, trust: trust.id, source: IMPORT_SOURCE, host };
  const { resolve } = await import('node:path');
  const absolute = resolve(file);
  return validateAndStore(certs, { provider, trust, key, from: absolute, importedFrom: absolute, anyCa: !hasPins, offline: false }, options);
}

