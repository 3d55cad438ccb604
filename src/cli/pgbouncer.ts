import { isAbsolute, resolve } from 'node:path';
import { PgcertsError } from '../errors.js';
import type { Registry } from '../registry.js';
import type { ResolveOptions } from '../resolve.js';
import { getPackageVersion } from '../version.js';
import { EXIT, outJson, stdout, warn } from './output.js';

/** Flags of `pgcerts pgbouncer`. */
export interface PgbouncerFlags {
  /** Use this CA file instead of the registry's bundle (your own server, a name the registry does not know). */
  sslrootcert?: string;
  dbname?: string;
  alias?: string;
  /** commander passes a string. */
  port?: string;
  offline?: boolean;
  timeout?: string;
  json?: boolean;
}

/** The CA file named by --sslrootcert, read and checked: absolute path and warnings. */
async function ownCaFile(file: string, now: Date): Promise<{ path: string; warnings: string[] }> {
  const { MAX_CA_FILE_BYTES, readRegularFile, describeReadError } = await import('../read-file.js');
  const { parseCertificates } = await import('../pem.js');
  const path = isAbsolute(file) ? file : resolve(file);
  let bytes: Buffer;
  try {
    bytes = readRegularFile(path, { maxBytes: MAX_CA_FILE_BYTES });
  } catch (cause) {
    if (cause instanceof PgcertsError) throw cause;
    throw new PgcertsError('INVALID_INPUT', `Cannot read --sslrootcert "${file}" (${describeReadError(cause)}); give the server's CA file.`, { cause });
  }
  const certs = parseCertificates(bytes, { name: file });
  const warnings: string[] = [];
  const valid = certs.filter((c) => Date.parse(c.validFrom) <= now.getTime() && now.getTime() <= Date.parse(c.validTo));
  if (valid.length === 0) warnings.push(`--sslrootcert "${file}" holds no certificate valid today; PgBouncer will refuse the server.`);
  if (!certs.some((c) => c.ca)) warnings.push(`--sslrootcert "${file}" holds no CA certificate; give the CA that issued the server's certificate.`);
  return { path, warnings };
}

/**
 * `pgcerts pgbouncer <host|url>`: the `[databases]` entry and the `[pgbouncer]` settings that
 * make PgBouncer verify the database server, with the CA file from the registry (fetched when
 * missing or stale) or `--sslrootcert`; notes on the client side go to stderr.
 */
export async function runPgbouncer(registry: Registry, input: string, flags: PgbouncerFlags, base: ResolveOptions): Promise<number> {
  const { parseConnectionTarget } = await import('../connection.js');
  const { normalizeHost } = await import('../hostname.js');
  const target = parseConnectionTarget(input);
  if (target.hosts.length !== 1) {
    throw new PgcertsError('USAGE', target.hosts.length === 0 ? 'Give the database server\'s host (or a URL with one host): `pgcerts pgbouncer <host>`.' : `The string names ${target.hosts.length} hosts; PgBouncer gets one [databases] entry per server: run \`pgcerts pgbouncer\` for each host.`);
  }
  const spec = target.hosts[0] as { host: string; port?: number };
  const normalized = normalizeHost(spec.host);
  if (normalized.type === 'invalid') throw new PgcertsError('INVALID_INPUT', `Host "${spec.host}" is not valid: ${normalized.reason}`);
  const host = normalized.host;
  let port = spec.port ?? 5432;
  if (flags.port !== undefined) {
    if (!/^\d{1,5}$/.test(flags.port) || Number(flags.port) < 1 || Number(flags.port) > 65535) throw new PgcertsError('USAGE', `--port "${flags.port}" must be a number from 1 to 65535.`);
    port = Number(flags.port);
  }
  const warnings: string[] = [];
  if (normalized.type === 'ip') warnings.push(`"${host}" is an IP address: PgBouncer's verify-full compares it with the server certificate, which managed providers issue for host names only; use the host name.`);

  let caFile: string;
  let sslmode: 'verify-full' | 'verify-ca' = 'verify-full';
  let about: string;
  let provider: string | null = null;
  let trust: string | null = null;
  let refresh: string | undefined;
  if (flags.sslrootcert !== undefined) {
    const own = await ownCaFile(flags.sslrootcert, base.now ?? new Date());
    caFile = own.path;
    warnings.push(...own.warnings);
    about = `checked against ${caFile}`;
  } else {
    const { getSslRootCert } = await import('../resolve.js');
    let download;
    if (flags.timeout !== undefined) download = (await import('./fetch.js')).downloadFlags({ timeout: flags.timeout });
    const resolved = await getSslRootCert(host, { ...base, registry, offline: flags.offline, download: { ...base.download, ...download } });
    caFile = resolved.path;
    sslmode = resolved.sslmode === 'verify-ca' ? 'verify-ca' : 'verify-full';
    provider = resolved.provider;
    trust = resolved.trust;
    warnings.push(...resolved.warnings);
    refresh = `\`pgcerts sslrootcert ${host}\` (from cron)`;
    about = `checked against ${resolved.provider}'s CA (trust ${resolved.trust}); refresh the file with pgcerts sslrootcert ${host}`;
  }
  const { renderPgbouncerConfig, pgbouncerNotes } = await import('../pgbouncer.js');
  const config = renderPgbouncerConfig({
    host,
    port,
    dbname: flags.dbname ?? target.database,
    alias: flags.alias,
    caFile,
    sslmode,
    comment: [`PgBouncer to ${host}:${port} over TLS, ${sslmode}, ${about}.`, `Made by pgcerts ${getPackageVersion()} (registry ${registry.version}). Add these lines to your pgbouncer.ini.`],
  });
  const notes = pgbouncerNotes(caFile, refresh);
  if (flags.json) {
    outJson({
      registryVersion: registry.version, host, port, dbname: flags.dbname ?? target.database ?? null, alias: flags.alias ?? flags.dbname ?? target.database ?? '*',
      provider, trust, sslmode, caFile, databases: config.databases, pgbouncer: config.settings, notes, warnings,
    });
  } else {
    stdout().write(config.text);
    for (const note of notes) warn(note);
  }
  if (!flags.json) for (const w of warnings) warn(w);
  return EXIT.ok;
}
