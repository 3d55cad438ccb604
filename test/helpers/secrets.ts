// Passwords and the ways users write them into connection strings, for the "no secret printed"
// property tests (test/redact.test.ts, test/secrets-cli.test.ts).
import fc from 'fast-check';

// The characters that break naive parsers: URL delimiters, percent, spaces, quotes, backslash,
// query separators, and non-ASCII (two- and four-byte UTF-8).
const SPECIAL = ['/', '?', '@', '#', ':', '%', ' ', "'", '"', '\\', '&', '=', '+', ',', ';', 'é', '密', '🔑'];
// A marker no output contains by chance, so a leak of any password is a leak of its marker.
const MARKER = 'Qz7';

/** Passwords of 3 to 24 characters, specials likely, the marker somewhere inside. */
export function passwordArbitrary(): fc.Arbitrary<string> {
  const char = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...SPECIAL) }, { weight: 2, arbitrary: fc.constantFrom('a', 'b', 'K', '0', '9', '-', '_', '.') });
  return fc.tuple(fc.array(char, { maxLength: 12 }), fc.array(char, { maxLength: 12 })).map(([a, b]) => `${a.join('')}${MARKER}${b.join('')}`);
}

/**
 * The password as it may appear in output: raw, percent-encoded, form-encoded, libpq-quoted, and
 * its marker alone, so that printing any piece of it that holds the marker (the tail after a raw
 * "&", a space or an "@") fails too.
 */
export function secretForms(password: string): string[] {
  return [...new Set([password, encodeURIComponent(password), encodeURI(password), password.replace(/[\\']/g, '\\$&'), MARKER])];
}

function quoteConninfo(value: string): string {
  return `'${value.replace(/[\\']/g, '\\$&')}'`;
}

/** One way of writing a connection string with a password. */
export interface ConnectionForm {
  name: string;
  write: (password: string, host: string) => string;
}

export const connectionForms: ConnectionForm[] = [
  { name: 'URL, encoded', write: (p, h) => `postgres://app:${encodeURIComponent(p)}@${h}/app?sslmode=require` },
  { name: 'URL, raw', write: (p, h) => `postgres://app:${p}@${h}/app?sslmode=require` },
  { name: 'URL, raw, port and fragment', write: (p, h) => `postgresql://app:${p}@${h}:5432/app?sslmode=require&application_name=app#prod` },
  { name: 'URL, password parameter', write: (p, h) => `postgres://app@${h}/app?sslmode=require&password=${encodeURIComponent(p)}` },
  { name: 'URL, raw password parameter', write: (p, h) => `postgres://${h}/app?password=${p}&sslmode=require` },
  { name: 'URL, sslpassword and oauth_client_secret', write: (p, h) => `postgres://${h}/app?sslpassword=${encodeURIComponent(p)}&oauth_client_secret=${encodeURIComponent(p)}` },
  { name: 'conninfo, quoted', write: (p, h) => `host=${h} user=app password=${quoteConninfo(p)} sslmode=require` },
  { name: 'conninfo, unquoted', write: (p, h) => `host=${h} password=${p} dbname=app` },
  { name: 'conninfo, oauth_client_secret and sslpassword', write: (p, h) => `host=${h} oauth_client_secret=${quoteConninfo(p)} sslpassword = ${quoteConninfo(p)}` },
  { name: 'scheme-less', write: (p, h) => `app:${p}@${h}` },
  { name: 'scheme-less with port', write: (p, h) => `app:${p}@${h}:5432` },
  { name: 'jdbc', write: (p, h) => `jdbc:postgresql://${h}:5432/app?user=app&password=${p}&ssl=true` },
  { name: 'host and a password pair', write: (p, h) => `${h} password=${p}` },
];
