import { describe, expect, it } from 'vitest';
import { parseConnectionTarget, parseHostPort, secureConnectionString } from '../src/connection.js';
import { isPgcertsError } from '../src/errors.js';

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('parseHostPort', () => {
  it.each([
    ['db.example.com', { host: 'db.example.com' }],
    ['db.example.com:6543', { host: 'db.example.com', port: 6543 }],
    ['[2001:db8::1]', { host: '2001:db8::1' }],
    ['[2001:db8::1]:5433', { host: '2001:db8::1', port: 5433 }],
    ['2001:db8::1', { host: '2001:db8::1' }],
    ['  db.example.com  ', { host: 'db.example.com' }],
  ])('%s', (input, expected) => {
    expect(parseHostPort(input)).toEqual(expected);
  });

  it.each(['db:0', 'db:65536', 'db:abc', '[::1', '[::1]x'])('rejects %s with INVALID_INPUT', (input) => {
    const error = errorOf(() => parseHostPort(input));
    expect(isPgcertsError(error, 'INVALID_INPUT')).toBe(true);
  });
});

describe('parseConnectionTarget', () => {
  it('reads a URL with user, password, port, database and query', () => {
    const target = parseConnectionTarget('postgres://app:s3cr%40t@MyDB.abc.us-east-1.rds.amazonaws.com:5432/orders?sslmode=require&application_name=a+b');
    expect(target).toEqual({
      form: 'url',
      hosts: [{ host: 'MyDB.abc.us-east-1.rds.amazonaws.com', port: 5432 }],
      // libpq does not read "+" as a space (node-postgres does: readNodePostgresUrl).
      params: { password: 's3cr@t', sslmode: 'require', application_name: 'a+b' },
      user: 'app',
      database: 'orders',
    });
  });

  it('reads several hosts, bracketed IPv6 and the postgresql:// scheme', () => {
    const target = parseConnectionTarget('postgresql://u@h1.example.com:5432,[2001:db8::5]:5433,h3.example.com/db');
    expect(target.hosts).toEqual([
      { host: 'h1.example.com', port: 5432 },
      { host: '2001:db8::5', port: 5433 },
      { host: 'h3.example.com' },
    ]);
  });

  it('keeps an @ in the password when the last @ ends the user info', () => {
    const target = parseConnectionTarget('postgres://u:p@ss@db.example.com/x');
    expect(target.params.password).toBe('p@ss');
    expect(target.hosts).toEqual([{ host: 'db.example.com' }]);
  });

  it('takes host and port from query parameters as libpq does', () => {
    const target = parseConnectionTarget('postgres:///db?host=a.example.com,b.example.com&port=5432,6432');
    expect(target.hosts).toEqual([
      { host: 'a.example.com', port: 5432 },
      { host: 'b.example.com', port: 6432 },
    ]);
  });

  it('reads a URL with no host', () => {
    expect(parseConnectionTarget('postgres:///db').hosts).toEqual([]);
  });

  it('reads a libpq key=value string with quoting and escapes', () => {
    const target = parseConnectionTarget("host=db.example.com port=5433 dbname=app user=me password='it\\'s a secret' sslmode=verify-full");
    expect(target).toEqual({
      form: 'conninfo',
      hosts: [{ host: 'db.example.com', port: 5433 }],
      params: { host: 'db.example.com', port: '5433', dbname: 'app', user: 'me', password: "it's a secret", sslmode: 'verify-full' },
      user: 'me',
      database: 'app',
    });
  });

  it('reads libpq host lists and spaces around =', () => {
    const target = parseConnectionTarget('host = a.example.com,b.example.com port=5432');
    expect(target.hosts).toEqual([{ host: 'a.example.com', port: 5432 }, { host: 'b.example.com', port: 5432 }]);
  });

  it('reads a bare host and host:port', () => {
    expect(parseConnectionTarget(' db.example.com:25060 ')).toEqual({ form: 'host', hosts: [{ host: 'db.example.com', port: 25060 }], params: {} });
  });

  it('rejects other URL schemes naming the scheme', () => {
    const error = errorOf(() => parseConnectionTarget('mysql://db.example.com'));
    expect(isPgcertsError(error, 'INVALID_INPUT')).toBe(true);
    expect(error.message).toContain('"mysql://"');
  });

  it('rejects an empty input and a broken conninfo without echoing a password', () => {
    expect(isPgcertsError(errorOf(() => parseConnectionTarget('   ')), 'INVALID_INPUT')).toBe(true);
    const error = errorOf(() => parseConnectionTarget("host=x password='hunter2"));
    expect(isPgcertsError(error, 'INVALID_INPUT')).toBe(true);
    expect(error.message).not.toContain('hunter2');
  });

  it('rejects a bad percent-escape without echoing the password', () => {
    const error = errorOf(() => parseConnectionTarget('postgres://u:hunter2%zz@db.example.com/x'));
    expect(error.message).toContain('password');
    expect(error.message).not.toContain('hunter2');
  });
});

describe('secureConnectionString', () => {
  it.each([
    ['postgres://u:p%40ss@db.example.com:5432/app?sslmode=require&application_name=x',
      'postgres://u:p%40ss@db.example.com:5432/app?application_name=x&sslmode=verify-full&sslrootcert=/c/rds.pem'],
    ['postgres://db.example.com', 'postgres://db.example.com/?sslmode=verify-full&sslrootcert=/c/rds.pem'],
    ['postgresql://db.example.com/app?sslrootcert=system&sslmode=verify-full', 'postgresql://db.example.com/app?sslmode=verify-full&sslrootcert=/c/rds.pem'],
    ['postgres://a.example.com,b.example.com:6543/app?target_session_attrs=read-write',
      'postgres://a.example.com,b.example.com:6543/app?target_session_attrs=read-write&sslmode=verify-full&sslrootcert=/c/rds.pem'],
    ["host=db.example.com dbname=app sslmode=prefer password='a b'", "host=db.example.com dbname=app password='a b' sslmode=verify-full sslrootcert=/c/rds.pem"],
  ])('%s', (input, expected) => {
    expect(secureConnectionString(input, '/c/rds.pem')).toBe(expected);
  });

  it('encodes paths that need it and keeps the result parseable', () => {
    const url = secureConnectionString('postgres://u@db.example.com/app', '/tmp/my certs/ca&x.pem');
    expect(url).toBe('postgres://u@db.example.com/app?sslmode=verify-full&sslrootcert=/tmp/my%20certs/ca%26x.pem');
    expect(parseConnectionTarget(url).params.sslrootcert).toBe('/tmp/my certs/ca&x.pem');
    const conninfo = secureConnectionString('host=db.example.com', "/tmp/it's here/ca.pem", 'verify-ca');
    expect(parseConnectionTarget(conninfo).params).toMatchObject({ sslmode: 'verify-ca', sslrootcert: "/tmp/it's here/ca.pem" });
  });

  it('refuses a bare host, pointing to pgcerts env', () => {
    expect(() => secureConnectionString('db.example.com', '/c.pem')).toThrow(/pgcerts env/);
  });
});
