// Real local servers for network tests: an HTTPS server scripted by a route table, a TCP server
// that accepts connections and never answers, and an HTTP CONNECT proxy that counts tunnels.
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
import { createCa, createServerCertificate, type TestCertificate } from './test-ca.js';

/** A route; its return value is awaited (when a promise) and otherwise ignored. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

export interface RecordedRequest {
  /** Path with query, as sent. */
  path: string;
  method: string;
  headers: IncomingHttpHeaders;
}

export interface HttpsServerOptions {
  /** Keyed by path with query first, then by path alone; anything else answers 404. */
  routes?: Record<string, RouteHandler>;
  /** Wait this long before every response (also settable later with `setDelay`). */
  delayMs?: number;
  /** The CA that issues the server certificate; the shared test CA unless given. */
  issuer?: TestCertificate;
  /** Serve this certificate (e.g. a self-signed one, or one for another name) instead of issuing one. */
  certificate?: TestCertificate;
}

export interface TestHttpsServer {
  /** `https://127.0.0.1:<port><path>`. */
  url(path?: string): string;
  /** `https://localhost:<port><path>` (the certificate names both). */
  localhostUrl(path?: string): string;
  port: number;
  /** PEM of the CA that issued the server certificate: pass it as `ca`, or write it for NODE_EXTRA_CA_CERTS. */
  ca: string;
  issuer: TestCertificate;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** The live route table: tests may add or replace routes. */
  routes: Record<string, RouteHandler>;
  setDelay(ms: number): void;
  server: Server;
  /** Stop listening and destroy open connections. */
  close(): Promise<void>;
}

let defaultIssuer: TestCertificate | undefined;

/** The CA shared by servers started without an `issuer` (made once per test file). */
export function getTestServerCa(): TestCertificate {
  defaultIssuer ??= createCa({ commonName: 'pgcerts test server CA' });
  return defaultIssuer;
}

/**
 * Start an HTTPS server on 127.0.0.1 (random port) with a certificate for `localhost` and
 * `127.0.0.1`, answering from a route table.
 */
export async function startHttpsServer(options: HttpsServerOptions = {}): Promise<TestHttpsServer> {
  const issuer = options.issuer ?? getTestServerCa();
  const leaf =
    options.certificate ??
    createServerCertificate(issuer, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const routes: Record<string, RouteHandler> = { ...options.routes };
  const requests: RecordedRequest[] = [];
  let delayMs = options.delayMs ?? 0;
  const sockets = new Set<Socket>();

  const server = createHttpsServer({ key: leaf.keyPem, cert: leaf.pem }, (req, res) => {
    const path = req.url ?? '/';
    requests.push({ path, method: req.method ?? 'GET', headers: req.headers });
    const handler = routes[path] ?? routes[path.replace(/\?.*$/, '')];
    const respond = async (): Promise<void> => {
      if (delayMs > 0) await sleep(delayMs);
      if (!handler) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      await handler(req, res);
    };
    respond().catch((error: unknown) => {
      res.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // Clients that give up mid-handshake are expected in these tests.
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;

  return {
    url: (path = '/') => `https://127.0.0.1:${port}${path}`,
    localhostUrl: (path = '/') => `https://localhost:${port}${path}`,
    port,
    ca: issuer.pem,
    issuer,
    requests,
    routes,
    setDelay: (ms) => {
      delayMs = ms;
    },
    server,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close').catch(() => undefined);
    },
  };
}

export interface SilentServer {
  port: number;
  /** Connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1 that accepts connections and never sends a byte (a TLS handshake hangs). */
export async function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  const state = { connections: 0 };
  const server = createNetServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    get connections() {
      return state.connections;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close').catch(() => undefined);
    },
  };
}

export interface ConnectProxy {
  /** `http://127.0.0.1:<port>`, for HTTPS_PROXY. */
  url: string;
  /** `host:port` of every CONNECT request, in order. */
  tunnels: string[];
  close(): Promise<void>;
}

/** An HTTP proxy on 127.0.0.1 that only does CONNECT tunnels, recording each target. */
export async function startConnectProxy(): Promise<ConnectProxy> {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  };
  const server = createHttpServer((_req, res) => {
    res.writeHead(405).end('CONNECT only\n');
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    track(client);
    const target = req.url ?? '';
    tunnels.push(target);
    const [host, port] = [target.replace(/:\d+$/, ''), Number(/:(\d+)$/.exec(target)?.[1] ?? 443)];
    const upstream = connect(port, host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    track(upstream);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    tunnels,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close').catch(() => undefined);
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A static HTTPS file server on 127.0.0.1 rooted at `root`, as a mirror is served: GET maps the
 * percent-decoded path to a file under `root` (200 with its bytes), anything else is 404. Paths
 * with `..` segments are refused (400).
 */
export async function startStaticServer(root: string, options: { issuer?: TestCertificate } = {}): Promise<TestHttpsServer> {
  const { readFileSync, statSync } = await import('node:fs');
  const { join, sep } = await import('node:path');
  const server = await startHttpsServer({ issuer: options.issuer });
  server.server.removeAllListeners('request');
  server.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const pathname = (req.url ?? '/').replace(/\?.*$/, '');
    server.requests.push({ path: req.url ?? '/', method: req.method ?? 'GET', headers: req.headers });
    let segments: string[];
    try {
      segments = pathname.split('/').slice(1).map((s) => decodeURIComponent(s));
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (segments.some((s) => s === '..' || s.includes('/'))) {
      res.writeHead(400).end();
      return;
    }
    const file = join(root, ...segments);
    if (!file.startsWith(`${root}${sep}`) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(file));
  });
  return server;
}
