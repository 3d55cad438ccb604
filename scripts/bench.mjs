#!/usr/bin/env node
// Benchmarks for BENCHMARKS.md. Every figure is a ratio to a baseline measured in the same run.
//   npm run bench            (builds first)
//   node scripts/bench.mjs --runs 40 --seconds 1
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getPublicSuffix } from 'tldts';
import { lookupHost } from '../dist/lookup.js';
import { getBundledRegistry } from '../dist/registry.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
};
const RUNS = arg('--runs', 30);
const SECONDS = arg('--seconds', 1);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function timeCommand(args) {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'ignore'] });
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Interleave the commands so both see the same machine load; report medians in ms. */
function compareCommands(commands) {
  const samples = commands.map(() => []);
  for (const c of commands) timeCommand(c.args); // warm the file cache
  for (let run = 0; run < RUNS; run++) commands.forEach((c, i) => samples[i].push(timeCommand(c.args)));
  return samples.map(median);
}

function opsPerSecond(fn, hosts) {
  let rounds = [];
  for (let r = 0; r < 5; r++) {
    let ops = 0;
    const end = performance.now() + (SECONDS * 1000) / 5;
    let start = performance.now();
    while (performance.now() < end) {
      for (const host of hosts) fn(host);
      ops += hosts.length;
    }
    rounds.push(ops / ((performance.now() - start) / 1000));
  }
  return median(rounds);
}

const registry = getBundledRegistry();
const examples = registry.providers.flatMap((p) => p.hosts.flatMap((h) => h.examples));
const others = ['db.example.com', 'api.github.com', 'www.google.co.uk', 'mail.example.org', 'rds.amazonaws.com.evil.example',
  'evilrds.amazonaws.com', 'foo.bar.baz.example.net', 'my-db.internal.corp.example.com'];
const hosts = [...examples, ...examples.map((h) => h.toUpperCase()), ...others];

const rdsHost = process.env.BENCH_HOST ?? 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
const [nodeMs, lookupMs] = compareCommands([
  { args: ['-e', '0'] },
  { args: ['dist/cli/main.js', 'lookup', rdsHost] },
]);

// Warm both JITs before measuring.
opsPerSecond((h) => lookupHost({ host: h }), hosts);
opsPerSecond((h) => getPublicSuffix(h), hosts);
const ours = opsPerSecond((h) => lookupHost({ host: h }), hosts);
const tldts = opsPerSecond((h) => getPublicSuffix(h), hosts);

const rows = [
  ['`node -e 0` (baseline)', `${nodeMs.toFixed(1)} ms`, '1.00', ''],
  [`\`pgcerts lookup ${rdsHost}\``, `${lookupMs.toFixed(1)} ms`, (lookupMs / nodeMs).toFixed(2), 'at most 1.3'],
  ['tldts `getPublicSuffix` (baseline)', `${Math.round(tldts).toLocaleString('en')} hosts/s`, '1.00', ''],
  ['`lookupHost` (normalise, match, describe)', `${Math.round(ours).toLocaleString('en')} hosts/s`, (ours / tldts).toFixed(2), 'at least 2'],
];
process.stdout.write(`Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; ${RUNS} interleaved runs per command (median); ${hosts.length} host names, ${SECONDS}s per measurement (median of 5 slices).\n\n`);
process.stdout.write('| measurement | value | ratio | target |\n|---|---|---|---|\n');
for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`);
