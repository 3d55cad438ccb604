// Authenticated calls to an account provider's API, JSON or raw (PEM) bytes, through the
// downloader (timeouts, retries, proxies, PGCERTS_MIRROR, NODE_EXTRA_CA_CERTS). The token goes in
// a header, never in a URL, and only to the provider's API origin (or the mirror standing in for it).
import type { DownloadOptions } from '../download.js';
import { DownloadError, PgcertsError } from '../errors.js';
import type { AccountApi, AccountCredential, AccountProvider } from './provider.js';

/** Settings of {@link createAccountApi}. */
export interface AccountApiOptions {
  /** `PGCERTS_MIRROR`: `https://api.host/path` is fetched as `<mirror>/api.host/path`. */
  mirror?: string;
  /** Timeouts, retries, `ca` for tests. */
  download?: Omit<DownloadOptions, 'etag' | 'lastModified' | 'mirror' | 'headers' | 'redirectHosts'>;
}

/** API answers are small JSON documents or PEM files; a list of many clusters stays far below this. */
const MAX_API_BYTES = 8 * 1024 * 1024;

/** What a JSON call asks for. */
const JSON_ACCEPT = 'application/json';
/** What a raw call asks for: a PEM chain first (Crunchy Bridge documents this type), then any PEM file. */
const PEM_ACCEPT = 'application/pem-certificate-chain, application/x-pem-file, */*;q=0.1';

/** How one call is made. */
interface CallOptions {
  accept: string;
  /** A 404 answer returns `undefined` instead of failing. */
  allowMissing: boolean;
  /** Send no `Authorization` header. */
  anonymous: boolean;
  /** POST this as JSON instead of a GET. */
  json?: unknown;
}

/** Build the {@link AccountApi} of a provider for one credential. */
export function createAccountApi(provider: AccountProvider, credential: AccountCredential, options: AccountApiOptions = {}): AccountApi {
  /** The body of a GET (or a JSON POST) on the provider's origin, or `undefined` for an allowed 404. */
  const call = async (url: string, how: CallOptions): Promise<{ body: Buffer; href: string } | undefined> => {
    let target: URL;
    try {
      target = new URL(url);
    } catch (cause) {
      throw new PgcertsError('DECODE_FAILED', `The ${provider.name} API gave an invalid URL to follow; pgcerts stopped. Report it to pgcerts with the command you ran.`, { cause });
    }
    if (target.origin !== provider.apiOrigin || target.username !== '' || target.password !== '') {
      const { redactUrlsInText } = await import('../redact.js');
      throw new PgcertsError('DECODE_FAILED', `The ${provider.name} API asked pgcerts to follow '${redactUrlsInText(target.href)}', which is not on ${provider.apiOrigin}; pgcerts sends the token ${credential.label ?? `in ${credential.variable}`} to nothing else. Report it to ${provider.name}, or import the CA with \`pgcerts import\`.`);
    }
    const { download } = await import('../download.js');
    const headers: Record<string, string> = { accept: how.accept };
    if (!how.anonymous) headers[provider.authHeader ?? 'authorization'] = provider.authorization(credential.token);
    try {
      const answer = await download(target.href, {
        maxBytes: MAX_API_BYTES,
        ...options.download,
        mirror: options.mirror,
        json: how.json,
        headers,
      });
      return { body: answer.body ?? Buffer.alloc(0), href: target.href };
    } catch (error) {
      if (!how.anonymous && error instanceof DownloadError && (error.status === 401 || error.status === 403)) {
        throw new PgcertsError('AUTH_FAILED', `The ${provider.name} API refused the token ${credential.label ?? `in ${credential.variable}`} (HTTP ${error.status} from '${error.url}'). ${capitalize(credential.renew ?? `set ${credential.variable} to a current token with read access (${provider.tokenHelp})`)}, or import the CA with \`pgcerts import\`.`, { cause: error });
      }
      if (how.allowMissing && error instanceof DownloadError && error.status === 404) return undefined;
      throw error;
    }
  };
  const getJson = async (url: string, allowMissing: boolean, json?: unknown): Promise<unknown> => {
    const answer = await call(url, { accept: JSON_ACCEPT, allowMissing, anonymous: false, json });
    if (answer === undefined) return undefined;
    try {
      return JSON.parse(answer.body.toString('utf8')) as unknown;
    } catch (cause) {
      // The body is not quoted: an API answer may hold passwords (connection URIs).
      throw new PgcertsError('DECODE_FAILED', `The ${provider.name} API answer from '${answer.href}' is not JSON (${answer.body.length} bytes). Try again later; if it persists, check any proxy or mirror in between.`, { cause });
    }
  };
  return {
    getJson: (url) => getJson(url, false),
    findJson: (url) => getJson(url, true),
    postJson: (url, body) => getJson(url, false, body ?? {}),
    async getBytes(url, how = {}) {
      const answer = await call(url, { accept: PEM_ACCEPT, allowMissing: false, anonymous: how.anonymous === true });
      // allowMissing is false, so a 404 has already thrown.
      return (answer as { body: Buffer }).body;
    },
  };
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * The bytes of a base64 field of an API answer (DigitalOcean's `ca.certificate`, Linode's
 * `ca_certificate`, Scaleway's `content`), decoded exactly once.
 * @throws PgcertsError `DECODE_FAILED` naming the field when it is not base64.
 */
export function decodeBase64Field(provider: AccountProvider, url: string, field: string, text: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (compact === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw new PgcertsError('DECODE_FAILED', `The ${provider.name} API answer from '${url}' has a "${field}" that is not base64. Try again later; if it persists, import the CA instead: \`pgcerts import ${provider.id} <file> --host <host>\`.`);
  }
  return Buffer.from(compact, 'base64');
}

/** Whether a value is a plain JSON object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The error for an API answer of the wrong shape; `what` says what was expected. */
export function badShape(provider: AccountProvider, url: string, what: string): PgcertsError {
  return new PgcertsError('DECODE_FAILED', `The ${provider.name} API answer from '${url}' lacks ${what}. Try again later; if it persists, report it to pgcerts.`);
}
