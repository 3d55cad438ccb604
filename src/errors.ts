/** Machine-readable error codes. */
export type ErrorCode =
  | 'REGISTRY_UNREADABLE'
  | 'REGISTRY_INVALID'
  | 'REGISTRY_UNSUPPORTED'
  | 'UNKNOWN_PROVIDER'
  | 'INVALID_INPUT'
  | 'USAGE'
  /** A file or body that should hold certificates does not (HTML, JSON, truncated PEM, a private key, ...). */
  | 'DECODE_FAILED'
  /** Certificates that parse but must not be trusted (forged, not a CA, pin mismatch, ...). */
  | 'VALIDATION_FAILED'
  /** The network request failed (status, timeout, reset, size, redirect). */
  | 'DOWNLOAD_FAILED'
  /** A cached bundle does not match its metadata, or the metadata is unreadable. */
  | 'CACHE_CORRUPT'
  /** The cache directory cannot be used (permissions, a lock held too long). */
  | 'CACHE_UNAVAILABLE'
  /** The cache directory or a file in it could be changed by someone else (owner, group/other write, a symbolic link). */
  | 'CACHE_UNSAFE'
  /** The provider has no downloadable source for this host (account CA not imported and no API token, or kind none). */
  | 'NO_SOURCE'
  /** A provider's API refused the token pgcerts found (HTTP 401 or 403). */
  | 'AUTH_FAILED'
  /** A provider's API answered, but none of the account's resources has the host. */
  | 'RESOURCE_NOT_FOUND';

/**
 * How to update pgcerts, for messages whose next step is a newer version: it is not on the npm
 * registry, so it is installed from a release tarball or a clone (see the README's Install).
 */
export const UPDATE_HOW = 'install a newer release tarball, or run `git pull && npm ci` in your clone';

/**
 * The one error class pgcerts throws. `code` is stable; the message names the bad value and ends
 * with the next step.
 */
export class PgcertsError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PgcertsError';
    this.code = code;
  }
}

/** A failed download: carries the URL and, when the server answered, the HTTP status. */
export class DownloadError extends PgcertsError {
  readonly url: string;
  readonly status: number | undefined;

  constructor(url: string, status: number | undefined, message: string, options?: { cause?: unknown }) {
    super('DOWNLOAD_FAILED', message, options);
    this.name = 'DownloadError';
    this.url = url;
    this.status = status;
  }
}

/** Whether a value is a {@link PgcertsError}, optionally with a given code. */
export function isPgcertsError(value: unknown, code?: ErrorCode): value is PgcertsError {
  return value instanceof PgcertsError && (code === undefined || value.code === code);
}
