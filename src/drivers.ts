import { isAbsolute, join, resolve } from 'node:path';
import { parseConnectionTarget, secureConnectionString } from './connection.js';
import { PgcertsError } from './errors.js';
import { findUrlUserInfo } from './redact.js';

/** The clients `pgcerts doctor --driver` knows. */
export type DriverId = 'libpq' | 'node-postgres' | 'pgjdbc' | 'asyncpg' | 'pgx' | 'prisma';

/** One fact about a driver, in our words, with where it was read and when. */
export interface DriverFact {
  text: string;
  /** The documentation page or source file that states it. */
  source: string;
  /** YYYY-MM-DD. */
  checked: string;
  /** False when only the code (or a third party) says so and the driver's documentation does not. */
  confirmed: boolean;
}

/** What a driver does with one `sslmode` value (or with none). */
export interface ModeEffect {
  kind:
    /** No TLS. */
    | 'disable'
    /** TLS when the server offers it, nothing verified: an attacker can turn it off. */
    | 'maybe'
    /** TLS always, nothing verified. */
    | 'require'
    /** TLS always; the chain is checked only when a root file is named or the default one exists (libpq's `require`). */
    | 'require-or-ca'
    | 'verify-ca'
    | 'verify-full'
    /** The driver refuses the value. */
    | 'refuse';
  /** For the verifying kinds: what happens without a root file (refuse, the system's roots, Node's roots). */
  withoutRoot?: 'refuse' | 'system' | 'node';
}

/** The rules the evaluation reads; every one is backed by a fact in {@link DriverData.facts}. */
export interface DriverRules {
  /** Connection-string forms the driver reads. */
  forms: ReadonlyArray<'url' | 'conninfo'>;
  /** With no sslmode at all. */
  defaultMode: string;
  modes: Readonly<Record<string, ModeEffect>>;
  /** A value outside `modes`. */
  unknownMode: ModeEffect;
  /** An `ssl` parameter read when there is no `sslmode` (and the forms where it counts). */
  sslParam?: { forms: ReadonlyArray<'url' | 'conninfo'>; values: Readonly<Record<string, ModeEffect>>; other: ModeEffect };
  /** Environment variables read: the mode, the root file. */
  env: { sslmode?: string; sslrootcert?: string };
  /** The parameter naming the CA file. */
  rootParam: 'sslrootcert' | 'sslcert';
  /** The root file used when none is named, relative to the home directory. */
  defaultRoot?: string;
  /** From which modes a named root file that does not exist stops the connection. */
  missingRootFails: 'verifying' | 'require' | 'always';
  /** `sslrootcert=system`: the system's roots with verify-full forced, or a file named "system". */
  system: 'verify-full' | 'file';
  /** Relative root paths resolve against the working directory, or the Prisma schema's directory. */
  relativeTo: 'cwd' | 'schema';
}

/** A driver, its rules and the facts behind them. */
export interface DriverData {
  id: DriverId;
  name: string;
  /** The clients that behave this way. */
  covers: string;
  /** Which versions the facts describe. */
  versions: string;
  /** Other names `--driver` accepts. */
  aliases: readonly string[];
  rules: DriverRules;
  facts: {
    sslmode: DriverFact;
    require: DriverFact;
    roots: DriverFact;
    system: DriverFact;
    env: DriverFact;
    fix: DriverFact;
    more: readonly DriverFact[];
  };
}

const CHECKED = '2026-12-03';
const fact = (text: string, source: string, confirmed = true): DriverFact => ({ text, source, checked: CHECKED, confirmed });

const LIBPQ_SSL = 'https://www.postgresql.org/docs/current/libpq-ssl.html#LIBPQ-SSL-PROTECTION';
const LIBPQ_ROOTCERT = 'https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-SSLROOTCERT';
const PCS = 'https://github.com/brianc/node-postgres/blob/master/packages/pg-connection-string/index.js';
const PGJDBC_SSL = 'https://jdbc.postgresql.org/documentation/ssl/';
const PGJDBC_FACTORY = 'https://github.com/pgjdbc/pgjdbc/blob/master/pgjdbc/src/main/java/org/postgresql/ssl/LibPQFactory.java';
const PGJDBC_MODE = 'https://github.com/pgjdbc/pgjdbc/blob/master/pgjdbc/src/main/java/org/postgresql/jdbc/SslMode.java';
const ASYNCPG = 'https://github.com/MagicStack/asyncpg/blob/master/asyncpg/connect_utils.py';
const PGX = 'https://github.com/jackc/pgx/blob/master/pgconn/config.go';
const PGX_DEFAULTS = 'https://github.com/jackc/pgx/blob/master/pgconn/defaults.go';
const PRISMA_DOCS = 'https://www.prisma.io/docs/orm/overview/databases/postgresql';
const PRISMA_URL = 'https://github.com/prisma/prisma-engines/blob/main/quaint/src/connector/postgres/url.rs';
const PRISMA_TLS = 'https://github.com/prisma/prisma-engines/blob/main/quaint/src/connector/postgres/native/mod.rs';

const off: ModeEffect = { kind: 'disable' };
const maybe: ModeEffect = { kind: 'maybe' };
const req: ModeEffect = { kind: 'require' };
const refuse: ModeEffect = { kind: 'refuse' };
const LIBPQ_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

/**
 * What each driver does with `sslmode` and the CA file, from its documentation and source (see
 * `facts`; `confirmed: false` marks what only the code says). The README's driver table is
 * generated from this list (scripts/driver-table.mjs) and `pgcerts doctor --driver` evaluates
 * connection strings with the same rules.
 */
export const DRIVERS: readonly DriverData[] = [
  {
    id: 'libpq',
    name: 'libpq',
    covers: 'psql, pg_dump, psycopg 2 and 3, Ruby pg and other libpq-based clients',
    versions: 'libpq 16 to 18',
    aliases: ['psql', 'psycopg', 'psycopg2', 'psycopg3', 'ruby-pg', 'ruby', 'python'],
    rules: {
      forms: ['url', 'conninfo'],
      defaultMode: 'prefer',
      modes: { disable: off, allow: maybe, prefer: maybe, require: { kind: 'require-or-ca' }, 'verify-ca': { kind: 'verify-ca', withoutRoot: 'refuse' }, 'verify-full': { kind: 'verify-full', withoutRoot: 'refuse' } },
      unknownMode: refuse,
      sslParam: { forms: ['url'], values: { true: { kind: 'require-or-ca' } }, other: refuse },
      env: { sslmode: 'PGSSLMODE', sslrootcert: 'PGSSLROOTCERT' },
      rootParam: 'sslrootcert',
      defaultRoot: join('.postgresql', 'root.crt'),
      missingRootFails: 'verifying',
      system: 'verify-full',
      relativeTo: 'cwd',
    },
    facts: {
      sslmode: fact('Six modes, default prefer (TLS only if the server offers it, never authenticated); verify-ca checks the chain, verify-full the chain and the host name.', LIBPQ_SSL),
      require: fact('require encrypts without authenticating the server, except that when a root file exists (sslrootcert, PGSSLROOTCERT or ~/.postgresql/root.crt) it checks the chain as verify-ca does.', LIBPQ_SSL),
      roots: fact('sslrootcert, else PGSSLROOTCERT, else ~/.postgresql/root.crt (%APPDATA%\\postgresql\\root.crt on Windows); verify-ca and verify-full refuse to connect when the file is missing.', LIBPQ_ROOTCERT),
      system: fact('sslrootcert=system (libpq 16+) trusts the SSL library\'s default roots and forces verify-full; weaker modes are refused.', LIBPQ_ROOTCERT),
      env: fact('Reads PGSSLMODE and PGSSLROOTCERT when the string does not set them.', 'https://www.postgresql.org/docs/current/libpq-envars.html'),
      fix: fact('sslmode=verify-full and an absolute sslrootcert, in the URL or key=value string.', LIBPQ_ROOTCERT),
      more: [
        fact('psycopg passes its connection string and keyword arguments to libpq unchanged.', 'https://www.psycopg.org/docs/module.html#psycopg2.connect'),
        fact('Ruby pg takes libpq key=value strings and URIs and hands them to libpq.', 'https://www.rubydoc.info/gems/pg/PG/Connection.new'),
      ],
    },
  },
  {
    id: 'node-postgres',
    name: 'node-postgres',
    covers: 'pg 8 (pg-connection-string 2), and Prisma 7 through @prisma/adapter-pg',
    versions: 'pg 8.x, pg-connection-string 2.x',
    aliases: ['pg', 'node', 'nodejs', 'prisma7', 'prisma-7', 'adapter-pg'],
    rules: {
      forms: ['url'],
      defaultMode: 'none',
      modes: {
        disable: off,
        prefer: { kind: 'verify-full', withoutRoot: 'node' },
        require: { kind: 'verify-full', withoutRoot: 'node' },
        'verify-ca': { kind: 'verify-full', withoutRoot: 'node' },
        'verify-full': { kind: 'verify-full', withoutRoot: 'node' },
        'no-verify': req,
      },
      unknownMode: { kind: 'verify-full', withoutRoot: 'node' },
      sslParam: { forms: ['url'], values: { true: { kind: 'verify-full', withoutRoot: 'node' }, 1: { kind: 'verify-full', withoutRoot: 'node' }, 0: off, 'no-verify': req }, other: { kind: 'verify-full', withoutRoot: 'node' } },
      env: { sslmode: 'PGSSLMODE' },
      rootParam: 'sslrootcert',
      missingRootFails: 'always',
      system: 'file',
      relativeTo: 'cwd',
    },
    facts: {
      sslmode: fact('Without sslmode or ssl in the URL there is no TLS at all; prefer, require and verify-ca are treated as verify-full, no-verify encrypts without checking anything; uselibpqcompat=true gives the modes their libpq meaning.', PCS),
      require: fact('require verifies the chain and the host name today, and pg-connection-string warns that pg 9 (pg-connection-string 3) will give it libpq\'s weaker meaning.', 'https://github.com/brianc/node-postgres/pull/3473'),
      roots: fact('sslrootcert is read with fs.readFileSync (relative to the working directory); without it the chain is checked against Node\'s built-in roots. PGSSLROOTCERT and ~/.postgresql/root.crt are not read.', PCS),
      system: fact('sslrootcert=system is not understood: pg opens a file named "system" and fails with ENOENT.', 'https://github.com/brianc/node-postgres/issues/3101'),
      env: fact('Reads PGSSLMODE only when the URL has no ssl settings; never PGSSLROOTCERT.', 'https://node-postgres.com/features/ssl'),
      fix: fact('A postgres:// URL with sslmode=verify-full and an absolute sslrootcert (or ssl: { ca, rejectUnauthorized: true } in code; an sslmode in the URL replaces the code\'s ssl object).', PCS),
      more: [fact('Prisma 7 has no built-in engine: the URL goes to node-postgres through @prisma/adapter-pg, so these rules apply.', 'https://www.prisma.io/docs/guides/upgrade-prisma-orm/v7')],
    },
  },
  {
    id: 'pgjdbc',
    name: 'pgjdbc',
    covers: 'the PostgreSQL JDBC driver (org.postgresql), and JVM tools built on it',
    versions: 'pgjdbc 42.2.5 and later (LibPQFactory as the default sslfactory)',
    aliases: ['jdbc', 'java', 'postgresql-jdbc'],
    rules: {
      forms: ['url'],
      defaultMode: 'prefer',
      modes: { disable: off, allow: maybe, prefer: maybe, require: req, 'verify-ca': { kind: 'verify-ca', withoutRoot: 'refuse' }, 'verify-full': { kind: 'verify-full', withoutRoot: 'refuse' } },
      unknownMode: refuse,
      sslParam: { forms: ['url', 'conninfo'], values: { true: { kind: 'verify-full', withoutRoot: 'refuse' }, '': { kind: 'verify-full', withoutRoot: 'refuse' } }, other: maybe },
      env: {},
      rootParam: 'sslrootcert',
      defaultRoot: join('.postgresql', 'root.crt'),
      missingRootFails: 'verifying',
      system: 'file',
      relativeTo: 'cwd',
    },
    facts: {
      sslmode: fact('libpq\'s six mode names, default prefer; ssl=true alone means verify-full; an unknown value is refused ("Invalid sslmode value").', PGJDBC_MODE),
      require: fact('require encrypts and accepts any server certificate, even when a root file exists (unlike libpq).', PGJDBC_SSL),
      roots: fact('With the default LibPQFactory: sslrootcert, else ~/.postgresql/root.crt (%APPDATA%\\postgresql\\root.crt on Windows), read only for verify-ca and verify-full, which fail without it. sslfactory=org.postgresql.ssl.DefaultJavaSSLFactory uses the JVM\'s truststore instead (javax.net.ssl.trustStore) and then checks the chain in every TLS mode.', PGJDBC_FACTORY),
      system: fact('No sslrootcert=system: LibPQFactory opens the value as a file path, so "system" is a missing file.', PGJDBC_FACTORY, false),
      env: fact('Reads neither PGSSLMODE nor PGSSLROOTCERT; settings come from the URL or the Properties.', PGJDBC_FACTORY, false),
      fix: fact('jdbc:postgresql://host:port/db?sslmode=verify-full&sslrootcert=/abs/bundle.pem, or sslfactory=org.postgresql.ssl.DefaultJavaSSLFactory with a PKCS#12 truststore.', PGJDBC_SSL),
      more: [fact('The host name is checked (verify-full) whichever sslfactory is used; NonValidatingFactory turns every check off.', 'https://github.com/pgjdbc/pgjdbc/blob/master/pgjdbc/src/main/java/org/postgresql/ssl/MakeSSL.java')],
    },
  },
  {
    id: 'asyncpg',
    name: 'asyncpg',
    covers: 'asyncpg, and SQLAlchemy\'s postgresql+asyncpg dialect',
    versions: 'asyncpg 0.24 and later (sslrootcert support)',
    aliases: ['python-asyncpg'],
    rules: {
      forms: ['url'],
      defaultMode: 'prefer',
      modes: { disable: off, allow: maybe, prefer: maybe, require: { kind: 'require-or-ca' }, 'verify-ca': { kind: 'verify-ca', withoutRoot: 'refuse' }, 'verify-full': { kind: 'verify-full', withoutRoot: 'refuse' } },
      unknownMode: refuse,
      env: { sslmode: 'PGSSLMODE', sslrootcert: 'PGSSLROOTCERT' },
      rootParam: 'sslrootcert',
      defaultRoot: join('.postgresql', 'root.crt'),
      missingRootFails: 'require',
      system: 'file',
      relativeTo: 'cwd',
    },
    facts: {
      sslmode: fact('sslmode in the DSN (or the ssl= argument as a string) takes libpq\'s six values, default prefer; any other value is refused.', ASYNCPG),
      require: fact('require checks the chain (not the host name) when sslrootcert, PGSSLROOTCERT or ~/.postgresql/root.crt gives a file, as libpq does; otherwise it accepts any certificate.', ASYNCPG),
      roots: fact('sslrootcert in the DSN, else PGSSLROOTCERT, else ~/.postgresql/root.crt; verify-ca and verify-full fail without one. ssl=True (not a string) uses Python\'s default context: the system roots, verify-full.', ASYNCPG),
      system: fact('No sslrootcert=system: the value is loaded as a file path and "system" does not exist.', 'https://github.com/scaleway/docs-content/pull/3286', false),
      env: fact('Reads PGSSLMODE and PGSSLROOTCERT.', ASYNCPG),
      fix: fact('A postgresql:// DSN with sslmode=verify-full and an absolute sslrootcert, or ssl=ssl.create_default_context(cafile=...) in code.', 'https://github.com/MagicStack/asyncpg/pull/768'),
      more: [fact('Through SQLAlchemy the URL\'s query becomes keyword arguments, which asyncpg.connect() does not take (TypeError for sslmode): pass connect_args={"ssl": context} instead.', 'https://github.com/MagicStack/asyncpg/issues/737')],
    },
  },
  {
    id: 'pgx',
    name: 'pgx',
    covers: 'pgx and pgxpool (jackc/pgx v5), and Go tools built on pgconn',
    versions: 'pgx v5',
    aliases: ['go', 'golang', 'pgxpool', 'pgconn'],
    rules: {
      forms: ['url', 'conninfo'],
      defaultMode: 'prefer',
      modes: { disable: off, allow: maybe, prefer: maybe, require: { kind: 'require-or-ca' }, 'verify-ca': { kind: 'verify-ca', withoutRoot: 'system' }, 'verify-full': { kind: 'verify-full', withoutRoot: 'system' } },
      unknownMode: refuse,
      env: { sslmode: 'PGSSLMODE', sslrootcert: 'PGSSLROOTCERT' },
      rootParam: 'sslrootcert',
      defaultRoot: join('.postgresql', 'root.crt'),
      missingRootFails: 'always',
      system: 'verify-full',
      relativeTo: 'cwd',
    },
    facts: {
      sslmode: fact('libpq\'s six values, default prefer (implemented as a TLS attempt with a plaintext fallback); any other value is an error ("sslmode is invalid").', PGX),
      require: fact('require checks the chain (not the host name) when a root file is given or ~/.postgresql/root.crt exists; otherwise it skips verification.', PGX),
      roots: fact('sslrootcert, else PGSSLROOTCERT, else ~/.postgresql/root.crt when it exists. Without any, verify-ca and verify-full check against Go\'s system roots instead of refusing as libpq does. A named file that cannot be read is an error in every mode.', PGX_DEFAULTS),
      system: fact('sslrootcert=system loads the system roots and forces verify-full, whatever sslmode says.', PGX, false),
      env: fact('Reads PGSSLMODE and PGSSLROOTCERT.', PGX),
      fix: fact('sslmode=verify-full and an absolute sslrootcert, in the URL or key=value string, as for libpq.', PGX),
      more: [],
    },
  },
  {
    id: 'prisma',
    name: 'Prisma',
    covers: 'Prisma ORM 6 and earlier with its built-in query engine (for Prisma 7 use node-postgres)',
    versions: 'Prisma ORM up to 6 (quaint)',
    aliases: ['prisma6', 'prisma-6', 'quaint'],
    rules: {
      forms: ['url'],
      defaultMode: 'prefer',
      modes: { disable: off, prefer: maybe, require: req },
      unknownMode: maybe,
      env: {},
      rootParam: 'sslcert',
      missingRootFails: 'always',
      system: 'file',
      relativeTo: 'schema',
    },
    facts: {
      sslmode: fact('Only disable, prefer and require; any other value (verify-ca, verify-full) is ignored with a debug log and prefer is used.', PRISMA_URL, false),
      require: fact('require encrypts, but nothing is verified unless sslaccept=strict: the default sslaccept is accept_invalid_certs.', PRISMA_DOCS),
      roots: fact('The CA file is sslcert (not sslrootcert), resolved relative to the schema\'s directory; with sslaccept=strict it is added to the system roots and the chain and host name are checked.', PRISMA_DOCS),
      system: fact('No sslrootcert=system (sslrootcert is not read); with sslaccept=strict the system roots are always trusted as well.', PRISMA_TLS, false),
      env: fact('Reads no PGSSL* variables: everything comes from the URL.', PRISMA_URL, false),
      fix: fact('sslmode=require&sslcert=/abs/bundle.pem&sslaccept=strict in the datasource URL.', PRISMA_DOCS),
      more: [fact('A sslaccept value other than strict or accept_invalid_certs counts as strict.', PRISMA_URL, false)],
    },
  },
];

/**
 * The driver `name` (an id or alias, case-insensitive) names, or undefined.
 * @example findDriver('psycopg')?.id // 'libpq'
 */
export function findDriver(name: string): DriverData | undefined {
  const key = name.trim().toLowerCase();
  return DRIVERS.find((d) => d.id === key || d.aliases.includes(key));
}

/**
 * The driver `name` names.
 * @throws PgcertsError `USAGE` naming the known drivers.
 */
export function getDriver(name: string): DriverData {
  const driver = findDriver(name);
  if (!driver) throw new PgcertsError('USAGE', `Unknown driver "${name}"; use one of ${DRIVERS.map((d) => d.id).join(', ')} (psql, psycopg and Ruby pg are libpq; Prisma 7 is node-postgres).`);
  return driver;
}

/** Where a setting came from. */
export type DriverSettingSource = 'connection string' | 'environment' | 'default';

/** What one driver does with a connection string. */
export interface DriverBehaviour {
  /** Why the driver refuses the string, when it does. */
  refusal: string | undefined;
  sslmode: string | undefined;
  sslmodeFrom: DriverSettingSource | undefined;
  /** `maybe`: only when the server agrees, so an attacker can turn it off. */
  encryption: 'always' | 'maybe' | 'never';
  verifiesChain: boolean;
  verifiesHostName: boolean;
  /** What the chain is checked against: a file, the system's roots, Node's built-in roots, a file and the system's roots, nothing. */
  roots: { kind: 'file' | 'system' | 'node' | 'file+system' | 'none'; path?: string; from?: DriverSettingSource };
  /** One sentence. */
  summary: string;
}

/** The facts about this machine and string that {@link evaluateDriver} reads. */
export interface DriverInput {
  /** Parameters as the driver reads them (for a URL: the query, the password of the user info as `password`). */
  params: Record<string, string>;
  form: 'url' | 'conninfo';
  env: Record<string, string | undefined>;
  cwd: string;
  /** The home directory, for the default root file; undefined when there is none. */
  homeDir: string | undefined;
  /** Whether a file exists. */
  exists: (path: string) => boolean;
}

function present(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/**
 * What `driver` does with these settings: the sslmode it applies, whether it encrypts, what it
 * verifies and against which roots, or why it refuses. Pure: files are looked at through
 * `input.exists`.
 * @example evaluateDriver(getDriver('pgjdbc'), { params: { sslmode: 'require' }, form: 'url', env: {}, cwd: '/', homeDir: undefined, exists: () => false }).verifiesChain // false
 */
export function evaluateDriver(driver: DriverData, input: DriverInput): DriverBehaviour {
  if (driver.id === 'prisma') return evaluatePrisma(driver, input);
  const { rules } = driver;
  const { params, env } = input;
  const none = { verifiesChain: false, verifiesHostName: false, roots: { kind: 'none' as const } };
  if (!rules.forms.includes(input.form)) {
    const refusal = `${driver.name} reads only ${rules.forms.includes('url') ? 'URLs' : 'key=value strings'}, not ${input.form === 'url' ? 'URLs' : 'key=value strings'}.`;
    return { refusal, sslmode: undefined, sslmodeFrom: undefined, encryption: 'never', ...none, summary: `does not read this string: ${refusal}` };
  }
  const pgLike = driver.id === 'node-postgres';
  const paramMode = present(params.sslmode);
  const sslSettings = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey'].some((k) => present(params[k]) !== undefined);
  const paramRoot = present(params[rules.rootParam]);
  const envRoot = rules.env.sslrootcert ? present(env[rules.env.sslrootcert]) : undefined;
  const rootWritten = paramRoot ?? envRoot;
  const rootFrom: DriverSettingSource | undefined = paramRoot !== undefined ? 'connection string' : envRoot !== undefined ? 'environment' : undefined;
  const system = rootWritten === 'system' && rules.system === 'verify-full';

  // Which mode, from where.
  let sslmode: string | undefined;
  let from: DriverSettingSource | undefined;
  let effect: ModeEffect;
  const compat = pgLike && params.uselibpqcompat === 'true';
  const sslValue = params.ssl;
  const sslParamApplies = rules.sslParam !== undefined && rules.sslParam.forms.includes(input.form) && sslValue !== undefined && paramMode === undefined && !(pgLike && sslSettings);
  const envMode = rules.env.sslmode ? present(env[rules.env.sslmode]) : undefined;
  if (paramMode !== undefined) {
    sslmode = paramMode;
    from = 'connection string';
    effect = compat ? compatEffect(paramMode) : rules.modes[paramMode] ?? rules.unknownMode;
  } else if (sslParamApplies && rules.sslParam && sslValue !== undefined) {
    from = 'connection string';
    effect = rules.sslParam.values[sslValue] ?? rules.sslParam.other;
    sslmode = effectMode(effect);
  } else if (pgLike && sslSettings) {
    // pg: sslrootcert (or a client certificate) without sslmode turns TLS on with full checks.
    from = 'connection string';
    effect = { kind: 'verify-full', withoutRoot: 'node' };
  } else if (pgLike && present(params.sslnegotiation) === 'direct') {
    from = 'connection string';
    effect = { kind: 'verify-full', withoutRoot: 'node' };
  } else if (envMode !== undefined) {
    sslmode = envMode;
    from = 'environment';
    effect = rules.modes[envMode] ?? (pgLike ? off : rules.unknownMode);
  } else if (system) {
    sslmode = 'verify-full';
    from = 'default';
    effect = { kind: 'verify-full', withoutRoot: 'refuse' };
  } else {
    sslmode = rules.defaultMode === 'none' ? undefined : rules.defaultMode;
    from = 'default';
    effect = rules.defaultMode === 'none' ? off : rules.modes[rules.defaultMode] ?? maybe;
  }
  // pgx: sslrootcert=system overrides any mode; libpq: refuses modes weaker than verify-full.
  if (system) {
    if (driver.id === 'pgx') {
      effect = { kind: 'verify-full' };
      sslmode = 'verify-full';
    } else if (effect.kind !== 'verify-full') {
      const refusal = `sslrootcert=system needs sslmode=verify-full; ${driver.name} refuses "${sslmode}".`;
      return { refusal, sslmode, sslmodeFrom: from, encryption: 'never', ...none, summary: `refuses to connect: ${refusal}` };
    }
  }

  const base = { sslmode, sslmodeFrom: from };
  const refused = (refusal: string): DriverBehaviour => ({ ...base, refusal, encryption: 'never', ...none, summary: `refuses to connect: ${refusal}` });
  if (effect.kind === 'refuse') {
    return refused(sslValue !== undefined && sslmode === undefined ? `ssl=${sslValue} is not a value ${driver.name} reads.` : `"${sslmode}" is not an sslmode ${driver.name} accepts.`);
  }

  // A root file: named (parameter or environment) or the default one when it exists. A named
  // file that is missing stops the connection from the modes where the driver reads it.
  let root: { path: string; from: DriverSettingSource } | undefined;
  if (!system && rootWritten !== undefined && rootFrom !== undefined) {
    root = { path: resolve(input.cwd, rootWritten), from: rootFrom };
    if (!input.exists(root.path)) {
      const verifying = effect.kind === 'verify-ca' || effect.kind === 'verify-full';
      const tls = effect.kind !== 'disable' && effect.kind !== 'maybe';
      const fatal = rules.missingRootFails === 'always' || (rules.missingRootFails === 'require' ? tls : verifying);
      const what = rootFrom === 'environment' ? (rules.env.sslrootcert as string) : rules.rootParam;
      if (fatal) return refused(`${what} "${rootWritten}" does not exist (looked for "${root.path}").`);
      root = undefined;
    }
  } else if (!system && rules.defaultRoot && input.homeDir) {
    const path = join(input.homeDir, rules.defaultRoot);
    if (input.exists(path)) root = { path, from: 'default' };
  }
  if (effect.kind === 'disable') return { ...base, refusal: undefined, encryption: 'never', ...none, summary: sslmode === undefined ? 'no TLS at all: passwords and data cross the network in clear text.' : 'never encrypts: passwords and data cross the network in clear text.' };
  if (effect.kind === 'maybe') return { ...base, refusal: undefined, encryption: 'maybe', ...none, summary: 'uses TLS only if the server offers it and never authenticates the server; an attacker in the path can turn TLS off.' };

  const systemRoots = { kind: 'system' as const, from: rootFrom };
  if (effect.kind === 'require' || (effect.kind === 'require-or-ca' && root === undefined)) {
    return { ...base, refusal: undefined, encryption: 'always', ...none, summary: 'always encrypts but checks neither the certificate chain nor the host name: the server is not authenticated.' };
  }
  if (effect.kind === 'require-or-ca' && root) {
    return { ...base, refusal: undefined, encryption: 'always', verifiesChain: true, verifiesHostName: false, roots: { kind: 'file', path: root.path, from: root.from }, summary: `always encrypts; because "${root.path}" exists, checks the chain against it (like verify-ca) but not the host name.` };
  }
  const hostName = effect.kind === 'verify-full';
  let roots: DriverBehaviour['roots'];
  if (system) {
    roots = systemRoots;
  } else if (root) {
    roots = { kind: 'file', path: root.path, from: root.from };
  } else if (effect.withoutRoot === 'system') {
    roots = { kind: 'system' };
  } else if (effect.withoutRoot === 'node') {
    roots = { kind: 'node' };
  } else {
    const where = rules.defaultRoot && input.homeDir ? join(input.homeDir, rules.defaultRoot) : `~/${rules.defaultRoot ?? '.postgresql/root.crt'}`;
    return refused(`sslmode=${sslmode ?? effect.kind} needs a root certificate file, and "${where}" does not exist.`);
  }
  const against = roots.kind === 'file' ? `"${roots.path}"` : roots.kind === 'system' ? 'the system\'s default roots' : 'Node\'s built-in roots';
  return {
    ...base,
    refusal: undefined,
    encryption: 'always',
    verifiesChain: true,
    verifiesHostName: hostName,
    roots,
    summary: hostName ? `always encrypts and checks the certificate chain against ${against} and the host name.` : `always encrypts and checks the certificate chain against ${against}, but not the host name.`,
  };
}

/** The mode an `ssl` parameter stands for, for the report. */
function effectMode(effect: ModeEffect): string | undefined {
  return effect.kind === 'disable' ? 'disable' : effect.kind === 'verify-full' ? 'verify-full' : effect.kind === 'require' || effect.kind === 'require-or-ca' ? 'require' : undefined;
}

/** node-postgres with uselibpqcompat=true: libpq's meanings, with pg's own roots and refusals. */
function compatEffect(mode: string): ModeEffect {
  switch (mode) {
    case 'disable':
      return off;
    case 'prefer':
      // pg never falls back to clear text: it encrypts without checking.
      return req;
    case 'require':
      return { kind: 'require-or-ca' };
    case 'verify-ca':
      return { kind: 'verify-ca', withoutRoot: 'refuse' };
    default:
      return { kind: 'verify-full', withoutRoot: 'node' };
  }
}

function evaluatePrisma(driver: DriverData, input: DriverInput): DriverBehaviour {
  const { params } = input;
  const none = { verifiesChain: false, verifiesHostName: false, roots: { kind: 'none' as const } };
  if (input.form !== 'url') {
    const refusal = 'Prisma reads only postgresql:// URLs.';
    return { refusal, sslmode: undefined, sslmodeFrom: undefined, encryption: 'never', ...none, summary: `does not read this string: ${refusal}` };
  }
  const written = present(params.sslmode);
  const mode = written === undefined ? 'prefer' : driver.rules.modes[written] ? written : 'prefer';
  const base = { sslmode: mode, sslmodeFrom: (written === undefined ? 'default' : 'connection string') as DriverSettingSource };
  const certParam = present(params.sslcert);
  if (mode === 'disable') return { ...base, refusal: undefined, encryption: 'never', ...none, summary: 'never encrypts: passwords and data cross the network in clear text.' };
  const encryption = mode === 'require' ? 'always' : 'maybe';
  const ignored = written !== undefined && written !== mode ? `sslmode=${written} is not a value Prisma knows, so it uses prefer: ` : '';
  if (certParam !== undefined) {
    const path = isAbsolute(certParam) ? certParam : resolve(input.cwd, certParam);
    if (!input.exists(path)) {
      const refusal = `sslcert "${certParam}" does not exist (Prisma resolves a relative path against the schema's directory; looked for "${path}").`;
      return { ...base, refusal, encryption: 'never', ...none, summary: `refuses to connect: ${refusal}` };
    }
  }
  const accept = params.sslaccept;
  const strict = accept !== undefined && accept !== 'accept_invalid_certs';
  if (!strict) {
    return { ...base, refusal: undefined, encryption, ...none, summary: `${ignored}${encryption === 'always' ? 'always encrypts' : 'uses TLS only if the server offers it (an attacker can turn it off)'} and, with sslaccept=accept_invalid_certs (the default), accepts any certificate.` };
  }
  const roots: DriverBehaviour['roots'] = certParam !== undefined ? { kind: 'file+system', path: isAbsolute(certParam) ? certParam : resolve(input.cwd, certParam), from: 'connection string' } : { kind: 'system' };
  const against = roots.kind === 'file+system' ? `"${roots.path}" and the system's roots` : 'the system\'s roots';
  return { ...base, refusal: undefined, encryption, verifiesChain: true, verifiesHostName: true, roots, summary: `${ignored}${encryption === 'always' ? 'always encrypts' : 'uses TLS only if the server offers it (an attacker can turn it off)'} and, with sslaccept=strict, checks the chain against ${against} and the host name.` };
}

/** The fixed string for one driver, and what else to set outside it. */
export interface DriverFix {
  /** The connection string to use with this driver; undefined when it cannot be written as one. */
  fixed: string | undefined;
  /** Settings outside the string (JVM flags, code), one line each. */
  notes: string[];
}

/** Percent-encode a query value, keeping `/` readable. */
function encodeValue(value: string): string {
  return encodeURIComponent(value).replace(/%2F/gi, '/');
}

/**
 * Rewrite a URL's query: drop `remove` keys, append `add` pairs; user info, hosts and path are
 * kept as written.
 */
function setUrlParams(url: string, remove: readonly string[], add: ReadonlyArray<[string, string]>): string {
  const info = findUrlUserInfo(url);
  const hostStart = info === undefined || info.at < 0 ? (info?.start ?? 0) : info.at + 1;
  const query = url.indexOf('?', hostStart);
  const base = query < 0 ? url : url.slice(0, query);
  const kept = (query < 0 ? [] : url.slice(query + 1).split('&')).filter((pair) => {
    if (pair === '') return false;
    const eq = pair.indexOf('=');
    return !remove.includes(decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq)));
  });
  kept.push(...add.map(([key, value]) => `${key}=${encodeValue(value)}`));
  const separator = base.slice(hostStart).includes('/') ? '?' : '/?';
  return `${base}${separator}${kept.join('&')}`;
}

function formatHost(host: string, port: number | undefined): string {
  const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return port === undefined ? shown : `${shown}:${port}`;
}

/** A JDBC URL with the string's hosts, database, user and other settings, and the CA settings. */
function jdbcUrl(input: string, rootCertPath: string, sslmode: 'verify-full' | 'verify-ca'): string {
  const target = parseConnectionTarget(input);
  const hosts = target.hosts.map((h) => formatHost(h.host, h.port)).join(',');
  const skip = new Set(['host', 'port', 'dbname', 'user', 'password', 'sslmode', 'sslrootcert', 'sslfactory', 'ssl']);
  const pairs: Array<[string, string]> = [];
  const user = target.user ?? target.params.user;
  if (user !== undefined) pairs.push(['user', user]);
  if (target.params.password !== undefined) pairs.push(['password', target.params.password]);
  for (const [key, value] of Object.entries(target.params)) if (!skip.has(key)) pairs.push([key, value]);
  pairs.push(['sslmode', sslmode], ['sslrootcert', rootCertPath]);
  const db = target.database === undefined ? '' : encodeURIComponent(target.database);
  return `jdbc:postgresql://${hosts}/${db}?${pairs.map(([k, v]) => `${k}=${encodeValue(v)}`).join('&')}`;
}

/**
 * The connection string that makes `driver` verify the server against `rootCertPath`, built
 * from `input` (everything else kept), and the settings that live outside the string.
 * @throws PgcertsError `INVALID_INPUT` when the string cannot be read.
 * @example fixForDriver(getDriver('prisma'), 'postgresql://u@h/db?sslmode=verify-full', '/b.pem').fixed
 * // 'postgresql://u@h/db?sslmode=require&sslcert=/b.pem&sslaccept=strict'
 */
export function fixForDriver(driver: DriverData, input: string, rootCertPath: string, sslmode: 'verify-full' | 'verify-ca' = 'verify-full'): DriverFix {
  const raw = input.trim().replace(/^jdbc:(?=postgresql:\/\/)/i, '');
  const form = parseConnectionTarget(raw).form;
  const needsUrl = (what: string): DriverFix => ({ fixed: undefined, notes: [`${driver.name} reads only URLs: write the settings as ${what} and run the doctor again.`] });
  switch (driver.id) {
    case 'libpq':
    case 'pgx':
      return { fixed: secureConnectionString(raw, rootCertPath, sslmode), notes: [] };
    case 'node-postgres':
      if (form !== 'url') return needsUrl('a postgres:// URL');
      return { fixed: secureConnectionString(raw, rootCertPath, sslmode), notes: [`In code: ssl: { ca: fs.readFileSync(${JSON.stringify(rootCertPath)}, 'utf8'), rejectUnauthorized: true } (an sslmode in the URL replaces it).`] };
    case 'asyncpg':
      if (form !== 'url') return needsUrl('a postgresql:// DSN');
      return {
        fixed: secureConnectionString(raw, rootCertPath, sslmode),
        notes: [`In code, or through SQLAlchemy's connect_args (which asyncpg needs: it takes no sslmode keyword): ssl=ssl.create_default_context(cafile=${JSON.stringify(rootCertPath)})${sslmode === 'verify-ca' ? ' with check_hostname = False' : ''}.`],
      };
    case 'pgjdbc':
      return {
        fixed: jdbcUrl(raw, rootCertPath, sslmode),
        notes: [`Or the JVM's truststore: pgcerts sslrootcert <host> --format pkcs12 --out truststore.p12, then sslfactory=org.postgresql.ssl.DefaultJavaSSLFactory&sslmode=${sslmode} and java -Djavax.net.ssl.trustStore=truststore.p12 -Djavax.net.ssl.trustStoreType=PKCS12 -Djavax.net.ssl.trustStorePassword=changeit (the whole JVM then trusts that file only).`],
      };
    case 'prisma':
      if (form !== 'url') return needsUrl('a postgresql:// URL');
      // Prisma's sslcert is the CA file; a libpq client certificate there would be read as one.
      return {
        fixed: setUrlParams(raw, ['sslmode', 'sslcert', 'sslrootcert', 'sslaccept', 'sslidentity', 'sslpassword'], [['sslmode', 'require'], ['sslcert', rootCertPath], ['sslaccept', 'strict']]),
        notes: [
          'Prisma adds the file to the system\'s roots rather than trusting it alone, and cannot check the chain without the host name (no verify-ca).',
          'Prisma 7 passes the URL to node-postgres (@prisma/adapter-pg): use `pgcerts doctor --driver node-postgres` there.',
        ],
      };
  }
}
