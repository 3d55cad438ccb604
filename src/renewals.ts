// Renewed intermediates in a cached bundle, for `pgcerts check`: the ones `fetch` accepted under a
// trust's `intermediates` constraints carry a pinned name with a new fingerprint, which check
// would otherwise report as a lookalike. Loaded only for trusts that declare such constraints.
import { X509Certificate } from 'node:crypto';
import type { CacheKey } from './cache.js';
import type { Registry } from './registry.js';
import { findRenewedIntermediates } from './validate.js';

/**
 * Fingerprints of the certificates of a cached PEM that {@link findRenewedIntermediates} accepts
 * for the entry's trust and region (signed by a pinned root in the same file); empty for trusts
 * without `intermediates` constraints or a PEM that does not parse.
 */
export function findRenewedInBundle(registry: Registry, key: CacheKey, pem: string): Set<string> {
  const provider = registry.findProvider(key.provider);
  const trust = provider?.trust.find((t) => t.id === key.trust);
  if (!provider || !trust?.intermediates) return new Set();
  let certs: X509Certificate[];
  try {
    certs = (pem.match(/-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g) ?? []).map((block) => new X509Certificate(block));
  } catch {
    return new Set();
  }
  const pins = new Map(provider.certificates
    .filter((pin) => pin.trust.includes(trust.id) && (pin.region === undefined || key.region === undefined || pin.region === key.region))
    .map((pin) => [pin.sha256, pin]));
  const byName = new Map<string, X509Certificate[]>();
  for (const cert of certs) byName.set(cert.subject, [...(byName.get(cert.subject) ?? []), cert]);
  return new Set([...findRenewedIntermediates(certs, { trust, pins, byName }).keys()].map((cert) => cert.fingerprint256));
}
