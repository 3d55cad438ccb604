// A static mirror of the registry's sources (`pgcerts mirror`): every source URL's file, validated
// as a fetch would, laid out as `<host>/<path>` so that a static HTTPS server rooted there serves
// it as PGCERTS_MIRROR. This module builds the files; the CLI writes them.
import type { X509Certificate } from 'node:crypto';
import type { DownloadOptions } from './download.js';
import { PgcertsError } from './errors.js';
import { getBundledRegistry, type Registry } from './registry.js';
import type { PinnedCertificate, Provider, Source, Trust } from './registry-types.js';
import { describeShippedRoots, listSourcePins, loadShippedRoots, type ShippedCertificate } from './shipped-roots.js';
import { isDownloadable, publicRoots } from './sources.js';

/** One URL a mirror serves. */
export interface MirrorSource {
  provider: string;
  trust: string;
  /** The source id, or `root` for a public root's own URL. */
  source: string;
  region: string | undefined;
  url: string;
  format: Source['format'];
  /** For a public root's URL: the pin the file must be. */
  single?: PinnedCertificate;
  redirectHosts?: readonly string[];
}

/** One file of a mirror. */
export interface MirrorFile extends Omit<MirrorSource, 'single' | 'redirectHosts'> {
  /** `<host>/<path>` under the mirror directory, `/`-separated, percent-decoded as a static server decodes it. */
  path: string;
  bytes: Buffer;
  /** Certificates in the file. */
  certificates: number;
}

/** A source left out, and why. */
export interface MirrorSkip {
  provider: string;
  trust: string;
  url: string;
  reason: string;
}

/** What {@link buildMirror} made. */
export interface MirrorBuild {
  registryVersion: string;
  offline: boolean;
  files: MirrorFile[];
  skipped: MirrorSkip[];
  /** Sources that could not be downloaded or were refused; the others are still built. */
  errors: Array<{ provider: string; url: string; code: string; message: string }>;
}

/** Options of {@link buildMirror}. */
export interface MirrorOptions {
  /** Provider ids or aliases; every provider with a downloadable source unless given. */
  providers?: string[];
  /** Build the files from the roots shipped with pgcerts, with no network. */
  offline?: boolean;
  registry?: Registry;
  /** Download through this mirror (PGCERTS_MIRROR) instead of the origins. */
  mirror?: string;
  download?: Omit<DownloadOptions, 'etag' | 'lastModified' | 'mirror' | 'headers'>;
  /** The roots file for `offline` (the package's unless given). */
  shippedRoots?: string;
  now?: Date;
  /** Downloads at once; 6 unless given. */
  concurrency?: number;
}

/**
 * Every URL of the providers' downloadable trust entries, once each: `bundle` sources (a
 * `{region}` URL once per listed region) and the official URL of each current root of a
 * `public` trust.
 */
export function listMirrorSources(providers: readonly Provider[]): MirrorSource[] {
  const seen = new Set<string>();
  const out: MirrorSource[] = [];
  const add = (entry: MirrorSource): void => {
    if (seen.has(entry.url)) return;
    seen.add(entry.url);
    out.push(entry);
  };
  for (const provider of providers) {
    for (const trust of provider.trust) {
      if (!isDownloadable(trust)) continue;
      if (trust.kind === 'public') {
        for (const root of publicRoots(provider, trust)) {
          if (root.url) add({ provider: provider.id, trust: trust.id, source: 'root', region: undefined, url: root.url, format: root.format ?? 'pem', single: root, redirectHosts: root.redirectHosts });
        }
        continue;
      }
      for (const source of trust.sources ?? []) {
        const regions = source.url.includes('{region}') ? source.regions ?? [] : [undefined];
        for (const region of regions) {
          add({
            provider: provider.id, trust: trust.id, source: source.id, region,
            url: region === undefined ? source.url : source.url.replaceAll('{region}', region), format: source.format, redirectHosts: source.redirectHosts,
          });
        }
      }
    }
  }
  return out;
}

/**
 * Where a URL's file goes in the mirror: `<host>/<decoded path>`, as `applyMirror` maps the URL
 * and a static server maps the request back to a file; `undefined` (with the reason) for a URL a
 * static file cannot answer: a query string, a path ending in `/`, or a `.`/`..` segment.
 */
export function findMirrorPath(url: string): { path: string } | { reason: string } {
  const parsed = new URL(url);
  if (parsed.search !== '') return { reason: 'its URL has a query string, which a static server ignores' };
  if (parsed.pathname.endsWith('/')) return { reason: 'its URL names a directory, not a file' };
  let segments: string[];
  try {
    segments = parsed.pathname.split('/').slice(1).map((s) => decodeURIComponent(s));
  } catch {
    return { reason: 'its path is not valid percent-encoding' };
  }
  if (segments.some((s) => s === '' || s === '.' || s === '..' || s.includes('/') || s.includes('\0'))) return { reason: 'its path has an empty, "." or ".." segment' };
  return { path: [parsed.host, ...segments].join('/') };
}

/**
 * Build a mirror: each source downloaded (through `mirror` when given) and validated as a fetch
 * would (format, CA flags, signatures, pins, constraints; expired certificates are kept, as the
 * origin serves them), or with `offline` made from the shipped roots. A failed source is reported
 * in `errors` and the others are still built; with `offline`, a source pgcerts ships nothing
 * for (no pins, a DER or PKCS#7 source) is `skipped`.
 * @throws PgcertsError `UNKNOWN_PROVIDER` for an unknown provider id, `USAGE` for one without a source.
 * @example const { files } = await buildMirror({ providers: ['rds'], offline: true });
 */
export async function buildMirror(options: MirrorOptions = {}): Promise<MirrorBuild> {
  const registry = options.registry ?? getBundledRegistry();
  const named = [...new Set((options.providers ?? []).map((name) => registry.getProvider(name)))];
  for (const provider of named) {
    if (!provider.trust.some(isDownloadable)) {
      throw new PgcertsError('USAGE', `Provider "${provider.id}" has no source to mirror (its CAs come from accounts or nowhere); name providers that \`pgcerts list\` shows as bundle or public, or none for all.`);
    }
  }
  const providers = named.length > 0 ? named : registry.providers.filter((p) => p.trust.some(isDownloadable));
  const now = options.now ?? new Date();
  const build: MirrorBuild = { registryVersion: registry.version, offline: options.offline === true, files: [], skipped: [], errors: [] };
  const sources: Array<MirrorSource & { path: string }> = [];
  for (const source of listMirrorSources(providers)) {
    const where = findMirrorPath(source.url);
    const trust = (registry.getProvider(source.provider).trust.find((t) => t.id === source.trust) as Trust);
    const pinned = registry.getProvider(source.provider).certificates.some((c) => c.trust.includes(trust.id));
    if ('reason' in where) build.skipped.push({ provider: source.provider, trust: source.trust, url: source.url, reason: `${where.reason}; pgcerts builds this bundle from its shipped roots or Node's root store instead` });
    // Nothing pinned and nothing unpinned accepted: fetch refuses whatever it serves, so would a mirror.
    else if (trust.kind === 'bundle' && trust.unpinned !== 'constraints' && !pinned) build.skipped.push({ provider: source.provider, trust: source.trust, url: source.url, reason: 'the registry pins nothing for it and accepts no unpinned certificate, so pgcerts cannot validate it (`pgcerts import` takes such a file)' });
    else sources.push({ ...source, path: where.path });
  }
  const { parseCertificates, toPem } = await import('./pem.js');
  const { validateCertificates } = await import('./validate.js');
  const byId = new Map(providers.map((p) => [p.id, p]));

  if (options.offline) {
    const roots = loadShippedRoots(options.shippedRoots);
    for (const source of sources) {
      const provider = byId.get(source.provider) as Provider;
      const trust = provider.trust.find((t) => t.id === source.trust) as Trust;
      const pins = source.single ? [source.single] : listSourcePins(provider, trust, source.region);
      const shipped = pins.map((pin) => roots.bySha.get(pin.sha256));
      const skip = (reason: string): void => void build.skipped.push({ provider: source.provider, trust: source.trust, url: source.url, reason });
      if (pins.length === 0) skip(`the registry pins no certificate for it, so pgcerts ships none (${describeShippedRoots(roots)})`);
      else if (shipped.some((c) => c === undefined)) skip(`pgcerts does not ship every certificate the registry pins for it (${describeShippedRoots(roots)})`);
      else if (source.format === 'pkcs7' || (source.format === 'der' && pins.length !== 1)) skip(`its format is ${source.format}, which pgcerts does not write`);
      else {
        const certs = (shipped as ShippedCertificate[]).filter((c) => Date.parse(c.notBefore) <= now.getTime() && now.getTime() < Date.parse(c.notAfter));
        if (certs.length === 0) {
          skip('every certificate pgcerts ships for it has expired');
          continue;
        }
        const parsed = certs.flatMap((c) => parseCertificates(c.pem));
        const bytes = source.format === 'der' ? Buffer.from((parsed[0] as X509Certificate).raw) : Buffer.from(toPem(parsed), 'utf8');
        build.files.push({ ...fileOf(source), bytes, certificates: parsed.length });
      }
    }
    return build;
  }

  const { download } = await import('./download.js');
  const queue = [...sources];
  const worker = async (): Promise<void> => {
    for (let source = queue.shift(); source !== undefined; source = queue.shift()) {
      const provider = byId.get(source.provider) as Provider;
      const trust = provider.trust.find((t) => t.id === source.trust) as Trust;
      try {
        const answer = await download(source.url, { ...options.download, mirror: options.mirror, redirectHosts: source.redirectHosts });
        const body = answer.body ?? Buffer.alloc(0);
        const certs = parseCertificates(body, { format: source.format, name: source.url });
        validateCertificates(certs, {
          provider, trust, region: source.region, single: source.single, now, keepExpired: true, timeoutMs: options.download?.totalTimeoutMs ?? 60_000,
        });
        build.files.push({ ...fileOf(source), bytes: Buffer.from(body), certificates: certs.length });
      } catch (error) {
        if (!(error instanceof PgcertsError)) throw error;
        const message = error.code === 'DOWNLOAD_FAILED' ? error.message : `Rejected the download "${source.url}": ${error.message}`;
        build.errors.push({ provider: source.provider, url: source.url, code: error.code, message });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 6, sources.length)) }, worker));
  build.files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  build.errors.sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
  return build;
}

function fileOf(source: MirrorSource & { path: string }): Omit<MirrorFile, 'bytes' | 'certificates'> {
  return { provider: source.provider, trust: source.trust, source: source.source, region: source.region, url: source.url, format: source.format, path: source.path };
}
