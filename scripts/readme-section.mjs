// The generated tables of README.md (providers, drivers) sit between two marker lines; these
// read and replace what is between them. Shared by scripts/provider-table.mjs and driver-table.mjs.
import { readFileSync, writeFileSync } from 'node:fs';

/** The text between the markers, trimmed, or undefined when they are missing. */
export function readSection(text, begin, end) {
  const start = text.indexOf(begin);
  const stop = text.indexOf(end);
  if (start < 0 || stop < start) return undefined;
  return text.slice(start + begin.length, stop).trim();
}

/** `--write`: put `table` between the markers of the README at `path`; else print it. */
export function writeOrPrintSection(path, name, begin, end, table) {
  if (!process.argv.includes('--write')) {
    process.stdout.write(`${table}\n`);
    return;
  }
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf(begin);
  const stop = text.indexOf(end);
  if (start < 0 || stop < start) {
    process.stderr.write(`README.md has no ${name} markers; add the two lines:\n${begin}\n${end}\n`);
    process.exit(1);
  }
  writeFileSync(path, `${text.slice(0, start + begin.length)}\n${table}\n${text.slice(stop)}`);
}
