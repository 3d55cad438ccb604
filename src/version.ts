import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The installed pgcerts package version. */
export function getPackageVersion(): string {
  cached ??= (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cached;
}
