import { PgcertsError } from '../errors.js';

/** Exit codes of the CLI (see README, "Exit codes"). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Write one line to stdout. */
export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Write exactly one JSON document to stdout. */
export function outJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Write a `pgcerts: ` message to stderr. */
export function warn(message: string): void {
  process.stderr.write(`pgcerts: ${message}\n`);
}

/** Align `label value` rows for text output. */
export function formatRows(rows: Array<[string, string | undefined]>, indent = '  '): string[] {
  const shown = rows.filter((row): row is [string, string] => row[1] !== undefined && row[1] !== '');
  const width = Math.max(0, ...shown.map(([label]) => label.length));
  return shown.map(([label, value]) => `${indent}${label.padEnd(width)}  ${value.replace(/\n/g, `\n${indent}${' '.repeat(width + 2)}`)}`);
}

/** Turn a thrown value into an exit code, printing it. Unknown errors are bugs: print the stack. */
export function reportError(error: unknown): number {
  if (error instanceof PgcertsError) {
    warn(error.message);
    return error.code === 'UNKNOWN_PROVIDER' || error.code === 'USAGE' ? EXIT.usage : EXIT.failed;
  }
  process.stderr.write(`pgcerts: internal error (please report it): ${error instanceof Error ? error.stack : String(error)}\n`);
  return EXIT.failed;
}
