// The on-disk store of downloaded and imported CA bundles. `pgcerts sslrootcert` reads it on every
// deploy, so this module imports node built-ins only.
import { readdirSync, type Dirent } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, hostname } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { CertificateSummary } from './certificate.js';
import { checkCacheDir, checkCacheOwnership } from './cache-safety.js';
import { PgcertsError } from './errors.js';
import { MAX_CA_FILE_BYTES, readRegularFile } from './read-file.js';

/**
 * Where the cache lives: `PGCERTS_CACHE_DIR`, else `$XDG_CACHE_HOME/pgcerts`, else
 * `~/.cache/pgcerts`. Empty variables count as unset. A relative `XDG_CACHE_HOME` is ignored, as
 * the XDG Base Directory spec requires; a relative `PGCERTS_CACHE_DIR` is an error, because a
 * cache that moves with the working directory would silently miss in deploy scripts.
 *
 * A cache under `/proc` or `/sys` is refused before any file system call (see
 * {@link findKernelFileSystem}).
 *
 * @example getCacheDir({ PGCERTS_CACHE_DIR: '/var/cache/pgcerts' }) // '/var/cache/pgcerts'
 * @throws PgcertsError `CACHE_UNAVAILABLE` when `PGCERTS_CACHE_DIR` is relative, the cache would
 *   be under `/proc` or `/sys`, or no home directory is known; the message names the variable.
 */
export function getCacheDir(env: NodeJS.ProcessEnv = process.env, homeDir: () => string = homedir): string {
  const explicit = env.PGCERTS_CACHE_DIR;
  if (explicit !== undefined && explicit !== '') {
    if (!isAbsolute(explicit)) {
      throw new PgcertsError('CACHE_UNAVAILABLE', `PGCERTS_CACHE_DIR "${explicit}" is not an absolute path; set it to an absolute directory such as /var/cache/pgcerts.`);
    }
    const dir = resolve(explicit);
    const kernel = findKernelFileSystem(dir);
    if (kernel !== undefined) {
      throw new PgcertsError('CACHE_UNAVAILABLE', `PGCERTS_CACHE_DIR "${explicit}" is under ${kernel}, a kernel file system where no cache can be written; set it to a directory such as /var/cache/pgcerts.`);
    }
    return dir;
  }
  // https://specifications.freedesktop.org/basedir-spec/latest/: relative paths are invalid and ignored.
  const xdg = env.XDG_CACHE_HOME;
  if (xdg !== undefined && xdg !== '' && isAbsolute(xdg)) {
    const dir = join(resolve(xdg), 'pgcerts');
    const kernel = findKernelFileSystem(dir);
    if (kernel !== undefined) {
      throw new PgcertsError('CACHE_UNAVAILABLE', `XDG_CACHE_HOME "${xdg}" puts the pgcerts cache under ${kernel}, a kernel file system where no cache can be written; set PGCERTS_CACHE_DIR to a directory such as /var/cache/pgcerts.`);
    }
    return dir;
  }
  const home = homeDir();
  if (home === '' || !isAbsolute(home)) {
    throw new PgcertsError('CACHE_UNAVAILABLE', `No home directory is known (got "${home}"); set PGCERTS_CACHE_DIR to an absolute directory.`);
  }
  const dir = join(home, '.cache', 'pgcerts');
  const kernel = findKernelFileSystem(dir);
  if (kernel !== undefined) {
    throw new PgcertsError('CACHE_UNAVAILABLE', `The home directory "${home}" puts the pgcerts cache under ${kernel}, a kernel file system where no cache can be written; set PGCERTS_CACHE_DIR to a directory such as /var/cache/pgcerts.`);
  }
  return dir;
}

/**
 * Kernel file systems, where no cache can live: procfs and sysfs answer ENOENT to a new
 * directory, which Node's recursive mkdir takes for a missing parent, so it retries forever at
 * full CPU instead of failing.
 */
const KERNEL_FILE_SYSTEMS = ['/proc', '/sys'] as const;

/**
 * The kernel file system (`/proc` or `/sys`) an absolute, normalised path lies in, if any. Pure:
 * judged on the path's text, so the refusal comes before any file system call.
 *
 * @example findKernelFileSystem('/proc/self/pgcerts') // '/proc'
 * @example findKernelFileSystem('/system/cache') // undefined
 */
export function findKernelFileSystem(path: string): string | undefined {
  return KERNEL_FILE_SYSTEMS.find((root) => path === root || path.startsWith(`${root}/`));
}

/** The error for a cache directory that is, or through links leads, into a kernel file system. */
function kernelFileSystemError(dir: string, kernel: string, real?: string): PgcertsError {
  const where = real === undefined ? `is under ${kernel}` : `leads into ${kernel} ("${real}") through a symbolic link`;
  return new PgcertsError('CACHE_UNAVAILABLE', `The pgcerts cache directory "${dir}" ${where}, a kernel file system where no cache can be written; set PGCERTS_CACHE_DIR (or the cacheDir option) to a directory such as /var/cache/pgcerts.`);
}

/**
 * Whether an error says the cache cannot be written because of its permissions or a read-only
 * file system (EACCES, EPERM, EROFS): a cache baked into a container image and run as another
 * user, whose copies may still be served.
 */
export function isCacheReadOnlyError(error: unknown): boolean {
  if (!(error instanceof PgcertsError) || error.code !== 'CACHE_UNAVAILABLE') return false;
  const code = errnoCode(error.cause);
  return code === 'EACCES' || code === 'EPERM' || code === 'EROFS';
}

/** What a cached bundle is: a provider's trust entry and source, or a file imported for it. */
export interface CacheKey {
  provider: string;
  trust: string;
  /** A registry source id, or `import` for a file the user imported. */
  source: string;
  region?: string;
  /**
   * The host a per-host CA belongs to (imported, or fetched through an account API); for a CA
   * fetched by resource rather than host (Cloud SQL's `--instance`), the resource id.
   */
  host?: string;
}

/** What the cache records about each certificate of a bundle. */
export type CachedCertificate = Pick<CertificateSummary, 'sha256' | 'subject' | 'notBefore' | 'notAfter' | 'key'> & {
  /** Whether the registry pins this certificate. */
  pinned: boolean;
};

/** The metadata stored next to each cached PEM. */
export interface CacheMeta {
  formatVersion: 1;
  key: CacheKey;
  /** Source URL; absent for imports. */
  url?: string;
  /** Absolute path of an imported file. */
  importedFrom?: string;
  /** Written from the roots shipped with pgcerts, not downloaded: which set (`registry 1.2.0`). */
  shipped?: string;
  /** The provider resource an account CA was fetched for through the provider's API (never a secret). */
  resource?: { id: string; kind: string; project?: string; name?: string; region?: string };
  /** ISO-8601 UTC. */
  fetchedAt: string;
  etag?: string;
  lastModified?: string;
  /** Lower-case hex SHA-256 of the PEM file's bytes. */
  sha256: string;
  /**
   * A fast 64-bit checksum of the PEM file's bytes (`c64:` and 16 hex digits), which reads check
   * together with `bytes`: loading node:crypto to recompute the SHA-256 would cost
   * `pgcerts sslrootcert` more start-up time than everything else it does (see BENCHMARKS.md).
   */
  checksum: string;
  bytes: number;
  registryVersion: string;
  certificates: CachedCertificate[];
}

/** The caller's part of {@link CacheMeta}; the cache fills in the rest. */
export type CacheMetaFields = Omit<CacheMeta, 'sha256' | 'checksum' | 'bytes' | 'formatVersion' | 'key'>;

/** A cached bundle whose bytes match its metadata. */
export interface CacheEntry {
  /** Absolute path of the PEM, usable as `sslrootcert`. */
  path: string;
  pem: string;
  meta: CacheMeta;
}

/** A cache file {@link BundleCache.list} skipped, with the reason. */
export interface CacheProblem {
  path: string;
  error: PgcertsError;
}

/** Every valid entry of a cache, and the files that are not. */
export interface CacheListing {
  entries: CacheEntry[];
  problems: CacheProblem[];
}

/**
 * The points of {@link BundleCache.write} in order. `meta-replaced` is the only moment metadata
 * and PEM disagree (the metadata then also carries the old entry); `pem-replaced` is the commit.
 */
export type CacheWriteStep = 'pem-staged' | 'locked' | 'meta-replaced' | 'pem-replaced' | 'meta-final';

export interface BundleCacheOptions {
  /** How long {@link BundleCache.write} waits for another writer of the same key; default 10 s. */
  lockTimeoutMs?: number;
  /** A lock older than this is abandoned and may be broken; default 30 s. */
  staleLockMs?: number;
  /** Called at each step of a write, for tests and diagnostics; a throw aborts the write there. */
  onWriteStep?: (step: CacheWriteStep, key: CacheKey) => void | Promise<void>;
}

/** Update after a `304 Not Modified`; absent validators keep their stored value. */
export interface CacheTouch {
  fetchedAt: string;
  etag?: string;
  lastModified?: string;
}

interface KeyPaths {
  dir: string;
  pem: string;
  meta: string;
  lock: string;
}

/** A metadata file as stored: during a write it also carries the entry it replaces. */
interface StoredMeta {
  meta: CacheMeta;
  previous: CacheMeta | undefined;
}

const FORMAT_VERSION = 1;
const FILE_MODE = 0o644;
const DIR_MODE = 0o755;
// Delays before re-reading when PEM and metadata disagree: a writer may be between its renames.
const READ_RETRY_MS = [2, 10, 50];
const TEMP_MAX_AGE_MS = 60_000;
/** The names {@link tempPath} gives: `.<name>.<pid>.<12 hex digits>.tmp`. */
const TEMP_NAME = /^\..+\.\d+\.[0-9a-f]{12}\.tmp$/;
/** A lock holds one line of JSON (pid, host, time, nonce). */
const MAX_LOCK_BYTES = 64 * 1024;
// Long names are shortened with a hash; 255 bytes is the usual file-name limit.
const MAX_BASE_LENGTH = 180;
const UNAVAILABLE_CODES = new Set([
  'EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'EFBIG', 'ENOTDIR', 'EISDIR', 'EIO', 'ENAMETOOLONG', 'ELOOP', 'EMFILE', 'ENFILE',
]);

/**
 * An atomic, lock-protected store of CA bundles, one PEM plus one JSON metadata file per key:
 *
 *   <dir>/<provider>/<trust>.<source>[.<region>][@<host>].pem   the bundle (sslrootcert)
 *   <dir>/<provider>/<same>.json                                 its {@link CacheMeta}
 *   <dir>/<provider>/<same>.lock                                 held while a writer commits
 *
 * Ids keep `[a-z0-9_-]` (hosts also `.`); any other byte is written `%XX`, so names are
 * injective, case-safe and never contain a path separator.
 *
 * Writing never leaves a partial file at a final path, even if the process is killed: each file
 * is written to a temporary name, fsynced and renamed. The PEM and its metadata are two renames,
 * so the metadata goes first and names both the new and the previous bundle; whichever PEM a
 * reader (or a crash) leaves in place, the metadata describes it. Readers take no lock.
 */
export class BundleCache {
  readonly dir: string;
  readonly lockTimeoutMs: number;
  readonly staleLockMs: number;
  private readonly onWriteStep: BundleCacheOptions['onWriteStep'];

  /**
   * @throws PgcertsError `CACHE_UNAVAILABLE` for a directory under `/proc` or `/sys`, before any
   *   file system call.
   */
  constructor(dir: string, options: BundleCacheOptions = {}) {
    this.dir = resolve(dir);
    const kernel = findKernelFileSystem(this.dir);
    if (kernel !== undefined) throw kernelFileSystemError(this.dir, kernel);
    this.lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
    this.staleLockMs = options.staleLockMs ?? 30_000;
    this.onWriteStep = options.onWriteStep;
  }

  /**
   * The absolute path of a key's PEM; stable across versions, so it can go in a connection string.
   *
   * @example cache.pathFor({ provider: 'rds', trust: 'aws', source: 'regional', region: 'eu-west-1' })
   *   // '<dir>/rds/aws.regional.eu-west-1.pem'
   * @throws PgcertsError `INVALID_INPUT` when an id is empty.
   */
  pathFor(key: CacheKey): string {
    return this.pathsFor(key).pem;
  }

  /**
   * Read a key's bundle, verified against its metadata; `undefined` when it is not cached.
   *
   * @throws PgcertsError `CACHE_CORRUPT` when the PEM does not match its metadata or the metadata
   *   is unreadable; `CACHE_UNAVAILABLE` when the files cannot be read.
   */
  read(key: CacheKey): CacheEntry | undefined {
    return this.readWith(key, undefined);
  }

  /** {@link read}, reusing metadata the caller has just read and parsed for the first attempt. */
  private readWith(key: CacheKey, first: { metaBytes: Buffer; stored: StoredMeta } | undefined): CacheEntry | undefined {
    const paths = this.pathsFor(key);
    if (!this.checkDirs(paths.dir)) return undefined;
    for (let attempt = 0; ; attempt++) {
      // Metadata first: the writer replaces it before the PEM, so a PEM newer than the metadata
      // read here means a writer is mid-commit, and a retry sees metadata that covers it.
      const metaBytes = attempt === 0 && first ? first.metaBytes : readOptional(paths.meta);
      const pemBytes = readOptional(paths.pem);
      if (pemBytes === undefined) return undefined;
      let problem: string;
      if (metaBytes === undefined) {
        problem = `has no metadata "${paths.meta}"`;
      } else {
        const stored = attempt === 0 && first ? first.stored : parseStoredMeta(metaBytes, paths.meta, key.provider, key.source);
        if (!isSameKey(stored.meta.key, key)) {
          throw corrupt(key.provider, key.source, `Cache metadata "${paths.meta}" describes another bundle (${describeKey(stored.meta.key)})`);
        }
        const checksum = checksumBytes(pemBytes);
        const meta = [stored.meta, stored.previous].find((m) => m !== undefined && m.checksum === checksum && m.bytes === pemBytes.length);
        if (meta !== undefined) return { path: paths.pem, pem: pemBytes.toString('utf8'), meta };
        problem = `does not match its metadata "${paths.meta}" (checksum ${checksum}, ${pemBytes.length} bytes; expected ${stored.meta.checksum}, ${stored.meta.bytes} bytes)`;
      }
      const delayMs = READ_RETRY_MS[attempt];
      if (delayMs === undefined) throw corrupt(key.provider, key.source, `Cached bundle "${paths.pem}" ${problem}`);
      sleepSync(delayMs);
    }
  }

  /**
   * Like {@link read}, but a corrupt entry is reported through `onCorrupt` and treated as absent,
   * for callers that are about to replace it anyway (a fetch).
   */
  readOrReport(key: CacheKey, onCorrupt: (message: string) => void): CacheEntry | undefined {
    try {
      return this.read(key);
    } catch (error) {
      if (!(error instanceof PgcertsError) || error.code !== 'CACHE_CORRUPT') throw error;
      onCorrupt(error.message);
      return undefined;
    }
  }

  /**
   * Store a bundle and its metadata atomically, replacing any previous entry for the key.
   *
   * @throws PgcertsError `CACHE_UNAVAILABLE` when the directory cannot be written (permissions,
   *   read-only, full) or another writer holds the lock too long; `INVALID_INPUT` for bad fields.
   *   On any failure before the commit, the previous entry is left byte-identical.
   */
  async write(key: CacheKey, pem: string, fields: CacheMetaFields): Promise<CacheEntry> {
    const paths = this.pathsFor(key);
    const bytes = Buffer.from(pem, 'utf8');
    const meta = buildMeta(key, fields, bytes);
    const temps: string[] = [];
    try {
      await makeDirs(paths.dir);
      this.checkDirs(paths.dir);
      await removeStaleTemps(paths.dir, Math.max(TEMP_MAX_AGE_MS, 2 * this.lockTimeoutMs));
      const pemTemp = tempPath(paths.pem);
      temps.push(pemTemp);
      await writeDurably(pemTemp, bytes);
      await this.onWriteStep?.('pem-staged', key);
      const lock = await this.acquireLock(paths.lock);
      try {
        await this.onWriteStep?.('locked', key);
        const before = readCommitted(paths, key);
        let committed = false;
        try {
          // Metadata before PEM: a new PEM must never be on disk without metadata that describes
          // it. Until the PEM rename, the metadata's `previous` record describes the old PEM.
          await replaceFile(paths.meta, serializeMeta(meta, before.entry), temps);
          await this.onWriteStep?.('meta-replaced', key);
          await fsp().rename(pemTemp, paths.pem);
          committed = true;
          await syncDir(paths.dir);
        } catch (error) {
          // Put the old metadata back so a failed write changes nothing. If that fails too, the
          // metadata still describes the old PEM through its `previous` record.
          if (!committed) await restoreFile(paths.meta, before.metaBytes, temps).catch(() => undefined);
          throw error;
        }
        await this.onWriteStep?.('pem-replaced', key);
        try {
          await replaceFile(paths.meta, serializeMeta(meta, undefined), temps);
        } catch (error) {
          // The entry is committed and readable; the next write drops the `previous` record.
          if (errnoCode(error) === undefined) throw error;
        }
        await this.onWriteStep?.('meta-final', key);
      } finally {
        await releaseLock(lock);
      }
    } catch (error) {
      throw toCacheError(error, 'write', paths.dir);
    } finally {
      await Promise.all(temps.map((path) => fsp().rm(path, { force: true }).catch(() => undefined)));
    }
    return { path: paths.pem, pem, meta };
  }

  /**
   * Remove an entry (its PEM, then its metadata) under the entry's lock; `false` when there was
   * none. Readers see the entry whole or not at all: without its PEM it reads as absent.
   * @throws PgcertsError `CACHE_UNAVAILABLE` when the files cannot be removed.
   */
  async remove(key: CacheKey): Promise<boolean> {
    const paths = this.pathsFor(key);
    // A missing directory holds no entry; an unsafe one (others could write it) is refused.
    if (!this.checkDirs(paths.dir)) return false;
    try {
      const lock = await this.acquireLock(paths.lock);
      try {
        let removed = false;
        for (const path of [paths.pem, paths.meta]) {
          try {
            await fsp().unlink(path);
            removed = true;
          } catch (error) {
            if (errnoCode(error) !== 'ENOENT') throw error;
          }
        }
        await syncDir(paths.dir);
        return removed;
      } finally {
        await releaseLock(lock);
      }
    } catch (error) {
      throw toCacheError(error, 'write', paths.dir);
    }
  }

  /**
   * Record a revalidation (HTTP 304) without rewriting the PEM; `undefined` when not cached.
   *
   * @throws PgcertsError `CACHE_CORRUPT` when the cached entry is corrupt; `CACHE_UNAVAILABLE`
   *   as for {@link BundleCache.write}.
   */
  async touch(key: CacheKey, update: CacheTouch): Promise<CacheEntry | undefined> {
    const paths = this.pathsFor(key);
    const temps: string[] = [];
    try {
      if (!this.checkDirs(paths.dir) || readOptional(paths.pem) === undefined) return undefined;
      const lock = await this.acquireLock(paths.lock);
      try {
        const entry = this.read(key);
        if (entry === undefined) return undefined;
        const meta = dropUndefined<CacheMeta>({
          ...entry.meta,
          fetchedAt: update.fetchedAt,
          etag: update.etag ?? entry.meta.etag,
          lastModified: update.lastModified ?? entry.meta.lastModified,
        });
        checkMeta(meta, 'the touched metadata', (reason) => new PgcertsError('INVALID_INPUT', `Cannot update cache metadata: ${reason}; pass ISO-8601 dates and string validators.`));
        await replaceFile(paths.meta, serializeMeta(meta, undefined), temps);
        return { ...entry, meta };
      } finally {
        await releaseLock(lock);
      }
    } catch (error) {
      throw toCacheError(error, 'write', paths.dir);
    } finally {
      await Promise.all(temps.map((path) => fsp().rm(path, { force: true }).catch(() => undefined)));
    }
  }

  /**
   * Every valid entry, sorted by path, and every cache file that could not be used.
   *
   * @throws PgcertsError `CACHE_UNAVAILABLE` when the cache directory cannot be read.
   */
  list(): CacheListing {
    const entries: CacheEntry[] = [];
    const problems: CacheProblem[] = [];
    try {
      if (!checkCacheDir(this.dir, false)) return { entries, problems };
      for (const providerDir of readDirOptional(this.dir).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        if (!(providerDir.isDirectory() || providerDir.isSymbolicLink()) || providerDir.name.startsWith('.')) continue;
        const dir = join(this.dir, providerDir.name);
        const provider = decodeName(providerDir.name);
        try {
          checkCacheDir(dir, true);
        } catch (error) {
          if (!(error instanceof PgcertsError)) throw error;
          problems.push({ path: dir, error });
          continue;
        }
        const names = new Set(readDirOptional(dir).map((d) => d.name));
        for (const name of [...names].sort()) {
          if (name.startsWith('.')) continue;
          if (name.endsWith('.pem') && !names.has(`${name.slice(0, -4)}.json`)) {
            const path = join(dir, name);
            problems.push({ path, error: corrupt(provider, '', `Cached bundle "${path}" has no metadata "${join(dir, name.slice(0, -4))}.json"`) });
          }
          if (!name.endsWith('.json')) continue;
          const metaPath = join(dir, name);
          try {
            const bytes = readOptional(metaPath);
            if (bytes === undefined) continue;
            const stored = parseStoredMeta(bytes, metaPath, provider, '');
            const { meta } = stored;
            const expected = join(dir, `${name.slice(0, -5)}.pem`);
            if (this.pathFor(meta.key) !== expected) {
              throw corrupt(meta.key.provider, meta.key.source, `Cache metadata "${metaPath}" describes ${describeKey(meta.key)}, which belongs elsewhere`);
            }
            const entry = this.readWith(meta.key, { metaBytes: bytes, stored });
            if (entry !== undefined) entries.push(entry);
          } catch (error) {
            if (!(error instanceof PgcertsError)) throw error;
            problems.push({ path: metaPath, error });
          }
        }
      }
    } catch (error) {
      throw toCacheError(error, 'read', this.dir);
    }
    return { entries, problems };
  }

  /**
   * Check the cache directory and a provider directory in it before using them; false when
   * either is missing. A symbolic link, another user's directory or one others may write is
   * refused: see cache-safety.ts.
   */
  private checkDirs(dir: string): boolean {
    try {
      return checkCacheDir(this.dir, false) && checkCacheDir(dir, true);
    } catch (error) {
      throw toCacheError(error, 'read', dir);
    }
  }

  private pathsFor(key: CacheKey): KeyPaths {
    for (const field of ['provider', 'trust', 'source'] as const) {
      if (typeof key[field] !== 'string' || key[field] === '') {
        throw new PgcertsError('INVALID_INPUT', `Cache key ${field} "${String(key[field])}" is empty; give a provider, trust and source id.`);
      }
    }
    for (const field of ['region', 'host'] as const) {
      if (key[field] === '') throw new PgcertsError('INVALID_INPUT', `Cache key ${field} is empty; leave it out instead.`);
    }
    let base = [key.trust, key.source, key.region].filter((p) => p !== undefined).map((p) => encodeId(p, false)).join('.');
    if (key.host !== undefined) base += `@${encodeId(key.host, true)}`;
    // `~` never appears in an encoded name, so a shortened name cannot equal a full one.
    if (base.length > MAX_BASE_LENGTH) base = `${base.slice(0, MAX_BASE_LENGTH - 33)}~${hashBytes(Buffer.from(base)).slice(0, 32)}`;
    const dir = join(this.dir, encodeId(key.provider, false));
    return { dir, pem: join(dir, `${base}.pem`), meta: join(dir, `${base}.json`), lock: join(dir, `${base}.lock`) };
  }

  /**
   * Take the key's lock: a file created whole by hard-linking a finished temporary file, so its
   * content (pid, host, nonce) is never seen half-written and identifies its owner.
   */
  private async acquireLock(lockPath: string): Promise<HeldLock> {
    const content = `${JSON.stringify({ pid: process.pid, host: hostname(), createdAt: new Date().toISOString(), nonce: crypto().randomBytes(8).toString('hex') })}\n`;
    const deadline = Date.now() + this.lockTimeoutMs;
    // The file system's clock, measured once (a probe file) while the lock is contended, then
    // followed with the process clock: the skew between the two does not change within a wait.
    let skewMs: number | undefined;
    const fileSystemClock = async (): Promise<number> => Date.now() + (skewMs ??= (await fileSystemNow(dirname(lockPath))) - Date.now());
    for (let attempt = 0; ; attempt++) {
      if (await createExclusive(lockPath, content)) return { path: lockPath, content };
      if (await this.breakStaleLock(lockPath, await fileSystemClock())) continue;
      if (Date.now() >= deadline) {
        throw new PgcertsError('CACHE_UNAVAILABLE', `Lock "${lockPath}" is held by another pgcerts process (${describeLock(lockPath, await fileSystemClock())}) and was not released within ${this.lockTimeoutMs} ms; try again, or delete the lock file if no pgcerts is running.`);
      }
      await sleep(Math.min(5 * 2 ** attempt, 50) * (0.5 + Math.random()));
    }
  }

  /**
   * Remove a lock whose owner died or that is older than `staleLockMs`; true when it is gone.
   * `now` is on the file system's clock, as the lock's mtime is.
   */
  private async breakStaleLock(lockPath: string, now: number): Promise<boolean> {
    const seen = readLock(lockPath);
    if (seen === undefined) return true;
    const ageMs = now - seen.mtimeMs;
    const owner = parseLockContent(seen.content);
    const ownerDead = owner !== undefined && owner.host === hostname() && !isProcessAlive(owner.pid);
    if (!ownerDead && ageMs <= this.staleLockMs) return false;
    // Two processes may break the same stale lock at once; the loser could then remove a lock
    // the winner's successor just took. So move the lock aside and keep it only if it is the one
    // inspected; otherwise link it back.
    const aside = tempPath(lockPath);
    try {
      await fsp().rename(lockPath, aside);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return true;
      throw error;
    }
    try {
      if (readOptional(aside)?.toString('utf8') !== seen.content) {
        await fsp().link(aside, lockPath).catch((error: unknown) => {
          if (errnoCode(error) !== 'EEXIST') throw error;
        });
      }
    } finally {
      await fsp().rm(aside, { force: true });
    }
    return true;
  }
}

interface HeldLock {
  path: string;
  content: string;
}

function encodeId(value: string, isHost: boolean): string {
  const allowed = isHost ? /[a-z0-9_.-]/ : /[a-z0-9_-]/;
  let out = '';
  for (const char of value) {
    out += allowed.test(char) ? char : [...Buffer.from(char, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
  return out;
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

function describeKey(key: CacheKey): string {
  return [key.provider, key.trust, key.source, key.region, key.host].filter((p) => p !== undefined).join('/');
}

function isSameKey(a: CacheKey, b: CacheKey): boolean {
  return a.provider === b.provider && a.trust === b.trust && a.source === b.source && a.region === b.region && a.host === b.host;
}

function normalizeKey(key: CacheKey): CacheKey {
  const out: CacheKey = { provider: key.provider, trust: key.trust, source: key.source };
  if (key.region !== undefined) out.region = key.region;
  if (key.host !== undefined) out.host = key.host;
  return out;
}

// node:crypto and node:fs/promises cost milliseconds to load; only writers need them.
const require = createRequire(import.meta.url);
const crypto = (): typeof import('node:crypto') => require('node:crypto') as typeof import('node:crypto');
const fsp = (): typeof import('node:fs/promises') => require('node:fs/promises') as typeof import('node:fs/promises');

function hashBytes(bytes: Buffer): string {
  return crypto().createHash('sha256').update(bytes).digest('hex');
}

/**
 * Two 32-bit lanes over the bytes: FNV-1a, and a multiply-rotate lane seeded differently, so a
 * change that cancels out in one lane shows in the other. Detects damage, not tampering: whoever
 * can rewrite the PEM can rewrite its metadata too.
 */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function checksumBytes(bytes: Uint8Array): string {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9 ^ bytes.length;
  // Whole little-endian 32-bit words first (a quarter of the steps), then the last 0-3 bytes. A
  // typed-array view runs faster than DataView before the JIT warms up, which in a CLI it never does.
  const words = bytes.length >>> 2;
  if (LITTLE_ENDIAN) {
    const aligned = bytes.byteOffset % 4 === 0 ? bytes : Uint8Array.from(bytes);
    const view = new Uint32Array(aligned.buffer, aligned.byteOffset, words);
    for (let i = 0; i < words; i++) {
      const word = view[i] as number;
      a = Math.imul(a ^ word, 0x01000193);
      a ^= a >>> 15;
      b = Math.imul(b ^ word, 0x5bd1e995);
      b = (b << 13) | (b >>> 19);
    }
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < words; i++) {
      const word = view.getUint32(i * 4, true);
      a = Math.imul(a ^ word, 0x01000193);
      a ^= a >>> 15;
      b = Math.imul(b ^ word, 0x5bd1e995);
      b = (b << 13) | (b >>> 19);
    }
  }
  for (let i = words * 4; i < bytes.length; i++) {
    const byte = bytes[i] as number;
    a = Math.imul(a ^ byte, 0x01000193);
    b = Math.imul(b ^ byte, 0x5bd1e995);
    b = (b << 13) | (b >>> 19);
  }
  b = Math.imul(b ^ (b >>> 15), 0x2c1b3c6d);
  return `c64:${(a >>> 0).toString(16).padStart(8, '0')}${((b ^ (b >>> 16)) >>> 0).toString(16).padStart(8, '0')}`;
}

function corrupt(provider: string, source: string, what: string, cause?: unknown): PgcertsError {
  const next = source === 'import'
    ? `import the file again with \`pgcerts import ${provider} <file>\``
    : `run \`pgcerts fetch ${provider === '' ? '<provider>' : provider} --force\``;
  return new PgcertsError('CACHE_CORRUPT', `${what}; ${next}.`, cause === undefined ? undefined : { cause });
}

function buildMeta(key: CacheKey, fields: CacheMetaFields, bytes: Buffer): CacheMeta {
  const certificates = Array.isArray(fields.certificates)
    ? fields.certificates.map(({ sha256, subject, notBefore, notAfter, key: keyType, pinned }) => ({ sha256, subject, notBefore, notAfter, key: keyType, pinned }))
    : fields.certificates;
  const meta = dropUndefined({
    formatVersion: FORMAT_VERSION,
    key: normalizeKey(key),
    url: fields.url,
    importedFrom: fields.importedFrom,
    shipped: fields.shipped,
    resource: fields.resource === undefined ? undefined : dropUndefined({ ...fields.resource }),
    fetchedAt: fields.fetchedAt,
    etag: fields.etag,
    lastModified: fields.lastModified,
    sha256: hashBytes(bytes),
    checksum: checksumBytes(bytes),
    bytes: bytes.length,
    registryVersion: fields.registryVersion,
    certificates,
  });
  return checkMeta(meta, 'the new metadata', (reason) => new PgcertsError('INVALID_INPUT', `Cannot cache "${describeKey(key)}": ${reason}; pass the fields CacheMeta documents.`));
}

/** A copy without `undefined` properties, so returned metadata equals what a read parses. */
function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function serializeMeta(meta: CacheMeta, previous: CacheMeta | undefined): Buffer {
  return Buffer.from(`${JSON.stringify(previous === undefined ? meta : { ...meta, previous }, null, 2)}\n`, 'utf8');
}

function parseStoredMeta(bytes: Buffer, path: string, provider: string, source: string): StoredMeta {
  let data: unknown;
  try {
    data = JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw corrupt(provider, source, `Cache metadata "${path}" is not valid JSON (${(cause as Error).message})`, cause);
  }
  const fail = (reason: string): PgcertsError => {
    const key = isRecord(data) && isRecord(data.key) ? data.key : {};
    return corrupt(typeof key.provider === 'string' ? key.provider : provider, typeof key.source === 'string' ? key.source : source, `Cache metadata "${path}" is not usable: ${reason}`);
  };
  const meta = checkMeta(data, 'it', fail);
  const previous = isRecord(data) && data.previous !== undefined ? checkMeta(data.previous, 'its previous entry', fail) : undefined;
  return { meta: stripPrevious(meta), previous: previous === undefined ? undefined : stripPrevious(previous) };
}

function stripPrevious(meta: CacheMeta): CacheMeta {
  const { previous: _previous, ...rest } = meta as CacheMeta & { previous?: unknown };
  return rest;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Check the shape of parsed metadata; `fail` turns a reason into the error to throw. */
function checkMeta(data: unknown, what: string, fail: (reason: string) => Error): CacheMeta {
  if (!isRecord(data)) throw fail(`${what} is not a JSON object`);
  if (data.formatVersion !== FORMAT_VERSION) throw fail(`${what} has format version ${JSON.stringify(data.formatVersion)}, this pgcerts reads ${FORMAT_VERSION}`);
  const key = data.key;
  if (!isRecord(key) || !['provider', 'trust', 'source'].every((f) => typeof key[f] === 'string' && key[f] !== '')
    || !['region', 'host'].every((f) => key[f] === undefined || (typeof key[f] === 'string' && key[f] !== ''))) {
    throw fail(`${what} has no valid key`);
  }
  for (const field of ['url', 'importedFrom', 'shipped', 'etag', 'lastModified']) {
    if (data[field] !== undefined && typeof data[field] !== 'string') throw fail(`${what} has a non-string ${field}`);
  }
  for (const field of ['fetchedAt', 'registryVersion']) {
    if (typeof data[field] !== 'string') throw fail(`${what} lacks ${field}`);
  }
  const resource = data.resource;
  if (resource !== undefined && (!isRecord(resource) || typeof resource.id !== 'string' || typeof resource.kind !== 'string'
    || !['project', 'name', 'region'].every((f) => resource[f] === undefined || typeof resource[f] === 'string'))) {
    throw fail(`${what} has a malformed resource`);
  }
  if (Number.isNaN(Date.parse(data.fetchedAt as string))) throw fail(`${what} has fetchedAt ${JSON.stringify(data.fetchedAt)}, not an ISO-8601 date`);
  if (typeof data.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(data.sha256)) throw fail(`${what} has no hex sha256`);
  if (typeof data.checksum !== 'string' || !/^c64:[0-9a-f]{16}$/.test(data.checksum)) throw fail(`${what} has no checksum`);
  if (!Number.isSafeInteger(data.bytes) || (data.bytes as number) < 0) throw fail(`${what} has no byte count`);
  const certificates = data.certificates;
  if (!Array.isArray(certificates)) throw fail(`${what} has no certificates list`);
  certificates.forEach((cert: unknown, index) => {
    if (!isRecord(cert) || !['sha256', 'subject', 'notBefore', 'notAfter', 'key'].every((f) => typeof cert[f] === 'string') || typeof cert.pinned !== 'boolean') {
      throw fail(`${what} has a malformed certificate #${index + 1}`);
    }
  });
  return data as unknown as CacheMeta;
}

/** The committed entry under the lock, if any, and the metadata bytes to restore on failure. */
function readCommitted(paths: KeyPaths, key: CacheKey): { entry: CacheMeta | undefined; metaBytes: Buffer | undefined } {
  // A file that is no cache file (a FIFO, a device, too large) is what `fetch` replaces.
  const readUsable = (path: string): Buffer | undefined => {
    try {
      return readOptional(path);
    } catch (error) {
      if (error instanceof PgcertsError && error.code === 'CACHE_CORRUPT') return undefined;
      throw error;
    }
  };
  const metaBytes = readUsable(paths.meta);
  const pemBytes = readUsable(paths.pem);
  if (metaBytes === undefined || pemBytes === undefined) return { entry: undefined, metaBytes };
  let stored: StoredMeta;
  try {
    stored = parseStoredMeta(metaBytes, paths.meta, key.provider, key.source);
  } catch (error) {
    // A corrupt entry is what `fetch --force` replaces; it has no previous entry worth keeping.
    if (error instanceof PgcertsError) return { entry: undefined, metaBytes };
    throw error;
  }
  const checksum = checksumBytes(pemBytes);
  const entry = [stored.meta, stored.previous].find((m) => m !== undefined && isSameKey(m.key, key) && m.checksum === checksum && m.bytes === pemBytes.length);
  return { entry, metaBytes };
}

function errnoCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? code : undefined;
}

/** Map environment failures (permissions, read-only, full disk) to `CACHE_UNAVAILABLE`. */
function toCacheError(error: unknown, action: 'read' | 'write', fallbackPath: string): unknown {
  const code = errnoCode(error);
  if (error instanceof PgcertsError || code === undefined || !UNAVAILABLE_CODES.has(code)) return error;
  const path = (error as NodeJS.ErrnoException).path ?? fallbackPath;
  const fix = code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG' ? 'free some space'
    : code === 'ENOTDIR' ? 'a part of that path is a file, not a directory: fix the path'
    : code === 'ENAMETOOLONG' ? 'the path is too long: shorten it'
    : code === 'ELOOP' ? 'the path loops through symbolic links: fix them'
    : 'fix its permissions';
  return new PgcertsError('CACHE_UNAVAILABLE', `Cannot ${action} the pgcerts cache at "${path}" (${code}); ${fix}, or set PGCERTS_CACHE_DIR to a ${action === 'write' ? 'writable' : 'readable'} directory.`, { cause: error });
}

/**
 * A cache file's bytes, `undefined` when it does not exist. Only a regular file of the current
 * user (or root) that no one else may write is read, never through a symbolic link.
 */
function readOptional(path: string, maxBytes = MAX_CA_FILE_BYTES): Buffer | undefined {
  try {
    return readRegularFile(path, { maxBytes, noFollow: true, check: (stat) => checkCacheOwnership(path, stat, 'file') });
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw cacheReadError(error, path);
  }
}

/** The error to throw for a cache file that cannot be read. */
function cacheReadError(error: unknown, path: string): unknown {
  if (errnoCode(error) === 'ELOOP') {
    return new PgcertsError('CACHE_UNSAFE', `The pgcerts cache file "${path}" is a symbolic link; pgcerts follows no links inside its cache. Remove it (\`rm '${path}'\`) and fetch or import again.`, { cause: error });
  }
  if (error instanceof PgcertsError && error.code === 'INVALID_INPUT') {
    return new PgcertsError('CACHE_CORRUPT', `The pgcerts cache file ${error.message.replace(/; give the path of .*$/, '')}; remove it (\`rm '${path}'\`) and fetch or import again.`, { cause: error });
  }
  return toCacheError(error, 'read', path);
}

function readDirOptional(path: string): Dirent[] {
  try {
    return readdirSync(path, { withFileTypes: true });
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw error;
  }
}

function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${crypto().randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Create the directory and any missing parents with mode 0755, whatever the umask. A path that
 * reaches `/proc` or `/sys` through a symbolic link is refused first: mkdir would never return.
 */
async function makeDirs(dir: string): Promise<void> {
  const real = await realPathOfExisting(dir);
  const kernel = findKernelFileSystem(real);
  if (kernel !== undefined) throw kernelFileSystemError(dir, kernel, real);
  const first = await fsp().mkdir(dir, { recursive: true, mode: DIR_MODE });
  if (first === undefined) return;
  const created = [first, ...relative(first, dir).split(sep).filter((p) => p !== '')];
  let current = '';
  for (const part of created) {
    current = current === '' ? part : join(current, part);
    await fsp().chmod(current, DIR_MODE);
  }
}

/** The real path of a path's deepest existing ancestor, with the missing part appended. */
async function realPathOfExisting(path: string): Promise<string> {
  for (let current = path; ; current = dirname(current)) {
    try {
      return join(await fsp().realpath(current), relative(current, path));
    } catch {
      if (dirname(current) === current) return path;
    }
  }
}

/**
 * The file system's clock: the modification time of a file created now in `dir`. Ages of locks
 * and temporary files are differences of two times from this one clock, never a file time minus
 * the process clock: on NFS with clock skew (or under faketime) that difference is off by the
 * skew, and a live writer's lock or temporary file would look hours old and be taken from it.
 */
async function fileSystemNow(dir: string): Promise<number> {
  const probe = join(dir, `.clock.${process.pid}.${crypto().randomBytes(6).toString('hex')}.tmp`);
  let handle: import('node:fs/promises').FileHandle;
  try {
    handle = await fsp().open(probe, 'wx', FILE_MODE);
  } catch {
    return Date.now(); // A directory we cannot write: nothing here is ours to age anyway.
  }
  try {
    return (await handle.stat()).mtimeMs;
  } finally {
    await handle.close();
    await fsp().rm(probe, { force: true });
  }
}

/**
 * Delete temporary files that crashed writers left behind: only regular files named as
 * {@link tempPath} names them, in the cache's own directory, never through a link.
 */
async function removeStaleTemps(dir: string, maxAgeMs: number): Promise<void> {
  let now: number | undefined;
  for (const name of await fsp().readdir(dir)) {
    if (!TEMP_NAME.test(name)) continue;
    const path = join(dir, name);
    // Temporary names carry the writer's pid (see tempPath): a dead writer's file goes at once. (In
    // a cache shared by several machines, another machine's live writer could lose its temporary
    // file; its write then fails cleanly and changes nothing.)
    const pid = Number(/\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name)?.[1]);
    const orphan = Number.isInteger(pid) && pid > 0 && pid !== process.pid && !isProcessAlive(pid);
    try {
      const stat = await fsp().lstat(path);
      if (!stat.isFile()) continue;
      if (orphan || (now ??= await fileSystemNow(dir)) - stat.mtimeMs > maxAgeMs) await fsp().unlink(path);
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
    }
  }
}

/** Write a new file with mode 0644 and flush it to disk. */
async function writeDurably(path: string, bytes: Buffer): Promise<void> {
  const handle = await fsp().open(path, 'wx', FILE_MODE);
  try {
    await handle.chmod(FILE_MODE);
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (error) {
    // Errors on a file handle (EFBIG, ENOSPC) carry no path; the message needs one.
    if (errnoCode(error) !== undefined) (error as NodeJS.ErrnoException).path ??= path;
    throw error;
  } finally {
    await handle.close();
  }
}

/** Flush a directory's entries (renames) to disk; not possible on every platform. */
async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await fsp().open(dir, 'r');
    await handle.sync();
  } catch (error) {
    if (!['EISDIR', 'EINVAL', 'EPERM', 'EBADF', 'ENOTSUP'].includes(errnoCode(error) ?? '')) throw error;
  } finally {
    await handle?.close();
  }
}

/** Replace a file atomically: temporary file, fsync, rename, fsync the directory. */
async function replaceFile(path: string, bytes: Buffer, temps: string[]): Promise<void> {
  const temp = tempPath(path);
  temps.push(temp);
  await writeDurably(temp, bytes);
  await fsp().rename(temp, path);
  await syncDir(dirname(path));
}

async function restoreFile(path: string, bytes: Buffer | undefined, temps: string[]): Promise<void> {
  if (bytes === undefined) {
    await fsp().rm(path, { force: true });
    await syncDir(dirname(path));
  } else {
    await replaceFile(path, bytes, temps);
  }
}

/** Create `path` holding `content` unless it exists; false when it does. */
async function createExclusive(path: string, content: string): Promise<boolean> {
  const temp = tempPath(path);
  try {
    // No fsync: a lock only matters while its owner runs.
    await fsp().writeFile(temp, content, { flag: 'wx', mode: FILE_MODE });
    await fsp().link(temp, path);
    return true;
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'EEXIST') return false;
    // Some file systems (FAT, some network and FUSE mounts) have no hard links.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw error;
  } finally {
    await fsp().rm(temp, { force: true });
  }
  try {
    const handle = await fsp().open(path, 'wx', FILE_MODE);
    try {
      await handle.writeFile(content);
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return false;
    throw error;
  }
}

async function releaseLock(lock: HeldLock): Promise<void> {
  // Only remove the lock if it is still ours: another process may have broken it as stale.
  if (readOptional(lock.path)?.toString('utf8') === lock.content) await fsp().rm(lock.path, { force: true });
}

function readLock(path: string): { content: string; mtimeMs: number } | undefined {
  let mtimeMs = 0;
  let bytes: Buffer;
  try {
    // A lock holds one line of JSON; its time is that of the descriptor read, not of a later stat.
    bytes = readRegularFile(path, { maxBytes: MAX_LOCK_BYTES, noFollow: true, check: (stat) => void (mtimeMs = stat.mtimeMs) });
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    if (error instanceof PgcertsError || errnoCode(error) === 'ELOOP') {
      // Not a lock pgcerts made (a link, a FIFO, a huge file): never break or remove it.
      throw new PgcertsError('CACHE_UNAVAILABLE', `Lock "${path}" is not a lock file pgcerts made (${error instanceof PgcertsError ? error.message.replace(/^"[^"]*" is /, '').replace(/; give the path of .*$/, '') : 'a symbolic link'}); remove it (\`rm '${path}'\`) if no pgcerts is running.`, { cause: error });
    }
    throw error;
  }
  return { mtimeMs, content: bytes.toString('utf8') };
}

function parseLockContent(content: string): { pid: number; host: string } | undefined {
  try {
    const data = JSON.parse(content) as unknown;
    if (isRecord(data) && Number.isSafeInteger(data.pid) && typeof data.host === 'string') return { pid: data.pid as number, host: data.host };
  } catch {
    // Written by something else (or by the no-hard-link fallback, half-way); judged by age alone.
  }
  return undefined;
}

function describeLock(path: string, now: number): string {
  try {
    const seen = readLock(path);
    const owner = seen === undefined ? undefined : parseLockContent(seen.content);
    if (seen === undefined) return 'since released';
    const age = `taken ${Math.max(0, Math.round((now - seen.mtimeMs) / 1000))} s ago`;
    return owner === undefined ? age : `pid ${owner.pid} on ${owner.host}, ${age}`;
  } catch {
    return 'owner unknown';
  }
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === 'EPERM';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
