import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { PgcertsError } from '../errors.js';

/**
 * Replace `file` with `text` atomically: write a temporary file in the same directory (named
 * `.<name>.<pid>.<random>.tmp`, which node_exporter's textfile collector ignores), fsync it, give
 * it mode 0644 whatever the umask, and rename it over the target. A reader sees the old file or
 * the new one, never a part; on any failure the temporary file is removed and the old file is
 * left as it was.
 *
 * @throws PgcertsError `INVALID_INPUT` naming the file and the system error.
 */
export function writeFileAtomic(file: string, text: string, flag: string): void {
  const target = resolve(file);
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx', 0o644);
    fchmodSync(fd, 0o644);
    const bytes = Buffer.from(text, 'utf8');
    for (let offset = 0; offset < bytes.length;) offset += writeSync(fd, bytes, offset);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, target);
  } catch (cause) {
    if (fd !== undefined) closeSync(fd);
    rmSync(temp, { force: true });
    const code = (cause as NodeJS.ErrnoException).code ?? String(cause);
    throw new PgcertsError('INVALID_INPUT', `Cannot write ${flag} "${file}" (${code}); the previous file, if any, is unchanged. Choose a writable path on a file system with space.`, { cause });
  }
  // Make the rename durable too; not every platform or file system can sync a directory.
  try {
    const dir = openSync(dirname(target), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // The new file is in place either way.
  }
}
