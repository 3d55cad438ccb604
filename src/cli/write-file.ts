import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { PgcertsError } from '../errors.js';
import { describeFileType } from '../read-file.js';

/** How long a write into a FIFO waits for its reader to make room before giving up. */
const FIFO_WAIT_MS = 30_000;
// Temporary names add about 25 characters; most file systems allow 255 bytes per name.
const MAX_TEMP_BASE_LENGTH = 200;

/**
 * Write `text` to `file` for `--output`/`--out`. A regular file (or a new one) is replaced
 * atomically: a temporary file in the same directory (named `.<name>.<pid>.<random>.tmp`, which
 * node_exporter's textfile collector ignores) is written, fsynced, given mode 0644 whatever the
 * umask, and renamed over the target, so a reader sees the old file or the new one, never a part;
 * on any failure the temporary file is removed and the old file is left as it was. A character
 * device or a FIFO (`/dev/null`, `/dev/stdout`, a pipe a collector reads) is written into and
 * stays what it is: renaming a file over `/dev/null` as root would break the machine.
 *
 * @throws PgcertsError `INVALID_INPUT` naming the file and the system error (a directory, a
 *   block device, a FIFO nobody reads, ENOTDIR, ENAMETOOLONG, EACCES, ENOSPC, ...).
 */
export function writeFileAtomic(file: string, text: string | Uint8Array, flag: string): void {
  const target = resolve(file);
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text);
  const fail = (reason: string, cause?: unknown): PgcertsError =>
    new PgcertsError('INVALID_INPUT', `Cannot write ${flag} "${file}" (${reason}); the previous file, if any, is unchanged. Choose a writable path on a file system with space.`, cause === undefined ? undefined : { cause });
  if (writeIntoSpecialFile(target, bytes, file, flag, fail)) return;
  const name = basename(target);
  const temp = join(dirname(target), `.${name.length > MAX_TEMP_BASE_LENGTH ? name.slice(0, MAX_TEMP_BASE_LENGTH) : name}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx', 0o644);
    fchmodSync(fd, 0o644);
    writeFully(fd, bytes);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, target);
  } catch (cause) {
    // Cleaning up must not throw again: with ENOTDIR or ENAMETOOLONG the temporary file was
    // never created and removing it fails the same way.
    try {
      if (fd !== undefined) closeSync(fd);
    } catch {
      // Closing a descriptor that failed to write; nothing more to do.
    }
    try {
      rmSync(temp, { force: true });
    } catch {
      // Never created.
    }
    throw fail(errnoText(cause), cause);
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

/**
 * Write into `target` when it already exists as a character device or FIFO; false when it is
 * missing or a regular file, which the caller replaces atomically.
 */
function writeIntoSpecialFile(target: string, bytes: Buffer, file: string, flag: string, fail: (reason: string, cause?: unknown) => PgcertsError): boolean {
  let stat: Stats;
  try {
    stat = statSync(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fail(errnoText(error), error);
  }
  if (stat.isFile()) return false;
  if (!stat.isCharacterDevice() && !stat.isFIFO()) {
    throw new PgcertsError('INVALID_INPUT', `Cannot write ${flag} "${file}": it is ${describeFileType(stat)}; give the path of a file to write the report to.`);
  }
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO nobody reads fails (ENXIO) instead of waiting forever.
    fd = openSync(target, constants.O_WRONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENXIO') {
      throw new PgcertsError('INVALID_INPUT', `Cannot write ${flag} "${file}": it is a FIFO (named pipe) that no process is reading; start its reader first, or give the path of a regular file.`, { cause: error });
    }
    throw fail(errnoText(error), error);
  }
  try {
    // The path may have changed between the stat and the open: judge what was opened.
    if (fstatSync(fd).isFile()) return false;
    writeFully(fd, bytes, FIFO_WAIT_MS);
  } catch (error) {
    if (error instanceof PgcertsError) throw error;
    throw fail(errnoText(error), error);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Write all of `bytes`; on a full non-blocking pipe, wait for the reader up to `waitMs`. */
function writeFully(fd: number, bytes: Buffer, waitMs = 0): void {
  let waited = 0;
  for (let offset = 0; offset < bytes.length;) {
    try {
      offset += writeSync(fd, bytes, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || waited >= waitMs) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      waited += 10;
    }
  }
}

function errnoText(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : String(error);
}
