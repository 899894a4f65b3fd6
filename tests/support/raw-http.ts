import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

/**
 * HTTP/1.1 over a raw TCP socket, for what `fetch` cannot send: absolute-form and
 * asterisk targets, duplicate header lines, bodies split with delays, slow or idle
 * connections, many sockets from chosen loopback addresses (`localAddress`
 * 127.0.0.2 and so on stand for other clients on Linux).
 */

export interface RawResponse {
  readonly status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Record<string, string>;
  readonly body: string;
  json(): Record<string, unknown>;
}

export interface Exchange {
  /** Final responses in order (1xx interim responses are in `interim`). */
  readonly responses: RawResponse[];
  readonly interim: RawResponse[];
  /** The server ended (FIN) or reset the connection before the test let go of it. */
  readonly closedByServer: boolean;
  /** A socket error seen while writing or reading (EPIPE, ECONNRESET), if any. */
  readonly error?: string;
  readonly bytesWritten: number;
}

/** A piece of what the client sends: bytes, or a pause. */
export type Piece = string | Buffer | { readonly delayMs: number };

export interface ExchangeOptions {
  readonly host?: string;
  readonly localAddress?: string;
  /** Final responses to wait for (default 1). */
  readonly expect?: number;
  /** After the expected responses, how long to wait for the server to close (default 300 ms). */
  readonly waitCloseMs?: number;
  /** Give up after this long in total (default 10 s). */
  readonly timeoutMs?: number;
  /** Speak TLS (e.g. `{ ca, servername }`): the pieces are sent once the handshake is done. */
  readonly tls?: ConnectionOptions;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `pieces` on a new connection and collects what comes back. */
export function exchange(port: number, pieces: readonly Piece[], options: ExchangeOptions = {}): Promise<Exchange> {
  const expected = options.expect ?? 1;
  return new Promise((resolve) => {
    const where = { port, host: options.host ?? '127.0.0.1', localAddress: options.localAddress };
    const socket = options.tls ? tlsConnect({ ...where, ALPNProtocols: ['http/1.1'], ...options.tls }) : connect(where);
    let raw = '';
    let closed = false;
    let error: string | undefined;
    let settled = false;
    let parsed: { responses: RawResponse[]; interim: RawResponse[] } = { responses: [], interim: [] };
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(overall);
      const bytesWritten = socket.bytesWritten;
      socket.destroy();
      resolve({ ...parsed, closedByServer: closed, error, bytesWritten });
    };
    const overall = setTimeout(finish, options.timeoutMs ?? 10_000);
    let closeWait: NodeJS.Timeout | undefined;
    socket.on('data', (chunk) => {
      raw += chunk.toString('latin1');
      parsed = parseResponses(raw);
      if (parsed.responses.length >= expected && closeWait === undefined) {
        closeWait = setTimeout(finish, options.waitCloseMs ?? 300);
      }
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error ??= e.code ?? e.message;
    });
    // 'end': the server sent FIN (it may still be waiting for unread bytes to drain: a paused,
    // lingering close); 'close': the connection is gone.
    for (const event of ['end', 'close']) {
      socket.on(event, () => {
        closed = true;
        // Let a final 'data' event be parsed first.
        setImmediate(finish);
      });
    }
    socket.once(options.tls ? 'secureConnect' : 'connect', async () => {
      for (const piece of pieces) {
        if (settled || closed || socket.destroyed) return;
        if (typeof piece === 'object' && !Buffer.isBuffer(piece)) {
          await sleep(piece.delayMs);
          continue;
        }
        if (!socket.write(piece)) await drainOrClose(socket);
      }
    });
  });
}

function drainOrClose(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.once('drain', done);
    socket.once('close', done);
  });
}

/** Parses every complete response in `raw` (latin1 text of the bytes received). */
export function parseResponses(raw: string): { responses: RawResponse[]; interim: RawResponse[] } {
  const responses: RawResponse[] = [];
  const interim: RawResponse[] = [];
  let rest = raw;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) break;
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const status = Number(statusLine.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    let body: string;
    let after = end + 4;
    if (status < 200 || status === 204 || status === 304) {
      body = '';
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (rest.length < after + length) break;
      body = rest.slice(after, after + length);
      after += length;
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const decoded = decodeChunked(rest.slice(after));
      if (decoded === undefined) break;
      body = decoded.body;
      after += decoded.consumed;
    } else {
      break; // body until close: not used by these tests
    }
    const response: RawResponse = {
      status,
      headers,
      body: Buffer.from(body, 'latin1').toString('utf8'),
      json() {
        return JSON.parse(this.body) as Record<string, unknown>;
      },
    };
    (status < 200 ? interim : responses).push(response);
    rest = rest.slice(after);
  }
  return { responses, interim };
}

function decodeChunked(text: string): { body: string; consumed: number } | undefined {
  let at = 0;
  let body = '';
  for (;;) {
    const lineEnd = text.indexOf('\r\n', at);
    if (lineEnd === -1) return undefined;
    const size = parseInt(text.slice(at, lineEnd), 16);
    at = lineEnd + 2;
    if (size === 0) {
      const trailerEnd = text.indexOf('\r\n', at);
      if (trailerEnd === -1) return undefined;
      return { body, consumed: trailerEnd + 2 };
    }
    if (text.length < at + size + 2) return undefined;
    body += text.slice(at, at + size);
    at += size + 2;
  }
}

/** Opens `count` connections that send nothing; resolves once all are connected or failed. */
export async function openIdle(port: number, count: number, localAddress?: string): Promise<Socket[]> {
  const sockets: Socket[] = [];
  const batch = 100;
  for (let i = 0; i < count; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, () =>
        new Promise<void>((resolve) => {
          const socket = connect({ port, host: '127.0.0.1', localAddress });
          socket.on('error', () => resolve());
          socket.once('connect', () => resolve());
          sockets.push(socket);
        }),
      ),
    );
  }
  return sockets;
}
