import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PgcertsError } from '../errors.js';
import type { BundleResult, FetchOptions } from '../fetch.js';
import type { Registry } from '../registry.js';
import { isDownloadable } from '../sources.js';
import { readArgs } from './args.js';
import type { ShapeFlags } from './bundle-output.js';
import { EXIT, out, outJson, stdout, warn } from './output.js';
import { writeFileAtomic } from './write-file.js';

export interface FetchFlags extends ShapeFlags {
  /** Account CAs: fetch the CA of the cluster or project serving this host through the provider's API. */
  host?: string;
  /** Cloud SQL: the instance connection name `PROJECT:REGION:INSTANCE`, instead of a host. */
  instance?: string;
  /** AlloyDB: the cluster name `projects/P/locations/R/clusters/C` (DigitalOcean: the cluster uuid), instead of a host. */
  cluster?: string;
  /** Aiven: the project whose CA to fetch, instead of a host. */
  project?: string;
  region?: string;
  trust?: string;
  all?: boolean;
  out?: string;
  pem?: boolean;
  force?: boolean;
  offline?: boolean;
  strict?: boolean;
  keepExpired?: boolean;
  /** Print nothing on success but warnings (cron mails only what needs a look). */
  quiet?: boolean;
  json?: boolean;
  /** Seconds for the whole download of one source (commander passes a string). */
  timeout?: string;
  retries?: string;
}

function parseCount(value: string | undefined, flag: string, range: { min: number; max: number; integer: boolean; minText: string }): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < range.min || n > range.max || (range.integer && !Number.isInteger(n))) {
    throw new PgcertsError('USAGE', `${flag} "${value}" must be ${range.integer ? 'a whole number' : 'a number of seconds'} from ${range.minText} to ${range.max}.`);
  }
  return n;
}

/** Downloader settings from --timeout and --retries: a timeout above 0 seconds, a whole number of retries. */
export function downloadFlags(flags: { timeout?: string; retries?: string }): FetchOptions['download'] {
  const timeoutS = parseCount(flags.timeout, '--timeout', { min: Number.MIN_VALUE, max: 3600, integer: false, minText: 'more than 0' });
  const retries = parseCount(flags.retries, '--retries', { min: 0, max: 10, integer: true, minText: '0' });
  const download: NonNullable<FetchOptions['download']> = {};
  if (timeoutS !== undefined) {
    const ms = Math.max(1, Math.round(timeoutS * 1000));
    download.totalTimeoutMs = ms;
    download.connectTimeoutMs = Math.min(ms, 10_000);
    download.bodyTimeoutMs = Math.min(ms, 15_000);
  }
  if (retries !== undefined) download.retries = retries;
  return download;
}

/**
 * Read `pgcerts fetch` arguments without commander (start-up time, see BENCHMARKS.md); anything
 * unusual (unknown flags, values that look like flags, help) returns undefined, and the commander
 * program, which accepts the same forms the same way, handles it instead.
 */
export function parseFetchArgv(argv: string[]): { names: string[]; flags: FetchFlags } | undefined {
  const read = readArgs(argv, {
    host: { type: 'string' },
    instance: { type: 'string' },
    cluster: { type: 'string' },
    project: { type: 'string' },
    region: { type: 'string' },
    trust: { type: 'string' },
    all: { type: 'boolean' },
    out: { type: 'string' },
    pem: { type: 'boolean' },
    force: { type: 'boolean' },
    offline: { type: 'boolean' },
    strict: { type: 'boolean' },
    'keep-expired': { type: 'boolean' },
    timeout: { type: 'string' },
    retries: { type: 'string' },
    quiet: { type: 'boolean' },
    json: { type: 'boolean' },
    format: { type: 'string' },
    name: { type: 'string' },
    namespace: { type: 'string' },
    key: { type: 'string' },
    'password-file': { type: 'string' },
  });
  if (!read) return undefined;
  const { 'keep-expired': keepExpired, 'password-file': passwordFile, ...rest } = read.values;
  return { names: read.positionals, flags: { ...rest, keepExpired, passwordFile } };
}

/** One stderr line describing a fetch. */
export function describeResult(r: BundleResult): string {
  const resource = r.resource ? `, ${r.resource.kind} ${r.resource.name && r.resource.name !== r.resource.id ? `"${r.resource.name}" (${r.resource.id})` : r.resource.id}` : '';
  const where = `${r.provider} (${r.trust}${r.region ? `, ${r.region}` : ''}${resource})`;
  const certificates = (n: number): string => `${n} certificate${n === 1 ? '' : 's'}`;
  if (r.notModified) return `${where}: unchanged, the cached copy is current (${certificates(r.kept.length)}); earliest expiry ${r.earliestExpiry?.slice(0, 10) ?? 'n/a'}.`;
  const parts = [
    `${where}: kept ${certificates(r.kept.length)}, dropped ${r.dropped.length}`,
    `earliest expiry ${r.earliestExpiry?.slice(0, 10) ?? 'n/a'}`,
    r.firstCopy ? 'the first copy in this cache' : `${r.added.length} added and ${r.removed.length} removed since the previous copy`,
  ];
  if (r.shipped) parts.push('from the roots shipped with pgcerts');
  else if (r.offline) parts.push("built from Node's root store");
  return `${parts.join('; ')}.`;
}

/** `pgcerts fetch <provider...>`: download, validate and cache bundles. */
export async function runFetch(registry: Registry, names: string[], flags: FetchFlags, base: FetchOptions & { shownWarnings?: Set<string> }): Promise<number> {
  if (flags.all && names.length > 0) throw new PgcertsError('USAGE', 'Give provider ids or --all, not both.');
  if (!flags.all && names.length === 0) throw new PgcertsError('USAGE', 'Name at least one provider (see `pgcerts list`) or use --all.');
  // Each provider once, however often it is named (`fetch rds aurora` names rds twice).
  const providers = flags.all
    ? registry.providers.filter((p) => p.trust.some(isDownloadable)).map((p) => p.id)
    : [...new Set(names.map((n) => registry.getProvider(n).id))];
  // Region names are case-insensitive, as AWS writes them in lower case.
  if (flags.region !== undefined) flags = { ...flags, region: flags.region.trim().toLowerCase() };
  if (flags.out && providers.length !== 1) throw new PgcertsError('USAGE', '--out needs exactly one provider.');
  const { chooseFormat } = await import('./bundle-output.js');
  const format = await chooseFormat(flags);
  if (format !== 'path' && format !== 'pem' && providers.length !== 1) throw new PgcertsError('USAGE', `--format ${format} needs exactly one provider.`);
  const given = ([['--host', flags.host], ['--instance', flags.instance], ['--cluster', flags.cluster], ['--project', flags.project]] as const).filter(([, value]) => value !== undefined);
  if (given.length > 1) throw new PgcertsError('USAGE', `Give one of ${given.map(([flag]) => flag).join(' and ')}: --instance, --cluster and --project name the resource, --host a host name the API is searched for.`);
  const viaApi = given[0]?.[0];
  const resource = flags.instance ?? flags.cluster ?? flags.project;
  if (viaApi !== undefined && (flags.all || providers.length !== 1)) throw new PgcertsError('USAGE', `${viaApi} needs exactly one provider (the one whose API serves it).`);
  if (resource !== undefined) {
    const { findAccountProvider } = await import('../accounts/index.js');
    const flag = findAccountProvider(providers[0] as string)?.resourceFlag;
    if (flag?.flag !== viaApi) {
      throw new PgcertsError('USAGE', flag ? `Provider "${providers[0]}" takes ${flag.flag} ${flag.shape}, not ${viaApi}.` : `Provider "${providers[0]}" has no ${viaApi}; give --host HOST, the host you connect to.`);
    }
  }
  if (viaApi !== undefined) {
    // --host and --instance always ask the provider's API: these flags have no meaning there, and
    // --offline must never let a token leave the machine.
    const ignored = ([['--offline', flags.offline], ['--region', flags.region], ['--trust', flags.trust]] as const).find(([, value]) => value !== undefined && value !== false);
    if (ignored) throw new PgcertsError('USAGE', `${ignored[0]} does not go with ${viaApi} (which asks the provider's API for ${viaApi === '--host' ? "that host's" : "that instance's"} CA); drop ${ignored[0]}, or drop ${viaApi} to fetch a provider-wide bundle.`);
  }
  const download = downloadFlags(flags);
  const { fetchAccountBundle, fetchBundle } = await import('../fetch.js');
  const { shownWarnings: _shown, ...options } = base;
  const settled = await Promise.allSettled(providers.map((id) => viaApi !== undefined
    ? fetchAccountBundle(id, { ...options, download: { ...options.download, ...download }, host: flags.host, resource, strict: flags.strict, keepExpired: flags.keepExpired })
    : fetchBundle(id, {
      ...options, download: { ...options.download, ...download }, region: flags.region, trust: flags.trust, force: flags.force, offline: flags.offline, strict: flags.strict, keepExpired: flags.keepExpired,
    })));
  const results: BundleResult[] = [];
  const errors: Array<{ provider: string; code: string; message: string }> = [];
  settled.forEach((s, i) => {
    const provider = providers[i] as string;
    if (s.status === 'fulfilled') results.push(s.value);
    else if (s.reason instanceof PgcertsError) errors.push({ provider, code: s.reason.code, message: s.reason.message });
    else throw s.reason;
  });
  if (flags.out && results[0]) {
    const { makeOutDir } = await import('./bundle-output.js');
    await makeOutDir(flags.out);
    if (format === 'path' || format === 'pem') writeFileAtomic(flags.out, readFileSync(results[0].path, 'utf8'), '--out');
  }
  if (flags.quiet && (flags.json || flags.pem)) throw new PgcertsError('USAGE', `--quiet prints nothing on success, so it does not go with ${flags.json ? '--json' : '--pem'}; drop one of them.`);
  if (flags.json) {
    outJson({ registryVersion: registry.version, results, errors });
  } else if (format !== 'path' && format !== 'pem') {
    const r = results[0];
    if (r) {
      const { emitBundle, renderBundle } = await import('./bundle-output.js');
      const refresh = `pgcerts fetch ${r.provider}${r.region ? ` --region ${r.region}` : ''} --format ${format} | kubectl apply -f -`;
      const shaped = await renderBundle(format, readFileSync(r.path, 'utf8'), { provider: r.provider, trust: r.trust, region: r.region, registryVersion: registry.version, refresh }, flags);
      await emitBundle(shaped, flags);
    }
  } else if (!flags.quiet) {
    for (const r of results) {
      if (format === 'pem') stdout().write(readFileSync(r.path, 'utf8'));
      else out(flags.out ? resolve(flags.out) : r.path);
    }
  }
  for (const r of results) {
    if (!flags.quiet) warn(describeResult(r));
    for (const w of r.warnings) if (!base.shownWarnings?.has(w)) warn(w);
  }
  for (const e of errors) warn(`${e.provider}: ${e.message}`);
  return errors.length === 0 ? EXIT.ok : EXIT.failed;
}
