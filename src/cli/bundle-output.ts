import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PgcertsError } from '../errors.js';
import { getPackageVersion } from '../version.js';
import { out, stdout } from './output.js';
import { writeFileAtomic } from './write-file.js';

/** The flags of `fetch` and `sslrootcert` that choose and shape the printed bundle. */
export interface ShapeFlags {
  format?: string;
  /** Kubernetes metadata.name. */
  name?: string;
  namespace?: string;
  /** The data key of the manifest. */
  key?: string;
  /** The truststore password, first line of this file. */
  passwordFile?: string;
  out?: string;
  json?: boolean;
  quiet?: boolean;
  pem?: boolean;
}

/** What the bundle is, for the manifest's comment and annotations. */
export interface BundleContext {
  provider: string;
  trust: string;
  region?: string;
  host?: string;
  registryVersion: string;
  /** The command that refreshes the bundle, for the comment. */
  refresh: string;
}

/**
 * The format the flags ask for (`path` unless `--format` or `--pem` says otherwise), after the
 * checks that do not need the bundle.
 * @throws PgcertsError `USAGE` for an unknown format and flags that do not go together.
 */
export async function chooseFormat(flags: ShapeFlags): Promise<import('../bundle-formats.js').BundleFormat> {
  const { getBundleFormat } = await import('../bundle-formats.js');
  const format = flags.format === undefined ? (flags.pem ? 'pem' : 'path') : getBundleFormat(flags.format);
  if (flags.pem && format !== 'pem') throw new PgcertsError('USAGE', `--pem is --format pem; it does not go with --format ${format}.`);
  if (format !== 'path') {
    if (flags.json) throw new PgcertsError('USAGE', `--json prints the bundle's path and details, not --format ${format}; drop one of them.`);
    if (flags.quiet) throw new PgcertsError('USAGE', `--quiet prints nothing on success, so it does not go with --format ${format}; drop one of them.`);
  }
  const k8s = format === 'k8s-secret' || format === 'k8s-configmap';
  const misplaced = ([['--name', flags.name, k8s], ['--namespace', flags.namespace, k8s], ['--key', flags.key, k8s], ['--password-file', flags.passwordFile, format === 'pkcs12']] as const)
    .find(([, value, fits]) => value !== undefined && !fits);
  if (misplaced) throw new PgcertsError('USAGE', `${misplaced[0]} is for --format ${misplaced[0] === '--password-file' ? 'pkcs12' : 'k8s-secret or k8s-configmap'}, not ${format}.`);
  // Names Kubernetes would refuse are refused before anything is downloaded.
  if (k8s) {
    const { checkManifestNames } = await import('../bundle-formats.js');
    checkManifestNames({ name: flags.name ?? 'pgcerts', namespace: flags.namespace, key: flags.key });
  }
  if (format === 'pkcs12' && flags.out === undefined && stdout().isTTY) {
    throw new PgcertsError('USAGE', 'A PKCS#12 truststore is binary: write it with --out FILE (or redirect stdout to a file), not to the terminal.');
  }
  return format;
}

/** The truststore password: the first line of --password-file, else PGCERTS_TRUSTSTORE_PASSWORD, else the JDK's `changeit`. Never printed. */
async function truststorePassword(flags: ShapeFlags, env: NodeJS.ProcessEnv): Promise<string> {
  const { DEFAULT_TRUSTSTORE_PASSWORD } = await import('../bundle-formats.js');
  if (flags.passwordFile !== undefined) {
    const { readRegularFile, describeReadError } = await import('../read-file.js');
    let text: string;
    try {
      text = readRegularFile(flags.passwordFile, { maxBytes: 64 * 1024 }).toString('utf8');
    } catch (cause) {
      if (cause instanceof PgcertsError) throw cause;
      throw new PgcertsError('INVALID_INPUT', `Cannot read --password-file "${flags.passwordFile}" (${describeReadError(cause)}); give a readable file whose first line is the password.`, { cause });
    }
    const password = text.split(/\r?\n/)[0] ?? '';
    if (password === '') throw new PgcertsError('INVALID_INPUT', `--password-file "${flags.passwordFile}" has an empty first line; put the password on it.`);
    return password;
  }
  const fromEnv = env.PGCERTS_TRUSTSTORE_PASSWORD;
  return fromEnv === undefined || fromEnv === '' ? DEFAULT_TRUSTSTORE_PASSWORD : fromEnv;
}

/** The bundle in `format` (not `path`). */
export async function renderBundle(format: Exclude<import('../bundle-formats.js').BundleFormat, 'path'>, pem: string, context: BundleContext, flags: ShapeFlags, env: NodeJS.ProcessEnv = process.env): Promise<string | Buffer> {
  const formats = await import('../bundle-formats.js');
  if (format === 'pem') return pem;
  if (format === 'base64') return `${formats.toBase64(pem)}\n`;
  if (format === 'pkcs12') return formats.toPkcs12Truststore(pem, { password: await truststorePassword(flags, env) });
  const { parseCertificates } = await import('../pem.js');
  const certs = parseCertificates(pem, { name: 'the bundle' });
  const expiry = certs.map((c) => new Date(c.validTo).toISOString().slice(0, 10)).sort()[0] ?? 'n/a';
  const what = `${context.provider} (trust ${context.trust}${context.region ? `, ${context.region}` : ''})`;
  const annotations: Record<string, string> = { 'pgcerts/provider': context.provider, 'pgcerts/trust': context.trust };
  if (context.region) annotations['pgcerts/region'] = context.region;
  if (context.host) annotations['pgcerts/host'] = context.host;
  annotations['pgcerts/registry-version'] = context.registryVersion;
  annotations['pgcerts/earliest-expiry'] = expiry;
  const options = {
    name: flags.name ?? `pgcerts-${context.provider}${context.region ? `-${context.region}` : ''}`,
    namespace: flags.namespace,
    key: flags.key,
    annotations,
    comment: [
      `The CA bundle of ${what}${context.host ? ` for ${context.host}` : ''}: ${certs.length} certificate${certs.length === 1 ? '' : 's'}, earliest expiry ${expiry}.`,
      `Made by pgcerts ${getPackageVersion()} (registry ${context.registryVersion}); refresh with: ${context.refresh}`,
    ],
  };
  return format === 'k8s-secret' ? formats.toKubernetesSecret(pem, options) : formats.toKubernetesConfigMap(pem, options);
}

/**
 * Create the directory of `--out` when it is missing.
 * @throws PgcertsError `INVALID_INPUT` when it cannot be made (a file in the way, no permission, under /proc or /sys).
 */
export async function makeOutDir(file: string): Promise<void> {
  const parent = dirname(resolve(file));
  // Node's recursive mkdir never returns under /proc or /sys: refuse a missing directory there
  // (an existing one, as /proc/self/fd for /proc/self/fd/1, is written into as it is).
  const { findKernelFileSystem } = await import('../cache.js');
  const kernel = findKernelFileSystem(parent);
  if (kernel !== undefined && !existsSync(parent)) {
    throw new PgcertsError('INVALID_INPUT', `Cannot create the directory of --out "${file}": it is under ${kernel}, a kernel file system where no directory can be made; choose a writable path.`);
  }
  try {
    mkdirSync(parent, { recursive: true });
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? `${code}: a part of the path is a file, not a directory` : code ?? String(cause);
    throw new PgcertsError('INVALID_INPUT', `Cannot create the directory of --out "${file}" (${why}); choose a writable path.`, { cause });
  }
}

/** Write the shaped bundle to --out (atomically, its directory made when missing; its path on stdout) or to stdout. */
export async function emitBundle(shaped: string | Buffer, flags: ShapeFlags): Promise<void> {
  if (flags.out !== undefined) {
    await makeOutDir(flags.out);
    writeFileAtomic(flags.out, shaped, '--out');
    out(resolve(flags.out));
    return;
  }
  stdout().write(shaped);
}
