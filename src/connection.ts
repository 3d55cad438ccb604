import { PgcertsError } from './errors.js';
import { findUrlUserInfo, keysHiddenAfterSecret, quoteInput } from './redact.js';

export { redactConnectionString } from './redact.js';

/** One host of a connection target, as written (not yet normalised). */
export interface HostSpec {
  host: string;
  port?: number;
}

/** What pgcerts needs from a connection string: its hosts and parameters. */
export interface ConnectionTarget {
  /** How the input was written. */
  form: 'host' | 'url' | 'conninfo';
  hosts: HostSpec[];
  /** Connection parameters (URL query or libpq keywords), passwords included; never print them. */
  params: Record<string, string>;
  user?: string;
  database?: string;
}

const URL_SCHEME = /^postgres(?:ql)?:\/\//i;
// A DNS name has at most 253 characters (RFC 1035), a Unix socket path at most 107 (sun_path).
const MAX_HOST_CHARS = 255;
const ENCODE_HINT = 'percent-encode "/", "?", "#", "@" and ":" in the user name and password (%2F, %3F, %23, %40, %3A; encodeURIComponent does it)';

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch (cause) {
    throw new PgcertsError('INVALID_INPUT', `The ${what} in the connection URL has a bad percent-escape; encode special characters as %XX.`, { cause });
  }
}

function parsePort(text: string, where: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new PgcertsError('INVALID_INPUT', `Port ${quoteInput(text, 20)} in ${where} is not a number from 1 to 65535; fix the port.`);
  }
  return Number(text);
}

/**
 * Refuse text that is not a host before any part of it is echoed as one: a URL, user info
 * (`user:password@host`, whose password would print as a "port"), a `key=value` pair, or a
 * name longer than any host.
 */
function checkHostText(spec: string, where: string): void {
  const orUrl = where === 'the host' ? ', or a postgres:// URL' : '';
  if (/^(?:jdbc:)?[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(spec)) {
    throw new PgcertsError('INVALID_INPUT', `${quoteInput(spec)} in ${where} is a URL, not a host; give the host name alone.`);
  }
  if (spec.includes('@')) {
    throw new PgcertsError('INVALID_INPUT', `${quoteInput(spec)} in ${where} holds user info ("user:password@"); give the host name alone${orUrl}.`);
  }
  if (spec.includes('=')) {
    throw new PgcertsError('INVALID_INPUT', `${quoteInput(spec)} in ${where} holds "="; give the host name alone, or a key=value string starting with host=.`);
  }
  if (spec.length > MAX_HOST_CHARS) {
    throw new PgcertsError('INVALID_INPUT', `The host ${quoteInput(spec, 40)} in ${where} is longer than any host name (253); give the host name alone.`);
  }
}

/**
 * Split `host`, `host:port`, `[v6]` or `[v6]:port`.
 * @throws PgcertsError `INVALID_INPUT` for a bad port, and for text that is no host at all (a
 *   URL, user info, `key=value`, over 255 characters); messages quote the text redacted and cut.
 */
export function parseHostPort(text: string, where = 'the host'): HostSpec {
  const spec = text.trim();
  checkHostText(spec, where);
  if (spec.startsWith('[')) {
    const end = spec.indexOf(']');
    if (end < 0) throw new PgcertsError('INVALID_INPUT', `IPv6 address ${quoteInput(spec)} in ${where} has no closing "]"; write it as [addr]:port.`);
    const host = spec.slice(1, end);
    const rest = spec.slice(end + 1);
    if (rest === '') return { host };
    if (!rest.startsWith(':')) throw new PgcertsError('INVALID_INPUT', `Unexpected ${quoteInput(rest)} after "[${host}]" in ${where}; write it as [addr]:port.`);
    return { host, port: parsePort(rest.slice(1), where) };
  }
  const colon = spec.lastIndexOf(':');
  // More than one colon and no brackets: a bare IPv6 address without a port.
  if (colon < 0 || spec.indexOf(':') !== colon) return { host: spec };
  return { host: spec.slice(0, colon), port: parsePort(spec.slice(colon + 1), where) };
}

function parseUrl(input: string): ConnectionTarget {
  const info = findUrlUserInfo(input);
  if (!info || info.ambiguous) {
    throw new PgcertsError('INVALID_INPUT', `The connection URL ${quoteInput(input)} has an "@" after its first "/", so its password may hold an unencoded "/"; ${ENCODE_HINT}.`);
  }
  // As libpq: the user info runs to the "@" before the first "/" (a "?" or "#" in it is data),
  // the host list to the first "/" or "?".
  const userinfo = info.at < 0 ? '' : input.slice(info.start, info.at);
  const rest = input.slice(info.at < 0 ? info.start : info.at + 1);
  const hostEnd = rest.search(/[/?]/);
  const hostlist = hostEnd < 0 ? rest : rest.slice(0, hostEnd);
  const tail = hostEnd < 0 ? '' : rest.slice(hostEnd);

  const target: ConnectionTarget = { form: 'url', hosts: [], params: {} };
  if (userinfo) {
    const colon = userinfo.indexOf(':');
    target.user = decode(colon < 0 ? userinfo : userinfo.slice(0, colon), 'user name');
    if (colon >= 0) target.params.password = decode(userinfo.slice(colon + 1), 'password');
  }
  const query = tail.indexOf('?');
  const path = query < 0 ? tail : tail.slice(0, query);
  if (path.length > 1) target.database = decode(path.slice(1), 'database name');
  if (query >= 0) {
    // Keys after a secret may be part of it (a raw "&" in a password): messages do not name them.
    const hidden = keysHiddenAfterSecret(input);
    for (const pair of tail.slice(query + 1).split('&')) {
      if (!pair) continue;
      const eq = pair.indexOf('=');
      // libpq refuses it too ("missing key/value separator"); never quote it: it may be the end
      // of a password with an unencoded "&".
      if (eq < 0) throw new PgcertsError('INVALID_INPUT', `A query parameter of the connection URL ${quoteInput(input)} has no "=", which libpq refuses; write key=value pairs, and percent-encode "&", "=" and "#" in values (%26, %3D, %23).`);
      const key = decode(eq < 0 ? pair : pair.slice(0, eq), 'parameter name');
      // libpq does not read "+" as a space (node-postgres does: see readNodePostgresUrl).
      target.params[key] = decode(eq < 0 ? '' : pair.slice(eq + 1), hidden.has(key) ? 'value of a parameter after the password' : `value of "${key}"`);
    }
  }
  if (hostlist) {
    for (const part of hostlist.split(',')) {
      target.hosts.push(parseHostPort(decode(part, 'host'), 'the connection URL'));
    }
  }
  applyHostParams(target);
  return target;
}

/** libpq keyword=value syntax: values may be single-quoted with \' and \\ escapes. */
function parseConninfo(input: string): ConnectionTarget {
  const target: ConnectionTarget = { form: 'conninfo', hosts: [], params: {} };
  const re = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|((?:[^\s'\\]|\\.)*))/y;
  let index = 0;
  const text = input.trim();
  while (index < text.length) {
    re.lastIndex = index;
    const m = re.exec(text);
    if (!m) {
      // Never quote the text itself: it may hold a password.
      throw new PgcertsError('INVALID_INPUT', `Cannot read the connection string at character ${index + 1}; write keyword=value pairs separated by spaces, quoting values with spaces in '...'.`);
    }
    const raw = m[2] ?? m[3] ?? '';
    target.params[m[1] as string] = raw.replace(/\\(.)/g, '$1');
    index = re.lastIndex;
    while (text[index] === ' ' || text[index] === '\t') index++;
  }
  if (target.params.user !== undefined) target.user = target.params.user;
  if (target.params.dbname !== undefined) target.database = target.params.dbname;
  applyHostParams(target);
  return target;
}

/** `host=` and `port=` parameters (comma-separated lists, as libpq accepts) override URL hosts. */
function applyHostParams(target: ConnectionTarget): void {
  const hostParam = target.params.host;
  const portParam = target.params.port;
  if (hostParam !== undefined && hostParam !== '') {
    target.hosts = hostParam.split(',').map((host) => {
      const spec = host.trim();
      // A directory (Unix socket) is not a host name; anything else must look like one.
      if (!spec.startsWith('/')) checkHostText(spec, 'the host parameter');
      return { host: spec };
    });
  }
  if (portParam !== undefined && portParam !== '') {
    const ports = portParam.split(',');
    target.hosts.forEach((spec, i) => {
      const port = ports.length === 1 ? ports[0] : ports[i];
      if (port) spec.port = parsePort(port.trim(), 'the port parameter');
    });
  }
}

/**
 * Read a host name, `host:port`, a `postgres://` / `postgresql://` URL (several hosts, IPv6 in
 * brackets, query parameters) or a libpq `key=value` string.
 * @throws PgcertsError `INVALID_INPUT` when the input cannot be read.
 */
export function parseConnectionTarget(input: string): ConnectionTarget {
  const text = input.trim();
  if (text === '') throw new PgcertsError('INVALID_INPUT', 'The host is empty; give a host name, a postgres:// URL or a key=value connection string.');
  if (URL_SCHEME.test(text)) return parseUrl(text);
  if (/^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(text)) return parseConninfo(text);
  if (/^jdbc:postgresql:\/\//i.test(text)) {
    // Only up to the query: JDBC users write passwords unencoded there, so `&` and `@` inside one
    // make its pieces look like other parameters to any redaction.
    const query = text.search(/[?#]/);
    throw new PgcertsError('INVALID_INPUT', `${quoteInput(query < 0 ? text : `${text.slice(0, query)}?...`)} is a JDBC URL; libpq and node-postgres read it without the "jdbc:" prefix (postgresql://...), with user and password in the user info. Drop the prefix, or give the host name alone.`);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    const scheme = text.slice(0, text.indexOf(':'));
    throw new PgcertsError('INVALID_INPUT', `${quoteInput(`${scheme}://`, 40)} is not a PostgreSQL URL; use postgres:// or postgresql://, or give the host name alone.`);
  }
  return { form: 'host', hosts: [parseHostPort(text)], params: {} };
}

/** Percent-encode a URL query value, keeping `/` readable (libpq decodes either form). */
function encodeQueryValue(value: string): string {
  return encodeURIComponent(value).replace(/%2F/gi, '/');
}

/** Quote a libpq keyword value when it needs it. */
function quoteConninfoValue(value: string): string {
  return value === '' || /[\s'\\]/.test(value) ? `'${value.replace(/[\\']/g, '\\$&')}'` : value;
}

/**
 * The same connection string with `sslmode` and `sslrootcert` set (any earlier values, weaker
 * modes and `sslrootcert=system` included, are replaced); everything else is kept as written.
 * Works on `postgres://` URLs and libpq `key=value` strings.
 * @throws PgcertsError `INVALID_INPUT` for a bare host or an unreadable string.
 * @example secureConnectionString('postgres://u:p@h/db?sslmode=require', '/certs/rds.pem')
 * // 'postgres://u:p@h/db?sslmode=verify-full&sslrootcert=/certs/rds.pem'
 */
export function secureConnectionString(input: string, rootCertPath: string, sslmode: 'verify-full' | 'verify-ca' = 'verify-full'): string {
  const target = parseConnectionTarget(input);
  const text = input.trim();
  const replaced = new Set(['sslmode', 'sslrootcert']);
  if (target.form === 'url') {
    const info = findUrlUserInfo(text);
    const hostStart = info === undefined || info.at < 0 ? (info?.start ?? 0) : info.at + 1;
    const query = text.indexOf('?', hostStart);
    const base = query < 0 ? text : text.slice(0, query);
    // node-postgres (a WHATWG URL) reads nothing after a "#", libpq reads "#" as data: a "#"
    // before the query would hide the new parameters from node-postgres.
    if (base.includes('#')) {
      throw new PgcertsError('INVALID_INPUT', `The connection URL ${quoteInput(text)} has a "#" before its query: node-postgres reads everything after it as a fragment and would ignore sslmode. Write "#" as %23 (in a password: ${ENCODE_HINT}).`);
    }
    const pairs = query < 0 ? [] : text.slice(query + 1).split('&');
    const kept: string[] = [];
    for (const pair of pairs) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      if (!replaced.has(decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq)))) {
        kept.push(pair);
      } else if (pair.includes('#')) {
        throw new PgcertsError('INVALID_INPUT', `The ${quoteInput(pair.slice(0, eq < 0 ? pair.length : eq), 20)} parameter of ${quoteInput(text)} holds a "#": libpq reads it as part of the value, node-postgres as the start of a fragment. Remove the "#..." and run again.`);
      }
    }
    // New parameters go before the first pair holding a "#" (the end when there is none), where
    // node-postgres, which stops at the "#", and libpq, which reads on, both read them.
    const hash = kept.findIndex((pair) => pair.includes('#'));
    const at = hash < 0 ? kept.length : hash;
    kept.splice(at, 0, `sslmode=${sslmode}`, `sslrootcert=${encodeQueryValue(rootCertPath)}`);
    // A URL without a path needs one before the query for some parsers: postgres://host/?...
    const separator = base.slice(hostStart).includes('/') ? '?' : '/?';
    return `${base}${separator}${kept.join('&')}`;
  }
  if (target.form === 'conninfo') {
    const re = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:'(?:[^'\\]|\\.)*'|(?:[^\s'\\]|\\.)*)/y;
    const parts: string[] = [];
    let index = 0;
    while (index < text.length) {
      re.lastIndex = index;
      const m = re.exec(text) as RegExpExecArray;
      if (!replaced.has(m[1] as string)) parts.push(m[0].trim());
      index = re.lastIndex;
    }
    parts.push(`sslmode=${sslmode}`, `sslrootcert=${quoteConninfoValue(rootCertPath)}`);
    return parts.join(' ');
  }
  throw new PgcertsError('INVALID_INPUT', 'Give a postgres:// URL or a key=value connection string to secure, not a bare host; for a host, use `pgcerts env <host>`.');
}

/** What node-postgres 8 reads from a URL, or why it cannot read it. */
export type NodePostgresUrl =
  | { reads: true; params: Record<string, string>; host: string; fragment: string | undefined }
  | { reads: false; reason: string };

/**
 * Read a URL as node-postgres 8 does (pg-connection-string 2: `new URL(str, 'postgres://base')`,
 * retried with a dummy host): query values decoded as form data, so `+` is a space, and nothing
 * after the first `#` (the fragment) is read. libpq differs on both (see
 * {@link parseConnectionTarget}). No file is read.
 * @example readNodePostgresUrl('postgres://h/db?application_name=a+b#x').params // { application_name: 'a b' }
 */
export function readNodePostgresUrl(input: string): NodePostgresUrl {
  let text = input.trim();
  let url: URL;
  try {
    // pg-connection-string's own step: spaces and stray "%" are encoded first.
    if (/ |%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(text)) text = encodeURI(text).replace(/%25(\d\d)/g, '%$1');
    try {
      url = new URL(text, 'postgres://base');
    } catch {
      url = new URL(text.replace('@/', '@___DUMMY___/'), 'postgres://base');
    }
  } catch {
    return { reads: false, reason: 'the WHATWG URL parser node-postgres uses rejects it (an unencoded "/", "?", "#" or "@" in the user info, or a bad port)' };
  }
  const params: Record<string, string> = {};
  for (const [key, value] of url.searchParams) params[key] = value;
  return { reads: true, params, host: url.hostname.replace(/^\[(.+)\]$/, '$1'), fragment: url.hash === '' ? undefined : url.hash.slice(1) };
}
