import { PgcertsError } from './errors.js';

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

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch (cause) {
    throw new PgcertsError('INVALID_INPUT', `The ${what} in the connection URL has a bad percent-escape; encode special characters as %XX.`, { cause });
  }
}

function parsePort(text: string, where: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new PgcertsError('INVALID_INPUT', `Port "${text}" in ${where} is not a number from 1 to 65535; fix the port.`);
  }
  return Number(text);
}

/** Split `host`, `host:port`, `[v6]` or `[v6]:port`. */
export function parseHostPort(text: string, where = 'the host'): HostSpec {
  const spec = text.trim();
  if (spec.startsWith('[')) {
    const end = spec.indexOf(']');
    if (end < 0) throw new PgcertsError('INVALID_INPUT', `IPv6 address "${spec}" in ${where} has no closing "]"; write it as [addr]:port.`);
    const host = spec.slice(1, end);
    const rest = spec.slice(end + 1);
    if (rest === '') return { host };
    if (!rest.startsWith(':')) throw new PgcertsError('INVALID_INPUT', `Unexpected "${rest}" after "[${host}]" in ${where}; write it as [addr]:port.`);
    return { host, port: parsePort(rest.slice(1), where) };
  }
  const colon = spec.lastIndexOf(':');
  // More than one colon and no brackets: a bare IPv6 address without a port.
  if (colon < 0 || spec.indexOf(':') !== colon) return { host: spec };
  return { host: spec.slice(0, colon), port: parsePort(spec.slice(colon + 1), where) };
}

function parseUrl(input: string): ConnectionTarget {
  const rest = input.slice(input.indexOf('://') + 3);
  const authorityEnd = rest.search(/[/?]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const tail = authorityEnd < 0 ? '' : rest.slice(authorityEnd);
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? '' : authority.slice(0, at);
  const hostlist = at < 0 ? authority : authority.slice(at + 1);

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
    for (const pair of tail.slice(query + 1).split('&')) {
      if (!pair) continue;
      const eq = pair.indexOf('=');
      const key = decode(eq < 0 ? pair : pair.slice(0, eq), 'parameter name');
      target.params[key] = decode(eq < 0 ? '' : pair.slice(eq + 1).replace(/\+/g, ' '), `value of "${key}"`);
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
    target.hosts = hostParam.split(',').map((host) => ({ host: host.trim() }));
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
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    const scheme = text.slice(0, text.indexOf(':'));
    throw new PgcertsError('INVALID_INPUT', `"${scheme}://" is not a PostgreSQL URL; use postgres:// or postgresql://, or give the host name alone.`);
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
    const query = text.indexOf('?');
    const base = query < 0 ? text : text.slice(0, query);
    const kept = query < 0 ? [] : text.slice(query + 1).split('&').filter((pair) => {
      if (pair === '') return false;
      const eq = pair.indexOf('=');
      return !replaced.has(decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq)));
    });
    kept.push(`sslmode=${sslmode}`, `sslrootcert=${encodeQueryValue(rootCertPath)}`);
    // A URL without a path needs one before the query for some parsers: postgres://host/?...
    const separator = /^postgres(?:ql)?:\/\/[^/]*$/i.test(base) ? '/?' : '?';
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

/** Parameters whose values are secrets: the password and the client key's passphrase. */
const SECRET_PARAMS = new Set(['password', 'sslpassword']);

/**
 * The connection string with its secrets replaced by `***`: the password in a URL's user info,
 * and `password` / `sslpassword` parameters in a URL query or a libpq `key=value` string.
 * Everything else is kept as written. Text that cannot be read is returned as `***` entirely,
 * since it might hold a password anywhere.
 * @example redactConnectionString('postgres://app:s3cret@db.example.com/app') // 'postgres://app:***@db.example.com/app'
 */
export function redactConnectionString(input: string): string {
  const text = input.trim();
  if (URL_SCHEME.test(text)) {
    const start = text.indexOf('://') + 3;
    const rest = text.slice(start);
    const authorityEnd = rest.search(/[/?]/);
    const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
    const tail = authorityEnd < 0 ? '' : rest.slice(authorityEnd);
    const at = authority.lastIndexOf('@');
    let shownAuthority = authority;
    if (at >= 0) {
      const userinfo = authority.slice(0, at);
      const colon = userinfo.indexOf(':');
      if (colon >= 0) shownAuthority = `${userinfo.slice(0, colon)}:***${authority.slice(at)}`;
    }
    const query = tail.indexOf('?');
    const shownTail = query < 0 ? tail : tail.slice(0, query + 1) + tail.slice(query + 1).split('&').map((pair) => {
      const eq = pair.indexOf('=');
      let key: string;
      try {
        key = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
      } catch {
        key = eq < 0 ? pair : pair.slice(0, eq);
      }
      return eq >= 0 && SECRET_PARAMS.has(key) ? `${pair.slice(0, eq)}=***` : pair;
    }).join('&');
    return `${text.slice(0, start)}${shownAuthority}${shownTail}`;
  }
  if (/^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(text)) {
    const re = /(\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*=\s*)('(?:[^'\\]|\\.)*'|(?:[^\s'\\]|\\.)*)/y;
    let shown = '';
    let index = 0;
    while (index < text.length) {
      re.lastIndex = index;
      const m = re.exec(text);
      if (!m || m[0] === '') return '***';
      shown += SECRET_PARAMS.has(m[2] as string) ? `${m[1]}${m[2]}${m[3]}***` : m[0];
      index = re.lastIndex;
      const spaces = /[ \t]*/y;
      spaces.lastIndex = index;
      shown += spaces.exec(text)?.[0] ?? '';
      index = spaces.lastIndex;
    }
    return shown;
  }
  return text;
}
