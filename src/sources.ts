import { PgcertsError } from './errors.js';
import type { PinnedCertificate, Provider, Source, Trust } from './registry-types.js';

/** Cache source name of user-imported files. */
export const IMPORT_SOURCE = 'import';
/** Cache source name of account CAs fetched through a provider's API (kept per host). */
export const ACCOUNT_SOURCE = 'api';
/** Cache source name of `public` bundles (built from the pinned roots). */
export const OFFLINE_SOURCE = 'roots';

/** Trust entries whose certificates pgcerts can download. */
export function isDownloadable(trust: Trust): boolean {
  return (trust.kind === 'bundle' && (trust.sources?.length ?? 0) > 0) || trust.kind === 'public';
}

/** The public roots a `public` trust entry pins, current ones only. */
export function publicRoots(provider: Provider, trust: Trust): PinnedCertificate[] {
  return provider.certificates.filter((c) => c.trust.includes(trust.id) && c.status === 'current');
}

/** For a match that is a likely guess (a name form other hosts share), the sentence that says so. */
export function describeGuess(host: string, provider: Provider): string {
  return `"${host}" is probably a ${provider.name} host (other servers, such as plain EC2 instances, have names of the same form); if it is not, pass its CA as sslrootcert yourself. `;
}

/**
 * How to get a CA for a provider pgcerts cannot download, as one sentence. With `host`, the import
 * of a CA that is not provider-wide (one per cluster, project, team...) names it, so that hosts of
 * other clusters never get it: `pgcerts import <id> <file> --host <host>`.
 */
export function explainNoSource(provider: Provider, trust: Trust, host?: string): string {
  if (trust.kind === 'none') {
    return `${provider.name} (${provider.id}, ${trust.id}) cannot be verified: ${trust.reason ?? trust.summary} The strongest mode that works is sslmode=${trust.sslmode}. Instead: ${trust.alternative ?? 'see `pgcerts show ' + provider.id + '`.'}`;
  }
  // Steps are sentences in the registry: their final stop goes, or the list reads "download.; api:".
  const steps = (trust.obtain ?? []).map((s) => `${s.method}: ${s.how.trim().replace(/[.;]+$/, '')}`).join('; ');
  // One CA for the whole provider (Supabase's root) is not "each provider has its own".
  const scope = trust.scope === 'provider' ? `one CA serves every ${provider.name} host, but it is not published for download` : `each ${trust.scope ?? 'account'} has its own CA`;
  const forHost = host !== undefined && trust.scope !== 'provider' ? ` --host ${host}` : '';
  return `${provider.name} (${provider.id}) has no public CA download: ${scope}. Get it (${steps}), then run \`pgcerts import ${provider.id} <file>${forHost}\`.`;
}

/**
 * Choose the trust entry to fetch: `trust` by id, else the one whose regional source lists
 * `region`, else the first downloadable one.
 * @throws PgcertsError `UNKNOWN_PROVIDER` for an unknown trust id, `NO_SOURCE` when nothing can be downloaded.
 */
export function selectTrust(provider: Provider, options: { trust?: string; region?: string }): Trust {
  if (options.trust !== undefined) {
    const trust = provider.trust.find((t) => t.id === options.trust);
    if (!trust) {
      throw new PgcertsError('UNKNOWN_PROVIDER', `Provider "${provider.id}" has no trust entry "${options.trust}"; choose one of ${provider.trust.map((t) => `"${t.id}"`).join(', ')} (see \`pgcerts show ${provider.id}\`).`);
    }
    return trust;
  }
  const downloadable = provider.trust.filter(isDownloadable);
  const byRegion = options.region === undefined
    ? undefined
    : downloadable.find((t) => t.sources?.some((s) => s.regions?.includes(options.region as string)));
  const trust = byRegion ?? downloadable[0];
  if (!trust) {
    const first = provider.trust[0] as Trust;
    throw new PgcertsError('NO_SOURCE', explainNoSource(provider, first));
  }
  return trust;
}

/** A source chosen for a host or region. */
export interface PickedSource {
  source: Source;
  /** With `{region}` filled in. */
  url: string;
  /** The region, when the source is a per-region one. */
  region: string | undefined;
  /** True when a per-region source exists but does not list the region. */
  fallback: boolean;
}

/** The first applicable source of a `bundle` trust: a `{region}` source applies only to the regions it lists. */
export function findSource(trust: Trust, region: string | undefined): PickedSource | undefined {
  let skipped = false;
  for (const source of trust.sources ?? []) {
    if (!source.url.includes('{region}')) return { source, url: source.url, region: undefined, fallback: skipped };
    if (region !== undefined && source.regions?.includes(region)) {
      return { source, url: source.url.replaceAll('{region}', region), region, fallback: false };
    }
    skipped = true;
  }
  return undefined;
}

/**
 * Like {@link findSource}, for callers that need a source.
 * @throws PgcertsError `NO_SOURCE` when the trust has none for the region.
 */
export function selectSource(trust: Trust, region: string | undefined): PickedSource {
  const picked = findSource(trust, region);
  if (picked) return picked;
  throw new PgcertsError('NO_SOURCE', `Trust "${trust.id}" has no source for region "${region ?? '(none)'}"; give one of its regions with --region.`);
}

/**
 * The regions an imported file covers, from the registry's region pins of the certificates it
 * holds; `undefined` when it holds anything that is not a region's pin (a global bundle, a root
 * the registry does not tie to a region), which then covers every host.
 */
export function importedRegions(provider: Provider, certificates: ReadonlyArray<{ sha256: string }>): string[] | undefined {
  const bySha = new Map(provider.certificates.map((c) => [c.sha256, c.region]));
  const regions = new Set<string>();
  for (const cert of certificates) {
    const region = bySha.get(cert.sha256);
    if (region === undefined) return undefined;
    regions.add(region);
  }
  return regions.size === 0 ? undefined : [...regions].sort();
}
