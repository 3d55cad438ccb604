import { PgcertsError } from './errors.js';

/** What goes into the PgBouncer settings for one database server. */
export interface PgbouncerTarget {
  /** The server's host name, as its certificate names it (PgBouncer checks `host=` against it). */
  host: string;
  port: number;
  /** The database on the server; none: the client's database name is used (a `*` entry). */
  dbname?: string;
  /** The name clients connect to PgBouncer with (default: dbname, else `*`). */
  alias?: string;
  /** Absolute path of the CA file. */
  caFile: string;
  sslmode: 'verify-full' | 'verify-ca';
  /** Comment lines put first. */
  comment?: string[];
}

/** The two parts of the output: the `[databases]` line and the `[pgbouncer]` settings. */
export interface PgbouncerConfig {
  databases: string;
  settings: { server_tls_sslmode: 'verify-full' | 'verify-ca'; server_tls_ca_file: string };
  /** Both sections as pgbouncer.ini text. */
  text: string;
}

// Database names and aliases written without quoting (PgBouncer would need double quotes for others).
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * The `[databases]` entry and the `[pgbouncer]` TLS settings that make PgBouncer verify the
 * server: `server_tls_sslmode = verify-full` (or the provider's `verify-ca`) and
 * `server_tls_ca_file`. PgBouncer 1.18 (Debian 12) has both; it has no `system` CA value.
 * @throws PgcertsError `USAGE` for names or paths pgbouncer.ini cannot hold as written.
 * @example renderPgbouncerConfig({ host: 'db.example.com', port: 5432, dbname: 'app', caFile: '/etc/ca.pem', sslmode: 'verify-full' }).databases
 * // 'app = host=db.example.com port=5432 dbname=app'
 */
export function renderPgbouncerConfig(target: PgbouncerTarget): PgbouncerConfig {
  const alias = target.alias ?? target.dbname ?? '*';
  if (alias !== '*' && !NAME.test(alias)) {
    throw new PgcertsError('USAGE', `--alias ${JSON.stringify(alias)} cannot be written in [databases] as it is; use letters, digits, "_", "." and "-" (or * for every database).`);
  }
  if (target.dbname !== undefined && !NAME.test(target.dbname)) {
    throw new PgcertsError('USAGE', `The database name ${JSON.stringify(target.dbname)} cannot be written in [databases] as it is; use letters, digits, "_", "." and "-", or give --dbname.`);
  }
  // pgbouncer.ini values run to the end of the line: no line breaks, no edge spaces.
  if (/[\x00-\x1f\x7f]/.test(target.caFile) || target.caFile.trim() !== target.caFile) {
    throw new PgcertsError('USAGE', `The CA file path ${JSON.stringify(target.caFile)} holds control characters or edge spaces, which pgbouncer.ini cannot hold; use another path.`);
  }
  if (!/^[A-Za-z0-9.:[\]-]+$/.test(target.host)) {
    throw new PgcertsError('USAGE', `The host ${JSON.stringify(target.host)} cannot be a PgBouncer host=; give a host name.`);
  }
  const databases = `${alias} = host=${target.host} port=${target.port}${target.dbname === undefined ? '' : ` dbname=${target.dbname}`}`;
  const settings = { server_tls_sslmode: target.sslmode, server_tls_ca_file: target.caFile };
  const lines = [
    ...(target.comment ?? []).map((line) => `;; ${line.replace(/[\r\n]+/g, ' ')}`),
    // PgBouncer 1.18 resets every setting to its default when a second [pgbouncer] header (an
    // %include of one too) starts: separate sections would silently turn TLS off.
    ';; Put each line into the section of your pgbouncer.ini it is listed under: a second [pgbouncer]',
    ';; section, or an %include of one, resets the settings before it to their defaults.',
    '[databases]',
    databases,
    '',
    '[pgbouncer]',
    `server_tls_sslmode = ${settings.server_tls_sslmode}`,
    `server_tls_ca_file = ${settings.server_tls_ca_file}`,
  ];
  return { databases, settings, text: `${lines.join('\n')}\n` };
}

/** What to tell about the hop from the clients to PgBouncer, and about keeping the file fresh. */
export function pgbouncerNotes(caFile: string, refresh: string | undefined): string[] {
  return [
    'These settings protect the hop from PgBouncer to the database. Clients talk to PgBouncer: give it its own key and certificate (client_tls_sslmode = require, client_tls_key_file, client_tls_cert_file) and have clients use sslmode=verify-full with sslrootcert = the CA that issued that certificate, not the database provider\'s bundle.',
    `PgBouncer has no server_tls_ca_file = system (pgbouncer/pgbouncer#865): it reads the file "${caFile}".`,
    `${refresh ? `When ${refresh} replaces the file, ` : 'When the file is replaced, '}make PgBouncer read it again: restart it (PgBouncer 1.16+ also applies changed TLS settings on RELOAD; whether a RELOAD re-reads an unchanged path is not documented).`,
  ];
}
