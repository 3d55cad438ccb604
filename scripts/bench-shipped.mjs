#!/usr/bin/env node
// `pgcerts sslrootcert` served from the roots shipped with pgcerts, with an empty cache (issue 13),
// as a ratio to `node -e 0` in the same run: in this machine's environment and with bare Node (no
// NODE_EXTRA_CA_CERTS). Each run gets a new, empty cache directory; PGCERTS_MIRROR points at a
// closed local port, so a download would fail the run instead of being timed.
//   npm run build && node scripts/bench-shipped.mjs --runs 40
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(root, 'dist', 'pgcerts.cjs');
const i = process.argv.indexOf('--runs');
const RUNS = i < 0 ? 40 : Number(process.argv[i + 1]);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const work = mkdtempSync(join(tmpdir(), 'pgcerts-bench-shipped-'));
const HOSTS = {
  rds: 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com',
  gov: 'test-postgres-instance-1.123456789012.us-gov-west-1.rds.amazonaws.com',
  supabase: 'db.abcdefghijklmnop.supabase.co',
};

let counter = 0;
function runOnce(args, env, { emptyCache }) {
  const cacheDir = emptyCache ? join(work, `cache-${counter++}`) : join(work, 'warm');
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { env: { ...env, PGCERTS_CACHE_DIR: cacheDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code !== 0) reject(new Error(`${args.join(' ')} exited ${code}: ${out}`));
      else resolve(ms);
    });
  });
}

/** Interleaved runs (A, B, C, A, B, C, ...) so every command sees the same load; medians. */
async function compare(commands, env) {
  const times = commands.map(() => []);
  for (let run = 0; run < RUNS; run++) {
    for (const [index, command] of commands.entries()) times[index].push(await runOnce(command.args, env, command));
  }
  return times.map(median);
}

const machineEnv = { ...process.env, PGCERTS_MIRROR: 'https://127.0.0.1:9/', NO_COLOR: '1' };
delete machineEnv.PGCERTS_NO_SHIPPED_ROOTS;
const { NODE_EXTRA_CA_CERTS: extra, ...bareEnv } = machineEnv;
await runOnce([BIN, 'sslrootcert', HOSTS.rds], machineEnv, { emptyCache: false }); // the warm cache
const commands = [
  { args: ['-e', '0'], emptyCache: true },
  { args: [BIN, 'sslrootcert', HOSTS.rds], emptyCache: true },
  { args: [BIN, 'sslrootcert', HOSTS.gov], emptyCache: true },
  { args: [BIN, 'sslrootcert', HOSTS.supabase], emptyCache: true },
  { args: [BIN, 'sslrootcert', HOSTS.rds], emptyCache: false },
];
const rows = [];
for (const [label, env] of [[`machine environment${extra ? ` (NODE_EXTRA_CA_CERTS=${extra})` : ''}`, machineEnv], ['bare Node, no NODE_EXTRA_CA_CERTS', bareEnv]]) {
  const [node, rds, gov, supabase, warm] = await compare(commands, env);
  rows.push([`\`node -e 0\`, ${label} (baseline)`, node, 1]);
  rows.push([`\`pgcerts sslrootcert ${HOSTS.rds}\`, empty cache: the shipped roots`, rds, rds / node]);
  rows.push([`the same for a GovCloud host (\`us-gov-west-1\`, roots and intermediates)`, gov, gov / node]);
  rows.push([`the same for a Supabase host (the shipped Supabase root)`, supabase, supabase / node]);
  rows.push([`\`pgcerts sslrootcert ${HOSTS.rds}\`, fresh cache (for comparison)`, warm, warm / node]);
}
rmSync(work, { recursive: true, force: true });
process.stdout.write(`Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; median of ${RUNS} interleaved runs.\n\n`);
process.stdout.write('| measurement | value | ratio |\n|---|---|---|\n');
for (const [label, ms, ratio] of rows) process.stdout.write(`| ${label} | ${ms.toFixed(1)} ms | ${ratio.toFixed(2)} |\n`);
