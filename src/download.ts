// HTTPS downloads of CA bundles. undici is imported inside `download()` only: it costs ~150 ms to
// load and start-up paths (`lookup`, `check`) import this file without downloading anything.
import { createRequire } from 'node:module';
import type { Dispatcher } from 'undici';
import { DownloadError } from './errors.js';
import { redactUrlsInText } from './redact.js';
import { getPackageVersion } from './version.js';

/** Options for {@link download}. Every limit has a default; tests pass small values. */
export interface DownloadOptions {
  /** Sent as `If-None-Match`; a `304 Not Modified` answer returns `{ status: 304 }` without a body. */
  etag?: string;
  /** Sent as `If-Modified-Since`. */
  lastModified?: string;
  /** Time to open the TCP connection and finish the TLS handshake; default 10 000. */
  connectTimeoutMs?: number;
  /** Longest wait for response headers, and idle time between body chunks; default 15 000. */
  bodyTimeoutMs?: number;
  /** Deadline for the whole call, redirects, retries and back-off included; default 60 000. */
  totalTimeoutMs?: number;
  /** Largest body accepted; default 5 MiB. */
  maxBytes?: number;
  /** Default 5. */
  maxRedirects?: number;
  /**
   * Host names a redirect may lead to besides the host of the first URL (the mirror's, when one is
   * set). A redirect to any other host is refused: the registry says where a source may move.
   */
  redirectHosts?: readonly string[];
  /** Extra attempts after 5xx, 429, connection resets and timeouts (never other 4xx); default 3. */
  retries?: number;
  /** Base of the exponential back-off with jitter; default 500. */
  retryDelayMs?: number;
  /** Default `pgcerts/<version> (+https://github.com/pgcerts/pgcerts)`. */
  userAgent?: string;
  /**
   * Extra request headers (lower-case names), sent on every attempt and on redirects that stay on
   * the starting origin (scheme, host and port): an account API's `authorization` never follows a
   * redirect to another port or to a `redirectHosts` host.
   */
  headers?: Readonly<Record<string, string>>;
  /** Base URL of a mirror: `https://host/path?q` is fetched as `<mirror>/host/path?q`. */
  mirror?: string;
  /**
   * Extra trusted roots (PEM), added to Node's bundled Mozilla roots; meant for tests. In normal use
   * set NODE_EXTRA_CA_CERTS, which Node reads at start-up. Giving `ca` drops NODE_EXTRA_CA_CERTS.
   */
  ca?: string | string[];
  /**
   * POST these fields as `application/x-www-form-urlencoded` instead of a GET (an OAuth token
   * exchange). The body may hold secrets: it is never logged or put in a message, and a POST
   * follows no redirect.
   */
  form?: Readonly<Record<string, string>>;
  /** POST this value as `application/json` (an API call that creates something); same rules as `form`. */
  json?: unknown;
  signal?: AbortSignal;
  /** Called before each retry; `attempt` is the number of the attempt about to start (2 or more). */
  onRetry?: (info: { url: string; attempt: number; reason: string; delayMs: number }) => void;
}

/** The outcome of a successful {@link download}. */
export interface DownloadResult {
  /** 200 with a body, or 304 when the conditional request matched. */
  status: 200 | 304;
  /** The final URL, after the mirror and redirects. */
  url: string;
  body?: Buffer;
  etag?: string;
  lastModified?: string;
  /** Body length in bytes; 0 for 304. */
  bytes: number;
}

const DEFAULTS = {
  connectTimeoutMs: 10_000,
  bodyTimeoutMs: 15_000,
  totalTimeoutMs: 60_000,
  maxBytes: 5 * 1024 * 1024,
  maxRedirects: 5,
  retries: 3,
  retryDelayMs: 500,
};

/** A Retry-After longer than this is not waited for: the download fails at once instead. */
const MAX_RETRY_AFTER_MS = 10_000;
/** How much of a redirect or 304 body is drained so the connection can be reused. */
const DRAIN_LIMIT_BYTES = 4096;
const ACCEPT = 'application/x-pem-file, application/pkix-cert, application/x-x509-ca-cert, application/pkcs7-mime, */*;q=0.5';
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH']);
// OpenSSL's X509_V_ERR_* names as Node reports them (UNABLE_TO_VERIFY_LEAF_SIGNATURE, INVALID_PURPOSE,
// CERT_HAS_EXPIRED, ...) plus Node's ERR_TLS_CERT_ALTNAME_INVALID.
const TLS_CERT_CODE = /CERT|CRL|SELF_SIGNED|^UNABLE_TO_|^INVALID_(CA|PURPOSE)$|^PATH_LENGTH_EXCEEDED$|^HOSTNAME_MISMATCH$/;
const TLS_OTHER_CODE = /^ERR_TLS_|^ERR_SSL_/;
const NEXT_STEP_TLS =
  'If a proxy or private CA is in the way, set NODE_EXTRA_CA_CERTS to a PEM file holding its root certificate.';

/** Why an attempt failed, and whether another attempt may help. */
interface AttemptFailure {
  error: DownloadError;
  retryable: boolean;
  retryAfterMs?: number;
}

type Resolved = DownloadOptions & typeof DEFAULTS;

/**
 * Map a source URL onto a mirror: `https://host/path?q` becomes `<mirror>/host/path?q` (`host`
 * keeps a non-default port). Without a mirror the URL is returned unchanged.
 * @throws DownloadError when `url` or `mirror` is not an absolute URL.
 * @example applyMirror('https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem', 'https://m.example/certs/')
 *   // 'https://m.example/certs/truststore.pki.rds.amazonaws.com/global/global-bundle.pem'
 */
export function applyMirror(url: string, mirror: string | undefined): string {
  const source = parseUrl(url);
  if (mirror === undefined || mirror === '') return source.href;
  const base = parseUrl(mirror);
  const prefix = base.href.replace(/[?#].*$/, '').replace(/\/+$/, '');
  return `${prefix}/${source.host}${source.pathname}${source.search}`;
}

/**
 * Download one URL over HTTPS with timeouts, a size limit, redirects and retries. Proxies come from
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY. One call handles one URL; to fetch many, run calls
 * concurrently (see {@link downloadAll}).
 * @throws DownloadError for every failure: a non-https URL or redirect, a status other than 200 (or
 *   304 after a conditional request), a timeout, a reset, a TLS verification error, a body over
 *   `maxBytes`. `error.url` is the URL of the request that failed; `error.status` is set when the
 *   server answered.
 * @example const { body, etag } = await download('https://cacerts.digicert.com/DigiCertGlobalRootG2.crt.pem');
 */
export async function download(url: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const opts: Resolved = { ...DEFAULTS, ...stripUndefined(options) };
  requireHttps(url, url);
  const start = applyMirror(url, opts.mirror);
  if (start !== parseUrl(url).href) requireHttps(start, url);
  if (opts.signal?.aborted) throw abortedError(opts, start);

  const deadline = AbortSignal.timeout(opts.totalTimeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  const { STATUS_CODES } = await import('node:http');
  const lease = await acquireDispatcher(opts);
  const dispatcher = lease.dispatcher;
  const startedAt = Date.now();

  try {
    for (let attempt = 1; ; attempt++) {
      let failure: AttemptFailure;
      try {
        return await attemptDownload(dispatcher, start, opts, signal, STATUS_CODES);
      } catch (error) {
        failure = toFailure(error, opts, deadline);
      }
      const delayMs = backoffMs(opts.retryDelayMs, attempt, failure.retryAfterMs);
      const remainingMs = opts.totalTimeoutMs - (Date.now() - startedAt);
      if (!failure.retryable || attempt > opts.retries || delayMs >= remainingMs) {
        throw withAttempts(failure.error, attempt);
      }
      opts.onRetry?.({ url: failure.error.url, attempt: attempt + 1, reason: failure.error.message, delayMs });
      try {
        await sleep(delayMs, signal);
      } catch (error) {
        throw toFailure(error, opts, deadline, failure.error.url).error;
      }
    }
  } finally {
    await lease.release();
  }
}

/**
 * Run `fn` over `items` with at most `concurrency` calls in flight; results keep the input order.
 * Every item is settled, so one failing provider does not hide the others.
 * @example const results = await downloadAll(urls, (u) => download(u));
 */
export async function downloadAll<T, R>(
  items: readonly T[],
  fn: (item: T) => Promise<R>,
  concurrency = 6,
): Promise<PromiseSettledResult<R>[]> {
  const results = new Array<PromiseSettledResult<R>>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      try {
        results[index] = { status: 'fulfilled', value: await fn(items[index] as T) };
      } catch (reason) {
        results[index] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return results;
}

type ProxyAgentClass = typeof import('undici').EnvHttpProxyAgent;

let agentClass: ProxyAgentClass | undefined;
let beforeLoad: (() => void) | undefined;

/**
 * Run `hook` once, just before undici is first loaded (never when nothing is downloaded). The CLI
 * sets V8's WebAssembly flags for its own process there; a library caller has no reason to.
 */
export function onHttpClientLoad(hook: () => void): void {
  beforeLoad = hook;
}

/**
 * undici's proxy-aware agent with the request API. Loading all of undici costs ~120 ms; the agent
 * and the API it needs cost about a third of that, so pgcerts loads just those files, and the
 * whole package if its layout ever changes (the download tests run whichever path works).
 */
async function loadAgentClass(): Promise<ProxyAgentClass> {
  if (agentClass) return agentClass;
  const hook = beforeLoad;
  beforeLoad = undefined;
  hook?.();
  try {
    const require = createRequire(import.meta.url);
    const EnvHttpProxyAgent = require('undici/lib/dispatcher/env-http-proxy-agent.js') as ProxyAgentClass;
    const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as { prototype: Record<string, unknown> };
    // The same wiring undici's index.js does: the request API lives on every dispatcher.
    if (typeof Dispatcher.prototype.request !== 'function') Object.assign(Dispatcher.prototype, require('undici/lib/api/index.js'));
    if (typeof EnvHttpProxyAgent !== 'function' || typeof Dispatcher.prototype.request !== 'function') throw new Error('unexpected undici layout');
    agentClass = EnvHttpProxyAgent;
  } catch {
    agentClass = (await import('undici')).EnvHttpProxyAgent;
  }
  return agentClass;
}

interface SharedDispatcher {
  dispatcher: Dispatcher;
  users: number;
}

const sharedDispatchers = new Map<string, SharedDispatcher>();

/**
 * A dispatcher for one download. Downloads that overlap in time with the same TLS settings share
 * one (`pgcerts fetch --all`: one connection pool, TLS sessions resumed); the last to finish
 * closes it, so nothing keeps the process alive.
 */
async function acquireDispatcher(opts: Resolved): Promise<{ dispatcher: Dispatcher; release: () => Promise<void> }> {
  const key = JSON.stringify([opts.connectTimeoutMs, opts.ca ?? null]);
  let shared = sharedDispatchers.get(key);
  if (!shared) {
    shared = { dispatcher: await createDispatcher(await loadAgentClass(), opts), users: 0 };
    const existing = sharedDispatchers.get(key);
    if (existing) {
      await shared.dispatcher.destroy().catch(() => undefined);
      shared = existing;
    } else {
      sharedDispatchers.set(key, shared);
    }
  }
  const lease = shared;
  lease.users++;
  return {
    dispatcher: lease.dispatcher,
    release: async () => {
      lease.users--;
      if (lease.users > 0) return;
      sharedDispatchers.delete(key);
      await lease.dispatcher.destroy().catch(() => undefined);
    },
  };
}

/** The POST body of a download with `form` or `json`, or `undefined` for a GET. */
function requestBody(opts: Resolved): { type: string; text: string } | undefined {
  if (opts.form !== undefined) return { type: 'application/x-www-form-urlencoded', text: new URLSearchParams(opts.form as Record<string, string>).toString() };
  if (opts.json !== undefined) return { type: 'application/json', text: JSON.stringify(opts.json) };
  return undefined;
}

async function createDispatcher(EnvHttpProxyAgent: ProxyAgentClass, opts: Resolved): Promise<Dispatcher> {
  // `timeout` bounds TCP connect plus TLS handshake (undici clears it on 'secureConnect').
  const tls: { timeout: number; ca?: string[] } = { timeout: opts.connectTimeoutMs };
  if (opts.ca !== undefined) {
    // A `ca` option replaces Node's root store, so add the bundled roots back to make it "extra".
    const { rootCertificates } = await import('node:tls');
    tls.ca = [...rootCertificates, ...(Array.isArray(opts.ca) ? opts.ca : [opts.ca])];
  }
  // `connect` applies to direct connections; `requestTls` to TLS inside a proxy CONNECT tunnel;
  // `proxyTls` to an https:// proxy itself.
  return new EnvHttpProxyAgent({ connect: tls, requestTls: tls, proxyTls: tls });
}

async function attemptDownload(
  dispatcher: Dispatcher,
  start: string,
  opts: Resolved,
  signal: AbortSignal,
  statusCodes: Record<number, string | undefined>,
): Promise<DownloadResult> {
  const headers: Record<string, string> = { 'user-agent': opts.userAgent ?? defaultUserAgent(), accept: ACCEPT };
  if (opts.etag) headers['if-none-match'] = opts.etag;
  if (opts.lastModified) headers['if-modified-since'] = opts.lastModified;
  const conditional = Boolean(opts.etag || opts.lastModified);
  const chain = [start];
  let current = start;
  const extra = opts.headers ?? {};
  const startOrigin = new URL(start).origin;

  for (;;) {
    let response: Dispatcher.ResponseData;
    try {
      const target = new URL(current);
      // Extra headers (an API token) go only to the origin the download started on.
      const sameOrigin = target.origin === startOrigin;
      const body = requestBody(opts);
      response = await dispatcher.request({
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        method: body === undefined ? 'GET' : 'POST',
        headers: { ...(sameOrigin ? { ...headers, ...extra } : headers), ...(body === undefined ? {} : { 'content-type': body.type }) },
        body: body?.text,
        signal,
        headersTimeout: opts.bodyTimeoutMs,
        bodyTimeout: opts.bodyTimeoutMs,
      });
    } catch (error) {
      throw tagUrl(error, current);
    }
    const { statusCode, body } = response;
    const statusText = `${statusCode} ${statusCodes[statusCode] ?? ''}`.trim();

    if (REDIRECT_STATUSES.has(statusCode)) {
      await body.dump({ limit: DRAIN_LIMIT_BYTES }).catch(() => undefined);
      if (requestBody(opts) !== undefined) {
        throw fail(current, statusCode, `'${current}' answered a POST with ${statusText}; pgcerts follows no redirect with a request body (it may hold credentials). Check the URL, or any proxy or mirror in between.`);
      }
      const location = header(response.headers, 'location');
      if (!location) {
        throw fail(current, statusCode, `'${current}' answered ${statusText} without a Location header. Check the URL, or report it to the provider.`);
      }
      let target: string;
      try {
        target = new URL(location, current).href;
      } catch (cause) {
        throw fail(current, statusCode, `'${current}' redirected to an invalid URL '${location}'. Check the URL, or report it to the provider.`, { cause });
      }
      if (new URL(target).protocol !== 'https:') {
        throw fail(current, statusCode, `'${current}' redirected to '${target}': redirected to ${new URL(target).protocol}, and pgcerts only downloads over https:. Use an https:// URL or an https mirror.`);
      }
      const targetHost = new URL(target).hostname;
      if (targetHost !== new URL(chain[0] as string).hostname && !opts.redirectHosts?.includes(targetHost)) {
        throw fail(current, statusCode, `'${current}' redirected to '${target}', on another host ("${targetHost}"), which the registry does not list for this source. Report it to the provider or to the pgcerts registry, or serve the file from a mirror (PGCERTS_MIRROR).`);
      }
      if (chain.includes(target)) {
        throw fail(current, statusCode, `'${chain[0]}' is a redirect loop (${[...chain, target].map((u) => `'${u}'`).join(' -> ')}). Check the URL, or report it to the provider.`);
      }
      if (chain.length > opts.maxRedirects) {
        throw fail(current, statusCode, `'${chain[0]}' made more than ${opts.maxRedirects} redirects (last to '${target}'). Check the URL, or raise maxRedirects.`);
      }
      chain.push(target);
      current = target;
      continue;
    }

    const etag = header(response.headers, 'etag');
    const lastModified = header(response.headers, 'last-modified');
    if (statusCode === 304 && conditional) {
      await body.dump({ limit: DRAIN_LIMIT_BYTES }).catch(() => undefined);
      return { status: 304, url: current, etag: etag ?? opts.etag, lastModified: lastModified ?? opts.lastModified, bytes: 0 };
    }
    if (statusCode !== 200) {
      discard(body);
      throw statusFailure(current, statusCode, statusText, response.headers);
    }

    const declared = Number(header(response.headers, 'content-length'));
    if (Number.isFinite(declared) && declared > opts.maxBytes) {
      discard(body);
      throw tooLarge(current, opts.maxBytes, `Content-Length ${declared}`);
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        if (bytes > opts.maxBytes) {
          discard(body);
          throw tooLarge(current, opts.maxBytes, `more than ${opts.maxBytes} bytes received`);
        }
        chunks.push(chunk);
      }
    } catch (error) {
      throw tagUrl(error, current);
    }
    return { status: 200, url: current, body: Buffer.concat(chunks, bytes), etag, lastModified, bytes };
  }
}

const failures = new WeakMap<DownloadError, AttemptFailure>();
const failedUrls = new WeakMap<object, string>();

/** A DownloadError whose URL and message name no user info: a mirror URL may carry a user name and token. */
function downloadError(url: string, status: number | undefined, message: string, options?: { cause?: unknown }): DownloadError {
  return new DownloadError(redactUrlsInText(url), status, redactUrlsInText(message), options);
}

function fail(url: string, status: number | undefined, message: string, options?: { cause?: unknown }, retryable = false, retryAfterMs?: number): DownloadError {
  const error = downloadError(url, status, message, options);
  failures.set(error, { error, retryable, retryAfterMs });
  return error;
}

function tooLarge(url: string, maxBytes: number, detail: string): DownloadError {
  return fail(url, 200, `Could not download '${url}': body larger than ${maxBytes} bytes (${detail}). Check that the URL serves a certificate bundle, or raise maxBytes.`);
}

function statusFailure(url: string, status: number, statusText: string, headers: Dispatcher.ResponseData['headers']): DownloadError {
  const retryable = status >= 500 || status === 429;
  const retryAfterMs = retryable ? parseRetryAfterMs(header(headers, 'retry-after')) : undefined;
  if (retryAfterMs !== undefined && retryAfterMs > MAX_RETRY_AFTER_MS) {
    return fail(url, status, `Could not download '${url}': server answered ${statusText} and asked to retry after ${Math.ceil(retryAfterMs / 1000)} s. Try again later.`);
  }
  if (status === 304) {
    return fail(url, status, `Could not download '${url}': server answered ${statusText} to a request without If-None-Match or If-Modified-Since. Report it to the provider, or use a mirror.`);
  }
  const nextStep = retryable
    ? 'Try again later, or use a mirror.'
    : status === 404 || status === 410
      ? 'Check the URL; the provider may have moved its bundle.'
      : 'Check the URL, and any proxy or mirror in between.';
  return fail(url, status, `Could not download '${url}': server answered ${statusText}. ${nextStep}`, undefined, retryable, retryAfterMs);
}

/** Remember which URL a raw network error belongs to, for the message built later. */
function tagUrl(error: unknown, url: string): unknown {
  if (typeof error === 'object' && error !== null && !(error instanceof DownloadError)) failedUrls.set(error, url);
  return error;
}

/** Errors of a connection to a proxy that mean the proxy itself is unreachable. */
const PROXY_CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH']);
/** What a machine without internet access can do instead. */
const OFFLINE_HINT = 'Without internet access, set PGCERTS_MIRROR to a mirror, or download the file elsewhere and `pgcerts import` it.';

/**
 * The proxy the downloader's agent uses for `url` (https URLs: HTTPS_PROXY, then HTTP_PROXY, either
 * case; NO_PROXY entries by host or domain suffix, `*` for all), for messages only; its user info
 * is never shown.
 */
function proxyFor(url: string): { variable: string; shown: string } | undefined {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return undefined;
  }
  const env = process.env;
  const names = target.protocol === 'https:' ? ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'] : ['HTTP_PROXY', 'http_proxy'];
  const variable = names.find((name) => (env[name] ?? '').trim() !== '');
  if (variable === undefined) return undefined;
  const host = target.hostname.toLowerCase();
  const bypass = (env.NO_PROXY ?? env.no_proxy ?? '').split(/[\s,]+/).filter(Boolean).some((entry) => {
    if (entry === '*') return true;
    const name = entry.replace(/:\d+$/, '').replace(/^\*?\./, '').toLowerCase();
    return host === name || host.endsWith(`.${name}`);
  });
  if (bypass) return undefined;
  let shown = (env[variable] as string).trim();
  try {
    const parsed = new URL(shown);
    shown = `${parsed.protocol}//${parsed.host}`;
  } catch {
    shown = '(unparsable)';
  }
  return { variable, shown };
}

/** Turn anything an attempt threw into a DownloadError, and decide whether to retry. */
function toFailure(error: unknown, opts: Resolved, deadline: AbortSignal, fallbackUrl?: string): AttemptFailure {
  if (error instanceof DownloadError) return failures.get(error) ?? { error, retryable: false };
  const url = (typeof error === 'object' && error !== null ? failedUrls.get(error) : undefined) ?? fallbackUrl ?? '';
  if (opts.signal?.aborted) return { error: abortedError(opts, url, error), retryable: false };
  if (deadline.aborted) {
    return {
      error: downloadError(url, undefined, `Could not download '${url}': timed out after ${opts.totalTimeoutMs} ms in total (the server sends too slowly or not at all). Try again later, or raise the total timeout.`, { cause: error }),
      retryable: false,
    };
  }
  const code = errorCode(error);
  const reason = error instanceof Error ? error.message : String(error);
  // Through a proxy, a refused or unresolvable connection is the proxy's: name it, not the origin.
  const proxy = url ? proxyFor(url) : undefined;
  if (proxy && code !== undefined && PROXY_CONNECT_CODES.has(code)) {
    return {
      error: downloadError(url, undefined, `Could not download '${url}': the proxy ${proxy.shown} (${proxy.variable}) ${code === 'ECONNREFUSED' ? 'refused the connection' : code === 'ENOTFOUND' ? 'could not be resolved' : 'did not answer'} (${code}). Check ${proxy.variable}, or add the host to NO_PROXY to connect directly.`, { cause: error }),
      retryable: code !== 'ECONNREFUSED' && code !== 'ENOTFOUND',
    };
  }
  const host = url ? safeHost(url) : 'the server';
  const make = (text: string, retryable: boolean): AttemptFailure => ({
    error: downloadError(url, undefined, `Could not download '${url}': ${text}`, { cause: error }),
    retryable,
  });

  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') {
    return make(`timed out connecting to ${host} (no TLS connection within ${opts.connectTimeoutMs} ms). Check network access, or set HTTPS_PROXY.`, true);
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    return make(`timed out waiting for data (no response headers within ${opts.bodyTimeoutMs} ms). Try again later, or use a mirror.`, true);
  }
  if (code === 'UND_ERR_BODY_TIMEOUT') {
    return make(`timed out waiting for data (nothing received for ${opts.bodyTimeoutMs} ms). Try again later, or use a mirror.`, true);
  }
  if (code !== undefined && TLS_CERT_CODE.test(code)) {
    return make(`TLS certificate verification failed (${code}: ${reason}). ${NEXT_STEP_TLS}`, false);
  }
  if (code !== undefined && TLS_OTHER_CODE.test(code)) {
    return make(`TLS handshake failed (${code}: ${reason}). Check that the URL is an https:// server. ${NEXT_STEP_TLS}`, false);
  }
  if (code !== undefined && RESET_CODES.has(code)) {
    return make(`connection reset (${code}: ${reason}). Try again later; if a proxy is in the way, check HTTPS_PROXY and NO_PROXY.`, true);
  }
  if (code === 'ECONNREFUSED') {
    return make(`connection refused by ${host}. Check the URL's host and port, or set HTTPS_PROXY. ${opts.mirror ? 'Check that the mirror (PGCERTS_MIRROR) is up.' : OFFLINE_HINT}`, false);
  }
  if (code === 'ENOTFOUND') {
    return make(`could not resolve host ${host} (ENOTFOUND). Check the host name, DNS, or set HTTPS_PROXY. ${opts.mirror ? 'Check the mirror\'s host name (PGCERTS_MIRROR).' : OFFLINE_HINT}`, false);
  }
  if (code === 'EAI_AGAIN') {
    return make(`temporary DNS failure resolving ${host} (EAI_AGAIN). Try again later.`, true);
  }
  if (/^Proxy response \((\d+)\)/.test(reason)) {
    return make(`the proxy refused the tunnel (${reason}). Check HTTPS_PROXY and its credentials, or NO_PROXY.`, false);
  }
  return make(`${reason}${code ? ` (${code})` : ''}. Check the URL and your network, or set HTTPS_PROXY.`, false);
}

function abortedError(opts: DownloadOptions, url: string, cause?: unknown): DownloadError {
  return downloadError(url, undefined, `Download of '${url}' was aborted by the caller. Start it again if that was not intended.`, {
    cause: cause ?? opts.signal?.reason,
  });
}

/** The error code, looking through wrappers (a proxy's TLS error arrives as `cause`). */
function errorCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; typeof e === 'object' && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_PRX_TLS' && code !== 'UND_ERR') return code;
  }
  return undefined;
}

function withAttempts(error: DownloadError, attempts: number): DownloadError {
  if (attempts === 1) return error;
  const message = error.message.replace(/\. ([^.]*\.)$/, ` (after ${attempts} attempts). $1`);
  return downloadError(error.url, error.status, message === error.message ? `${error.message} (${attempts} attempts)` : message, {
    cause: error.cause,
  });
}

function backoffMs(baseMs: number, attempt: number, retryAfterMs: number | undefined): number {
  const jittered = Math.round(baseMs * 2 ** (attempt - 1) * (0.5 + Math.random()));
  return Math.max(jittered, retryAfterMs ?? 0);
}

function parseRetryAfterMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Drop a body without reading it; undici reports the destroy as an error nobody else listens to. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseUrl(url: string): URL {
  try {
    return new URL(url);
  } catch (cause) {
    throw downloadError(url, undefined, `'${url}' is not a valid URL. Pass an absolute https:// URL.`, { cause });
  }
}

function requireHttps(url: string, source: string): void {
  const { protocol } = parseUrl(url);
  if (protocol === 'https:') return;
  const via = url === source ? '' : ` (mirror URL for '${source}')`;
  throw downloadError(url, undefined, `Refusing to download '${url}'${via}: only https: URLs are allowed, not ${protocol}. Use the https:// URL.`);
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function defaultUserAgent(): string {
  return `pgcerts/${getPackageVersion()} (+https://github.com/pgcerts/pgcerts)`;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
