// Reading a file named on the command line, in a connection string or in the cache, without
// trusting what it is: a FIFO would block the read forever and a device like /dev/zero never
// ends. Node built-ins only: `pgcerts sslrootcert` reads its cached bundle through this.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { PgcertsError } from './errors.js';

/**
 * The largest CA file pgcerts reads: 8 MiB. The biggest real bundle, Node's whole root store as
 * PEM, is about 220 KiB, and downloads stop at 5 MiB (`download` `maxBytes`); a file larger than
 * this is not a CA bundle, and reading it would only cost memory and time.
 */
export const MAX_CA_FILE_BYTES = 8 * 1024 * 1024;

/** Options of {@link readRegularFile}. */
export interface ReadRegularFileOptions {
  /** Refuse a larger file. */
  maxBytes: number;
  /** Refuse a symbolic link as the last part of the path (`O_NOFOLLOW`), as the cache does. */
  noFollow?: boolean;
  /** Look at the opened file before it is read (owner, mode); throw to refuse it. */
  check?: (stat: Stats) => void;
}

// O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer, so
// fstat can refuse it. O_NOCTTY: a terminal device never becomes the controlling terminal.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

/**
 * Read a whole regular file of at most `maxBytes`, judging the opened descriptor (fstat), so a
 * FIFO, a device, a socket or a directory is refused without blocking and without a race between
 * looking and opening. Errors of the system (ENOENT, EACCES, ENOTDIR, ELOOP for a link with
 * `noFollow`, ...) are thrown as they are, for the caller to name in its own words.
 *
 * @example readRegularFile('/etc/ssl/rds.pem', { maxBytes: MAX_CA_FILE_BYTES })
 * @throws PgcertsError `INVALID_INPUT` naming the path when it is not a regular file or is larger
 *   than `maxBytes`; the `ErrnoException` of a failed open or read; whatever `check` throws.
 */
export function readRegularFile(path: string, options: ReadRegularFileOptions): Buffer {
  const fd = openSync(path, OPEN_FLAGS | (options.noFollow ? (constants.O_NOFOLLOW ?? 0) : 0));
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      throw new PgcertsError('INVALID_INPUT', `"${path}" is ${describeFileType(stat)}, not a regular file; give the path of a regular file.`);
    }
    options.check?.(stat);
    if (stat.size > options.maxBytes) throw tooLarge(path, options.maxBytes, `${stat.size} bytes`);
    // Read up to one byte past the limit: a file that grows while it is read is refused too.
    const buffer = Buffer.allocUnsafe(Math.min(stat.size, options.maxBytes) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (length > options.maxBytes) throw tooLarge(path, options.maxBytes, 'it grew while being read');
        break;
      }
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > options.maxBytes) throw tooLarge(path, options.maxBytes, 'it grew while being read');
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

/**
 * What a failed {@link readRegularFile} was about, for a message: the system's code (`ENOENT`),
 * or the sentence a refusal carries.
 */
export function describeReadError(error: unknown): string {
  if (error instanceof PgcertsError) return error.message;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : String(error);
}

/** "a FIFO", "a character device", ... for a message. */
export function describeFileType(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  if (stat.isSymbolicLink()) return 'a symbolic link';
  return stat.isFile() ? 'a regular file' : 'a special file';
}

function tooLarge(path: string, maxBytes: number, detail: string): PgcertsError {
  return new PgcertsError('INVALID_INPUT', `"${path}" is larger than ${maxBytes} bytes (${detail}), too large for a CA file; give the path of a certificate bundle.`);
}
