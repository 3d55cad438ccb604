import { createRequire } from 'node:module';
import { getBundledRegistry, loadRegistry, type Registry } from '../registry.js';
import { getPackageVersion } from '../version.js';
import { runList } from './list.js';
import { runLookup } from './lookup.js';
import { EXIT, reportError } from './output.js';
import { runShow } from './show.js';

let opened: Registry | undefined;

/** The registry named by PGCERTS_REGISTRY, else the bundled one; read once per run. */
function openRegistry(): Registry {
  const path = process.env.PGCERTS_REGISTRY;
  opened ??= path ? loadRegistry(path) : getBundledRegistry();
  return opened;
}

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

/** Build the commander program; each action stores its exit code in `result.code`. */
function buildProgram(result: { code: number }): Command {
  const program = new Command('pgcerts')
    .description('The right sslrootcert for managed PostgreSQL, so sslmode=verify-full just works.')
    .version(versionLine(), '-V, --version', 'print the pgcerts and registry versions')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeErr: (text) => process.stderr.write(text),
      outputError: (text, write) => write(`pgcerts: ${text.replace(/^error: /, '').trimEnd()}. Run \`pgcerts --help\` for usage.\n`),
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
    .action((options: { json?: boolean }) => {
      result.code = runList(openRegistry(), options);
    });

  program
    .command('show')
    .description('show what the registry knows about one provider')
    .argument('<provider>', 'provider id or alias (see `pgcerts list`)')
    .option('--json', 'print one JSON document')
    .addHelpText('after', examples(['pgcerts show rds', 'pgcerts show aurora --json']))
    .action((name: string, options: { json?: boolean }) => {
      result.code = runShow(openRegistry(), name, options);
    });

  program
    .command('lookup')
    .description('find the provider, region and certificate source for a host')
    .argument('<host>', 'host name, host:port, postgres:// URL or libpq key=value string')
    .option('--json', 'print one JSON document')
    .addHelpText('after', examples([
      'pgcerts lookup mydb.cluster-ro-abc123.us-east-2.rds.amazonaws.com',
      'pgcerts lookup "host=mydb.postgres.database.azure.com port=5432 dbname=app"',
      'pgcerts lookup "postgresql://u@h1.example:5432,ep-x-123.us-east-2.aws.neon.tech/db" --json',
    ]))
    .action((input: string, options: { json?: boolean }) => {
      result.code = runLookup(openRegistry(), input, options);
    });

  return program;
}

/** Run the CLI with these arguments (without `node` and the script) and return the exit code. */
export async function run(argv: string[]): Promise<number> {
  const result = { code: EXIT.ok as number };
  try {
    const program = buildProgram(result);
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
      return EXIT.usage;
    }
    return reportError(error);
  }
}
