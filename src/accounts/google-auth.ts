// Google OAuth 2.0 access tokens for the Cloud SQL Admin API, found the way Google's own tools
// find them: an explicit token, then gcloud's, then Application Default Credentials (ADC).
//
// Why not google-auth-library: it brings its own HTTP stack (gaxios), which would bypass what
// every pgcerts request goes through (PGCERTS_MIRROR, the proxy variables, NODE_EXTRA_CA_CERTS,
// the retry and size limits, the same-origin rule for credentials), and pgcerts needs only the
// two grants that ADC files hold: a refresh token (RFC 6749 section 6) and a service account's
// signed JWT (RFC 7523). Both go to Google's token endpoint through the downloader.
//
// Sources: ADC's search order (GOOGLE_APPLICATION_CREDENTIALS, then the file `gcloud auth
// application-default login` writes, then the metadata server of Google's own machines):
// https://cloud.google.com/docs/authentication/application-default-credentials. The token
// endpoint and the JWT claims of a service account: https://developers.google.com/identity/protocols/oauth2/service-account.
// GOOGLE_OAUTH_ACCESS_TOKEN is the variable the Terraform Google provider reads for a raw token.
import { createSign } from 'node:crypto';
import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { DownloadOptions } from '../download.js';
import { DownloadError, PgcertsError } from '../errors.js';
import type { AccountCredential } from './provider.js';
import { findOnPath, runTool } from './tools.js';

/** Where the token for Google's APIs would come from, as `pgcerts credentials` shows it. */
export interface GoogleCredentialSource {
  /** `GOOGLE_OAUTH_ACCESS_TOKEN`, `gcloud`, `GOOGLE_APPLICATION_CREDENTIALS` or `application default credentials`. */
  variable: string;
  /** The same, for a sentence: `in GOOGLE_OAUTH_ACCESS_TOKEN`, `from \`gcloud auth print-access-token\``, ... */
  label: string;
  /** The gcloud executable or the ADC file. */
  path?: string;
}

/** What {@link getGoogleCredential} needs besides the environment. */
export interface GoogleCredentialContext {
  env: NodeJS.ProcessEnv;
  /** Default `os.homedir()`: where gcloud keeps its ADC file. */
  homeDir?: string;
  mirror?: string;
  download?: Omit<DownloadOptions, 'mirror' | 'headers' | 'form'>;
  /** Seconds since the epoch, for a service account's JWT (default: the clock). */
  nowSeconds?: () => number;
  /** What a service account's token is for (default: the Cloud SQL Admin API). */
  scope?: string;
}

const TOKEN_URL = 'https://oauth2.googleapis.com/token';
// Service account files name their token endpoint; older ones use the accounts.google.com form.
const TOKEN_URLS = new Set([TOKEN_URL, 'https://accounts.google.com/o/oauth2/token']);
/** The Cloud SQL Admin API's narrower scope (cloud_sql_instances.proto); AlloyDB takes cloud-platform. */
export const CLOUD_SQL_SCOPE = 'https://www.googleapis.com/auth/sqlservice.admin';
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const GCLOUD_TIMEOUT_MS = 30_000;
const MAX_ADC_BYTES = 64 * 1024;
const TOKEN_SHAPE = /^[A-Za-z0-9._~+/=-]{1,4096}$/;
// https://cloud.google.com/compute/docs/access/authenticate-workloads (the default service account's token).
const METADATA_HOST = 'metadata.google.internal';
const METADATA_TOKEN_PATH = '/computeMetadata/v1/instance/service-accounts/default/token';
const METADATA_TIMEOUT_MS = 3_000;

function present(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

/** The gcloud executable on PATH, or `undefined`. */
function findGcloud(env: NodeJS.ProcessEnv): string | undefined {
  return findOnPath(process.platform === 'win32' ? ['gcloud.cmd', 'gcloud.exe'] : ['gcloud'], env);
}

/** The ADC file gcloud writes (`gcloud auth application-default login`), honouring CLOUDSDK_CONFIG. */
function wellKnownAdcFile(env: NodeJS.ProcessEnv, homeDir: string): string {
  const config = present(env.CLOUDSDK_CONFIG);
  if (config) return join(config, 'application_default_credentials.json');
  if (process.platform === 'win32' && present(env.APPDATA)) return join(env.APPDATA as string, 'gcloud', 'application_default_credentials.json');
  return join(homeDir, '.config', 'gcloud', 'application_default_credentials.json');
}

function exists(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where a token would come from, without running gcloud or sending anything: the first of
 * GOOGLE_OAUTH_ACCESS_TOKEN, gcloud on PATH, GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file.
 */
export function describeGoogleCredential(env: NodeJS.ProcessEnv, homeDir: string = homedir()): GoogleCredentialSource | undefined {
  if (present(env.GOOGLE_OAUTH_ACCESS_TOKEN)) return { variable: 'GOOGLE_OAUTH_ACCESS_TOKEN', label: 'in GOOGLE_OAUTH_ACCESS_TOKEN' };
  const gcloud = findGcloud(env);
  if (gcloud) return { variable: 'gcloud', label: 'from `gcloud auth print-access-token`', path: gcloud };
  const explicit = present(env.GOOGLE_APPLICATION_CREDENTIALS);
  if (explicit) return { variable: 'GOOGLE_APPLICATION_CREDENTIALS', label: `from the credentials file "${explicit}" (GOOGLE_APPLICATION_CREDENTIALS)`, path: explicit };
  const adc = wellKnownAdcFile(env, homeDir);
  if (exists(adc)) return { variable: 'application default credentials', label: `from the application default credentials in "${adc}"`, path: adc };
  const metadata = metadataHost(env);
  if (metadata) return { variable: 'metadata server', label: `from the metadata server (${metadata}) of this Google Cloud machine` };
  return undefined;
}

/**
 * The metadata server to ask, when this looks like a Google Cloud machine: GCE_METADATA_HOST (the
 * variable Google's client libraries read, host[:port]), else the well-known name when Cloud Run
 * or Cloud Functions variables are set or the machine's DMI product name says Google (Compute
 * Engine, GKE nodes). Elsewhere nothing is asked, so other machines never wait on it.
 */
function metadataHost(env: NodeJS.ProcessEnv): string | undefined {
  const explicit = present(env.GCE_METADATA_HOST);
  if (explicit) return explicit;
  // google-auth-library's switch for turning detection off, honoured the same way.
  if (present(env.METADATA_SERVER_DETECTION) === 'none') return undefined;
  if (present(env.K_SERVICE) || present(env.FUNCTION_TARGET)) return METADATA_HOST;
  try {
    if (process.platform === 'linux' && readFileSync('/sys/class/dmi/id/product_name', 'utf8').includes('Google')) return METADATA_HOST;
  } catch {
    // No DMI information: not a Compute Engine machine.
  }
  return undefined;
}

/** An access token of the machine's service account from the metadata server (plain HTTP on a link-local address, as Google documents it). */
async function fromMetadataServer(host: string): Promise<AccountCredential> {
  const { get } = await import('node:http');
  const label = `from the metadata server (${host}) of this Google Cloud machine`;
  const body = await new Promise<string>((resolve, reject) => {
    const request = get(`http://${host}${METADATA_TOKEN_PATH}`, { headers: { 'metadata-flavor': 'Google' }, timeout: METADATA_TIMEOUT_MS }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > 64 * 1024) request.destroy(new Error('answer too large'));
        else chunks.push(chunk);
      });
      response.on('end', () => {
        if (response.statusCode !== 200 || response.headers['metadata-flavor'] !== 'Google') reject(new Error(`HTTP ${response.statusCode ?? '?'}${response.headers['metadata-flavor'] === 'Google' ? '' : ' without Metadata-Flavor: Google'}`));
        else resolve(Buffer.concat(chunks).toString('utf8'));
      });
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${METADATA_TIMEOUT_MS / 1000} s`)));
    request.on('error', reject);
  }).catch((cause: Error) => {
    throw new PgcertsError('AUTH_FAILED', `Got no token ${label}: ${cause.message}. Give the machine a service account that may view the instance, or set GOOGLE_OAUTH_ACCESS_TOKEN or GOOGLE_APPLICATION_CREDENTIALS.`, { cause });
  });
  let token: unknown;
  try {
    token = (JSON.parse(body) as { access_token?: unknown }).access_token;
  } catch {
    token = undefined;
  }
  if (typeof token !== 'string' || !TOKEN_SHAPE.test(token)) {
    throw new PgcertsError('DECODE_FAILED', `The metadata server (${host}) gave no usable access_token. Set GOOGLE_OAUTH_ACCESS_TOKEN instead.`);
  }
  return { variable: 'metadata server', token, label, renew: 'check the roles of the machine\'s service account' };
}

/** Run `gcloud auth print-access-token`; its token, or why it failed (never its output beyond one line of stderr). */
async function runGcloud(path: string, env: NodeJS.ProcessEnv): Promise<{ token: string } | { failure: string }> {
  // gcloud's own words on failure (cut; its update notices skipped): they name accounts and commands.
  const run = await runTool(path, ['auth', 'print-access-token'], { env, timeoutMs: GCLOUD_TIMEOUT_MS, maxBuffer: 64 * 1024, skip: /^(?:WARNING|Updates are available)/, secretVariables: ['GOOGLE_OAUTH_ACCESS_TOKEN'] });
  if (!run.ok) return { failure: run.failure };
  const token = run.stdout.trim();
  return TOKEN_SHAPE.test(token) ? { token } : { failure: 'it printed no access token' };
}

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** Exchange a grant for an access token at Google's token endpoint, through the downloader. */
async function exchange(url: string, form: Record<string, string>, label: string, renew: string, ctx: GoogleCredentialContext): Promise<string> {
  const { download } = await import('../download.js');
  let body: Buffer;
  try {
    const answer = await download(url, { maxBytes: 64 * 1024, ...ctx.download, mirror: ctx.mirror, form, headers: { accept: 'application/json' } });
    body = answer.body ?? Buffer.alloc(0);
  } catch (error) {
    if (error instanceof DownloadError && error.status !== undefined && error.status >= 400 && error.status < 500) {
      throw new PgcertsError('AUTH_FAILED', `Google refused the credentials ${label} (HTTP ${error.status} from '${error.url}'); ${renew}, or set GOOGLE_OAUTH_ACCESS_TOKEN to a current access token.`, { cause: error });
    }
    throw error;
  }
  let token: unknown;
  try {
    token = (JSON.parse(body.toString('utf8')) as { access_token?: unknown }).access_token;
  } catch (cause) {
    throw new PgcertsError('DECODE_FAILED', `Google's token endpoint '${url}' answered something that is not JSON (${body.length} bytes) for the credentials ${label}. Try again later; if it persists, check any proxy or mirror in between.`, { cause });
  }
  if (typeof token !== 'string' || !TOKEN_SHAPE.test(token)) {
    throw new PgcertsError('DECODE_FAILED', `Google's token endpoint '${url}' gave no usable access_token for the credentials ${label}. Try again later, or set GOOGLE_OAUTH_ACCESS_TOKEN.`);
  }
  return token;
}

/** A token from an ADC file: a user's refresh token or a service account's key. */
async function fromAdcFile(source: GoogleCredentialSource, ctx: GoogleCredentialContext): Promise<AccountCredential> {
  const path = source.path as string;
  const { readRegularFile, describeReadError } = await import('../read-file.js');
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(readRegularFile(path, { maxBytes: MAX_ADC_BYTES }).toString('utf8')) as Record<string, unknown>;
  } catch (error) {
    const why = error instanceof SyntaxError ? 'it is not JSON' : error instanceof PgcertsError ? error.message : describeReadError(error);
    throw new PgcertsError('NO_SOURCE', `Cannot use the Google credentials file "${path}": ${why}. Run \`gcloud auth application-default login\`, point GOOGLE_APPLICATION_CREDENTIALS at a service account key, or set GOOGLE_OAUTH_ACCESS_TOKEN.`);
  }
  const field = (name: string): string => {
    const value = typeof data === 'object' && data !== null ? data[name] : undefined;
    if (typeof value !== 'string' || value === '') {
      throw new PgcertsError('NO_SOURCE', `The Google credentials file "${path}" has no "${name}"; run \`gcloud auth application-default login\` again, or set GOOGLE_OAUTH_ACCESS_TOKEN.`);
    }
    return value;
  };
  const type = typeof data === 'object' && data !== null ? data.type : undefined;
  if (type === 'authorized_user') {
    const renew = 'run `gcloud auth application-default login` again';
    const token = await exchange(TOKEN_URL, { grant_type: 'refresh_token', client_id: field('client_id'), client_secret: field('client_secret'), refresh_token: field('refresh_token') }, source.label, renew, ctx);
    return { variable: source.variable, token, label: source.label, renew };
  }
  if (type === 'service_account') {
    const tokenUri = typeof data.token_uri === 'string' ? data.token_uri : TOKEN_URL;
    if (!TOKEN_URLS.has(tokenUri)) {
      throw new PgcertsError('NO_SOURCE', `The Google credentials file "${path}" names the token endpoint '${tokenUri}', which is not Google's (${TOKEN_URL}); pgcerts signs for no other. Use a key file made by Google, or set GOOGLE_OAUTH_ACCESS_TOKEN.`);
    }
    const now = Math.floor(ctx.nowSeconds?.() ?? Date.now() / 1000);
    const header: Record<string, string> = { alg: 'RS256', typ: 'JWT' };
    if (typeof data.private_key_id === 'string') header.kid = data.private_key_id;
    const claims = { iss: field('client_email'), scope: ctx.scope ?? CLOUD_SQL_SCOPE, aud: tokenUri, iat: now, exp: now + 3600 };
    const unsigned = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    let signature: string;
    try {
      signature = createSign('RSA-SHA256').update(unsigned).sign(field('private_key'), 'base64url');
    } catch (cause) {
      throw new PgcertsError('NO_SOURCE', `The private key in the Google credentials file "${path}" cannot sign (${(cause as Error).message.split('\n')[0]}); make a new key for the service account, or set GOOGLE_OAUTH_ACCESS_TOKEN.`, { cause });
    }
    const renew = `make a new key for ${claims.iss} and check its roles on the project (roles/cloudsql.viewer for Cloud SQL, roles/alloydb.client for AlloyDB)`;
    const token = await exchange(tokenUri, { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: `${unsigned}.${signature}` }, source.label, renew, ctx);
    return { variable: source.variable, token, label: source.label, renew };
  }
  const kind = typeof type === 'string' ? `"${type.slice(0, 40)}"` : 'no';
  throw new PgcertsError('NO_SOURCE', `The Google credentials file "${path}" has ${kind} type; pgcerts reads "authorized_user" and "service_account" files. Set GOOGLE_OAUTH_ACCESS_TOKEN=$(gcloud auth print-access-token) instead.`);
}

/**
 * An access token for Google's APIs, from the first source that gives one: GOOGLE_OAUTH_ACCESS_TOKEN,
 * `gcloud auth print-access-token` (when gcloud is on PATH and signed in), then an ADC file.
 * Then the metadata server, on Google Cloud machines only (see metadataHost).
 * @returns `undefined` when no source exists.
 * @throws PgcertsError `AUTH_FAILED` when the only sources fail (gcloud signed out, a refused
 *   refresh token), `NO_SOURCE` for an unreadable or unsupported credentials file.
 */
export async function getGoogleCredential(ctx: GoogleCredentialContext): Promise<AccountCredential | undefined> {
  const { env } = ctx;
  const raw = present(env.GOOGLE_OAUTH_ACCESS_TOKEN);
  if (raw) return { variable: 'GOOGLE_OAUTH_ACCESS_TOKEN', token: raw, label: 'in GOOGLE_OAUTH_ACCESS_TOKEN' };
  const homeDir = ctx.homeDir ?? homedir();
  let gcloudFailure: string | undefined;
  const gcloud = findGcloud(env);
  if (gcloud) {
    const result = await runGcloud(gcloud, env);
    if ('token' in result) {
      return { variable: 'gcloud', token: result.token, label: 'from `gcloud auth print-access-token`', renew: 'run `gcloud auth login` as an account that may view the instance' };
    }
    gcloudFailure = result.failure;
  }
  const explicit = present(env.GOOGLE_APPLICATION_CREDENTIALS);
  const adc = explicit
    ? { variable: 'GOOGLE_APPLICATION_CREDENTIALS', label: `from the credentials file "${explicit}" (GOOGLE_APPLICATION_CREDENTIALS)`, path: explicit }
    : exists(wellKnownAdcFile(env, homeDir)) ? { variable: 'application default credentials', label: `from the application default credentials in "${wellKnownAdcFile(env, homeDir)}"`, path: wellKnownAdcFile(env, homeDir) } : undefined;
  if (adc) return fromAdcFile(adc, ctx);
  const metadata = metadataHost(env);
  if (metadata) return fromMetadataServer(metadata);
  if (gcloudFailure !== undefined) {
    throw new PgcertsError('AUTH_FAILED', `\`${gcloud} auth print-access-token\` gave no token (${gcloudFailure}). Run \`gcloud auth login\`, or set GOOGLE_OAUTH_ACCESS_TOKEN or GOOGLE_APPLICATION_CREDENTIALS.`);
  }
  return undefined;
}
