#!/usr/bin/env node
import { HOT_COMMANDS, baseOptions, openRegistry, runHotCommand, shownWarnings, type HotCommand } from './context.js';
import { createRequire } from 'node:module';
import { onHttpClientLoad } from '../download.js';
import { reportError, reportErrorsAsJson } from './output.js';

// V8 compiles undici's WebAssembly HTTP parser twice: at once with its baseline compiler, then
// with its optimising one on background threads, which compete with a download's own work for
// the cores and which Node waits for before it exits (0.1 to 0.6 s, more on a busy machine; see
// BENCHMARKS.md). The baseline code parses a CA bundle fast enough. Set only in the CLI's own
// process, and only when a command is about to download.
onHttpClientLoad(() => {
  (createRequire(import.meta.url)('node:v8') as typeof import('node:v8')).setFlagsFromString('--liftoff-only');
});

/**
 * `pgcerts <lookup|sslrootcert|env|url> <input> [--json]` and nothing else: read here without
 * loading commander, which costs more start-up time than the whole command. Every other form
 * (help, other flags, usage errors) goes to the commander program, which accepts these forms
 * the same way; the CLI tests run both paths (PGCERTS_CLI_FAST_PATH=0 turns this one off).
 */
function parseHotCommand(argv: string[]): { command: HotCommand; input: string | undefined; json: boolean } | undefined {
  if (process.env.PGCERTS_CLI_FAST_PATH === '0') return undefined;
  const [command, ...rest] = argv;
  if (!(HOT_COMMANDS as readonly string[]).includes(command ?? '')) return undefined;
  const inputs = rest.filter((arg) => arg !== '--json');
  const json = rest.length - inputs.length;
  const input = inputs[0];
  // No input: PGHOST or DATABASE_URL (see defaults.ts), as the commander program reads it too.
  if (inputs.length > 1 || json > 1 || input?.startsWith('-')) return undefined;
  return { command: command as HotCommand, input, json: json === 1 };
}

async function main(argv: string[]): Promise<number> {
  // `--json` (or `check --format json`): an error is a JSON document on stdout as well as a line on stderr.
  const formatAt = argv.indexOf('--format');
  if (argv.includes('--json') || (formatAt >= 0 && argv[formatAt + 1] === 'json') || argv.includes('--format=json')) reportErrorsAsJson(true);
  if (process.env.PGCERTS_CLI_FAST_PATH !== '0') {
    // `pgcerts --version`: the bundled registry's version is read from the head of its file, not
    // by parsing 200 kB of JSON and loading commander (PGCERTS_REGISTRY goes the long way).
    if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V') && !process.env.PGCERTS_REGISTRY) {
      const { readBundledRegistryVersion } = await import('../registry.js');
      const registry = readBundledRegistryVersion();
      if (registry !== undefined) {
        const { getPackageVersion } = await import('../version.js');
        const { out } = await import('./output.js');
        out(`pgcerts ${getPackageVersion()} (registry ${registry})`);
        return 0;
      }
    }
    // `pgcerts probe` runs from monitoring agents every minute: its flags are read without commander too.
    if (argv[0] === 'probe') {
      const { parseProbeArgv, runProbe } = await import('./probe.js');
      const parsed = parseProbeArgv(argv.slice(1));
      if (parsed) return runProbe(parsed.target, parsed.flags);
    }
  }
  // `pgcerts check` runs from cron over cached files: read its flags without commander too.
  if (argv[0] === 'check' && process.env.PGCERTS_CLI_FAST_PATH !== '0') {
    const { parseCheckArgv, runCheck } = await import('./check.js');
    const parsed = parseCheckArgv(argv.slice(1));
    if (parsed) return runCheck(parsed.providers, parsed.flags);
  }
  // `pgcerts fetch --all` runs in image builds and cron jobs: its flags are read without commander too.
  if (argv[0] === 'fetch' && process.env.PGCERTS_CLI_FAST_PATH !== '0') {
    const { parseFetchArgv, runFetch } = await import('./fetch.js');
    const parsed = parseFetchArgv(argv.slice(1));
    if (parsed) {
      try {
        return await runFetch(openRegistry(), parsed.names, parsed.flags, { ...baseOptions(), shownWarnings });
      } catch (error) {
        return reportError(error);
      }
    }
  }
  const hot = parseHotCommand(argv);
  if (!hot) {
    const { run } = await import('./program.js');
    return run(argv);
  }
  try {
    return await runHotCommand(hot.command, hot.input, { json: hot.json });
  } catch (error) {
    return reportError(error);
  }
}

// No top-level await: this file is also bundled as CommonJS (dist/pgcerts.cjs, see package.json).
void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
