import { parseConnectionTarget, type HostSpec } from './connection.js';
import { normalizeHost } from './hostname.js';
import type { RuleMatch } from './host-matcher.js';
import { getBundledRegistry, type Registry } from './registry.js';
import { findSource } from './sources.js';
import type { HostRule, ObtainStep, Provider, SslMode, Trust, TrustKind } from './registry-types.js';

/** The certificate file pgcerts would fetch for a `bundle` host. */
export interface SelectedSource {
  id: string;
  /** With `{region}` filled in. */
  url: string;
  format: 'pem' | 'der' | 'pkcs7';
  /** True when a more specific (regional) source exists but does not apply to this host. */
  fallback: boolean;
}

/** A public root to trust for a `public` host. */
export interface RootSummary {
  subject: string;
  sha256: string;
  notAfter: string;
  url: string | undefined;
}

/** What the registry says about one host. */
export interface HostMatch {
  provider: string;
  providerName: string;
  /** Product or endpoint kind, e.g. `instance`, `cluster`, `proxy`, `pooler`. */
  kind: string;
  /** True when other hosts share the name form (plain EC2 names): the provider is a likely guess. */
  guess: boolean;
  partition: string | undefined;
  region: string | undefined;
  /** Other named captures of the host pattern. */
  captures: Record<string, string>;
  /** `confirmed`: whether a primary source states how this trust works (see the registry's cite). */
  trust: { id: string; kind: TrustKind; summary: string; systemTrustStore: boolean; confirmed: boolean };
  /** Recommended sslmode (for `none`, the strongest that works). */
  sslmode: SslMode;
  /** `bundle`: the file to download. */
  source: SelectedSource | undefined;
  /** `public`: the roots that anchor the server certificates. */
  roots: RootSummary[] | undefined;
  /** `account`: how to get the CA. */
  obtain: ObtainStep[] | undefined;
  /** `none`: why verify-full cannot work, and what to do instead. */
  reason: string | undefined;
  alternative: string | undefined;
  notes: string[];
}

/** The answer for one host of the input. `match` is absent when no provider claims the host. */
export interface LookupResult {
  /** The host as written in the input. */
  input: string;
  /** The normalised host name or address; absent when the host is not valid. */
  host: string | undefined;
  port: number | undefined;
  match: HostMatch | undefined;
  /** Why nothing matched, and what may help. */
  hint: string | undefined;
}

/** Options shared by the lookup functions. */
export interface LookupOptions {
  /** Defaults to the registry shipped with pgcerts. */
  registry?: Registry;
}

function toSelected(trust: Trust, region: string | undefined): SelectedSource | undefined {
  const picked = findSource(trust, region);
  return picked && { id: picked.source.id, url: picked.url, format: picked.source.format, fallback: picked.fallback };
}

function describeRule(provider: Provider, rule: HostRule, region: string | undefined): Omit<HostMatch, 'captures'> {
  const trust = provider.trust.find((t) => t.id === rule.trust) as Trust;
  const notes: string[] = [];
  if (rule.note) notes.push(rule.note);
  const source = trust.kind === 'bundle' ? toSelected(trust, region) : undefined;
  if (source?.fallback) {
    notes.push(region === undefined
      ? 'The host name carries no region, so the partition-wide bundle is used.'
      : `Region "${region}" has no per-region bundle in this registry, so the partition-wide bundle is used.`);
  }
  const roots = trust.kind === 'public' || trust.kind === 'account'
    ? provider.certificates
      .filter((c) => c.trust.includes(trust.id) && c.status === 'current')
      .map((c) => ({ subject: c.subject, sha256: c.sha256, notAfter: c.notAfter, url: c.url }))
    : undefined;
  notes.push(...provider.notes.map((n) => n.text));
  return {
    provider: provider.id,
    providerName: provider.name,
    kind: rule.kind,
    guess: rule.guess === true,
    partition: rule.partition ?? trust.partition,
    region,
    trust: { id: trust.id, kind: trust.kind, summary: trust.summary, systemTrustStore: trust.systemTrustStore, confirmed: trust.cite.confirmed },
    sslmode: trust.sslmode,
    source,
    roots: roots && roots.length > 0 ? roots : undefined,
    obtain: trust.obtain,
    reason: trust.reason,
    alternative: trust.alternative,
    notes,
  };
}

// The description depends only on the rule and the region, so it is built once per pair. Regions
// come from host names, hence the bound on each rule's cache.
const described = new WeakMap<HostRule, Map<string | undefined, Omit<HostMatch, 'captures'>>>();
const MAX_REGIONS_PER_RULE = 256;

function describeMatch(found: RuleMatch): HostMatch {
  const { region } = found;
  let byRegion = described.get(found.rule);
  if (!byRegion) described.set(found.rule, (byRegion = new Map()));
  let b = byRegion.get(region);
  if (!b) {
    if (byRegion.size >= MAX_REGIONS_PER_RULE) byRegion.clear();
    b = deepFreeze(describeRule(found.provider, found.rule, region));
    byRegion.set(region, b);
  }
  // An explicit literal: copying a frozen object with spread is several times slower.
  return {
    provider: b.provider, providerName: b.providerName, kind: b.kind, guess: b.guess, partition: b.partition, region: b.region,
    captures: found.captures, trust: b.trust, sslmode: b.sslmode, source: b.source, roots: b.roots, obtain: b.obtain,
    reason: b.reason, alternative: b.alternative, notes: b.notes,
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

const IP_HINT = 'An IP address names no provider, and verify-full fails unless the server certificate lists that address. Connect by the provider\'s host name; Google Cloud SQL and AlloyDB are often reached by IP (see `pgcerts show cloudsql`).';
const LOCAL_HINT = 'A local address: usually a server on this machine, an SSH tunnel or an auth proxy (Cloud SQL Auth Proxy, AlloyDB Auth Proxy) that does TLS itself. Look up the real database host instead.';
const UNKNOWN_HINT = 'No provider in the registry claims this host. If it is your own alias (CNAME) for a provider endpoint, look up the endpoint itself: verify-full checks the name in the server certificate, which is the provider\'s name.';

/** Look up one host (name, address, `host:port` not accepted here; see {@link lookup}). */
export function lookupHost(spec: HostSpec, options: LookupOptions = {}): LookupResult {
  const { host: input, port } = spec;
  const matcher = (options.registry ?? getBundledRegistry()).hostMatcher;
  // Most hosts are plain names: try them as written (lower-cased, without the root's dot) first.
  // The matcher accepts only valid lower-case ASCII names, and for those `normalizeHost` returns
  // the same text. (The one non-ASCII character that lower-cases to ASCII, the Kelvin sign, maps
  // to the same letter under IDNA.)
  const plain = (input.charCodeAt(input.length - 1) === 46 ? input.slice(0, -1) : input).toLowerCase();
  const quick = matcher.match(plain);
  if (quick) return { input, host: plain, port, match: describeMatch(quick), hint: undefined };
  const normalized = normalizeHost(input);
  if (normalized.type === 'invalid') {
    return { input, host: undefined, port, match: undefined, hint: `"${input}" is not a valid host name: ${normalized.reason}.` };
  }
  const host = normalized.host;
  if (normalized.type === 'ip') {
    const local = host === '::1' || host.startsWith('127.');
    return { input, host, port, match: undefined, hint: local ? LOCAL_HINT : IP_HINT };
  }
  if (host === 'localhost' || host.endsWith('.localhost')) return { input, host, port, match: undefined, hint: LOCAL_HINT };
  // Trimmed, bracketed or internationalised input: its normal form may match where it did not.
  const found = host === plain ? undefined : matcher.match(host);
  if (!found) return { input, host, port, match: undefined, hint: UNKNOWN_HINT };
  return { input, host, port, match: describeMatch(found), hint: undefined };
}

/**
 * Look up every host of a host name, `host:port`, `postgres://` URL or libpq `key=value` string.
 * Never throws for odd hosts: each result says what matched or why nothing did.
 * @throws PgcertsError `INVALID_INPUT` when the connection string itself cannot be read.
 * @example lookup('mydb.abc123.eu-west-1.rds.amazonaws.com')[0].match?.source?.url
 */
export function lookup(input: string, options: LookupOptions = {}): LookupResult[] {
  const target = parseConnectionTarget(input);
  if (target.hosts.length === 0) {
    return [{ input: '', host: undefined, port: undefined, match: undefined, hint: 'The connection string names no host (libpq would use a local Unix socket); give the database host.' }];
  }
  return target.hosts.map((spec) => lookupHost(spec, options));
}
