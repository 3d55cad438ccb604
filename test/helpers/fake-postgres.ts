// A fake PostgreSQL server for probe tests: node:net on 127.0.0.1 that reads the 8-byte
// SSLRequest and answers as told, upgrading the same socket to TLS after `S`; or a TLS server for
// PostgreSQL 17 direct TLS that insists on ALPN `postgresql`. It never speaks past the handshake,
// and records whatever the client sends after it (a probe must send nothing).
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket, createServer as createTlsServer, type TLSSocket as TlsSocketType } from 'node:tls';

/** How the server answers. */
export type FakeMode =
  /** `S`, then TLS on the same socket. */
  | 'tls'
  /** `N`: SSL is off. */
  | 'ssl-off'
  /** `S` and more bytes in one write (a MITM's injected data, CVE-2021-23222). */
  | 'extra-bytes'
  /** `S`, then more bytes 10 ms later. */
  | 'extra-bytes-later'
  /** `S`, then more bytes 300 ms later: long after the client's ClientHello went out. */
  | 'extra-bytes-much-later'
  /** `S`, then silence: the TLS handshake never completes. */
  | 'stall-tls'
  /** An HTTP server on the wrong port. */
  | 'http'
  /** An ErrorResponse, as a server older than PostgreSQL 7.1 would send. */
  | 'error'
  /** Closes the connection without answering. */
  | 'close'
  /** PostgreSQL 17 direct TLS: TLS from the first byte, ALPN `postgresql` required. */
  | 'direct'
  /** Direct TLS, but ALPN is never selected (a generic TLS proxy). */
  | 'direct-no-alpn';

export interface FakePostgresOptions {
  mode: FakeMode;
  /** PEM private key and certificate chain (server certificate first) for the TLS modes. */
  key?: string;
  cert?: string;
  /** Wait this long after the SSLRequest before answering (a server far away, or busy). */
  answerDelayMs?: number;
}

export interface FakePostgres {
  port: number;
  /** The first 8 bytes each connection sent, hex (the SSLRequest is `0000000804d2162f`); not kept in the direct modes. */
  openings: string[];
  /** ALPN protocols each TLS client offered (empty when none). */
  alpnOffered: string[][];
  /** Bytes clients sent after the TLS handshake. */
  bytesAfterHandshake: number;
  /** Completed TLS handshakes. */
  handshakes: number;
  /** The SNI name of each TLS handshake (false when the client sent none). */
  servernames: Array<string | false>;
  /** Connections whose SSLRequest has not been answered yet (`answerDelayMs`), and the most at once. */
  waiting: number;
  maxWaiting: number;
  /** When each SSLRequest arrived (performance.now(), ms). */
  requestTimes: number[];
  close(): Promise<void>;
}

const SSL_REQUEST = '0000000804d2162f';
const ERROR_RESPONSE = Buffer.concat([
  Buffer.from('E'),
  Buffer.alloc(4),
  Buffer.from('SFATAL\0C08P01\0Munsupported frontend protocol 1234.5679: server supports 1.0 to 2.0\0\0', 'latin1'),
]);
ERROR_RESPONSE.writeInt32BE(ERROR_RESPONSE.length - 1, 1);

/** Start a fake server on 127.0.0.1 (random port). */
export async function startFakePostgres(options: FakePostgresOptions): Promise<FakePostgres> {
  const sockets = new Set<Socket>();
  const state: Omit<FakePostgres, 'port' | 'close'> = { openings: [], alpnOffered: [], bytesAfterHandshake: 0, handshakes: 0, servernames: [], waiting: 0, maxWaiting: 0, requestTimes: [] };
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  };
  const afterHandshake = (tls: TlsSocketType): void => {
    state.handshakes++;
    state.servernames.push(tls.servername || false);
    tls.on('data', (chunk: Buffer) => (state.bytesAfterHandshake += chunk.length));
  };
  const tlsOptions = {
    key: options.key,
    cert: options.cert,
    ALPNCallback: ({ protocols }: { protocols: string[] }) => {
      state.alpnOffered.push(protocols);
      return protocols.includes('postgresql') ? 'postgresql' : undefined;
    },
  };

  let server: Server;
  if (options.mode === 'direct' || options.mode === 'direct-no-alpn') {
    const direct = options.mode === 'direct';
    server = createTlsServer(direct ? tlsOptions : { key: options.key, cert: options.cert }, (tls) => {
      // Without ALPN `postgresql` a PostgreSQL 17 server refuses direct TLS.
      if (direct && tls.alpnProtocol !== 'postgresql') {
        tls.destroy();
        return;
      }
      afterHandshake(tls);
    });
    server.on('connection', track);
    server.on('tlsClientError', () => undefined);
  } else {
    server = createServer((socket) => {
      track(socket);
      let received = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        received = Buffer.concat([received, chunk]);
        if (received.length < 8) return;
        socket.off('data', onData);
        socket.pause();
        state.openings.push(received.subarray(0, 8).toString('hex'));
        if (received.subarray(0, 8).toString('hex') !== SSL_REQUEST) {
          socket.destroy();
          return;
        }
        state.requestTimes.push(performance.now());
        if (!options.answerDelayMs) {
          answer(socket);
          return;
        }
        state.waiting++;
        state.maxWaiting = Math.max(state.maxWaiting, state.waiting);
        setTimeout(() => {
          state.waiting--;
          if (!socket.destroyed) answer(socket);
        }, options.answerDelayMs);
      };
      socket.on('data', onData);
    });
  }

  const answer = (socket: Socket): void => {
    switch (options.mode) {
      case 'tls': {
        socket.write('S');
        const tls = new TLSSocket(socket, { isServer: true, ...tlsOptions });
        tls.on('error', () => undefined);
        tls.once('secure', () => afterHandshake(tls));
        break;
      }
      case 'stall-tls':
        socket.write('S');
        break;
      case 'ssl-off':
        socket.end('N');
        break;
      case 'extra-bytes':
        socket.write(Buffer.from('SXXXXXXXX'));
        break;
      case 'extra-bytes-later':
      case 'extra-bytes-much-later':
        socket.write('S');
        setTimeout(() => socket.write('Z\0\0\0\x05I'), options.mode === 'extra-bytes-later' ? 10 : 300);
        break;
      case 'http':
        socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nBad Request');
        break;
      case 'error':
        socket.end(ERROR_RESPONSE);
        break;
      case 'close':
        socket.end();
        break;
      default:
        socket.destroy();
    }
  };

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return Object.assign(state, {
    port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close').catch(() => undefined);
    },
  });
}

/** A port on 127.0.0.1 where nothing listens (connections are refused). */
export async function getClosedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
  return port;
}
