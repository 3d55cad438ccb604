import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Read a command's arguments with `node:util` `parseArgs`, without loading commander (start-up
 * time, see BENCHMARKS.md). Returns `undefined` for anything it would not read exactly as the
 * commander program does: unknown flags, missing values, `--help`, and values or positionals that
 * look like flags (`--output --json`), which commander reads differently. The caller then hands
 * the command line to commander, which reports the problem.
 */
export function readArgs<T extends Options>(argv: string[], options: T): { values: ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>>['values']; positionals: string[] } | undefined {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    const looksLikeFlag = (v: unknown): boolean => typeof v === 'string' && v.startsWith('-');
    const given = Object.values(values).flatMap((v) => (Array.isArray(v) ? v : [v]));
    if (given.some(looksLikeFlag) || positionals.some(looksLikeFlag)) return undefined;
    return { values, positionals };
  } catch {
    return undefined;
  }
}
