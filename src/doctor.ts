import type { X509Certificate } from 'node:crypto';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { BundleCache, getCacheDir } from './cache.js';
import { summarizeCertificate } from './certificate.js';
import { parseConnectionTarget, readNodePostgresUrl, redactConnectionString, secureConnectionString, type ConnectionTarget, type HostSpec, type NodePostgresUrl } from './connection.js';
import { PgcertsError } from './errors.js';
import { MAX_CA_FILE_BYTES, readRegularFile } from './read-file.js';
import { keysHiddenAfterSecret, LIBPQ_KEYWORDS as LIBPQ_PARAMS, SECRET_PARAMS as SECRET_KEYS } from './redact.js';
import { normalizeHost } from './hostname.js';
import { lookupHost, type LookupResult } from './lookup.js';
import { parseCertificates } from './pem.js';
import { getBundledRegistry, type Registry } from './registry.js';
import type { PinnedCertificate, Provider, SslMode, Trust, TrustKind } from './registry-types.js';
import type { ResolveOptions } from './resolve.js';
import { IMPORT_SOURCE, describeGuess, explainNoSource } from './sources.js';
import { findLookalikePin } from './validate.js';
import { evaluateDriver, fixForDriver, getDriver, type DriverBehaviour, type DriverData, type DriverFact, type DriverId } from './drivers.js';

/** How bad a finding is: `error` leaves the connection unprotected or failing, `warning` fragile, `info` explains. */
export type FindingSeverity = 'error' | 'warning' | 'info';

/** The client a finding is about: `both` is libpq and node-postgres; `doctor --driver` names its driver. */
export type FindingClient = DriverId | 'both';

/** Stable codes of doctor findings (see the README for each). */
export type FindingCode =
  | 'NO_HOST'
  | 'INVALID_HOST'
  | 'IP_HOST'
  | 'LOCAL_HOST'
  | 'UNKNOWN_HOST'
  | 'HOST_ALIAS'
  | 'PROVIDER_UNVERIFIABLE'
  | 'ACCOUNT_CA_MISSING'
  | 'ACCOUNT_CA_UNCHECKED'
  | 'SSLMODE_MISSING'
  | 'SSLMODE_WEAK'
  | 'SSLMODE_INVALID'
  | 'PG_SSLMODE_ALIAS'
  | 'VERIFY_DISABLED'
  | 'SSLROOTCERT_NEEDED'
  | 'SSLROOTCERT_SYSTEM'
  | 'SSLROOTCERT_SYSTEM_PG'
  | 'SSLROOTCERT_SYSTEM_WEAK'
  | 'SYSTEM_STORE_UNTRUSTED'
  | 'SSLROOTCERT_RELATIVE'
  | 'SSLROOTCERT_MISSING'
  | 'SSLROOTCERT_UNREADABLE'
  | 'SSLROOTCERT_WRONG_PROVIDER'
  | 'SSLROOTCERT_WRONG_REGION'
  | 'SSLROOTCERT_EXPIRED'
  | 'SSLROOTCERT_EXPIRING'
  /** The file holds a CA with a pinned certificate's common name and another fingerprint (a forgery or lookalike). */
  | 'SSLROOTCERT_LOOKALIKE'
  /** The file holds a provider CA that the registry does not pin (accepted by its constraints only). */
  | 'SSLROOTCERT_UNPINNED'
  | 'ROOT_CRT_DEFAULT'
  | 'SSLNEGOTIATION_DIRECT'
  | 'SSLNEGOTIATION_WEAK'
  | 'LIBPQ_UNKNOWN_PARAM'
  | 'PG_CONNINFO'
  | 'PG_MULTI_HOST'
  | 'PG_HOSTADDR'
  | 'PG_ENV_SSLROOTCERT'
  | 'PG_URL_INVALID'
  | 'PG_FRAGMENT'
  | 'PG_PLUS_SPACE'
  | 'PARAM_IGNORED'
  | 'FIX_FAILED'
  | 'BUNDLE_NOTE'
  /** `--driver`: the driver refuses the string (an sslmode it does not know, a missing root file, a form it cannot read). */
  | 'DRIVER_REFUSES'
  /** `--driver`: no TLS at all. */
  | 'DRIVER_NO_TLS'
  /** `--driver`: TLS that can be turned off, or that does not authenticate the server (fully). */
  | 'DRIVER_WEAK'
  /** `--driver`: the chain is checked against roots that do not hold the provider's CA (or also trust every public CA). */
  | 'DRIVER_ROOTS'
  /** `--driver`: a quirk of the driver worth knowing. */
  | 'DRIVER_NOTE';

/** One problem or explanation. Messages never contain the password. */
export interface Finding {
  severity: FindingSeverity;
  code: FindingCode;
  client: FindingClient;
  /** The host it concerns, when it concerns one host. */
  host?: string;
  message: string;
}

/** What the registry says about one host of the connection string. */
export interface DiagnosedHost {
  /** The host as written. */
  input: string;
  /** Normalised; absent when the host is not valid. */
  host: string | undefined;
  port: number | undefined;
  type: 'name' | 'ip' | 'local' | 'invalid';
  provider: string | undefined;
  providerName: string | undefined;
  trust: string | undefined;
  trustKind: TrustKind | undefined;
  region: string | undefined;
  /** The sslmode the registry recommends for the host. */
  sslmode: SslMode | undefined;
  /** The provider endpoint this host is an alias (CNAME) of, when DNS answers were given. */
  aliasOf: string | undefined;
}

/** Where a setting came from. */
export type SettingSource = 'connection string' | 'environment' | 'default';

/** What one client does with the connection string. */
export interface ClientBehaviour {
  /** False when the client cannot read this form of string at all. */
  reads: boolean;
  /** Why the client refuses to connect with this string, when it does. */
  refusal: string | undefined;
  /** The sslmode as the client applies it (`undefined` when none applies). */
  sslmode: string | undefined;
  sslmodeFrom: SettingSource | undefined;
  /** `maybe`: only when the server agrees, so an attacker can turn it off. */
  encryption: 'always' | 'maybe' | 'never';
  verifiesChain: boolean;
  verifiesHostName: boolean;
  /** What the chain is checked against: a file, the SSL library's store (`system`), Node's built-in roots (`node`). */
  roots: { kind: 'file' | 'system' | 'node' | 'none'; path?: string; from?: SettingSource };
  /** One sentence. */
  summary: string;
}

/** The doctor's answer for one connection string. */
export interface Diagnosis {
  /** The input, password redacted. */
  input: string;
  form: 'url' | 'conninfo';
  hosts: DiagnosedHost[];
  /** Worst first. */
  findings: Finding[];
  libpq: ClientBehaviour;
  nodePostgres: ClientBehaviour;
  /**
   * The string to use: the input itself when nothing worse than `info` was found, else the
   * input with `sslmode=verify-full` (or `verify-ca` where the registry says so) and a good
   * `sslrootcert`; `null` when pgcerts cannot choose a CA bundle. The password is `***`
   * unless `showPassword` is set.
   */
  fixed: string | null;
}

/** Facts about the machine the string runs on, injected so the analysis is testable. */
export interface DiagnoseOptions {
  registry?: Registry;
  /** Environment that libpq and node-postgres read: PGSSLMODE, PGSSLROOTCERT, PGSSLNEGOTIATION, PGHOST, NODE_TLS_REJECT_UNAUTHORIZED, APPDATA (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** The application's working directory, against which relative `sslrootcert` paths resolve (default `process.cwd()`). */
  cwd?: string;
  /** For libpq's default `~/.postgresql/root.crt` (default `os.homedir()`). */
  homeDir?: string;
  /** `win32` puts libpq's default root.crt under `%APPDATA%\postgresql` (default `process.platform`). */
  platform?: NodeJS.Platform;
  /** The bytes of a file, or `undefined` when it does not exist; may throw for unreadable files (default: node:fs). */
  readFile?: (path: string) => Uint8Array | string | undefined;
  /** Whether `pgcerts import` stored a CA for this provider (or host) (default: looks in the pgcerts cache). */
  hasImportedCa?: (provider: string, trust: string, host: string) => boolean;
  /** The pgcerts cache the default `hasImportedCa` looks in (default {@link getCacheDir}). */
  cacheDir?: string;
  /** CNAME chains by host, from {@link resolveCnames}; only used for hosts no provider claims. */
  cnames?: Record<string, string[]>;
  /** The clock, for certificate expiry. */
  now?: Date;
  /** Print the password in `fixed` (never in `input` or messages). */
  showPassword?: boolean;
}

const LIBPQ_MODES: readonly string[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];
const DAY_MS = 86_400_000;

/** A secret's value, or a value that may be part of one: never quoted. */
function isSecret(ctx: Context, key: string): boolean {
  return SECRET_KEYS.has(key) || ctx.hiddenKeys.has(key);
}

/** Keys for a message, those that may be part of a secret replaced by a count. */
function nameKeys(ctx: Context, keys: readonly string[]): string {
  const named = keys.filter((key) => !ctx.hiddenKeys.has(key)).map((key) => `"${key}"`);
  const hidden = keys.length - named.length;
  if (hidden > 0) named.push(`${hidden} parameter${hidden > 1 ? 's' : ''} after a password (not named: with a raw "&" in the password, ${hidden > 1 ? 'they are' : 'it is'} part of it)`);
  return named.join(', ');
}
const SEVERITY_ORDER: Record<FindingSeverity, number> = { error: 0, warning: 1, info: 2 };
// Where every message sends the user: the doctor prints the fixed string, `pgcerts url` prints the same.
const URL_FIX = 'the fixed string (`pgcerts url`) does that';
const URL_FIX_SENTENCE = 'The fixed string (`pgcerts url`) uses the right bundle.';

function present(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function rank(mode: string): number {
  return LIBPQ_MODES.indexOf(mode);
}

function commonName(subject: string): string {
  return /(?:^|, )CN=((?:[^,\\]|\\.)*)/.exec(subject)?.[1]?.replace(/\\(.)/g, '$1') ?? subject;
}

/** The resolved facts the analysis works from. */
interface Context {
  target: ConnectionTarget;
  /** As libpq reads them. */
  params: Record<string, string>;
  /** The URL as node-postgres reads it (`undefined` for a key=value string). */
  pg: NodePostgresUrl | undefined;
  /** The parameters node-postgres reads (empty when it reads none). */
  pgParams: Record<string, string>;
  env: Record<string, string | undefined>;
  cwd: string;
  now: Date;
  registry: Registry;
  readFile: (path: string) => Uint8Array | string | undefined;
  /** Query keys hidden with a secret before them (they may be part of it): never named. */
  hiddenKeys: ReadonlySet<string>;
  hosts: Array<{ spec: HostSpec; result: LookupResult; type: DiagnosedHost['type']; provider?: Provider; trust?: Trust; alias?: { name: string; result: LookupResult } }>;
  findings: Finding[];
  files: Map<string, FileState>;
}

type FileState =
  | { state: 'missing' }
  | { state: 'unreadable'; reason: string }
  | { state: 'read'; certs: X509Certificate[] };

/** Worst first; the order of discovery within a severity. */
function sortFindings(findings: Finding[]): Finding[] {
  return findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => SEVERITY_ORDER[a.f.severity] - SEVERITY_ORDER[b.f.severity] || a.i - b.i)
    .map(({ f }) => f);
}

function add(ctx: Context, severity: FindingSeverity, code: FindingCode, client: FindingClient, message: string, host?: string): void {
  ctx.findings.push(host === undefined ? { severity, code, client, message } : { severity, code, client, host, message });
}

function defaultReadFile(path: string): Uint8Array | undefined {
  try {
    // A FIFO or a device named as sslrootcert must not hang the doctor; it is reported unreadable.
    return readRegularFile(path, { maxBytes: MAX_CA_FILE_BYTES });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}

function defaultHasImportedCa(cacheDir: string | undefined): (provider: string, trust: string, host: string) => boolean {
  let cache: BundleCache | undefined;
  return (provider, trust, host) => {
    try {
      cache ??= new BundleCache(cacheDir ?? getCacheDir());
      return [{ host }, {}].some((key) => cache?.read({ provider, trust, source: IMPORT_SOURCE, ...key }) !== undefined);
    } catch (error) {
      // A damaged cache entry counts as imported: the fixing step reports the damage.
      return error instanceof PgcertsError && error.code === 'CACHE_CORRUPT';
    }
  };
}

function readState(ctx: Context, path: string): FileState {
  let state = ctx.files.get(path);
  if (state) return state;
  try {
    const bytes = ctx.readFile(path);
    if (bytes === undefined) {
      state = { state: 'missing' };
    } else {
      try {
        state = { state: 'read', certs: parseCertificates(bytes, { name: path }) };
      } catch (error) {
        if (!(error instanceof PgcertsError)) throw error;
        state = { state: 'unreadable', reason: error.message };
      }
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    state = { state: 'unreadable', reason: error instanceof PgcertsError ? error.message : `"${path}" cannot be read (${code ?? String(error)}). Check the path and its permissions.` };
  }
  ctx.files.set(path, state);
  return state;
}

/** libpq's default root certificate file. */
function defaultRootCrt(options: DiagnoseOptions, env: Record<string, string | undefined>): string | undefined {
  if ((options.platform ?? process.platform) === 'win32') {
    const appData = present(env.APPDATA);
    return appData && join(appData, 'postgresql', 'root.crt');
  }
  const home = options.homeDir ?? homedir();
  return home ? join(home, '.postgresql', 'root.crt') : undefined;
}

function describeHosts(ctx: Context, options: DiagnoseOptions): DiagnosedHost[] {
  const hasImportedCa = options.hasImportedCa ?? defaultHasImportedCa(options.cacheDir);
  const diagnosed: DiagnosedHost[] = [];
  for (const entry of ctx.hosts) {
    const { result } = entry;
    const match = result.match;
    const shown = result.host ?? result.input;
    if (entry.type === 'invalid') {
      add(ctx, 'error', 'INVALID_HOST', 'both', `Host "${result.input}" is not valid: ${result.hint ?? 'fix the host name.'}`, shown);
    } else if (entry.type === 'ip') {
      add(ctx, 'warning', 'IP_HOST', 'both', `Host "${shown}" is an IP address. verify-full checks the host against the names in the server certificate, and managed providers' certificates name host names, so verification fails (and pgcerts cannot tell the provider). Connect by the provider's host name; to pin the address as well, keep the name as host and add hostaddr=${shown} (libpq), or give node-postgres ssl.servername (getPgSslOptions(host, { hostaddr })).`, shown);
    } else if (entry.type === 'local') {
      add(ctx, 'info', 'LOCAL_HOST', 'both', `Host "${shown}" is this machine. ${result.hint ?? ''} The connection does not cross the network, so the sslmode findings below are informational.`.trim(), shown);
    } else if (!match) {
      if (entry.alias?.result.match) {
        const target = entry.alias.result.match;
        add(ctx, 'warning', 'HOST_ALIAS', 'both', `Host "${shown}" is an alias (CNAME) of "${entry.alias.name}" (${target.providerName}). The server certificate names the provider's endpoint, not your alias, so verify-full fails: connect to "${entry.alias.name}" instead (libpq: host=${entry.alias.name}).`, shown);
      } else {
        add(ctx, 'warning', 'UNKNOWN_HOST', 'both', `No provider in the registry claims "${shown}". If it is your own alias (a CNAME or private DNS name) for a provider's endpoint, verify-full fails: the certificate names the endpoint, not your alias, so connect to the endpoint's name. If it is your own server, give its CA as an absolute sslrootcert path with sslmode=verify-full.`, shown);
      }
    } else if (entry.provider && entry.trust) {
      const { provider, trust } = entry;
      if (trust.kind === 'none') {
        const pg = ctx.target.form === 'url' ? ` node-postgres 8 treats sslmode=require as verify-full, which fails here; with pg, the libpq meaning needs uselibpqcompat=true&sslmode=${trust.sslmode}.` : '';
        add(ctx, 'error', 'PROVIDER_UNVERIFIABLE', 'both', `${result.match?.guess && result.host ? describeGuess(result.host, provider) : ''}${explainNoSource(provider, trust)}${pg}`, shown);
      } else if (trust.kind === 'account' && result.host && !hasImportedCa(provider.id, trust.id, result.host) && !hasUsableFile(ctx)) {
        add(ctx, 'error', 'ACCOUNT_CA_MISSING', 'both', explainNoSource(provider, trust, result.host), shown);
      }
    }
    const alias = entry.alias?.result.match ? entry.alias : undefined;
    diagnosed.push({
      input: result.input,
      host: result.host,
      port: result.port,
      type: entry.type,
      provider: match?.provider,
      providerName: match?.providerName,
      trust: match?.trust.id,
      trustKind: match?.trust.kind,
      region: match?.region,
      sslmode: match?.sslmode,
      aliasOf: alias?.name,
    });
  }
  return diagnosed;
}

/** Whether the string names a CA file (parameter or PGSSLROOTCERT) that exists and holds certificates. */
function hasUsableFile(ctx: Context): boolean {
  const path = present(ctx.params.sslrootcert) ?? present(ctx.env.PGSSLROOTCERT);
  if (path === undefined || path === 'system') return false;
  return readState(ctx, resolve(ctx.cwd, path)).state === 'read';
}

/** The verifying sslmode the hosts call for: verify-ca only when every known host recommends it. */
function wantedMode(ctx: Context): 'verify-full' | 'verify-ca' {
  const known = ctx.hosts.filter((h) => h.result.match);
  return known.length > 0 && known.every((h) => h.result.match?.sslmode === 'verify-ca') ? 'verify-ca' : 'verify-full';
}

interface LibpqState {
  behaviour: ClientBehaviour;
  /** Parameters libpq does not know, which make it refuse the string. */
  unknown?: string[];
  rootFile: { path: string; written: string; from: SettingSource } | undefined;
  system: boolean;
}

function analyzeLibpq(ctx: Context, options: DiagnoseOptions): LibpqState {
  const { params, env } = ctx;
  const paramRoot = present(params.sslrootcert);
  const envRoot = present(env.PGSSLROOTCERT);
  const root = paramRoot !== undefined ? { value: paramRoot, from: 'connection string' as const } : envRoot !== undefined ? { value: envRoot, from: 'environment' as const } : undefined;
  const system = root?.value === 'system';
  // libpq maps the URL parameter ssl=true to sslmode=require, for JDBC compatibility (fe-connect.c).
  const jdbc = ctx.target.form === 'url' && params.ssl === 'true' ? 'require' : undefined;
  const paramMode = present(params.sslmode) ?? jdbc ?? (params.requiressl === '1' ? 'require' : undefined);
  const envMode = present(env.PGSSLMODE);
  const sslmode = paramMode ?? envMode ?? (system ? 'verify-full' : 'prefer');
  const sslmodeFrom: SettingSource = paramMode !== undefined ? 'connection string' : envMode !== undefined ? 'environment' : 'default';

  let rootFile: LibpqState['rootFile'];
  if (root && !system) {
    rootFile = { path: resolve(ctx.cwd, root.value), written: root.value, from: root.from };
  } else if (!root) {
    const path = defaultRootCrt(options, env);
    if (path !== undefined) rootFile = { path, written: path, from: 'default' };
  }
  const rootExists = rootFile !== undefined && readState(ctx, rootFile.path).state !== 'missing';
  const negotiation = present(params.sslnegotiation) ?? present(env.PGSSLNEGOTIATION);
  const roots: ClientBehaviour['roots'] = system
    ? { kind: 'system', from: root?.from }
    : rootExists && rootFile ? { kind: 'file', path: rootFile.path, from: rootFile.from } : { kind: 'none' };

  const base = { reads: true, sslmode, sslmodeFrom, roots };
  const unknown = Object.keys(params).filter((key) => !LIBPQ_PARAMS.has(key) && !(key === 'ssl' && jdbc !== undefined));
  const refuse = (refusal: string): LibpqState => ({
    behaviour: { ...base, refusal, encryption: 'never', verifiesChain: false, verifiesHostName: false, summary: `libpq refuses to connect: ${refusal}` },
    rootFile,
    system,
    unknown,
  });
  if (!LIBPQ_MODES.includes(sslmode)) return refuse(`"${sslmode}" is not an sslmode libpq knows ("invalid sslmode value").`);
  if (system && rank(sslmode) < rank('verify-full')) return refuse(`sslrootcert=system needs sslmode=verify-full (libpq 16+ rejects the weaker "${sslmode}").`);
  if (negotiation === 'direct' && rank(sslmode) < rank('require')) return refuse(`sslnegotiation=direct needs sslmode=require or stronger (libpq 17 rejects "${sslmode}").`);
  if (sslmode.startsWith('verify-') && !system && !rootExists) {
    return refuse(`sslmode=${sslmode} needs a root certificate file, and "${rootFile?.written ?? '~/.postgresql/root.crt'}" does not exist.`);
  }

  const where = roots.kind === 'system' ? 'the SSL library\'s default roots' : `"${rootFile?.written}"`;
  let behaviour: ClientBehaviour;
  switch (sslmode) {
    case 'disable':
      behaviour = { ...base, refusal: undefined, encryption: 'never', verifiesChain: false, verifiesHostName: false, summary: 'never encrypts: passwords and data cross the network in clear text.' };
      break;
    case 'allow':
    case 'prefer':
      behaviour = {
        ...base, refusal: undefined, encryption: 'maybe', verifiesChain: false, verifiesHostName: false,
        summary: `${sslmode === 'allow' ? 'tries without TLS first' : 'uses TLS only if the server offers it'} and never authenticates the server; an attacker in the path can turn TLS off.`,
      };
      break;
    case 'require':
      behaviour = rootExists
        ? { ...base, refusal: undefined, encryption: 'always', verifiesChain: true, verifiesHostName: false, summary: `always encrypts; because ${where} exists, checks the certificate chain against it (like verify-ca) but not the host name.` }
        : { ...base, refusal: undefined, encryption: 'always', verifiesChain: false, verifiesHostName: false, summary: 'always encrypts but checks neither the certificate chain nor the host name: the server is not authenticated.' };
      break;
    case 'verify-ca':
      behaviour = { ...base, refusal: undefined, encryption: 'always', verifiesChain: true, verifiesHostName: false, summary: `always encrypts and checks the certificate chain against ${where}, but not the host name.` };
      break;
    default:
      behaviour = { ...base, refusal: undefined, encryption: 'always', verifiesChain: true, verifiesHostName: true, summary: `always encrypts and checks the certificate chain against ${where} and the host name.` };
  }
  if (unknown.length > 0) {
    const refusal = `libpq rejects the parameter${unknown.length > 1 ? 's' : ''} ${nameKeys(ctx, unknown)} (${ctx.target.form === 'url' ? '"invalid URI query parameter"' : '"invalid connection option"'}).`;
    behaviour = { ...behaviour, refusal, summary: `refuses the string: ${refusal} Without ${unknown.length > 1 ? 'them' : 'it'}, it ${behaviour.summary}` };
  }
  return { behaviour, rootFile, system, unknown };
}

function analyzeNodePostgres(ctx: Context): ClientBehaviour {
  const { env } = ctx;
  const params = ctx.pgParams;
  const none = { verifiesChain: false, verifiesHostName: false };
  if (ctx.target.form !== 'url') {
    return {
      reads: false, refusal: 'node-postgres reads only postgres:// URLs, not key=value strings.', sslmode: undefined, sslmodeFrom: undefined,
      encryption: 'never', ...none, roots: { kind: 'none' }, summary: 'does not read key=value strings (pg-connection-string parses URLs only).',
    };
  }
  if (ctx.pg?.reads === false) {
    return {
      reads: false, refusal: `node-postgres cannot read this URL: ${ctx.pg.reason}.`, sslmode: undefined, sslmodeFrom: undefined,
      encryption: 'never', ...none, roots: { kind: 'none' }, summary: 'fails before connecting: pg-connection-string throws "Invalid URL".',
    };
  }
  const rootParam = present(params.sslrootcert);
  const fileRoots: ClientBehaviour['roots'] = rootParam !== undefined
    ? { kind: 'file', path: resolve(ctx.cwd, rootParam), from: 'connection string' }
    : { kind: 'node' };
  const compat = params.uselibpqcompat === 'true';
  const sslParams = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey'].some((key) => present(params[key]) !== undefined);
  const tlsOff = env.NODE_TLS_REJECT_UNAUTHORIZED === '0';
  const result = (fields: Pick<ClientBehaviour, 'sslmode' | 'sslmodeFrom' | 'encryption' | 'verifiesChain' | 'verifiesHostName' | 'roots' | 'summary'> & { refusal?: string }): ClientBehaviour => {
    const b: ClientBehaviour = { reads: true, refusal: fields.refusal, ...fields };
    if (tlsOff && b.encryption !== 'never' && b.verifiesChain) {
      return { ...b, verifiesChain: false, verifiesHostName: false, summary: `${b.summary} But NODE_TLS_REJECT_UNAUTHORIZED=0 turns every check off.` };
    }
    return b;
  };
  const full = (summary: string, sslmode: string | undefined, from: SettingSource | undefined, roots = fileRoots): ClientBehaviour =>
    result({ sslmode, sslmodeFrom: from, encryption: 'always', verifiesChain: true, verifiesHostName: true, roots, summary });
  const noVerify = (summary: string, sslmode: string | undefined, from: SettingSource | undefined): ClientBehaviour =>
    result({ sslmode, sslmodeFrom: from, encryption: 'always', ...none, roots: { kind: 'none' }, summary });
  const off = (summary: string, sslmode: string | undefined, from: SettingSource | undefined): ClientBehaviour =>
    result({ sslmode, sslmodeFrom: from, encryption: 'never', ...none, roots: { kind: 'none' }, summary });
  const anchors = rootParam !== undefined ? `"${rootParam}"` : 'Node\'s built-in roots';

  if (!sslParams) {
    const ssl = params.ssl;
    if (ssl === 'true' || ssl === '1') return full(`ssl=${ssl}: always encrypts and checks the chain against Node's built-in roots and the host name.`, undefined, 'connection string');
    if (ssl === '0') return off('ssl=0: never encrypts.', undefined, 'connection string');
    if (ssl === 'no-verify') return noVerify('ssl=no-verify: encrypts but checks neither the chain nor the host name.', undefined, 'connection string');
    if (ssl !== undefined) return full(`ssl=${ssl} is not a value pg defines; pg passes it on as a truthy value, so it encrypts and verifies against Node's built-in roots.`, undefined, 'connection string');
    if (present(params.sslnegotiation) === 'direct') return full('sslnegotiation=direct turns TLS on: always encrypts and checks the chain against Node\'s built-in roots and the host name.', undefined, 'connection string');
    const envMode = present(env.PGSSLMODE);
    switch (envMode) {
      case 'disable':
        return off('PGSSLMODE=disable: never encrypts.', envMode, 'environment');
      case 'prefer':
      case 'require':
      case 'verify-ca':
      case 'verify-full':
        return full(`PGSSLMODE=${envMode} turns on TLS with Node's defaults: always encrypts and checks the chain against Node's built-in roots and the host name (pg does not read PGSSLROOTCERT).`, envMode, 'environment');
      case 'no-verify':
        return noVerify('PGSSLMODE=no-verify: encrypts but checks neither the chain nor the host name.', envMode, 'environment');
      default:
        return off('no sslmode or ssl in the URL and no usable PGSSLMODE: node-postgres does not use TLS at all.', undefined, 'default');
    }
  }

  const sslmode = present(params.sslmode);
  const from: SettingSource | undefined = sslmode === undefined ? undefined : 'connection string';
  if (rootParam === 'system') {
    return result({
      sslmode, sslmodeFrom: from, encryption: 'never', ...none, roots: fileRoots,
      refusal: 'pg reads sslrootcert=system as a file named "system" and fails (ENOENT).',
      summary: 'fails before connecting: pg reads sslrootcert=system as a file named "system" in the working directory.',
    });
  }
  if (rootParam !== undefined && readState(ctx, resolve(ctx.cwd, rootParam)).state === 'missing') {
    return result({
      sslmode, sslmodeFrom: from, encryption: 'never', ...none, roots: fileRoots,
      refusal: `pg reads sslrootcert "${rootParam}" with fs.readFileSync and it does not exist (ENOENT).`,
      summary: `fails before connecting: sslrootcert "${rootParam}" does not exist (resolved against the working directory).`,
    });
  }
  if (compat) {
    switch (sslmode) {
      case 'disable':
        return off('uselibpqcompat=true, sslmode=disable: never encrypts.', sslmode, from);
      case 'prefer':
        return noVerify('uselibpqcompat=true, sslmode=prefer: encrypts (pg never falls back to clear text) but checks neither the chain nor the host name.', sslmode, from);
      case 'require':
        return rootParam !== undefined
          ? result({ sslmode, sslmodeFrom: from, encryption: 'always', verifiesChain: true, verifiesHostName: false, roots: fileRoots, summary: `uselibpqcompat=true, sslmode=require with sslrootcert: checks the chain against ${anchors} but not the host name (like verify-ca).` })
          : noVerify('uselibpqcompat=true, sslmode=require: encrypts but checks neither the chain nor the host name.', sslmode, from);
      case 'verify-ca':
        return rootParam !== undefined
          ? result({ sslmode, sslmodeFrom: from, encryption: 'always', verifiesChain: true, verifiesHostName: false, roots: fileRoots, summary: `uselibpqcompat=true, sslmode=verify-ca: checks the chain against ${anchors} but not the host name.` })
          : result({ sslmode, sslmodeFrom: from, encryption: 'never', ...none, roots: fileRoots, refusal: 'pg throws: sslmode=verify-ca with uselibpqcompat=true requires sslrootcert.', summary: 'fails before connecting: sslmode=verify-ca with uselibpqcompat=true requires sslrootcert.' });
      default:
        return full(`uselibpqcompat=true${sslmode ? `, sslmode=${sslmode}` : ''}: always encrypts and checks the chain against ${anchors} and the host name.`, sslmode, from);
    }
  }
  switch (sslmode) {
    case 'disable':
      return off('sslmode=disable: never encrypts.', sslmode, from);
    case 'no-verify':
      return noVerify('sslmode=no-verify: encrypts but checks neither the chain nor the host name.', sslmode, from);
    case 'prefer':
    case 'require':
    case 'verify-ca':
      return full(`sslmode=${sslmode} is treated as verify-full by pg 8: always encrypts and checks the chain against ${anchors} and the host name (pg 9 will give it libpq's weaker meaning).`, sslmode, from);
    default:
      return full(`${sslmode ? `sslmode=${sslmode}` : 'sslrootcert without sslmode'}: always encrypts and checks the chain against ${anchors} and the host name.`, sslmode, from);
  }
}

function sslmodeFindings(ctx: Context, libpq: LibpqState, pg: ClientBehaviour, relaxed: boolean): void {
  const wanted = wantedMode(ctx);
  const level = (severity: FindingSeverity): FindingSeverity => (relaxed ? 'info' : severity);
  const unverifiable = ctx.hosts.length > 0 && ctx.hosts.every((h) => h.trust?.kind === 'none');
  const { params, env } = ctx;

  // libpq
  const lb = libpq.behaviour;
  const mode = lb.sslmode as string;
  const origin = lb.sslmodeFrom === 'environment' ? ' (from PGSSLMODE in the environment)'
    : present(params.sslmode) === undefined && params.ssl === 'true' && ctx.target.form === 'url' ? ' (libpq reads ssl=true as sslmode=require)' : '';
  if (!LIBPQ_MODES.includes(mode)) {
    add(ctx, level('error'), 'SSLMODE_INVALID', 'libpq', `sslmode "${mode}"${origin} is not a libpq value, so libpq refuses to connect ("invalid sslmode value"). Use sslmode=${wanted}: ${URL_FIX}.`);
  } else if (lb.sslmodeFrom === 'default') {
    if (!libpq.system) {
      add(ctx, level('error'), 'SSLMODE_MISSING', 'libpq', `No sslmode in the string or PGSSLMODE, so libpq uses "prefer": TLS only if the server offers it, and the server's certificate is never checked; an attacker in the path can read the password. Add sslmode=${wanted} and sslrootcert: ${URL_FIX}.`);
    }
  } else if (rank(mode) < rank('require') || (rank(mode) < rank(wanted) && !unverifiable)) {
    if (libpq.system && rank(mode) < rank('verify-full')) {
      add(ctx, level('error'), 'SSLROOTCERT_SYSTEM_WEAK', 'libpq', `sslrootcert=system with sslmode "${mode}"${origin}: libpq 16+ refuses the combination (system roots are only safe with the host-name check). Use sslmode=verify-full.`);
    } else if (mode === 'require' && lb.verifiesChain) {
      add(ctx, level('warning'), 'SSLMODE_WEAK', 'libpq', `sslmode "require"${origin} checks the chain only because "${libpq.rootFile?.written}" exists (libpq then behaves like verify-ca), never the host name; with another provider's file there it fails instead. Use sslmode=${wanted} with an explicit sslrootcert: ${URL_FIX}.`);
    } else if (mode === 'verify-ca') {
      add(ctx, level('warning'), 'SSLMODE_WEAK', 'libpq', `sslmode "verify-ca"${origin} checks the certificate chain but not the host name, so any server holding a certificate from the same CA passes. Use sslmode=verify-full: ${URL_FIX}.`);
    } else {
      const what = mode === 'disable' ? 'never encrypts' : mode === 'require' ? 'encrypts but does not authenticate the server' : 'may fall back to clear text and never authenticates the server';
      add(ctx, level('error'), 'SSLMODE_WEAK', 'libpq', `sslmode "${mode}"${origin} ${what}: an attacker in the path can read the password and the data. Use sslmode=${wanted} with sslrootcert: ${URL_FIX}.`);
    }
  }
  if (libpq.unknown && libpq.unknown.length > 0) {
    add(ctx, 'info', 'LIBPQ_UNKNOWN_PARAM', 'libpq', `libpq refuses this string: it does not know ${nameKeys(ctx, libpq.unknown)} (other tools' settings, e.g. node-postgres or Prisma). psql, pg_dump and libpq-based drivers need a copy without ${libpq.unknown.length > 1 ? 'them' : 'it'}.`);
  }
  const negotiation = present(params.sslnegotiation) ?? present(env.PGSSLNEGOTIATION);
  if (negotiation === 'direct') {
    if (LIBPQ_MODES.includes(mode) && rank(mode) < rank('require')) {
      add(ctx, level('error'), 'SSLNEGOTIATION_WEAK', 'libpq', `sslnegotiation=direct with sslmode "${mode}": libpq 17 refuses it unless sslmode is require or stronger. Use sslmode=verify-full.`);
    }
    add(ctx, 'info', 'SSLNEGOTIATION_DIRECT', 'both', 'sslnegotiation=direct starts TLS without the SSLRequest round trip (ALPN "postgresql"). It needs libpq 17 (or a recent pg) and a PostgreSQL 17 server or a proxy that supports it, and there is no fallback: older servers fail the handshake.');
  }

  // node-postgres
  if (!pg.reads) {
    if (ctx.target.form === 'url') {
      add(ctx, level('warning'), 'PG_URL_INVALID', 'node-postgres', `node-postgres cannot read this URL: ${ctx.pg?.reads === false ? ctx.pg.reason : 'it does not parse'}. libpq reads it; for pg, ${'percent-encode "/", "?", "#" and "@" in the user name and password (encodeURIComponent)'}.`);
    } else {
      add(ctx, 'info', 'PG_CONNINFO', 'node-postgres', 'node-postgres reads only postgres:// URLs: pg-connection-string turns a key=value string into a database name on host "base". For pg, write the same settings as a URL.');
    }
    return;
  }
  readingFindings(ctx);
  return nodePostgresModeFindings(ctx, pg, level, unverifiable);
}

/** Where node-postgres reads other parameters than libpq: a `#` fragment, `+` in values. */
function readingFindings(ctx: Context): void {
  const libpqParams = ctx.params;
  const pgParams = ctx.pgParams;
  if (ctx.pg?.reads && ctx.pg.fragment !== undefined) {
    const lost = Object.keys(libpqParams).filter((key) => key !== 'password' && pgParams[key] === undefined && !['host', 'port', 'dbname', 'user'].includes(key));
    const glued = Object.entries(libpqParams).filter(([key, value]) => value.includes('#') && !isSecret(ctx, key)).map(([key, value]) => `${key}=${quoteValue(value)}`);
    const what = lost.length > 0 ? `it does not read ${nameKeys(ctx, lost)}, which libpq reads` : 'it reads no parameter from it';
    const libpqSide = glued.length > 0 ? ` libpq has no fragments and reads the "#" as data (${glued.slice(0, 3).join(', ')}).` : '';
    add(ctx, lost.some((k) => k.startsWith('ssl')) ? 'warning' : 'info', 'PG_FRAGMENT', 'node-postgres', `node-postgres drops everything after "#" (a URL fragment): ${what}.${libpqSide} Remove the "#..." or encode it as %23; the fixed string puts sslmode and sslrootcert before it.`);
  }
  const plus = Object.keys(pgParams).filter((key) => !isSecret(ctx, key) && libpqParams[key] !== undefined && libpqParams[key] !== pgParams[key] && libpqParams[key]?.includes('+'));
  if (plus.length > 0) {
    const shown = plus.slice(0, 3).map((key) => `${key}: libpq ${quoteValue(libpqParams[key] as string)}, node-postgres ${quoteValue(pgParams[key] as string)}`);
    add(ctx, plus.some((k) => k.startsWith('ssl')) ? 'warning' : 'info', 'PG_PLUS_SPACE', 'both', `node-postgres reads "+" in a URL value as a space, libpq as "+" (${shown.join('; ')}). Write "+" as %2B and a space as %20, which both read alike.`);
  }
}

/**
 * A parameter value for a message. What follows a `#` is cut: libpq reads a fragment as part of
 * the value, and it may hold a secret pair (`x#password=...`) that node-postgres would never see.
 */
function quoteValue(value: string): string {
  const fragment = value.indexOf('#');
  const shown = fragment >= 0 ? `${value.slice(0, fragment + 1)}...` : value;
  return JSON.stringify(shown.length > 60 ? `${shown.slice(0, 60)}...` : shown);
}

function nodePostgresModeFindings(ctx: Context, pg: ClientBehaviour, level: (severity: FindingSeverity) => FindingSeverity, unverifiable: boolean): void {
  const { env } = ctx;
  const params = ctx.pgParams;
  const compat = params.uselibpqcompat === 'true';
  const pgMode = present(params.sslmode);
  const sslParams = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey'].some((key) => present(params[key]) !== undefined);
  if (env.NODE_TLS_REJECT_UNAUTHORIZED === '0') {
    add(ctx, 'error', 'VERIFY_DISABLED', 'node-postgres', 'NODE_TLS_REJECT_UNAUTHORIZED=0 is set: Node checks no certificate in this process, whatever the connection string says. Unset it and give the CA instead (sslrootcert, or getPgSslOptions).');
  }
  if (pgMode === 'no-verify' || (!sslParams && params.ssl === 'no-verify') || (!sslParams && params.ssl === undefined && pg.sslmodeFrom === 'environment' && pg.sslmode === 'no-verify')) {
    const what = pgMode === 'no-verify' ? 'sslmode "no-verify"' : params.ssl === 'no-verify' ? 'ssl "no-verify"' : 'PGSSLMODE "no-verify"';
    add(ctx, level('error'), 'VERIFY_DISABLED', 'node-postgres', `${what} makes node-postgres skip certificate verification (rejectUnauthorized: false): anyone in the path can pose as the server. Give pg the CA instead: ${URL_FIX}.`);
  } else if (!pg.refusal && pg.encryption === 'never') {
    if (pg.sslmodeFrom === 'default') {
      add(ctx, level('error'), 'SSLMODE_MISSING', 'node-postgres', `No sslmode or ssl in the URL and no PGSSLMODE: node-postgres connects without TLS at all, so the password crosses the network in clear text. Add sslmode=verify-full and sslrootcert: ${URL_FIX}.`);
    } else {
      const what = pgMode !== undefined ? `sslmode "${pgMode}"` : params.ssl !== undefined ? `ssl "${params.ssl}"` : `PGSSLMODE "${pg.sslmode}"`;
      add(ctx, level('error'), 'SSLMODE_WEAK', 'node-postgres', `${what} makes node-postgres connect without TLS. Use sslmode=verify-full with sslrootcert: ${URL_FIX}.`);
    }
  } else if (compat && pgMode !== undefined && LIBPQ_MODES.includes(pgMode) && rank(pgMode) < rank('verify-full') && !unverifiable && !pg.refusal) {
    const severity = pg.verifiesChain ? 'warning' : 'error';
    add(ctx, level(severity), 'SSLMODE_WEAK', 'node-postgres', `uselibpqcompat=true gives sslmode "${pgMode}" its libpq meaning: ${pg.verifiesChain ? 'the chain is checked but not the host name' : 'the server is not authenticated'}. Use sslmode=verify-full: ${URL_FIX}.`);
  } else if (!compat && (pgMode === 'prefer' || pgMode === 'require' || pgMode === 'verify-ca') && !unverifiable) {
    add(ctx, level('warning'), 'PG_SSLMODE_ALIAS', 'node-postgres', `sslmode "${pgMode}" verifies fully today only because pg 8 treats it as verify-full; pg 9 (pg-connection-string 3) gives it libpq's meaning${pgMode === 'verify-ca' ? ' (no host-name check)' : ', which does not authenticate the server'}, so this string silently loses verification on upgrade. Write sslmode=verify-full.`);
  }
  if (sslParams && params.ssl !== undefined) {
    add(ctx, 'info', 'PARAM_IGNORED', 'node-postgres', `ssl "${params.ssl}" has no effect in node-postgres because the URL also sets ${['sslmode', 'sslrootcert', 'sslcert', 'sslkey'].filter((k) => present(params[k]) !== undefined).join(', ')}; remove it to avoid confusion.`);
  } else if (!sslParams && params.ssl !== undefined && !['true', '1', '0', 'no-verify'].includes(params.ssl)) {
    add(ctx, 'info', 'PARAM_IGNORED', 'node-postgres', `ssl "${params.ssl}" is not a value node-postgres defines (it reads true, 1, 0 and no-verify); pg passes it on as a truthy value, so TLS stays on with full verification. Write sslmode=verify-full (or sslmode=disable) instead.`);
  }
  const rejectKey = Object.keys(params).find((key) => key.toLowerCase() === 'rejectunauthorized');
  if (rejectKey !== undefined) {
    add(ctx, 'info', 'PARAM_IGNORED', 'node-postgres', `node-postgres ignores the URL parameter "${rejectKey}=${params[rejectKey]}" (pg-connection-string has no such option). In code, ssl: { rejectUnauthorized: false } does turn verification off — and an sslmode in the URL replaces the code's ssl object. Remove it.`);
  }
  if (ctx.hosts.length > 1) {
    add(ctx, 'info', 'PG_MULTI_HOST', 'node-postgres', `node-postgres connects to one host; it does not read a host list ("${ctx.hosts.map((h) => h.spec.host).join(',')}"). Use one URL per host with pg.`);
  }
  if (present(params.hostaddr) !== undefined) {
    add(ctx, 'info', 'PG_HOSTADDR', 'node-postgres', 'node-postgres ignores hostaddr and resolves the host name itself. To reach an address with pg, connect to the address and set ssl.servername to the name (getPgSslOptions(host, { hostaddr })).');
  }
}

function rootCertFindings(ctx: Context, libpq: LibpqState, pg: ClientBehaviour, relaxed: boolean): void {
  const { params, env } = ctx;
  const level = (severity: FindingSeverity): FindingSeverity => (relaxed ? 'info' : severity);
  const paramRoot = present(params.sslrootcert);
  const envRoot = present(env.PGSSLROOTCERT);
  const checked = new Set<string>();

  if (paramRoot === 'system' || (paramRoot === undefined && envRoot === 'system')) {
    const from = paramRoot === 'system' ? 'sslrootcert=system' : 'PGSSLROOTCERT=system';
    add(ctx, 'info', 'SSLROOTCERT_SYSTEM', 'libpq', `${from} makes libpq 16+ trust the SSL library's default roots (OpenSSL honours SSL_CERT_FILE and SSL_CERT_DIR) and forces verify-full. Older libpq looks for a file named "system". It suits providers with publicly trusted certificates only.`);
    for (const h of ctx.hosts) {
      if (h.trust && h.provider && h.trust.kind !== 'none' && !h.trust.systemTrustStore) {
        add(ctx, level('error'), 'SYSTEM_STORE_UNTRUSTED', 'libpq', `${from} cannot verify ${h.provider.name}: its servers' certificates chain to ${h.provider.id === 'rds' ? 'a private Amazon RDS CA' : 'a CA'} that no public trust store holds, so the connection fails. Use the provider's bundle as sslrootcert: ${URL_FIX}.`, h.result.host);
      }
    }
  }
  const pgRoot = present(ctx.pgParams.sslrootcert);
  if (pgRoot === 'system' && pg.reads) {
    add(ctx, level('error'), 'SSLROOTCERT_SYSTEM_PG', 'node-postgres', `node-postgres does not support sslrootcert=system: it reads a file named "system" and fails (ENOENT). For pg, drop sslrootcert to use Node's built-in roots (public-CA providers only), or give the bundle's path: ${URL_FIX}.`);
  }

  const files: Array<{ written: string; from: 'connection string' | 'environment' | 'default'; client: FindingClient; label: string }> = [];
  if (paramRoot !== undefined && paramRoot !== 'system') files.push({ written: paramRoot, from: 'connection string', client: pg.reads && pgRoot === paramRoot ? 'both' : 'libpq', label: `sslrootcert "${paramRoot}"` });
  // node-postgres may read another file: "+" as a space, or a fragment hiding the parameter.
  if (pg.reads && pgRoot !== undefined && pgRoot !== 'system' && pgRoot !== paramRoot) files.push({ written: pgRoot, from: 'connection string', client: 'node-postgres', label: `sslrootcert "${pgRoot}" (as node-postgres reads it)` });
  if (paramRoot === undefined && envRoot !== undefined && envRoot !== 'system') files.push({ written: envRoot, from: 'environment', client: 'libpq', label: `PGSSLROOTCERT "${envRoot}"` });
  if (paramRoot === undefined && envRoot !== undefined && pg.reads) {
    add(ctx, 'info', 'PG_ENV_SSLROOTCERT', 'node-postgres', `node-postgres does not read PGSSLROOTCERT ("${envRoot}"); it checks the server against Node's built-in roots unless the URL has sslrootcert.`);
  }
  if (libpq.rootFile?.from === 'default' && readState(ctx, libpq.rootFile.path).state !== 'missing') {
    const path = libpq.rootFile.path;
    const mode = libpq.behaviour.sslmode;
    add(ctx, 'info', 'ROOT_CRT_DEFAULT', 'libpq', `No sslrootcert is set, so libpq uses "${path}"${mode === 'require' ? ', which turns sslmode=require into verify-ca' : ''}. A stale or foreign file there breaks connections to other providers; name the bundle explicitly.`);
    files.push({ written: path, from: 'default', client: 'libpq', label: `"${path}" (libpq's default root certificate file)` });
  }

  for (const file of files) {
    const path = resolve(ctx.cwd, file.written);
    if (file.from !== 'default' && !isAbsolute(file.written)) {
      const tilde = file.written.startsWith('~') ? ' Neither libpq nor node-postgres expands "~".' : '';
      add(ctx, 'warning', 'SSLROOTCERT_RELATIVE', file.client, `${file.label} is a relative path: it is opened relative to the working directory of the process (here "${path}"), which changes between shells, services and serverless bundles.${tilde} Use an absolute path: ${URL_FIX}.`);
    }
    if (checked.has(path)) continue;
    checked.add(path);
    const state = readState(ctx, path);
    if (state.state === 'missing') {
      const effect = libpq.behaviour.sslmode === 'require' ? 'libpq with sslmode=require then silently skips verification, libpq with verify-ca/verify-full refuses to connect' : 'libpq refuses to connect';
      add(ctx, level('error'), 'SSLROOTCERT_MISSING', file.client, `${file.label} does not exist (looked for "${path}"): ${effect}${file.client === 'both' ? ', and node-postgres fails with ENOENT' : ''}. ${URL_FIX_SENTENCE}`);
      continue;
    }
    if (state.state === 'unreadable') {
      add(ctx, level('error'), 'SSLROOTCERT_UNREADABLE', file.client, `${file.label}: ${state.reason}`);
      continue;
    }
    checkBundle(ctx, file.label, file.client, state.certs, level);
  }

  // A verifying client without any CA to check against.
  const verifyingHosts = ctx.hosts.filter((h) => h.trust && (h.trust.kind === 'bundle' || h.trust.kind === 'account') && !h.trust.systemTrustStore);
  if (pg.reads && !pg.refusal && pg.verifiesChain && pg.roots.kind === 'node' && verifyingHosts.length > 0) {
    const h = verifyingHosts[0] as (typeof verifyingHosts)[number];
    add(ctx, level('error'), 'SSLROOTCERT_NEEDED', 'node-postgres', `node-postgres verifies ${h.result.host} against Node's built-in roots, which do not hold the CA of ${h.provider?.name}: the connection fails (SELF_SIGNED_CERT_IN_CHAIN), and the usual "fix", rejectUnauthorized: false, removes all protection. Add sslrootcert with the provider's bundle: ${URL_FIX}.`, h.result.host);
  }
  if (pg.reads && pg.refusal?.includes('verify-ca')) {
    add(ctx, level('error'), 'SSLROOTCERT_NEEDED', 'node-postgres', `node-postgres refuses sslmode=verify-ca with uselibpqcompat=true when there is no sslrootcert. Use sslmode=verify-full with sslrootcert: ${URL_FIX}.`);
  }
  if (libpq.behaviour.refusal?.includes('needs a root certificate file') && libpq.rootFile?.from === 'default') {
    add(ctx, level('error'), 'SSLROOTCERT_NEEDED', 'libpq', `sslmode=${libpq.behaviour.sslmode} without sslrootcert: libpq looks for "${libpq.rootFile.path}", which does not exist, and refuses to connect. Add sslrootcert with the provider's bundle: ${URL_FIX}.`);
  }
}

/** Pins of every provider by fingerprint, for naming the owner of a foreign certificate. */
const pinIndexes = new WeakMap<Registry, Map<string, Array<{ provider: Provider; pin: PinnedCertificate }>>>();

function pinIndex(registry: Registry): Map<string, Array<{ provider: Provider; pin: PinnedCertificate }>> {
  let index = pinIndexes.get(registry);
  if (!index) {
    index = new Map();
    for (const provider of registry.providers) {
      for (const pin of provider.certificates) index.set(pin.sha256, [...(index.get(pin.sha256) ?? []), { provider, pin }]);
    }
    pinIndexes.set(registry, index);
  }
  return index;
}

function isValidAt(cert: X509Certificate, now: Date): boolean {
  return Date.parse(cert.validFrom) <= now.getTime() && now.getTime() <= Date.parse(cert.validTo);
}

function listCerts(certs: X509Certificate[], max = 3): string {
  const shown = certs.slice(0, max).map((c) => `"${commonName(c.subject.split('\n').join(', '))}" (until ${new Date(c.validTo).toISOString().slice(0, 10)})`);
  return certs.length > max ? `${shown.join(', ')} and ${certs.length - max} more` : shown.join(', ');
}

/** Does the file hold the CA of each host's provider, for its region, valid today? */
function checkBundle(ctx: Context, label: string, client: FindingClient, certs: X509Certificate[], level: (s: FindingSeverity) => FindingSeverity): void {
  const { now } = ctx;
  const index = pinIndex(ctx.registry);
  const soon = now.getTime() + 30 * DAY_MS;
  let checkedAgainstProvider = false;
  for (const h of ctx.hosts) {
    const { provider, trust } = h;
    if (!provider || !trust || trust.kind === 'none') continue;
    const host = h.result.host;
    const trustPins = provider.certificates.filter((p) => p.trust.includes(trust.id));
    const pinned = new Map(trustPins.map((p) => [p.sha256, p]));
    const constraint = trust.unpinned === 'constraints' && trust.constraints ? new RegExp(trust.constraints.subject) : undefined;
    const belongs = (cert: X509Certificate): boolean => {
      if (pinned.has(cert.fingerprint256)) return true;
      if (!constraint || !cert.ca) return false;
      const summary = summarizeCertificate(cert);
      // A certificate carrying a pinned name (by CN) with another fingerprint is a forgery, not a new root.
      return constraint.test(summary.subject) && !findLookalikePin(ctx.registry.providers, summary.subject, summary.sha256) && (!trust.constraints?.selfSigned || summary.selfSigned);
    };
    const lookalike = certs.map((c) => ({ c, pin: index.has(c.fingerprint256) ? undefined : findLookalikePin(ctx.registry.providers, summarizeCertificate(c, { verifySignature: false }).subject, c.fingerprint256) })).find((l) => l.pin);
    if (lookalike?.pin) {
      add(ctx, level('error'), 'SSLROOTCERT_LOOKALIKE', client, `${label} holds "${commonName(lookalike.c.subject.split('\n').join(', '))}" (SHA-256 ${lookalike.c.fingerprint256}), which carries the name of pinned "${commonName(lookalike.pin.pin.subject)}" (${lookalike.pin.provider.id}, SHA-256 ${lookalike.pin.pin.sha256}) but another fingerprint: a forgery or lookalike. Do not use the file: ${URL_FIX}.`, host);
      checkedAgainstProvider = true;
      continue;
    }
    if (trustPins.length === 0 && !constraint) {
      const valid = certs.filter((c) => isValidAt(c, now));
      if (valid.length === 0) {
        add(ctx, level('error'), 'SSLROOTCERT_EXPIRED', client, `${label} holds no certificate valid today: ${listCerts(certs)}. Get a current CA from ${provider.name} and \`pgcerts import ${provider.id} <file>\`.`, host);
      } else {
        add(ctx, 'info', 'ACCOUNT_CA_UNCHECKED', client, `${provider.name} gives each ${trust.scope ?? 'account'} its own CA, so pgcerts cannot tell whether ${label} is yours; it holds ${listCerts(valid)}. \`pgcerts import ${provider.id} <file>\` checks it and keeps it with the other bundles.`, host);
      }
      checkedAgainstProvider = true;
      continue;
    }
    const own = certs.filter(belongs);
    if (own.length === 0) {
      const owners = new Set<string>();
      for (const cert of certs) for (const { provider: p, pin } of index.get(cert.fingerprint256) ?? []) owners.add(`${p.id} ("${commonName(pin.subject)}")`);
      const held = owners.size > 0 ? `it holds certificates of ${[...owners].slice(0, 4).join(', ')}${owners.size > 4 ? ' and more' : ''}` : `it holds ${listCerts(certs)}, which the registry does not know`;
      add(ctx, level('error'), 'SSLROOTCERT_WRONG_PROVIDER', client, `${label} holds no CA of ${provider.name} (${provider.id}, trust ${trust.id}), so verification of ${host} fails: ${held}. ${URL_FIX_SENTENCE}`, host);
      checkedAgainstProvider = true;
      continue;
    }
    const valid = own.filter((c) => isValidAt(c, now));
    if (valid.length === 0) {
      const legacy = own.some((c) => /Root 2019 CA|2019 CA/.test(c.subject)) ? ' It is an outdated bundle (such as the legacy rds-combined-ca-bundle.pem, whose 2019 CA expired in August 2024).' : '';
      add(ctx, level('error'), 'SSLROOTCERT_EXPIRED', client, `Every ${provider.name} certificate in ${label} has expired: ${listCerts(own)}.${legacy} Replace it: ${URL_FIX}.`, host);
      checkedAgainstProvider = true;
      continue;
    }
    let usable = valid;
    const region = h.result.match?.region;
    const regional = region === undefined ? [] : trustPins.filter((p) => p.region === region);
    if (region !== undefined && regional.length > 0) {
      const regionalPins = new Set(regional.map((p) => p.sha256));
      usable = valid.filter((c) => regionalPins.has(c.fingerprint256) || (!pinned.has(c.fingerprint256) && c.subject.includes(` ${region} `)));
      if (usable.length === 0) {
        const regions = [...new Set(valid.map((c) => pinned.get(c.fingerprint256)?.region).filter((r): r is string => r !== undefined))];
        add(ctx, level('error'), 'SSLROOTCERT_WRONG_REGION', client, `${label} holds ${provider.name} certificates${regions.length > 0 ? ` for ${regions.slice(0, 3).join(', ')}` : ''}, but none for region ${region}, where ${host} is: verification fails. Use the ${region} or the global bundle: ${URL_FIX}.`, host);
        checkedAgainstProvider = true;
        continue;
      }
    }
    const unpinned = usable.filter((c) => !pinned.has(c.fingerprint256));
    if (unpinned.length > 0) {
      add(ctx, level('warning'), 'SSLROOTCERT_UNPINNED', client, `${label} holds ${listCerts(unpinned)}, unpinned: the registry does not pin ${unpinned.length === 1 ? 'it' : 'them'} for ${provider.name}, and only ${unpinned.length === 1 ? 'its' : 'their'} shape fits the registry's constraints. Compare the SHA-256 with the provider's documentation, or use the pinned bundle: ${URL_FIX}.`, host);
    }
    const latest = Math.max(...usable.map((c) => Date.parse(c.validTo)));
    if (latest < soon) {
      add(ctx, level('warning'), 'SSLROOTCERT_EXPIRING', client, `The ${provider.name} certificates in ${label} all expire within 30 days (the last on ${new Date(latest).toISOString().slice(0, 10)}). Replace the file before then: ${URL_FIX}.`, host);
    }
    checkedAgainstProvider = true;
  }
  if (!checkedAgainstProvider && certs.length > 0 && !certs.some((c) => isValidAt(c, now))) {
    add(ctx, level('error'), 'SSLROOTCERT_EXPIRED', client, `${label} holds no certificate valid today: ${listCerts(certs)}. Replace it with the server's current CA.`);
  }
}

/** The absolute path of the user's own CA file when it passed every check, for the fixed string. */
function goodUserFile(ctx: Context): string | undefined {
  const written = present(ctx.params.sslrootcert) ?? present(ctx.env.PGSSLROOTCERT);
  if (written === undefined || written === 'system') return undefined;
  const path = resolve(ctx.cwd, written);
  if (readState(ctx, path).state !== 'read') return undefined;
  const fileCodes: FindingCode[] = ['SSLROOTCERT_MISSING', 'SSLROOTCERT_UNREADABLE', 'SSLROOTCERT_WRONG_PROVIDER', 'SSLROOTCERT_WRONG_REGION', 'SSLROOTCERT_EXPIRED', 'SSLROOTCERT_EXPIRING', 'SSLROOTCERT_LOOKALIKE', 'SSLROOTCERT_UNPINNED'];
  // Findings about the other file node-postgres reads ("+" as a space) do not count: the fixed string encodes the path.
  return ctx.findings.some((f) => fileCodes.includes(f.code) && f.severity !== 'info' && f.client !== 'node-postgres') ? undefined : path;
}

type FixPlan =
  | { kind: 'keep' }
  | { kind: 'rewrite'; path: string; sslmode: 'verify-full' | 'verify-ca' }
  | { kind: 'resolve'; sslmode: 'verify-full' | 'verify-ca' }
  | { kind: 'none' };

function planFix(ctx: Context): FixPlan {
  if (!ctx.findings.some((f) => f.severity !== 'info')) return { kind: 'keep' };
  const sslmode = wantedMode(ctx);
  const blocked = ctx.hosts.length === 0 || ctx.hosts.some((h) => h.type !== 'name' || h.trust?.kind === 'none' || h.alias?.result.match !== undefined);
  if (blocked) return { kind: 'none' };
  const own = goodUserFile(ctx);
  if (own !== undefined) return { kind: 'rewrite', path: own, sslmode };
  if (ctx.hosts.some((h) => !h.result.match) || ctx.findings.some((f) => f.code === 'ACCOUNT_CA_MISSING')) return { kind: 'none' };
  return { kind: 'resolve', sslmode };
}

function analyze(input: string, options: DiagnoseOptions): { diagnosis: Diagnosis; plan: FixPlan; raw: string; ctx: Context } {
  const target = parseConnectionTarget(input);
  if (target.form === 'host') {
    throw new PgcertsError('INVALID_INPUT', 'Give `pgcerts doctor` a postgres:// URL or a key=value connection string, not a bare host; for a host, run `pgcerts lookup <host>`.');
  }
  const env = options.env ?? process.env;
  const registry = options.registry ?? getBundledRegistry();
  let specs = target.hosts;
  const pghost = present(env.PGHOST);
  if (specs.length === 0 && pghost !== undefined && !pghost.startsWith('/')) specs = pghost.split(',').map((host) => ({ host: host.trim() }));
  const pgReading = target.form === 'url' ? readNodePostgresUrl(input) : undefined;
  const ctx: Context = {
    target,
    params: target.params,
    pg: pgReading,
    pgParams: pgReading?.reads ? pgReading.params : {},
    hiddenKeys: keysHiddenAfterSecret(input),
    env,
    cwd: options.cwd ?? process.cwd(),
    now: options.now ?? new Date(),
    registry,
    readFile: options.readFile ?? defaultReadFile,
    hosts: [],
    findings: [],
    files: new Map(),
  };
  for (const spec of specs) {
    const result = lookupHost(spec, { registry });
    const normalized = normalizeHost(spec.host);
    const local = result.host !== undefined && (result.host === 'localhost' || result.host.endsWith('.localhost') || result.host === '::1' || result.host.startsWith('127.'));
    const type: DiagnosedHost['type'] = normalized.type === 'invalid' ? 'invalid' : local ? 'local' : normalized.type;
    const entry: Context['hosts'][number] = { spec, result, type };
    if (result.match) {
      entry.provider = registry.getProvider(result.match.provider);
      entry.trust = entry.provider.trust.find((t) => t.id === result.match?.trust.id);
    } else if (type === 'name' && result.host) {
      for (const name of options.cnames?.[result.host] ?? []) {
        const aliasResult = lookupHost({ host: name }, { registry });
        if (aliasResult.match) {
          entry.alias = { name, result: aliasResult };
          break;
        }
      }
    }
    ctx.hosts.push(entry);
  }

  const relaxed = ctx.hosts.length === 0 || ctx.hosts.every((h) => h.type === 'local');
  if (ctx.hosts.length === 0) {
    add(ctx, 'info', 'NO_HOST', 'both', 'The string names no host and PGHOST is not set: libpq connects over a local Unix socket, where TLS does not apply; node-postgres connects to localhost. pgcerts cannot choose a CA without a host.');
  }
  const libpq = analyzeLibpq(ctx, options);
  const nodePostgres = analyzeNodePostgres(ctx);
  const hosts = describeHosts(ctx, options);
  sslmodeFindings(ctx, libpq, nodePostgres, relaxed);
  rootCertFindings(ctx, libpq, nodePostgres, relaxed);

  const findings = sortFindings(ctx.findings);
  const plan = planFix(ctx);
  const raw = input.trim();
  let fixed: string | null = null;
  if (plan.kind === 'keep') fixed = raw;
  else if (plan.kind === 'rewrite') fixed = secureConnectionString(raw, plan.path, plan.sslmode);
  const shown = (text: string | null): string | null => (text === null || options.showPassword ? text : redactConnectionString(text));
  return {
    diagnosis: { input: redactConnectionString(raw), form: target.form, hosts, findings, libpq: libpq.behaviour, nodePostgres, fixed: shown(fixed) },
    plan,
    raw,
    ctx,
  };
}

/**
 * Explain what a connection string does under libpq and under node-postgres, and flag what
 * makes it unsafe or fragile: weak or missing sslmode, `no-verify`, `sslrootcert=system` given
 * to pg, relative, missing, foreign or expired CA files, IP addresses, hosts no provider claims,
 * providers that cannot be verified and account CAs not yet imported.
 *
 * Pure apart from the injected facts (`env`, `cwd`, `readFile`, `hasImportedCa`, whose defaults
 * read this machine); no network. `fixed` is set when no bundle has to be fetched (nothing to
 * fix, or the string's own CA file is right); {@link diagnoseAndFixConnection} also fetches.
 * @throws PgcertsError `INVALID_INPUT` when the string cannot be read or is a bare host.
 * @example diagnoseConnection('postgres://app@mydb.abc123xyz.eu-west-1.rds.amazonaws.com/app?sslmode=require').findings[0].code // 'SSLMODE_WEAK'
 */
export function diagnoseConnection(input: string, options: DiagnoseOptions = {}): Diagnosis {
  return analyze(input, options).diagnosis;
}

/**
 * {@link diagnoseConnection}, plus the fixed string for every case pgcerts can fix: like
 * `pgcerts url`, it uses the bundle {@link getSslRootCert} picks (imported, cached or
 * downloaded). A failure to get the bundle becomes a `FIX_FAILED` finding and `fixed: null`.
 * @throws PgcertsError `INVALID_INPUT`; errors that are not PgcertsError (bugs) propagate.
 */
export async function diagnoseAndFixConnection(input: string, options: DiagnoseOptions & ResolveOptions = {}): Promise<Diagnosis> {
  const { diagnosis, plan, raw } = analyze(input, options);
  if (plan.kind !== 'resolve') return diagnosis;
  const { getSslRootCert } = await import('./resolve.js');
  try {
    const resolved = await getSslRootCert(raw, options);
    const fixed = secureConnectionString(raw, resolved.path, resolved.sslmode === 'verify-ca' ? 'verify-ca' : 'verify-full');
    const notes: Finding[] = resolved.warnings.map((message) => ({ severity: 'info', code: 'BUNDLE_NOTE', client: 'both', message }));
    return { ...diagnosis, findings: sortFindings([...diagnosis.findings, ...notes]), fixed: options.showPassword ? fixed : redactConnectionString(fixed) };
  } catch (error) {
    if (!(error instanceof PgcertsError)) throw error;
    const finding: Finding = { severity: 'error', code: 'FIX_FAILED', client: 'both', message: `No fixed string: ${error.message}` };
    return { ...diagnosis, findings: sortFindings([...diagnosis.findings, finding]), fixed: null };
  }
}

/**
 * Follow the CNAME chain of each host (at most 5 steps), for {@link DiagnoseOptions.cnames}.
 * Hosts without CNAME records, and failed lookups, get an empty chain.
 * @param resolveCname injected for tests; defaults to `node:dns` `promises.resolveCname`.
 */
export async function resolveCnames(hosts: string[], resolveCname?: (host: string) => Promise<string[]>): Promise<Record<string, string[]>> {
  const lookupCname = resolveCname ?? (await import('node:dns')).promises.resolveCname;
  const chains: Record<string, string[]> = {};
  await Promise.all(hosts.map(async (host) => {
    const chain: string[] = [];
    let current = host;
    for (let step = 0; step < 5; step++) {
      let targets: string[];
      try {
        targets = await lookupCname(current);
      } catch {
        break;
      }
      const next = targets[0]?.replace(/\.$/, '').toLowerCase();
      if (next === undefined || chain.includes(next) || next === host) break;
      chain.push(next);
      current = next;
    }
    chains[host] = chain;
  }));
  return chains;
}

/** What `pgcerts doctor --driver` says about one connection string and one driver. */
export interface DriverDiagnosis {
  driver: { id: DriverId; name: string; covers: string; versions: string };
  /** The input, password redacted. */
  input: string;
  form: 'url' | 'conninfo';
  hosts: DiagnosedHost[];
  /** What the driver does with the string. */
  behaviour: DriverBehaviour;
  /** Worst first: the host and CA-file findings, and what this driver does with the string. */
  findings: Finding[];
  /** The string to use with this driver (the input itself when nothing worse than `info` was found); `null` when pgcerts cannot choose a CA bundle or the driver cannot read this form. */
  fixed: string | null;
  /** The CA file `fixed` uses. */
  sslrootcert: string | null;
  /** Settings outside the string (JVM flags, code), one line each. */
  notes: string[];
  /** The documented (or, `confirmed: false`, read from source) facts the answer rests on. */
  facts: DriverFact[];
}

// Findings about the CA file the string names: every driver that reads sslrootcert meets them.
const FILE_CODES: ReadonlySet<FindingCode> = new Set<FindingCode>([
  'SSLROOTCERT_RELATIVE', 'SSLROOTCERT_MISSING', 'SSLROOTCERT_UNREADABLE', 'SSLROOTCERT_WRONG_PROVIDER', 'SSLROOTCERT_WRONG_REGION',
  'SSLROOTCERT_EXPIRED', 'SSLROOTCERT_EXPIRING', 'SSLROOTCERT_LOOKALIKE', 'SSLROOTCERT_UNPINNED', 'ROOT_CRT_DEFAULT',
]);
// Findings about how libpq or node-postgres read the string: not about another driver.
const LIBPQ_PG_CODES: ReadonlySet<FindingCode> = new Set<FindingCode>(['PG_PLUS_SPACE', 'SSLNEGOTIATION_DIRECT', 'LIBPQ_UNKNOWN_PARAM', 'PG_FRAGMENT']);

/** The findings of the general diagnosis that hold for `driver`, attributed to it. */
function findingsForDriver(driver: DriverData, findings: readonly Finding[]): Finding[] {
  if (driver.id === 'libpq' || driver.id === 'node-postgres') return findings.filter((f) => f.client === driver.id || f.client === 'both');
  return findings.flatMap((f): Finding[] => {
    if (FILE_CODES.has(f.code)) return driver.rules.rootParam === 'sslrootcert' && f.client !== 'node-postgres' ? [{ ...f, client: driver.id }] : [];
    if (f.client !== 'both' || LIBPQ_PG_CODES.has(f.code)) return [];
    return [f];
  });
}

/** What the driver's reading of the string means: refusals, missing or weak TLS, roots that cannot verify the provider. */
function driverModeFindings(ctx: Context, driver: DriverData, b: DriverBehaviour): Finding[] {
  const out: Finding[] = [];
  const relaxed = ctx.hosts.length === 0 || ctx.hosts.every((h) => h.type === 'local');
  const unverifiable = ctx.hosts.length > 0 && ctx.hosts.every((h) => h.trust?.kind === 'none');
  const level = (severity: FindingSeverity): FindingSeverity => (relaxed || unverifiable ? 'info' : severity);
  const push = (severity: FindingSeverity, code: FindingCode, message: string, host?: string): void => {
    out.push(host === undefined ? { severity, code, client: driver.id, message } : { severity, code, client: driver.id, host, message });
  };
  const wanted = wantedMode(ctx);
  const fix = `the fixed string below (\`pgcerts doctor --driver ${driver.id}\`) does that`;
  const mode = b.sslmode === undefined ? 'no sslmode' : `sslmode "${b.sslmode}"${b.sslmodeFrom === 'environment' ? ' (from PGSSLMODE)' : b.sslmodeFrom === 'default' ? ' (its default)' : ''}`;
  if (b.refusal !== undefined) {
    push(level('error'), 'DRIVER_REFUSES', `${driver.name} refuses this string: ${b.refusal} Use ${fix}.`);
  } else if (b.encryption === 'never') {
    push(level('error'), 'DRIVER_NO_TLS', `With ${mode}, ${driver.name} connects without TLS, so the password crosses the network in clear text. ${capitalize(fix)}.`);
  } else if (b.encryption === 'maybe') {
    push(level('error'), 'DRIVER_WEAK', `With ${mode}, ${driver.name} ${b.summary.replace(/\.$/, '')}. ${capitalize(fix)}.`);
  } else if (!b.verifiesChain) {
    push(level('error'), 'DRIVER_WEAK', `With ${mode}, ${driver.name} encrypts but does not authenticate the server: anyone in the path can pose as it. ${capitalize(fix)}.`);
  } else if (!b.verifiesHostName && wanted === 'verify-full') {
    push(level('warning'), 'DRIVER_WEAK', `With ${mode}, ${driver.name} checks the certificate chain but not the host name, so any server with a certificate from the same CA passes. ${capitalize(fix)}.`);
  }
  if (b.verifiesChain && (b.roots.kind === 'system' || b.roots.kind === 'node')) {
    const where = b.roots.kind === 'system' ? 'the system\'s default roots' : 'Node\'s built-in roots';
    for (const h of ctx.hosts) {
      if (h.trust && h.provider && (h.trust.kind === 'bundle' || h.trust.kind === 'account') && !h.trust.systemTrustStore) {
        push(level('error'), 'DRIVER_ROOTS', `${driver.name} checks ${h.result.host} against ${where}, which do not hold the CA of ${h.provider.name}: the connection fails, and turning verification off is no fix. Give the provider's bundle: ${fix}.`, h.result.host);
      }
    }
  }
  if (b.verifiesChain && b.roots.kind === 'file+system') {
    push('info', 'DRIVER_ROOTS', `${driver.name} adds "${b.roots.path}" to the system's roots instead of trusting it alone, so a certificate from any public CA for the host name also passes.`);
  }
  if (driver.id === 'prisma') {
    const root = present(ctx.params.sslrootcert);
    if (root !== undefined) push('info', 'DRIVER_NOTE', `Prisma does not read sslrootcert ("${root}"); its CA file parameter is sslcert.`);
    const cert = present(ctx.params.sslcert);
    if (cert !== undefined && !isAbsolute(cert)) push('warning', 'SSLROOTCERT_RELATIVE', `sslcert "${cert}" is a relative path, which Prisma resolves against the directory of schema.prisma, not the working directory; use an absolute path.`);
  }
  if (driver.id === 'pgjdbc' && present(ctx.params.sslfactory) !== undefined) {
    push('info', 'DRIVER_NOTE', `sslfactory=${ctx.params.sslfactory}: the root-file rules above are those of the default LibPQFactory; DefaultJavaSSLFactory checks against the JVM's truststore, NonValidatingFactory checks nothing.`);
  }
  return out;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * {@link diagnoseAndFixConnection} for one driver (`pgjdbc`, `asyncpg`, `pgx`, `prisma`, or
 * `libpq` and `node-postgres`; aliases such as `psycopg` or `jdbc` work too): what that driver
 * does with the string, by the rules and facts in `drivers.ts`, and the string (or options) that
 * make it verify the server. A `jdbc:postgresql://` URL is read for pgjdbc.
 * @throws PgcertsError `USAGE` for an unknown driver, `INVALID_INPUT` for an unreadable string.
 * @example (await diagnoseForDriver('postgresql://app@db.abcdefghijklmnopqrst.supabase.co/postgres?sslmode=verify-full', 'prisma')).findings[0].code // 'DRIVER_WEAK'
 */
export async function diagnoseForDriver(input: string, driverName: string, options: DiagnoseOptions & ResolveOptions = {}): Promise<DriverDiagnosis> {
  const driver = getDriver(driverName);
  const written = input.trim();
  const jdbc = /^jdbc:postgresql:\/\//i.test(written);
  if (jdbc && driver.id !== 'pgjdbc') {
    throw new PgcertsError('INVALID_INPUT', `A jdbc:postgresql:// URL is read by pgjdbc only; run \`pgcerts doctor --driver pgjdbc\`, or drop the "jdbc:" prefix for ${driver.name}.`);
  }
  const { diagnosis, plan, raw, ctx } = analyze(jdbc ? written.slice('jdbc:'.length) : written, options);
  const params = driver.id === 'node-postgres' ? ctx.pgParams : ctx.params;
  const behaviour = evaluateDriver(driver, {
    params,
    form: diagnosis.form,
    env: ctx.env,
    cwd: ctx.cwd,
    homeDir: options.homeDir ?? homedir(),
    exists: (path) => readState(ctx, path).state !== 'missing',
  });
  const own = driver.id === 'libpq' || driver.id === 'node-postgres' ? [] : driverModeFindings(ctx, driver, behaviour);
  let findings = sortFindings([...findingsForDriver(driver, diagnosis.findings), ...own]);
  const { facts } = driver;
  const result: DriverDiagnosis = {
    driver: { id: driver.id, name: driver.name, covers: driver.covers, versions: driver.versions },
    input: jdbc ? redactConnectionString(written) : diagnosis.input,
    form: diagnosis.form,
    hosts: diagnosis.hosts,
    behaviour,
    findings,
    fixed: null,
    sslrootcert: null,
    notes: [],
    facts: [facts.sslmode, facts.require, facts.roots, facts.system, facts.env, facts.fix, ...facts.more],
  };
  const shown = (text: string): string => (options.showPassword ? text : redactConnectionString(text));
  if (!findings.some((f) => f.severity !== 'info')) return { ...result, fixed: shown(written) };
  if (plan.kind === 'none') return result;
  let path = goodUserFile(ctx);
  if (path === undefined || driver.id === 'prisma') {
    // Prisma's CA file is sslcert: the string's sslrootcert is not what it reads, so use the bundle.
    const { getSslRootCert } = await import('./resolve.js');
    try {
      const resolved = await getSslRootCert(raw, options);
      path = resolved.path;
      findings = sortFindings([...findings, ...resolved.warnings.map((message): Finding => ({ severity: 'info', code: 'BUNDLE_NOTE', client: 'both', message }))]);
    } catch (error) {
      if (!(error instanceof PgcertsError)) throw error;
      return { ...result, findings: sortFindings([...findings, { severity: 'error', code: 'FIX_FAILED', client: 'both', message: `No fixed string: ${error.message}` }]) };
    }
  }
  const fix = fixForDriver(driver, raw, path, wantedMode(ctx));
  return { ...result, findings, fixed: fix.fixed === undefined ? null : shown(fix.fixed), sslrootcert: path, notes: fix.notes };
}
