/** Connection parameters whose values are secrets: the password, the client key's passphrase, libpq 18's OAuth client secret. */
export const SECRET_PARAMS: ReadonlySet<string> = new Set(['password', 'sslpassword', 'oauth_client_secret']);

// libpq's connection keywords up to PostgreSQL 18 (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS);
// libpq refuses any other ("invalid URI query parameter", "invalid connection option").
export const LIBPQ_KEYWORDS: ReadonlySet<string> = new Set([
  'host', 'hostaddr', 'port', 'dbname', 'user', 'password', 'passfile', 'require_auth', 'channel_binding', 'connect_timeout',
  'client_encoding', 'options', 'application_name', 'fallback_application_name', 'keepalives', 'keepalives_idle',
  'keepalives_interval', 'keepalives_count', 'tcp_user_timeout', 'replication', 'gssencmode', 'sslmode', 'requiressl',
  'sslnegotiation', 'sslcompression', 'sslcert', 'sslkey', 'sslkeylogfile', 'sslpassword', 'sslcertmode', 'sslrootcert', 'sslcrl',
  'sslcrldir', 'sslsni', 'requirepeer', 'ssl_min_protocol_version', 'ssl_max_protocol_version', 'min_protocol_version',
  'max_protocol_version', 'krbsrvname', 'gsslib', 'gssdelegation', 'service', 'target_session_attrs', 'load_balance_hosts',
  'oauth_issuer', 'oauth_client_id', 'oauth_client_secret', 'oauth_scope',
]);

/** How much of an input a message quotes at most, before the redacted text is cut. */
export const MAX_QUOTED_CHARS = 60;

/** `postgres://`, `jdbc:postgresql://`, `https://`: any scheme with `//`. */
const URL_PREFIX = /^(?:jdbc:)?[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const POSTGRES_SCHEME = /^(?:jdbc:)?postgres(?:ql)?:\/\/$/i;
const KEYWORD = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Query parameters whose values may hold an "@" (user names like me@corp, file paths, options):
// an "@" in them does not end user info even when the host part holds a ":".
const AT_KEYS = new Set([
  'user', 'options', 'application_name', 'fallback_application_name', 'sslcert', 'sslkey', 'sslrootcert', 'sslcrl', 'sslcrldir',
  'passfile', 'service', 'krbsrvname', 'host', 'hostaddr', 'dbname', 'oauth_client_id', 'oauth_issuer', 'oauth_scope', 'sslkeylogfile',
]);

/** Where the user info of a URL-like string ends, as far as any client could read it. */
export interface UrlUserInfo {
  /** Length of the scheme and `//`. */
  start: number;
  /** Index of the `@` that ends the user info, or -1 when there is none. */
  at: number;
  /**
   * True when an `@` after the first `/` may end user info whose password holds an unencoded
   * `/`, `?` or `#`: the text up to `at` must be hidden, and a parser must refuse the string
   * rather than read the start of the password as a host and port.
   */
  ambiguous: boolean;
}

function decodeKey(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Index (in `after`) of the last `@` after the first `/` that no query value explains, or -1. */
function unexplainedAt(after: string): number {
  const query = after.indexOf('?');
  const path = query < 0 ? after : after.slice(0, query);
  let last = path.lastIndexOf('@');
  if (query < 0) return last;
  let offset = query + 1;
  let inSecret = false;
  for (const pair of after.slice(query + 1).split('&')) {
    const at = pair.lastIndexOf('@');
    const eq = pair.indexOf('=');
    const key = eq < 0 ? '' : decodeKey(pair.slice(0, eq));
    // Up to the next libpq keyword, pairs after a secret are hidden with it (see redactQuery):
    // an "@" there is part of the password.
    if (inSecret && !LIBPQ_KEYWORDS.has(key)) {
      offset += pair.length + 1;
      continue;
    }
    inSecret = SECRET_PARAMS.has(key);
    if (at >= 0) {
      // A secret's value is hidden whole, and one like `user=me@corp` explains its "@"; one with a
      // "?" after it (`user=x@host/db?...`) is a password's tail followed by the real host.
      const explained = eq >= 0 && eq < pair.indexOf('@') && KEYWORD.test(key) && (SECRET_PARAMS.has(key) || (AT_KEYS.has(key) && !pair.slice(at).includes('?')));
      if (!explained) last = offset + at;
    }
    offset += pair.length + 1;
  }
  return last;
}

/**
 * Find the user info of a URL-like string the way the most generous client would read it.
 * libpq ends it at the first `@` before the first `/` (a `?` or `#` in the password is data),
 * WHATWG URL parsers (node-postgres) at the last `@` of the authority; a password with an
 * unencoded `/` makes libpq read its start as a port. Whatever any of them, or the user, may
 * mean as a password lies before `at`.
 */
export function findUrlUserInfo(text: string): UrlUserInfo | undefined {
  const prefix = URL_PREFIX.exec(text);
  if (!prefix) return undefined;
  const start = prefix[0].length;
  const rest = text.slice(start);
  let slash = rest.indexOf('/');
  if (slash < 0) slash = rest.length;
  const lastAt = rest.lastIndexOf('@');
  if (lastAt < 0) return { start, at: -1, ambiguous: false };
  if (lastAt < slash) return { start, at: start + lastAt, ambiguous: false };
  const authority = rest.slice(0, slash);
  const authorityAt = authority.lastIndexOf('@');
  // Without a ":" before the first "/" there is no password to run past it. Under a scheme that
  // is not PostgreSQL's, the scheme's own ":" may be the one (`app://pw/@host` is user `app`
  // with password `//pw/`).
  const colon = !POSTGRES_SCHEME.test(prefix[0]) || authority.replace(/\[[^\]]*\]/g, '').includes(':');
  const later = colon ? unexplainedAt(rest.slice(slash)) : -1;
  if (later >= 0) return { start, at: start + slash + later, ambiguous: true };
  return { start, at: authorityAt < 0 ? -1 : start + authorityAt, ambiguous: false };
}

/** `user:***@`, or the user info as written when it has no password. */
function redactUserInfo(userinfo: string): string {
  const colon = userinfo.indexOf(':');
  return colon < 0 ? userinfo : `${userinfo.slice(0, colon)}:***`;
}

/** `key=***` when the pair's key names a secret, else `undefined`. */
function redactPair(pair: string): string | undefined {
  const eq = pair.indexOf('=');
  return eq >= 0 && SECRET_PARAMS.has(decodeKey(pair.slice(0, eq))) ? `${pair.slice(0, eq)}=***` : undefined;
}

/**
 * Query pairs with secret values hidden. Pairs are split at `&` as libpq splits them (a secret
 * value runs to the next `&`, a `#` in it being data); a pair after a `#`, in the fragment that
 * node-postgres drops, is hidden too (`a=b#password=x`).
 */
function redactQuery(tail: string, hiddenKeys?: Set<string>): string {
  const query = tail.indexOf('?');
  if (query < 0) return tail;
  const shown: string[] = [];
  let hiding = false;
  for (const pair of tail.slice(query + 1).split('&')) {
    // After a secret, anything up to the next libpq keyword may be the rest of a password with a
    // raw "&" (`password=a&b=c&sslmode=...`): text that is no pair, and pairs with other keys.
    if (hiding) {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? undefined : decodeKey(pair.slice(0, eq));
      if (key === undefined || !LIBPQ_KEYWORDS.has(key)) {
        if (key !== undefined) hiddenKeys?.add(key);
        continue;
      }
    }
    const secret = redactPair(pair);
    hiding = secret !== undefined;
    if (secret !== undefined) {
      shown.push(secret);
      continue;
    }
    const hash = pair.indexOf('#');
    const fragment = hash < 0 ? undefined : redactPair(pair.slice(hash + 1));
    hiding = fragment !== undefined;
    shown.push(fragment === undefined ? pair : `${pair.slice(0, hash + 1)}${fragment}`);
  }
  return tail.slice(0, query + 1) + shown.join('&');
}

function redactUrl(text: string, info: UrlUserInfo, hiddenKeys?: Set<string>): string {
  const scheme = text.slice(0, info.start);
  if (info.at < 0) return scheme + redactQuery(text.slice(info.start), hiddenKeys);
  const userinfo = text.slice(info.start, info.at);
  // Only a PostgreSQL URL's user name is shown. Under any other scheme the "scheme" may itself be
  // a user name (`app://pw@host` is `app:` + password `//pw`), and a mirror's user name is a
  // credential too: the whole user info is hidden.
  const postgres = POSTGRES_SCHEME.test(scheme);
  const shown = info.ambiguous || !postgres ? '***' : redactUserInfo(userinfo);
  return `${scheme}${shown}${redactQuery(text.slice(info.at), hiddenKeys)}`;
}

/**
 * libpq `key=value` text; `undefined` when it cannot be read to the end. As in a URL query, pairs
 * after a secret are hidden up to the next libpq keyword: `password=a b=c` may be the password
 * `a b=c` written without quotes.
 */
function redactConninfo(text: string, hiddenKeys?: Set<string>): string | undefined {
  const re = /(\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*=\s*)('(?:[^'\\]|\\.)*'|(?:[^\s'\\]|\\.)*)/y;
  const spaces = /[ \t\r\n]*/y;
  let shown = '';
  let index = 0;
  let hiding = false;
  while (index < text.length) {
    re.lastIndex = index;
    const m = re.exec(text);
    if (!m || m[0] === '') return undefined;
    const key = m[2] as string;
    const hidden = hiding && !LIBPQ_KEYWORDS.has(key);
    if (hidden) {
      hiddenKeys?.add(key);
    } else {
      hiding = SECRET_PARAMS.has(key);
      shown += hiding ? `${m[1]}${key}${m[3]}***` : m[0];
    }
    index = re.lastIndex;
    spaces.lastIndex = index;
    const gap = spaces.exec(text)?.[0] ?? '';
    if (!hidden) shown += gap;
    index = spaces.lastIndex;
  }
  return shown;
}

/**
 * Any text that is not a URL or a whole `key=value` string: `user:password@host` without a
 * scheme loses what is before the `@`, and `password=...` pairs anywhere lose their values.
 */
function redactFreeText(text: string): string {
  // An unquoted value may hold spaces: it runs to the next " keyword=" libpq knows, or the end.
  let shown = text.replace(/(^|[\s?&;,#])(password|sslpassword|oauth_client_secret)(\s*=\s*)(?:'(?:[^'\\]|\\.)*'?|\S*)/g, '$1$2$3***');
  shown = shown.replace(/(^|[\s?&;,#])(password|sslpassword|oauth_client_secret)(\s*=\s*)\*\*\*([\s\S]*)$/, (all, lead: string, key: string, eq: string, rest: string) => {
    const next = /\s+([A-Za-z_][A-Za-z0-9_]*)\s*=/g;
    for (let m = next.exec(rest); m; m = next.exec(rest)) {
      if (LIBPQ_KEYWORDS.has(m[1] as string)) return `${lead}${key}${eq}***${rest.slice(m.index)}`;
    }
    return `${lead}${key}${eq}***`;
  });
  const at = shown.lastIndexOf('@');
  if (at >= 0) {
    const before = shown.slice(0, at);
    const colon = before.indexOf(':');
    shown = colon >= 0 && /^[\w.-]*$/.test(before.slice(0, colon)) ? `${before.slice(0, colon)}:***${shown.slice(at)}` : `***${shown.slice(at)}`;
  }
  return shown;
}

/**
 * The connection string with its secrets replaced by `***`: the password in a URL's user info
 * (however it is written: `postgres://`, `jdbc:postgresql://`, scheme-less `user:pw@host`, with
 * unencoded `/ ? # @` in it), and `password`, `sslpassword` and `oauth_client_secret` values in a
 * URL query or a libpq `key=value` string. Everything else is kept as written. A `key=value`
 * string that cannot be read is returned as `***` entirely, since it might hold a password
 * anywhere.
 * @example redactConnectionString('postgres://app:s3cret@db.example.com/app') // 'postgres://app:***@db.example.com/app'
 */
export function redactConnectionString(input: string): string {
  const text = input.trim();
  const info = findUrlUserInfo(text);
  if (info) return redactUrl(text, info);
  if (/^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(text)) return redactConninfo(text) ?? '***';
  return redactFreeText(text);
}

/**
 * The query keys of a URL that redaction hides because they follow a secret and may be part of
 * it (`password=a&b=c` may be the password `a&b=c`): messages must not name them.
 */
export function keysHiddenAfterSecret(input: string): ReadonlySet<string> {
  const hidden = new Set<string>();
  const text = input.trim();
  const info = findUrlUserInfo(text);
  if (info) redactUrl(text, info, hidden);
  else if (/^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(text)) redactConninfo(text, hidden);
  return hidden;
}

/**
 * A value for a message: redacted, cut to `maxChars` (saying how long it was), with control
 * characters and quotes escaped, in double quotes.
 * @example quoteInput('app:pw@db.example.com') // '"app:***@db.example.com"'
 */
export function quoteInput(input: string, maxChars = MAX_QUOTED_CHARS): string {
  let shown = redactConnectionString(input);
  if (shown.length > maxChars) {
    let cut = shown.slice(0, maxChars);
    if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
    shown = `${cut}...`;
    return `${JSON.stringify(shown)} (${input.length} characters)`;
  }
  return JSON.stringify(shown);
}

/**
 * Text with the user info of every URL in it hidden (`https://***@mirror.example/`), for
 * messages that name download URLs: a mirror URL may carry a user name and token.
 * @example redactUrlsInText("'https://u:tok@m.example/x' answered 404") // "'https://***@m.example/x' answered 404"
 */
export function redactUrlsInText(text: string): string {
  // Greedy to the last "@" of the token: a raw (unparsed) URL may hold "/" or "@" in its password.
  return text.replace(/\b([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s'"<>]*@/g, '$1***@');
}
