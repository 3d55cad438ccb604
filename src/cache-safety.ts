// The cache is a trust store: whoever can write a file in it chooses which CA a connection
// trusts. So, as OpenSSH does with ~/.ssh (StrictModes), every directory and file the cache
// reads must belong to the current user or root and be writable by no one else. Node built-ins
// only: `pgcerts sslrootcert` runs these checks on every read.
import { lstatSync, statSync, type Stats } from 'node:fs';
import { PgcertsError } from './errors.js';
import { describeFileType } from './read-file.js';

/** The user whose files the cache trusts besides root; `undefined` where there are no uids (Windows). */
function currentUid(): number | undefined {
  return process.platform === 'win32' ? undefined : process.getuid?.();
}

/**
 * Refuse a cache directory or file that another user owns (root excepted) or that its group or
 * others may write.
 *
 * @throws PgcertsError `CACHE_UNSAFE` naming the path and the command that fixes it.
 */
export function checkCacheOwnership(path: string, stat: Stats, what: 'directory' | 'file'): void {
  const uid = currentUid();
  if (uid === undefined) return;
  if (stat.uid !== uid && stat.uid !== 0) {
    throw new PgcertsError('CACHE_UNSAFE', `The pgcerts cache ${what} "${path}" belongs to uid ${stat.uid}, not to you (uid ${uid}) or root, and whoever can change it chooses which CA your connections trust; if it is yours, run \`chown ${what === 'directory' ? '-R ' : ''}${uid} '${path}'\`, else set PGCERTS_CACHE_DIR to a directory of your own.`);
  }
  const writable = stat.mode & 0o022;
  if (writable !== 0) {
    const who = writable === 0o022 ? 'its group and others' : writable === 0o020 ? 'its group' : 'others';
    throw new PgcertsError('CACHE_UNSAFE', `The pgcerts cache ${what} "${path}" is writable by ${who} (mode ${(stat.mode & 0o7777).toString(8).padStart(4, '0')}), so they could choose which CA your connections trust; run \`chmod go-w '${path}'\`.`);
  }
}

/**
 * Check a directory of the cache; `false` when it does not exist. The cache's own directory may
 * be a symbolic link (the user chose it); a directory inside it may not, because the cache would
 * then read, write and clean up files somewhere else.
 *
 * @throws PgcertsError `CACHE_UNSAFE` for a link inside the cache, a directory of another user
 *   or one others may write; the `ErrnoException` of a failed stat other than ENOENT.
 */
export function checkCacheDir(path: string, inside: boolean): boolean {
  let stat: Stats;
  try {
    stat = inside ? lstatSync(path) : statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  if (stat.isSymbolicLink()) {
    throw new PgcertsError('CACHE_UNSAFE', `The pgcerts cache directory "${path}" is a symbolic link; pgcerts follows no links inside its cache, so that nothing outside it is read or deleted. Remove the link (\`rm '${path}'\`) and fetch again.`);
  }
  if (!stat.isDirectory()) {
    throw new PgcertsError('CACHE_UNAVAILABLE', `The pgcerts cache path "${path}" is ${describeFileType(stat)}, not a directory; remove it, or set PGCERTS_CACHE_DIR to a directory.`);
  }
  checkCacheOwnership(path, stat, 'directory');
  return true;
}
