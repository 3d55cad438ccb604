// Authenticated JSON calls to an account provider's API, through the downloader (timeouts,
// retries, proxies, PGCERTS_MIRROR, NODE_EXTRA_CA_CERTS). The token goes in a header, never in a
// URL, and only to the provider's API origin (or the mirror standing in for it).
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

/** API answers are small JSON documents; a list of many clusters stays far below this. */
const MAX_API_BYTES = 8 * 1024 * 1024;

/** Build the {@link AccountApi} of a provider for one credential. */
export function createAccountApi(provider: AccountProvider, credential: AccountCredential, options: AccountApiOptions = {}): AccountApi {
  const get = async (url: string, allowMissing: boolean, json?: unknown): Promise<unknown> => {
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
    let body: Buffer;
    try {
      const answer = await download(target.href, {
        maxBytes: MAX_API_BYTES,
        ...options.download,
        mirror: options.mirror,
        json,
        headers: { authorization: provider.authorization(credential.token), accept: 'application/json' },
      });
      body = answer.body ?? Buffer.alloc(0);
    } catch (error) {
      if (error instanceof DownloadError && (error.status === 401 || error.status === 403)) {
        throw new PgcertsError('AUTH_FAILED', `The ${provider.name} API refused the token ${credential.label ?? `in ${credential.variable}`} (HTTP ${error.status} from '${error.url}'). ${capitalize(credential.renew ?? `set ${credential.variable} to a current token with read access (${provider.tokenHelp})`)}, or import the CA with \`pgcerts import\`.`, { cause: error });
      }
      if (allowMissing && error instanceof DownloadError && error.status === 404) return undefined;
      throw error;
    }
    try {
      return JSON.parse(body.toString('utf8')) as unknown;
    } catch (cause) {
      // The body is not quoted: an API answer may hold passwords (connection URIs).
      throw new PgcertsError('DECODE_FAILED', `The ${provider.name} API answer from '${target.href}' is not JSON (${body.length} bytes). Try again later; if it persists, check any proxy or mirror in between.`, { cause });
    }
  };
  return { getJson: (url) => get(url, false), findJson: (url) => get(url, true), postJson: (url, body) => get(url, false, body ?? {}) };
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Whether a value is a plain JSON object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The error for an API answer of the wrong shape; `what` says what was expected. */
export function badShape(provider: AccountProvider, url: string, what: string): PgcertsError {
  return new PgcertsError('DECODE_FAILED', `The ${provider.name} API answer from '${url}' lacks ${what}. Try again later; if it persists, report it to pgcerts.`);
}
