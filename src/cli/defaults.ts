// What a command works on when the command line names nothing: the variables libpq reads
// (PGHOST, PGPORT, PGHOSTADDR, PGSSLROOTCERT), and DATABASE_URL for the commands that take a
// whole connection string, so that `pgcerts sslrootcert` in a shell set up for psql just works.
import { PgcertsError } from '../errors.js';

function present(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

/**
 * The input of `lookup`, `sslrootcert` and `env` when none is given: PGHOST (with PGPORT), as a
 * libpq `key=value` string when it lists several hosts.
 * @throws PgcertsError `USAGE` when PGHOST is unset, or names a Unix socket directory.
 */
export function defaultHostInput(command: string, env: NodeJS.ProcessEnv = process.env): string {
  const host = present(env.PGHOST);
  if (host === undefined) {
    throw new PgcertsError('USAGE', `pgcerts ${command} needs a host: give one (\`pgcerts ${command} db.example.com\`), or set PGHOST as for psql. Run \`pgcerts ${command} --help\` for usage.`);
  }
  if (host.startsWith('/') || host.startsWith('@')) {
    throw new PgcertsError('USAGE', `PGHOST "${host}" is a Unix socket, where TLS does not apply; give the server's host name: \`pgcerts ${command} db.example.com\`.`);
  }
  const port = present(env.PGPORT);
  if (host.includes(',')) return `host=${host}${port ? ` port=${port}` : ''}`;
  return port && command === 'lookup' ? `host=${host} port=${port}` : host;
}

/**
 * The input of `url` and `doctor` when none is given: DATABASE_URL.
 * @throws PgcertsError `USAGE` when it is unset.
 */
export function defaultConnectionInput(command: string, env: NodeJS.ProcessEnv = process.env): string {
  const url = present(env.DATABASE_URL);
  if (url === undefined) {
    throw new PgcertsError('USAGE', `pgcerts ${command} needs a connection string: give one (\`pgcerts ${command} "$DATABASE_URL"\`), or set DATABASE_URL. Run \`pgcerts ${command} --help\` for usage.`);
  }
  return url;
}

/** `probe`'s target when none is given: PGHOST and PGPORT, as `host:port`. */
export function defaultProbeTarget(env: NodeJS.ProcessEnv = process.env): string {
  const host = defaultHostInput('probe', env);
  if (host.startsWith('host=')) throw new PgcertsError('USAGE', `PGHOST "${present(env.PGHOST)}" lists several hosts; probe one at a time: \`pgcerts probe <host>\`.`);
  const port = present(env.PGPORT);
  return port ? `${host.includes(':') ? `[${host}]` : host}:${port}` : host;
}
