import { writeSync } from 'node:fs';
import { PgcertsError } from '../errors.js';
import { jsonText } from '../json-text.js';

/** Exit codes of the CLI (see README, "Exit codes"). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

let stdoutReady = false;

/** stdout, set up so that a reader that stops early (`| head`) ends pgcerts quietly. */
export function stdout(): NodeJS.WriteStream {
  if (!stdoutReady) {
    stdoutReady = true;
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      process.exit(process.exitCode ?? 0);
    });
  }
  return process.stdout;
}

/**
 * Write text to stdout. Short answers go straight to file descriptor 1: setting up
 * `process.stdout` costs several milliseconds of start-up (see BENCHMARKS.md). A full pipe or
 * anything unusual falls back to the stream.
 */
function write(text: string): void {
  if (!stdoutReady && text.length < 16_384) {
    try {
      writeSync(1, text);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') process.exit(process.exitCode ?? 0);
      if (code !== 'EAGAIN') throw error;
    }
  }
  stdout().write(text);
}

/** Write one line to stdout. */
export function out(line = ''): void {
  write(`${line}\n`);
}

/** Write exactly one JSON document to stdout (absent values as `null`, see {@link jsonText}). */
export function outJson(value: unknown): void {
  write(jsonText(value));
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

let jsonErrors = false;

/** Under `--json`, errors are also one JSON document on stdout, so a script reading stdout sees them. */
export function reportErrorsAsJson(on: boolean): void {
  jsonErrors = on;
}

/** The JSON document of an error under `--json`: `{ "error": { code, message, exitCode } }`. */
export function outJsonError(error: PgcertsError, exitCode: number): void {
  if (jsonErrors) outJson({ error: { code: error.code, message: error.message, exitCode } });
}

/** Turn a thrown value into an exit code, printing it. Unknown errors are bugs: print the stack. */
export function reportError(error: unknown): number {
  if (error instanceof PgcertsError) {
    warn(error.message);
    const exitCode = error.code === 'UNKNOWN_PROVIDER' || error.code === 'USAGE' ? EXIT.usage : EXIT.failed;
    outJsonError(error, exitCode);
    return exitCode;
  }
  process.stderr.write(`pgcerts: internal error (please report it): ${error instanceof Error ? error.stack : String(error)}\n`);
  return EXIT.failed;
}
