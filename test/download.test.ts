import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { applyMirror, download, downloadAll, type DownloadOptions } from '../src/download.js';
import { DownloadError } from '../src/errors.js';
import { getPackageVersion } from '../src/version.js';
import {
  sleep,
  startConnectProxy,
  startHttpsServer,
  startSilentServer,
  type RouteHandler,
  type TestHttpsServer,
} from './helpers/https-server.js';
import { createCa, createSelfSignedServerCertificate, createServerCertificate } from './helpers/test-ca.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const ROOT = fileURLToPath(new URL('..', import.meta.url));

let server: TestHttpsServer;
const fast = (extra: DownloadOptions = {}): DownloadOptions => ({ ca: server.ca, retryDelayMs: 1, ...extra });

/** Run `fn` expecting a DownloadError, and return it. */
async function rejection(promise: Promise<unknown>): Promise<DownloadError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DownloadError);
  expect((error as DownloadError).code).toBe('DOWNLOAD_FAILED');
  return error as DownloadError;
}

function route(path: string, handler: RouteHandler): string {
  server.routes[path] = handler;
  return server.url(path);
}

function requestsTo(path: string): number {
  return server.requests.filter((r) => r.path === path).length;
}

beforeAll(async () => {
  server = await startHttpsServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(() => {
  server.setDelay(0);
});

describe('download', () => {
  it('returns the body, final URL, ETag and Last-Modified on 200', async () => {
    const url = route('/ok.pem', (_req, res) => {
      res.writeHead(200, { etag: '"v1"', 'last-modified': 'Wed, 01 Jan 2025 00:00:00 GMT', 'content-type': 'application/x-pem-file' });
      res.end(PEM);
    });
    const result = await download(url, fast());
    expect(result).toEqual({
      status: 200,
      url,
      body: Buffer.from(PEM),
      etag: '"v1"',
      lastModified: 'Wed, 01 Jan 2025 00:00:00 GMT',
      bytes: Buffer.byteLength(PEM),
    });
  });

  it('sends User-Agent and Accept headers', async () => {
    const url = route('/headers.pem', (_req, res) => res.end(PEM));
    await download(url, fast());
    const sent = server.requests.filter((r) => r.path === '/headers.pem').at(-1)?.headers;
    expect(sent?.['user-agent']).toBe(`pgcerts/${getPackageVersion()} (+https://github.com/pgcerts/pgcerts)`);
    expect(sent?.['accept']).toBe(
      'application/x-pem-file, application/pkix-cert, application/x-x509-ca-cert, application/pkcs7-mime, */*;q=0.5',
    );
    expect(sent?.['if-none-match']).toBeUndefined();
    await download(url, fast({ userAgent: 'custom/1' }));
    expect(server.requests.filter((r) => r.path === '/headers.pem').at(-1)?.headers['user-agent']).toBe('custom/1');
  });

  it('sends validators and returns 304 without a body', async () => {
    const url = route('/cond.pem', (req, res) => {
      if (req.headers['if-none-match'] === '"v1"') res.writeHead(304, { etag: '"v1"' }).end();
      else res.writeHead(200, { etag: '"v1"' }).end(PEM);
    });
    const result = await download(url, fast({ etag: '"v1"', lastModified: 'Wed, 01 Jan 2025 00:00:00 GMT' }));
    expect(result.status).toBe(304);
    expect(result.body).toBeUndefined();
    expect(result.bytes).toBe(0);
    expect(result.etag).toBe('"v1"');
    const sent = server.requests.filter((r) => r.path === '/cond.pem').at(-1)?.headers;
    expect(sent?.['if-none-match']).toBe('"v1"');
    expect(sent?.['if-modified-since']).toBe('Wed, 01 Jan 2025 00:00:00 GMT');
  });

  it('rejects a 304 to an unconditional request', async () => {
    const url = route('/bogus-304.pem', (_req, res) => res.writeHead(304).end());
    const error = await rejection(download(url, fast()));
    expect(error.status).toBe(304);
    expect(error.message).toContain('without If-None-Match');
    expect(requestsTo('/bogus-304.pem')).toBe(1);
  });

  it('times out connecting to a server that never completes TLS, retrying once', async () => {
    const silent = await startSilentServer();
    try {
      const url = `https://127.0.0.1:${silent.port}/bundle.pem`;
      const error = await rejection(download(url, fast({ connectTimeoutMs: 150, retries: 1 })));
      expect(error.url).toBe(url);
      expect(error.status).toBeUndefined();
      expect(error.message).toContain(`'${url}'`);
      expect(error.message).toContain('timed out connecting');
      expect(error.message).toContain('after 2 attempts');
      expect(silent.connections).toBe(2);
    } finally {
      await silent.close();
    }
  });

  it('retries after a connection reset mid-body, then succeeds', async () => {
    let calls = 0;
    const url = route('/reset.pem', (_req, res) => {
      calls++;
      if (calls === 1) {
        res.writeHead(200, { 'content-length': String(PEM.length * 10) });
        res.write(PEM);
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      res.end(PEM);
    });
    const retries: Array<{ attempt: number; reason: string; url: string }> = [];
    const result = await download(url, fast({ onRetry: (info) => retries.push(info) }));
    expect(result.body?.toString()).toBe(PEM);
    expect(calls).toBe(2);
    expect(retries).toHaveLength(1);
    expect(retries[0]?.attempt).toBe(2);
    expect(retries[0]?.url).toBe(url);
    expect(retries[0]?.reason).toContain('connection reset');
  });

  it('retries 5xx and 429 with back-off, then succeeds', async () => {
    let calls = 0;
    const url = route('/flaky.pem', (_req, res) => {
      calls++;
      if (calls === 1) res.writeHead(503).end('busy');
      else if (calls === 2) res.writeHead(429, { 'retry-after': '0' }).end();
      else res.end(PEM);
    });
    const delays: number[] = [];
    const result = await download(url, fast({ retryDelayMs: 5, onRetry: ({ delayMs }) => delays.push(delayMs) }));
    expect(result.status).toBe(200);
    expect(calls).toBe(3);
    expect(delays).toHaveLength(2);
    // Base 5 ms, doubled per attempt, jitter x0.5-1.5.
    expect(delays[0]).toBeGreaterThanOrEqual(2);
    expect(delays[0]).toBeLessThanOrEqual(8);
    expect(delays[1]).toBeGreaterThanOrEqual(5);
    expect(delays[1]).toBeLessThanOrEqual(15);
  });

  it('gives up on a persistent 5xx after the configured retries', async () => {
    const url = route('/down.pem', (_req, res) => res.writeHead(502).end());
    const error = await rejection(download(url, fast({ retries: 2 })));
    expect(error.status).toBe(502);
    expect(error.url).toBe(url);
    expect(error.message).toContain('server answered 502 Bad Gateway (after 3 attempts)');
    expect(requestsTo('/down.pem')).toBe(3);
  });

  it('does not wait for a long Retry-After', async () => {
    const url = route('/later.pem', (_req, res) => res.writeHead(503, { 'retry-after': '3600' }).end());
    const error = await rejection(download(url, fast()));
    expect(error.status).toBe(503);
    expect(error.message).toContain('asked to retry after 3600 s');
    expect(requestsTo('/later.pem')).toBe(1);
  });

  it('does not retry a 404', async () => {
    const url = server.url('/missing.pem');
    const error = await rejection(download(url, fast()));
    expect(error.status).toBe(404);
    expect(error.url).toBe(url);
    expect(error.message).toContain(`'${url}'`);
    expect(error.message).toContain('server answered 404 Not Found');
    expect(requestsTo('/missing.pem')).toBe(1);
  });

  it('detects a redirect loop', async () => {
    route('/loop-a', (_req, res) => res.writeHead(302, { location: '/loop-b' }).end());
    const url = route('/loop-b', (_req, res) => res.writeHead(301, { location: server.url('/loop-a') }).end());
    const error = await rejection(download(server.url('/loop-a'), fast()));
    expect(error.message).toContain('redirect loop');
    expect(error.message).toContain(`'${url}'`);
    expect(requestsTo('/loop-a')).toBe(1);
  });

  it('stops after maxRedirects', async () => {
    for (let i = 0; i < 5; i++) route(`/hop${i}`, (_req, res) => res.writeHead(307, { location: `/hop${i + 1}` }).end());
    const error = await rejection(download(server.url('/hop0'), fast({ maxRedirects: 2 })));
    expect(error.message).toContain('more than 2 redirects');
    expect(error.message).toContain(`'${server.url('/hop0')}'`);
    expect(requestsTo('/hop3')).toBe(0);
  });

  it('refuses a redirect to http:', async () => {
    const target = `http://127.0.0.1:${server.port}/plain.pem`;
    const url = route('/to-http', (_req, res) => res.writeHead(301, { location: target }).end());
    const error = await rejection(download(url, fast()));
    expect(error.message).toContain('redirected to http:');
    expect(error.message).toContain(`'${url}'`);
    expect(error.message).toContain(`'${target}'`);
    expect(error.url).toBe(url);
    expect(requestsTo('/to-http')).toBe(1);
  });

  it('refuses a redirect to another host unless the source lists that host', async () => {
    const final = route('/moved/bundle.pem', (_req, res) => res.end(PEM));
    const target = server.localhostUrl('/moved/bundle.pem');
    const url = route('/cross-host', (_req, res) => res.writeHead(302, { location: target }).end());
    const error = await rejection(download(url, fast()));
    expect(error.url).toBe(url);
    expect(error.message).toBe(`'${url}' redirected to '${target}', on another host ("localhost"), which the registry does not list for this source. Report it to the provider or to the pgcerts registry, or serve the file from a mirror (PGCERTS_MIRROR).`);
    expect(requestsTo('/moved/bundle.pem')).toBe(0);
    const allowed = await download(url, fast({ redirectHosts: ['localhost'] }));
    expect(allowed.url).toBe(target);
    expect(allowed.body?.toString()).toBe(PEM);
    expect(final).toBe(server.url('/moved/bundle.pem'));
  });

  it('names a redirect target without the user name and password it carries', async () => {
    const url = route('/cross-host-secret', (_req, res) => res.writeHead(302, { location: `https://mirror-user:s3cr3t-t0ken@localhost:${server.port}/x.pem` }).end());
    const error = await rejection(download(url, fast()));
    expect(error.message).toContain(`@localhost:${server.port}/x.pem'`);
    expect(error.message).not.toContain('s3cr3t-t0ken');
    expect(error.message).not.toContain('mirror-user');
  });

  it('follows a relative redirect against the current URL', async () => {
    route('/dir/old.pem', (_req, res) => res.writeHead(308, { location: '../new/bundle.pem?v=2' }).end());
    const final = route('/new/bundle.pem', (_req, res) => res.end(PEM));
    const result = await download(server.url('/dir/old.pem'), fast());
    expect(result.url).toBe(`${final}?v=2`);
    expect(result.body?.toString()).toBe(PEM);
  });

  it('refuses a body over maxBytes announced by Content-Length', async () => {
    const url = route('/big-declared', (_req, res) => {
      res.writeHead(200, { 'content-length': '2000' });
      res.end(Buffer.alloc(2000, 65));
    });
    const error = await rejection(download(url, fast({ maxBytes: 1000 })));
    expect(error.message).toContain('body larger than 1000 bytes');
    expect(error.message).toContain('Content-Length 2000');
    expect(requestsTo('/big-declared')).toBe(1);
  });

  it('refuses a streamed body over maxBytes', async () => {
    const url = route('/big-chunked', (_req, res) => {
      res.writeHead(200);
      for (let i = 0; i < 5; i++) res.write(Buffer.alloc(400, 65));
      res.end();
    });
    const error = await rejection(download(url, fast({ maxBytes: 1000 })));
    expect(error.message).toContain('body larger than 1000 bytes');
    expect(error.url).toBe(url);
    expect(requestsTo('/big-chunked')).toBe(1);
  });

  it('gives up on a slow trickle after totalTimeoutMs', async () => {
    const url = route('/trickle', (_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => res.write('x'), 20);
      res.on('close', () => clearInterval(timer));
    });
    const started = Date.now();
    const error = await rejection(download(url, fast({ totalTimeoutMs: 300, bodyTimeoutMs: 1000 })));
    // The trickle never ends by itself: only the total deadline can stop this download.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(error.message).toContain('timed out after 300 ms in total');
    expect(error.url).toBe(url);
    // Never retried; on a loaded machine the deadline can pass before the request arrives.
    expect(requestsTo('/trickle')).toBeLessThanOrEqual(1);
  });

  it('times out waiting for data when the body stalls', async () => {
    const url = route('/stall', (_req, res) => {
      res.writeHead(200);
      res.write('partial');
    });
    const error = await rejection(download(url, fast({ bodyTimeoutMs: 150, retries: 0 })));
    expect(error.message).toContain('timed out waiting for data');
    expect(error.url).toBe(url);
  });

  it('stops when the caller aborts', async () => {
    const controller = new AbortController();
    const url = route('/abort', (_req, res) => {
      res.writeHead(200);
      res.write('partial');
      setTimeout(() => controller.abort(), 20);
    });
    const error = await rejection(download(url, fast({ signal: controller.signal })));
    expect(error.message).toContain('aborted by the caller');
    expect(requestsTo('/abort')).toBe(1);
  });

  describe('TLS verification', () => {
    it('fails with the OpenSSL code and the NODE_EXTRA_CA_CERTS hint for an unknown CA', async () => {
      const other = await startHttpsServer({ issuer: createCa({ commonName: 'Unknown CA' }), routes: { '/x': (_q, s) => s.end(PEM) } });
      try {
        const url = other.url('/x');
        const error = await rejection(download(url, fast()));
        expect(error.url).toBe(url);
        expect(error.message).toContain('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
        expect(error.message).toContain('NODE_EXTRA_CA_CERTS');
        expect(other.requests).toHaveLength(0);
      } finally {
        await other.close();
      }
    });

    it('names DEPTH_ZERO_SELF_SIGNED_CERT for a self-signed server', async () => {
      const self = createSelfSignedServerCertificate({ commonName: 'localhost', ipAddresses: ['127.0.0.1'] });
      const other = await startHttpsServer({ certificate: self });
      try {
        const error = await rejection(download(other.url('/x'), fast()));
        expect(error.message).toContain('DEPTH_ZERO_SELF_SIGNED_CERT');
        expect(error.message).toContain('NODE_EXTRA_CA_CERTS');
      } finally {
        await other.close();
      }
    });

    it('names INVALID_PURPOSE for a server presenting a CA certificate', async () => {
      const other = await startHttpsServer({ certificate: createCa({ commonName: 'localhost' }) });
      try {
        const error = await rejection(download(other.url('/x'), fast()));
        expect(error.message).toContain('TLS certificate verification failed (INVALID_PURPOSE');
      } finally {
        await other.close();
      }
    });

    it('rejects a certificate for another host name', async () => {
      const wrong = createServerCertificate(server.issuer, { commonName: 'db.example.com' });
      const other = await startHttpsServer({ certificate: wrong });
      try {
        const error = await rejection(download(other.url('/x'), fast()));
        expect(error.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
      } finally {
        await other.close();
      }
    });
  });

  it('refuses non-https source URLs without a request', async () => {
    const before = server.requests.length;
    const url = `http://127.0.0.1:${server.port}/ok.pem`;
    const error = await rejection(download(url, fast()));
    expect(error.url).toBe(url);
    expect(error.message).toContain(`'${url}'`);
    expect(error.message).toContain('only https: URLs');
    await rejection(download('ftp://example.com/x.pem'));
    await rejection(download('not a url'));
    await rejection(download(server.url('/ok.pem'), fast({ mirror: `http://127.0.0.1:${server.port}/m` })));
    expect(server.requests.length).toBe(before);
  });

  it('fetches through a mirror', async () => {
    route('/mirror/truststore.pki.example.com/global/bundle.pem', (req, res) => {
      res.writeHead(200, { etag: '"m"' }).end(req.url?.includes('?') ? 'query kept' : PEM);
    });
    const result = await download('https://truststore.pki.example.com/global/bundle.pem', fast({ mirror: server.url('/mirror/') }));
    expect(result.url).toBe(server.url('/mirror/truststore.pki.example.com/global/bundle.pem'));
    expect(result.body?.toString()).toBe(PEM);
    expect(server.requests.at(-1)?.path).toBe('/mirror/truststore.pki.example.com/global/bundle.pem');
  });

  it('adds per-response delay in the test server', async () => {
    const url = route('/slow-ok', (_req, res) => res.end(PEM));
    server.setDelay(100);
    const started = Date.now();
    await download(url, fast());
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
  });

  describe('through an HTTPS_PROXY CONNECT proxy', () => {
    const saved = { ...process.env };
    afterEach(() => {
      for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy']) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    });

    it('tunnels the request and still verifies TLS end to end', async () => {
      const proxy = await startConnectProxy();
      try {
        delete process.env.https_proxy;
        delete process.env.no_proxy;
        process.env.HTTPS_PROXY = proxy.url;
        process.env.NO_PROXY = '';
        const url = route('/proxied.pem', (_req, res) => res.end(PEM));
        const result = await download(url, fast());
        expect(result.body?.toString()).toBe(PEM);
        expect(proxy.tunnels).toEqual([`127.0.0.1:${server.port}`]);

        const other = await startHttpsServer({ issuer: createCa({ commonName: 'Proxy-side CA' }) });
        try {
          const error = await rejection(download(other.url('/x'), fast()));
          expect(error.message).toContain('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
          expect(proxy.tunnels).toHaveLength(2);
        } finally {
          await other.close();
        }

        process.env.NO_PROXY = '127.0.0.1';
        await download(url, fast());
        expect(proxy.tunnels).toHaveLength(2);
      } finally {
        await proxy.close();
      }
    });
  });
});

describe('applyMirror', () => {
  it('maps host, path and query under the mirror', () => {
    expect(applyMirror('https://a.example.com/x/y.pem?v=1', 'https://m.example/certs')).toBe('https://m.example/certs/a.example.com/x/y.pem?v=1');
    expect(applyMirror('https://a.example.com/x/y.pem', 'https://m.example/certs/')).toBe('https://m.example/certs/a.example.com/x/y.pem');
    expect(applyMirror('https://a.example.com/x.pem', 'https://m.example')).toBe('https://m.example/a.example.com/x.pem');
    expect(applyMirror('https://a.example.com:8443/x.pem', 'https://m.example/')).toBe('https://m.example/a.example.com:8443/x.pem');
    expect(applyMirror('https://a.example.com:443/x.pem', 'https://m.example/')).toBe('https://m.example/a.example.com/x.pem');
  });

  it('returns the URL unchanged without a mirror', () => {
    expect(applyMirror('https://a.example.com/x.pem', undefined)).toBe('https://a.example.com/x.pem');
    expect(applyMirror('https://a.example.com/x.pem', '')).toBe('https://a.example.com/x.pem');
  });

  it('throws DownloadError for an invalid mirror', () => {
    expect(() => applyMirror('https://a.example.com/x.pem', 'not a url')).toThrow(DownloadError);
    expect(() => applyMirror('https://a.example.com/x.pem', 'not a url')).toThrow("'not a url' is not a valid URL");
  });
});

describe('downloadAll', () => {
  it('keeps input order, settles every item and bounds concurrency', async () => {
    let running = 0;
    let peak = 0;
    const results = await downloadAll(
      [30, 10, 20, 0, 5],
      async (ms) => {
        running++;
        peak = Math.max(peak, running);
        await sleep(ms);
        running--;
        if (ms === 0) throw new Error('zero');
        return ms * 2;
      },
      2,
    );
    expect(peak).toBe(2);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([60, 20, 40, 'zero', 10]);
  });
});

describe('start-up cost', () => {
  it('importing dist/download.js does not load undici', () => {
    const built = new URL('../dist/download.js', import.meta.url);
    expect(existsSync(built), 'run `npx tsc -p .` first').toBe(true);
    // undici is CommonJS: loading it from ESM still fills require.cache, so its absence is meaningful
    // (the second count proves the probe sees undici once it is loaded).
    const script = `
      import { createRequire } from 'node:module';
      const cache = createRequire(import.meta.url).cache;
      const count = () => Object.keys(cache).filter((k) => k.includes('/node_modules/undici/')).length;
      await import('./dist/download.js');
      const before = count();
      await import('undici');
      console.log(JSON.stringify({ before, after: count() }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    expect(child.stderr).toBe('');
    const counts = JSON.parse(child.stdout) as { before: number; after: number };
    expect(counts.before).toBe(0);
    expect(counts.after).toBeGreaterThan(0);
  });
});
