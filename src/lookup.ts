import { parseConnectionTarget, type HostSpec } from './connection.js';
import { normalizeHost, type RuleMatch } from './hostname.js';
import { getBundledRegistry, type Registry } from './registry.js';
import type { ObtainStep, SslMode, Trust, TrustKind } from './registry-types.js';

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
  partition: string | undefined;
  region: string | undefined;
  /** Other named captures of the host pattern. */
  captures: Record<string, string>;
  trust: { id: string; kind: TrustKind; summary: string; systemTrustStore: boolean };
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

function selectSource(trust: Trust, region: string | undefined): SelectedSource | undefined {
  let skipped = false;
  for (const source of trust.sources ?? []) {
    if (source.url.includes('{region}')) {
      if (region === undefined || !source.regions?.includes(region)) {
        skipped = true;
        continue;
      }
      return { id: source.id, url: source.url.replaceAll('{region}', region), format: source.format, fallback: false };
    }
    return { id: source.id, url: source.url, format: source.format, fallback: skipped };
  }
  return undefined;
}

function describeMatch(found: RuleMatch): HostMatch {
  const { provider, rule } = found;
  const { region, ...captures } = found.captures;
  const trust = provider.trust.find((t) => t.id === rule.trust) as Trust;
  const notes: string[] = [];
  if (rule.note) notes.push(rule.note);
  const source = trust.kind === 'bundle' ? selectSource(trust, region) : undefined;
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
    partition: rule.partition ?? trust.partition,
    region,
    captures,
    trust: { id: trust.id, kind: trust.kind, summary: trust.summary, systemTrustStore: trust.systemTrustStore },
    sslmode: trust.sslmode,
    source,
    roots: roots && roots.length > 0 ? roots : undefined,
    obtain: trust.obtain,
    reason: trust.reason,
    alternative: trust.alternative,
    notes,
  };
}

const IP_HINT = 'An IP address names no provider, and verify-full fails unless the server certificate lists that address. Connect by the provider\'s host name; Google Cloud SQL and AlloyDB are often reached by IP (see `pgcerts show cloudsql`).';
const LOCAL_HINT = 'A local address: usually a server on this machine, an SSH tunnel or an auth proxy (Cloud SQL Auth Proxy, AlloyDB Auth Proxy) that does TLS itself. Look up the real database host instead.';
const UNKNOWN_HINT = 'No provider in the registry claims this host. If it is your own alias (CNAME) for a provider endpoint, look up the endpoint itself: verify-full checks the name in the server certificate, which is the provider\'s name.';

/** Look up one host (name, address, `host:port` not accepted here; see {@link lookup}). */
export function lookupHost(spec: HostSpec, options: LookupOptions = {}): LookupResult {
  const normalized = normalizeHost(spec.host);
  const base = { input: spec.host, port: spec.port };
  if (normalized.type === 'invalid') {
    return { ...base, host: undefined, match: undefined, hint: `"${spec.host}" is not a valid host name: ${normalized.reason}.` };
  }
  if (normalized.type === 'ip') {
    const local = normalized.host === '::1' || normalized.host.startsWith('127.');
    return { ...base, host: normalized.host, match: undefined, hint: local ? LOCAL_HINT : IP_HINT };
  }
  if (normalized.host === 'localhost' || normalized.host.endsWith('.localhost')) {
    return { ...base, host: normalized.host, match: undefined, hint: LOCAL_HINT };
  }
  const registry = options.registry ?? getBundledRegistry();
  const found = registry.hostMatcher.match(normalized.host);
  return { ...base, host: normalized.host, match: found && describeMatch(found), hint: found ? undefined : UNKNOWN_HINT };
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
