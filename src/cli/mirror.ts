import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { findKernelFileSystem } from '../cache.js';
import { PgcertsError } from '../errors.js';
import type { Registry } from '../registry.js';
import { baseOptions } from './context.js';
import { downloadFlags } from './fetch.js';
import { EXIT, out, outJson, warn } from './output.js';
import { writeFileAtomic } from './write-file.js';

export interface MirrorFlags {
  offline?: boolean;
  json?: boolean;
  /** Seconds per download (commander passes a string). */
  timeout?: string;
  retries?: string;
}

function makeDir(dir: string, what: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? `${code}: a part of the path is a file, not a directory` : code ?? String(cause);
    throw new PgcertsError('INVALID_INPUT', `Cannot create ${what} "${dir}" (${why}); choose a writable directory.`, { cause });
  }
}

/**
 * `pgcerts mirror <dir> [provider...]`: build the mirror (src/mirror.ts) and write each file
 * atomically under `<dir>`, then `<dir>/registry.json`, the registry the files were validated
 * against. A source that fails is reported and the others are written (exit 1).
 */
export async function runMirror(registry: Registry, dirArg: string, names: string[], flags: MirrorFlags): Promise<number> {
  const dir = resolve(dirArg);
  // Node's recursive mkdir never returns under /proc or /sys; nothing can be served from there.
  const kernel = findKernelFileSystem(dir);
  if (kernel !== undefined) throw new PgcertsError('INVALID_INPUT', `Cannot write a mirror in "${dirArg}": it is under ${kernel}, a kernel file system; choose a directory such as /srv/pgcerts-mirror.`);
  const download = downloadFlags(flags);
  const { mirror: upstream, shippedRoots } = baseOptions();
  if (flags.offline && shippedRoots === false) throw new PgcertsError('USAGE', '--offline builds the mirror from the shipped roots, which PGCERTS_NO_SHIPPED_ROOTS turns off; unset it or drop --offline.');
  const { buildMirror } = await import('../mirror.js');
  const build = await buildMirror({ registry, providers: names, offline: flags.offline, mirror: upstream, download });
  makeDir(dir, 'the mirror directory');
  const written: Array<Omit<(typeof build.files)[number], 'bytes'> & { file: string; bytes: number }> = [];
  for (const file of build.files) {
    const target = join(dir, ...file.path.split('/'));
    // findMirrorPath allows no "..", so this never happens; checked again before writing anyway.
    if (!target.startsWith(`${dir}${sep}`)) throw new Error(`mirror path "${file.path}" leaves "${dir}"`);
    makeDir(dirname(target), 'a mirror directory');
    writeFileAtomic(target, file.bytes, 'mirror file');
    const { bytes, ...rest } = file;
    written.push({ ...rest, file: target, bytes: bytes.length });
  }
  // Last, so a mirror whose registry.json is current holds every file that registry lists.
  const registryFile = join(dir, 'registry.json');
  const registryText = registry.path !== undefined && existsSync(registry.path) ? readFileSync(registry.path, 'utf8') : `${JSON.stringify({ schemaVersion: registry.schemaVersion, version: registry.version, contentSha256: registry.contentSha256, providers: registry.providers })}\n`;
  writeFileAtomic(registryFile, registryText, 'mirror file');
  if (flags.json) {
    outJson({ registryVersion: registry.version, dir, offline: build.offline, registryFile, files: written, skipped: build.skipped, errors: build.errors });
  } else {
    out(dir);
  }
  warn(`mirror: ${written.length} file${written.length === 1 ? '' : 's'} (registry ${registry.version}${build.offline ? ', from the shipped roots' : ''}) in "${dir}"; serve it over HTTPS and set PGCERTS_MIRROR to its URL.`);
  if (!flags.json) {
    for (const skip of build.skipped) warn(`mirror: skipped ${skip.url} (${skip.provider}, ${skip.trust}): ${skip.reason}.`);
  }
  for (const error of build.errors) warn(`${error.provider}: ${error.message}`);
  return build.errors.length === 0 ? EXIT.ok : EXIT.failed;
}
