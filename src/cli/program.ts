import { createRequire } from 'node:module';
import { getPackageVersion } from '../version.js';
import { baseOptions, openRegistry, runHotCommand, shownWarnings } from './context.js';
import type { FetchFlags } from './fetch.js';
import { EXIT, outJsonError, reportError } from './output.js';

function versionLine(): string {
  let registry: string;
  try {
    registry = openRegistry().version;
  } catch {
    registry = 'unreadable';
  }
  return `pgcerts ${getPackageVersion()} (registry ${registry})`;
}

// Loaded through require: Node's ESM wrapper around a CommonJS package costs more start-up time.
const { Command, CommanderError } = createRequire(import.meta.url)('commander') as typeof import('commander');
type Command = import('commander').Command;

function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`;
}

/** Commander's message as one line: `unknown command 'frob'\n(Did you mean probe?)` reads `... (Did you mean probe?)`. */
function oneLine(text: string): string {
  return text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ');
}

/** `pgcerts <command> --help` for a known command on the command line, else `pgcerts --help`. */
function helpPointer(argv: readonly string[], program: Command): string {
  const named = argv[0] !== undefined && program.commands.some((c) => c.name() === argv[0]) ? `${argv[0]} ` : '';
  return `Run \`pgcerts ${named}--help\` for usage.`;
}

/** Build the commander program; each action stores its exit code in `result.code`. */
function buildProgram(result: { code: number }, argv: readonly string[] = []): Command {
  const program = new Command('pgcerts')
    .description('The right sslrootcert for managed PostgreSQL, so sslmode=verify-full just works.')
    .version(versionLine(), '-V, --version', 'print the pgcerts and registry versions')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeErr: (text) => process.stderr.write(text),
      outputError: (text, write) => write(`pgcerts: ${oneLine(text)}. ${helpPointer(argv, program)}\n`),
    })
    .addHelpText('after', examples([
      'pgcerts lookup mydb.abc123xyz.eu-west-1.rds.amazonaws.com',
      'pgcerts lookup "postgres://app@db.abcdefghijklmnopqrst.supabase.co:5432/postgres"',
      'pgcerts show rds --json',
      'pgcerts list',
    ]) + '\nExit codes: 0 success, 1 not found or failed, 2 usage error.\n');

  program
    .command('list')
    .description('list the providers in the registry')
    .option('--json', 'print one JSON document')
    .addHelpText('after', examples(['pgcerts list', 'pgcerts list --json | jq -r ".providers[].id"']))
    .action(async (options: { json?: boolean }) => {
      const { runList } = await import('./list.js');
      result.code = runList(openRegistry(), options);
    });

  program
    .command('show')
    .description('show what the registry knows about one provider')
    .argument('<provider>', 'provider id or alias (see `pgcerts list`)')
    .option('--json', 'print one JSON document')
    .addHelpText('after', examples(['pgcerts show rds', 'pgcerts show aurora --json']))
    .action(async (name: string, options: { json?: boolean }) => {
      const { runShow } = await import('./show.js');
      result.code = runShow(openRegistry(), name, options);
    });

  program
    .command('lookup')
    .description('find the provider, region and certificate source for a host')
    .argument('[host]', 'host name, host:port, postgres:// URL or libpq key=value string (default: PGHOST and PGPORT)')
    .option('--json', 'print one JSON document')
    .addHelpText('after', examples([
      'pgcerts lookup mydb.cluster-ro-abc123.us-east-2.rds.amazonaws.com',
      'PGHOST=mydb.abc123xyz.eu-west-1.rds.amazonaws.com pgcerts lookup',
      'pgcerts lookup "host=mydb.postgres.database.azure.com port=5432 dbname=app"',
      'pgcerts lookup "postgresql://u@h1.example:5432,ep-x-123.us-east-2.aws.neon.tech/db" --json',
    ]))
    .action(async (input: string | undefined, options: { json?: boolean }) => {
      result.code = await runHotCommand('lookup', input, options);
    });

  program
    .command('fetch')
    .description('download, validate and cache the CA bundle of providers; print its path')
    .argument('[provider...]', 'provider ids or aliases (see `pgcerts list`)')
    .option('--host <host>', "account CAs (aiven, cloudsql, cockroachdb, crunchy-bridge, digitalocean): fetch the CA of the cluster or instance serving this host through the provider's API")
    .option('--instance <name>', 'cloudsql: fetch the server CAs of the instance PROJECT:REGION:INSTANCE (its connection name)')
    .option('--cluster <name>', 'alloydb: the cluster projects/PROJECT/locations/REGION/clusters/CLUSTER; digitalocean: the cluster uuid (for a CNAME host)')
    .option('--project <name>', 'aiven: fetch the CA of this project (for a host the API cannot be searched for)')
    .option('--region <region>', 'the per-region bundle (RDS: eu-west-1, us-gov-west-1, cn-north-1, ...)')
    .option('--trust <id>', 'another trust entry of the provider (see `pgcerts show <provider>`)')
    .option('--all', 'every provider with a downloadable bundle')
    .option('--out <file>', 'also write the bundle to this file (atomically)')
    .option('--pem', 'print the PEM instead of the path')
    .option('--format <format>', 'path (default), pem, base64 (one line, for environment variables), k8s-secret, k8s-configmap (manifests for kubectl apply), pkcs12 (a Java truststore; binary: use --out)')
    .option('--name <name>', 'k8s-secret, k8s-configmap: metadata.name (default pgcerts-<provider>)')
    .option('--namespace <namespace>', 'k8s-secret, k8s-configmap: metadata.namespace')
    .option('--key <key>', 'k8s-secret, k8s-configmap: the data key holding the PEM (default ca.pem)')
    .option('--password-file <file>', 'pkcs12: the store password is the first line of this file (default PGCERTS_TRUSTSTORE_PASSWORD, else changeit)')
    .option('--force', 'download again even if the cached copy is current')
    .option('--offline', "no network: build the bundle from the roots shipped with pgcerts (public-CA providers: else Node's root store)")
    .option('--strict', 'accept pinned certificates only')
    .option('--keep-expired', 'keep expired certificates in the bundle')
    .option('--timeout <seconds>', 'give up on one download after this long (default 60)')
    .option('--retries <n>', 'extra attempts after 5xx answers, resets and timeouts (default 3)')
    .option('--quiet', 'print nothing on success but warnings (for cron); errors still go to stderr')
    .option('--json', 'print one JSON document')
    .addHelpText('after', examples([
      'pgcerts fetch rds',
      'pgcerts fetch rds --quiet   # in cron: mail only when something needs a look',
      'pgcerts fetch rds --region eu-west-1 --out /etc/ssl/rds.pem',
      'pgcerts fetch azure neon --json',
      'pgcerts fetch --all',
      'DIGITALOCEAN_ACCESS_TOKEN=... pgcerts fetch digitalocean --host db-pg-nyc3-1-do-user-1-0.b.db.ondigitalocean.com',
      'pgcerts fetch cloudsql --instance my-project:europe-west1:orders   # with gcloud signed in',
      'pgcerts fetch alloydb --cluster projects/my-project/locations/us-central1/clusters/main',
      'PGCERTS_MIRROR=https://mirror.internal/pgcerts pgcerts fetch rds',
      'pgcerts fetch rds --region eu-west-1 --format k8s-configmap --name rds-ca | kubectl apply -f -',
      'pgcerts fetch rds --format pkcs12 --out truststore.p12',
    ]))
    .action(async (names: string[], flags: FetchFlags) => {
      const { runFetch } = await import('./fetch.js');
      result.code = await runFetch(openRegistry(), names, flags, { ...baseOptions(), shownWarnings });
    });

  program
    .command('sslrootcert')
    .description('print the path of the right CA bundle for a host, fetching it when missing or stale')
    .argument('[host]', 'host name, postgres:// URL or libpq key=value string (default: PGHOST)')
    .option('--offline', 'never download: a fresh cache or the roots shipped with pgcerts, else fail')
    .option('--timeout <seconds>', 'give up on a download after this long (default 60)')
    .option('--format <format>', 'path (default), pem, base64 (one line, for environment variables), k8s-secret, k8s-configmap (manifests for kubectl apply), pkcs12 (a Java truststore; binary: use --out)')
    .option('--name <name>', 'k8s-secret, k8s-configmap: metadata.name (default pgcerts-<provider>)')
    .option('--namespace <namespace>', 'k8s-secret, k8s-configmap: metadata.namespace')
    .option('--key <key>', 'k8s-secret, k8s-configmap: the data key holding the PEM (default ca.pem)')
    .option('--password-file <file>', 'pkcs12: the store password is the first line of this file (default PGCERTS_TRUSTSTORE_PASSWORD, else changeit)')
    .option('--out <file>', 'write the bundle (in --format, PEM for path) to this file atomically and print its path')
    .option('--json', 'print one JSON document')
    .addHelpText('after', examples([
      'PGSSLROOTCERT=$(pgcerts sslrootcert "$PGHOST")',
      'pgcerts sslrootcert "$PGHOST" --format k8s-secret --namespace app | kubectl apply -f -',
      'pgcerts sslrootcert "$PGHOST" --format pkcs12 --out truststore.p12 --password-file ./store-pass',
      'PGSSLROOTCERT_BASE64=$(pgcerts sslrootcert "$PGHOST" --format base64)',
      'PGSSLROOTCERT=$(pgcerts sslrootcert)   # PGHOST already set, as for psql',
      'psql "host=$PGHOST sslmode=verify-full sslrootcert=$(pgcerts sslrootcert $PGHOST)"',
    ]))
    .action(async (input: string | undefined, flags: import('./context.js').HotFlags) => {
      result.code = await runHotCommand('sslrootcert', input, flags);
    });

  program
    .command('env')
    .description('print PGSSLMODE and PGSSLROOTCERT for a host, for eval')
    .argument('[host]', 'host name, postgres:// URL or libpq key=value string (default: PGHOST)')
    .option('--offline', 'never download: a fresh cache or the roots shipped with pgcerts, else fail')
    .option('--timeout <seconds>', 'give up on a download after this long (default 60)')
    .option('--json', 'print one JSON document')
    .addHelpText('after', examples(['eval "$(pgcerts env "$PGHOST")"', 'eval "$(pgcerts env)"   # PGHOST already set']))
    .action(async (input: string | undefined, flags: import('./context.js').HotFlags) => {
      result.code = await runHotCommand('env', input, flags);
    });

  program
    .command('url')
    .description('print the connection string with sslmode=verify-full and the right sslrootcert')
    .argument('[connection]', 'postgres:// URL or libpq key=value string (default: DATABASE_URL)')
    .option('--offline', 'never download: a fresh cache or the roots shipped with pgcerts, else fail')
    .option('--timeout <seconds>', 'give up on a download after this long (default 60)')
    .option('--json', 'print one JSON document')
    .addHelpText('after', examples(['DATABASE_URL=$(pgcerts url "$DATABASE_URL")', 'DATABASE_URL=$(pgcerts url)   # reads DATABASE_URL']))
    .action(async (input: string | undefined, flags: import('./context.js').HotFlags) => {
      result.code = await runHotCommand('url', input, flags);
    });

  program
    .command('import')
    .description("validate a CA file you downloaded (account CAs, dashboards) and use it for the provider or one host")
    .argument('<provider>', 'provider id or alias')
    .argument('[file]', 'PEM, DER or PKCS#7 file (not with --remove)')
    .option('--host <host>', 'use the file only for this host')
    .option('--trust <id>', 'the trust entry it belongs to (see `pgcerts show <provider>`)')
    .option('--remove', 'remove the file imported for the provider (or --host), so its own source serves again')
    .option('--json', 'print one JSON document')
    .addHelpText('after', examples([
      'pgcerts import supabase prod-ca-2021.crt',
      'pgcerts import digitalocean ca-certificate.crt --host db-pg-nyc3-1-do-user-1-0.b.db.ondigitalocean.com',
      'pgcerts import rds --remove',
    ]))
    .action(async (name: string, file: string | undefined, flags: { host?: string; trust?: string; json?: boolean; remove?: boolean }) => {
      const { PgcertsError } = await import('../errors.js');
      if (flags.remove && file !== undefined) throw new PgcertsError('USAGE', '--remove takes no file: `pgcerts import <provider> --remove [--host H]`.');
      if (!flags.remove && file === undefined) throw new PgcertsError('USAGE', 'Give the CA file to import (`pgcerts import <provider> <file>`), or --remove to drop an imported one.');
      const { runImport, runRemoveImport } = await import('./import.js');
      result.code = flags.remove
        ? await runRemoveImport(openRegistry(), name, flags, baseOptions())
        : await runImport(openRegistry(), name, file as string, flags, baseOptions());
    });

  program
    .command('credentials')
    .description('show which API token pgcerts would use for each provider whose account CAs it can fetch (never the token)')
    .option('--json', 'print one JSON document')
    .addHelpText('after', examples(['pgcerts credentials', 'pgcerts credentials --json | jq -r ".providers[] | select(.variable) | .provider"']))
    .action(async (flags: { json?: boolean }) => {
      const { runCredentials } = await import('./credentials.js');
      result.code = await runCredentials(flags);
    });

  program
    .command('probe')
    .description('connect to a server and check its certificate chain against the right bundle (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)')
    .argument('[host]', 'host name or address, with :port when not 5432 (default: PGHOST and PGPORT)')
    .option('--hostaddr <ip>', 'connect to this address, still verifying <host> (libpq hostaddr; default PGHOSTADDR)')
    .option('--provider <id>', "use this provider's bundle when the host name does not name it (an IP address, an alias)")
    .option('--sslrootcert <file>', 'verify against this CA file instead of the registry bundle (default PGSSLROOTCERT)')
    .option('--direct', 'PostgreSQL 17+ direct TLS (sslnegotiation=direct, ALPN postgresql)')
    .option('--timeout <seconds>', 'give up after this long (default 10)')
    .option('--warn-days <days>', 'WARNING when a certificate on the chain expires within this many days (default 30)')
    .option('--critical-days <days>', 'CRITICAL when a certificate on the chain expires within this many days (default 14)')
    .option('--json', 'print one JSON document')
    .addHelpText('after', examples([
      'pgcerts probe mydb.abc123xyz.eu-west-1.rds.amazonaws.com',
      'pgcerts probe db.example.internal:6432 --sslrootcert /etc/ssl/pg-ca.pem',
      'pgcerts probe mydb.abc123xyz.eu-west-1.rds.amazonaws.com --hostaddr 10.0.3.17 --warn-days 60',
      'pgcerts probe 10.0.3.17 --provider rds --json',
      'pgcerts probe ep-cool-name-123456.us-east-2.aws.neon.tech --direct',
    ]) + '\nExit codes (monitoring convention): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; usage errors are 3.\n')
    // A check: a bad command line gives no verdict, so it is UNKNOWN (3), not 2 (which reads as CRITICAL).
    .exitOverride((error) => {
      throw error.exitCode === 0 ? error : new CommanderError(3, error.code, error.message);
    })
    .action(async (target: string | undefined, flags: import('./probe.js').ProbeFlags) => {
      const { runProbe } = await import('./probe.js');
      result.code = await runProbe(target, flags);
    });

  program
    .command('check')
    .description('check cached bundles, CA files and live servers for expiring, expired and retired certificates (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)')
    .argument('[provider...]', 'check the cached bundles of these providers (default: every cached bundle, unless --file or --host is given)')
    .option('--all', 'every cached bundle, and every downloadable provider (as `fetch --all`); one not cached is UNKNOWN')
    .option('--host <host[:port]>', 'probe this server (repeatable)', (value: string, previous: string[] = []) => [...previous, value])
    .option('--hosts-file <file>', 'probe every server listed in this file: one host[:port] per line, # comments')
    .option('--concurrency <n>', 'probes in flight at once (default 64); each timeout starts when its connection does')
    .option('--workers <n>', 'spread the probes over this many threads (default 1), for machines with cores to spare')
    .option('--hostaddr <ip>', 'connect to this address for each --host, still verifying its name')
    .option('--sslrootcert <file>', 'verify --host servers against this CA file instead of the registry bundle')
    .option('--file <file>', 'check this CA file, e.g. the sslrootcert an application ships (repeatable)', (value: string, previous: string[] = []) => [...previous, value])
    .option('--warn-days <days>', 'WARNING when a certificate expires within this many days (default 30)')
    .option('--critical-days <days>', 'CRITICAL when a certificate expires within this many days (default 14)')
    .option('--max-registry-age-days <days>', 'WARNING when the registry data is older than this (default 180; PGCERTS_NO_REGISTRY_AGE_WARNING=1 turns it off)')
    .option('--refresh', 'ask each cached bundle\'s source whether it changed (conditional request; the cache is not modified)')
    .option('--problems-only', 'text report: only rows that are not OK, and no output at all when everything is OK (cron)')
    .option('--wide', 'text report: one line per certificate with a TARGET column (for grep and awk) instead of the compact table')
    .option('--timeout <seconds>', 'give up on one probe or download after this long (default 10 for probes)')
    .option('--format <format>', 'text, json or prometheus (default text)')
    .option('--json', 'the same as --format json')
    .option('--output <file>', 'write the report to this file atomically instead of stdout (textfile collector)')
    .addHelpText('after', examples([
      'pgcerts check',
      'pgcerts check rds --warn-days 60 --critical-days 21',
      'pgcerts check --file ./certs/global-bundle.pem --file /etc/ssl/app-ca.pem',
      'pgcerts check --host mydb.abc123xyz.eu-west-1.rds.amazonaws.com --host db.example.internal:6432',
      'pgcerts check --hosts-file /etc/pgcerts/hosts.txt --concurrency 100 --format prometheus',
      'pgcerts check --all --refresh --json | jq \'.certificates[] | select(.status != "OK")\'',
      'pgcerts check --format prometheus --output /var/lib/node_exporter/textfile_collector/pgcerts.prom',
    ]) + '\nExit codes (monitoring convention): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; usage errors are 3.\n')
    // A check, like probe: a bad command line gives no verdict, so it is UNKNOWN (3).
    .exitOverride((error) => {
      throw error.exitCode === 0 ? error : new CommanderError(3, error.code, error.message);
    })
    .action(async (providers: string[], flags: import('./check.js').CheckFlags) => {
      const { runCheck } = await import('./check.js');
      result.code = await runCheck(providers, flags);
    });

  program
    .command('serve')
    .description('run a Prometheus exporter: /probe?target=host[:port] checks one server per scrape, /metrics the cached bundles and CA files')
    .argument('[provider...]', '/metrics: these providers\' cached bundles (default: every cached bundle)')
    .option('--listen <[host:]port>', 'the address to listen on (default 127.0.0.1:9543)')
    .option('--sslrootcert <file>', 'verify targets the registry does not know against this CA file')
    .option('--file <file>', '/metrics: also check this CA file (repeatable)', (value: string, previous: string[] = []) => [...previous, value])
    .option('--all', '/metrics: every cached bundle and every downloadable provider, as `check --all`')
    .option('--concurrency <n>', 'probes in flight at once (default 64); a scrape waiting longer than its timeout gets probe_success 0')
    .option('--min-interval <seconds>', 'reuse a target\'s result for this long, so several Prometheus servers do not multiply probes (default 30; 0 probes on every scrape)')
    .option('--timeout <seconds>', 'the longest a probe may take (default 10); a shorter scrape timeout shortens it')
    .option('--warn-days <days>', 'WARNING when a certificate expires within this many days (default 30)')
    .option('--critical-days <days>', 'CRITICAL when a certificate expires within this many days (default 14)')
    .option('--max-registry-age-days <days>', '/metrics: WARNING when the registry data is older than this (default 180)')
    .option('--print-alert-rules', 'print Prometheus alerting rules for pgcerts\' metrics and exit')
    .addHelpText('after', examples([
      'pgcerts serve',
      'pgcerts serve --listen 0.0.0.0:9543 --sslrootcert /etc/ssl/internal-pg-ca.pem',
      'curl "http://127.0.0.1:9543/probe?target=mydb.abc123xyz.eu-west-1.rds.amazonaws.com:5432"',
      'curl "http://127.0.0.1:9543/probe?target=10.0.3.17&provider=rds"',
      'pgcerts serve --print-alert-rules > /etc/prometheus/rules/pgcerts.yml',
    ]) + '\nExit codes: 0 stopped by SIGTERM or SIGINT, 1 cannot listen or use --sslrootcert, 2 usage error.\n')
    .action(async (providers: string[], flags: import('./serve.js').ServeFlags) => {
      const { runServe } = await import('./serve.js');
      result.code = await runServe(providers, flags);
    });

  program
    .command('doctor')
    .description('explain what a connection string does under libpq and node-postgres, flag problems, print the fixed string')
    .argument('[connection]', 'postgres:// URL or libpq key=value string (default: DATABASE_URL)')
    .option('--json', 'print one JSON document')
    .option('--show-password', 'keep the password in the fixed string (it is *** otherwise)')
    .option('--cwd <dir>', "resolve relative sslrootcert paths against your application's working directory")
    .option('--no-env', 'ignore PGSSLMODE, PGSSLROOTCERT and the other variables of this shell')
    .option('--resolve', 'look up CNAMEs of hosts no provider claims (DNS queries)')
    .option('--offline', "public-CA providers: build the bundle from Node's root store instead of downloading")
    .option('--driver <name>', 'judge the string as this driver reads it and print its fixed string: libpq (psql, psycopg, Ruby pg), node-postgres, pgjdbc, asyncpg, pgx, prisma')
    .addHelpText('after', examples([
      'pgcerts doctor "$DATABASE_URL"',
      'pgcerts doctor "$DATABASE_URL" --driver asyncpg',
      'pgcerts doctor "jdbc:postgresql://mydb.abc123xyz.eu-west-1.rds.amazonaws.com/app?sslmode=require" --driver pgjdbc',
      'pgcerts doctor "host=mydb.abc123xyz.eu-west-1.rds.amazonaws.com dbname=app sslmode=require"',
      'DATABASE_URL=$(pgcerts doctor "$DATABASE_URL" --show-password)',
      'pgcerts doctor "$DATABASE_URL" --json | jq ".findings[].code"',
      'pgcerts doctor "postgres://app@db.example.com/app" --resolve',
    ]) + '\nThe report goes to stderr, the fixed string alone to stdout.\nExit codes: 0 nothing worse than info, 1 warnings or errors (or a failure), 2 usage error.\n')
    .action(async (input: string | undefined, flags: import('./doctor.js').DoctorFlags) => {
      const { runDoctor } = await import('./doctor.js');
      result.code = await runDoctor(openRegistry(), input, flags, baseOptions());
    });

  program
    .command('pgbouncer')
    .description('print the [databases] entry and the [pgbouncer] settings that make PgBouncer verify the database server (server_tls_sslmode, server_tls_ca_file)')
    .argument('<host>', 'the database server: host name, host:port, postgres:// URL or libpq key=value string')
    .option('--sslrootcert <file>', "use this CA file instead of the registry's bundle (your own server, a name the registry does not know)")
    .option('--dbname <name>', 'the database on the server (default: the URL\'s; none: every database, a * entry)')
    .option('--alias <name>', 'the database name clients give PgBouncer (default: --dbname, else *)')
    .option('--port <port>', "the server's port (default: the input's, else 5432)")
    .option('--offline', "public-CA providers: build the bundle from Node's root store instead of downloading")
    .option('--timeout <seconds>', 'give up on a download after this long (default 60)')
    .option('--json', 'print one JSON document')
    .addHelpText('after', examples([
      'pgcerts pgbouncer mydb.abc123xyz.eu-west-1.rds.amazonaws.com --dbname app >> /etc/pgbouncer/pgbouncer.ini',
      'pgcerts pgbouncer "$DATABASE_URL"',
      'pgcerts pgbouncer db.internal.example:6543 --sslrootcert /etc/ssl/internal-ca.pem --dbname app',
    ]) + '\nThe settings go to stdout; notes on the clients\' side of PgBouncer go to stderr.\n')
    .action(async (input: string, flags: import('./pgbouncer.js').PgbouncerFlags) => {
      const { runPgbouncer } = await import('./pgbouncer.js');
      result.code = await runPgbouncer(openRegistry(), input, flags, baseOptions());
    });

  program
    .command('mirror')
    .description('write every source, validated, as <dir>/<host>/<path> plus registry.json: a static HTTPS server rooted at <dir> serves it as PGCERTS_MIRROR')
    .argument('<dir>', 'the mirror directory (created if missing; files in it are replaced atomically)')
    .argument('[provider...]', 'provider ids or aliases (default: every provider with a source)')
    .option('--offline', 'no network: build the files from the roots shipped with pgcerts')
    .option('--timeout <seconds>', 'give up on a download after this long (default 60)')
    .option('--retries <n>', 'retries per download on 5xx, 429, resets and timeouts (default 2)')
    .option('--json', 'print one JSON document')
    .addHelpText('after', examples([
      'pgcerts mirror /srv/pgcerts-mirror',
      'pgcerts mirror /srv/pgcerts-mirror rds redshift --offline',
      'PGCERTS_MIRROR=https://certs.internal.example/ pgcerts fetch --all   # on the fleet',
    ]) + '\nExit codes: 0 every source written, 1 a source failed (the others are written), 2 usage error.\n')
    .action(async (dir: string, names: string[], flags: import('./mirror.js').MirrorFlags) => {
      const { runMirror } = await import('./mirror.js');
      result.code = await runMirror(openRegistry(), dir, names, flags);
    });

  program
    .command('completion')
    .description('print a shell completion script for bash or zsh (commands, options, provider ids)')
    .argument('<shell>', 'bash or zsh')
    .addHelpText('after', examples([
      'pgcerts completion bash > /etc/bash_completion.d/pgcerts',
      'echo \'eval "$(pgcerts completion zsh)"\' >> ~/.zshrc',
    ]))
    .action(async (shell: string) => {
      const { completionScript } = await import('./completion.js');
      const { out } = await import('./output.js');
      out(completionScript(shell, program, openRegistry()).trimEnd());
    });

  return program;
}

/** Run the CLI with these arguments (without `node` and the script) and return the exit code. */
export async function run(argv: string[]): Promise<number> {
  const result = { code: EXIT.ok as number };
  const program = buildProgram(result, argv);
  try {
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return EXIT.usage;
    }
    await program.parseAsync(argv, { from: 'user' });
    return result.code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are successes; everything else commander rejects is a usage error.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return EXIT.ok;
      // Checks (probe, check) rethrow their usage errors with exit code 3, UNKNOWN.
      const exitCode = error.exitCode === 3 ? 3 : EXIT.usage;
      const { PgcertsError } = await import('../errors.js');
      outJsonError(new PgcertsError('USAGE', `${oneLine(error.message)}. ${helpPointer(argv, program)}`), exitCode);
      return exitCode;
    }
    return reportError(error);
  }
}
