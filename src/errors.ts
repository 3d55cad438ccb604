/** Machine-readable error codes. */
export type ErrorCode =
  | 'REGISTRY_UNREADABLE'
  | 'REGISTRY_INVALID'
  | 'REGISTRY_UNSUPPORTED'
  | 'UNKNOWN_PROVIDER'
  | 'INVALID_INPUT'
  | 'USAGE';

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

/** Whether a value is a {@link PgcertsError}, optionally with a given code. */
export function isPgcertsError(value: unknown, code?: ErrorCode): value is PgcertsError {
  return value instanceof PgcertsError && (code === undefined || value.code === code);
}
