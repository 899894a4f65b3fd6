import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, type Exchange, type Piece } from '../support/raw-http';
import { expectHeaders, type HeaderTable } from '../support/headers';
import { NGINX_WORKERS, SERVER_NAME, startNginx, type Nginx } from '../support/nginx';
import { expectApiRefusal } from './http';

/**
 * deploy/nginx.conf in front of a loopback stand-in that records every request
 * it receives: what the app would see through nginx, and what never reaches it.
 * tests/e2e/nginx.test.ts runs the same file in front of the real server.
 */

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly bodyBytes: number;
  /** The nginx-side port of the connection it came on. */
  readonly peerPort: number;
}

let seen: Seen[] = [];
let app: Server;
let nginx: Nginx;
const HEADER_TIMEOUT_S = 2;
const BODY_TIMEOUT_S = 1;

beforeAll(async () => {
  app = createServer((req, res) => {
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => (bodyBytes += chunk.length));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, bodyBytes, peerPort: req.socket.remotePort! });
      res.writeHead(200, { 'content-type': 'application/json', 'x-powered-by': 'Next.js' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  nginx = await startNginx({ upstreamPort: (app.address() as AddressInfo).port, timeouts: { header: HEADER_TIMEOUT_S, body: BODY_TIMEOUT_S } });
});
afterAll(async () => {
  await nginx?.stop();
  app?.closeAllConnections();
  await new Promise((resolve) => app?.close(resolve));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const tls = () => ({ tls: { ca: nginx.ca, servername: SERVER_NAME } });
const headLines = (line: string, headers: ReadonlyArray<readonly [string, string]>) =>
  `${line}\r\n${[['Host', SERVER_NAME], ...headers].map(([n, v]) => `${n}: ${v}`).join('\r\n')}\r\n\r\n`;

/** Asserts a header table (null: absent) on what the stand-in received. */
function expectForwarded(request: Seen | undefined, table: HeaderTable): void {
  expect(request, 'the request reached the app').toBeDefined();
  expectHeaders(new Headers(request!.headers as Record<string, string>), table, 'forwarded');
}

describe('what reaches the app', () => {
  it('forwarding headers are nginx\'s own; client-sent internal and hop-by-hop headers are dropped', async () => {
    seen = [];
    const res = await nginx.request('/api/forwarding', {
      localAddress: '127.0.0.4',
      headers: {
        'x-forwarded-for': '9.9.9.9',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'http',
        'x-forwarded-port': '1',
        'x-real-ip': '9.9.9.9',
        forwarded: 'for=9.9.9.9;host=evil.example',
        proxy: 'http://evil.example',
        'x-rtg-front-door': 'guess',
        'x-middleware-subrequest': 'middleware:middleware:middleware:middleware:middleware',
        'x-middleware-prefetch': '1',
        'x-nextjs-data': '1',
        'x-now-route-matches': '1=x',
        'x-matched-path': '/api/health',
        'x-invoke-path': '/api/health',
        'keep-alive': 'timeout=999',
        te: 'trailers',
        upgrade: 'websocket',
        // Naming the forwarding headers as hop-by-hop must not make nginx drop its own.
        connection: 'keep-alive, x-forwarded-for, x-real-ip',
        'x-ordinary': 'kept',
      },
    });
    expect(res.status).toBe(200);
    expect(seen).toHaveLength(1);
    expectForwarded(seen[0], {
      host: SERVER_NAME,
      'x-forwarded-for': '9.9.9.9, 127.0.0.4',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': SERVER_NAME,
      'x-forwarded-port': String(nginx.tlsPort),
      'x-real-ip': '127.0.0.4',
      'x-ordinary': 'kept',
      ...Object.fromEntries(
        ['forwarded', 'proxy', 'x-rtg-front-door', 'x-middleware-subrequest', 'x-middleware-prefetch', 'x-nextjs-data', 'x-now-route-matches',
          'x-matched-path', 'x-invoke-path', 'keep-alive', 'te', 'upgrade', 'connection'].map((name) => [name, null]),
      ),
    });
  });

  it('a chunked body arrives whole, with a Content-Length and no Transfer-Encoding', async () => {
    seen = [];
    const pieces: Piece[] = [headLines('POST /api/chunked HTTP/1.1', [['Transfer-Encoding', 'chunked'], ['Connection', 'close']])];
    for (let i = 0; i < 5; i++) pieces.push(`400\r\n${'a'.repeat(1024)}\r\n`, { delayMs: 100 });
    pieces.push('0\r\n\r\n');
    const { responses } = await exchange(nginx.tlsPort, pieces, tls());
    expect(responses[0]?.status).toBe(200);
    expectForwarded(seen[0], { 'content-length': '5120', 'transfer-encoding': null });
    expect(seen[0].bodyBytes).toBe(5120);
  });

  it('connections to the app are kept alive and reused', async () => {
    seen = [];
    const workers = NGINX_WORKERS;
    for (let i = 0; i < 3 * workers; i++) await nginx.request('/api/reuse', { localAddress: `127.0.0.${10 + i}` });
    // Each worker keeps its own pool; without `keepalive` every request would be a new connection.
    expect(new Set(seen.map((s) => s.peerPort)).size).toBeLessThanOrEqual(workers);
  });

  it('the app\'s X-Powered-By does not reach the client; Server names no version', async () => {
    const res = await nginx.request('/api/powered');
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers.server).toBe('nginx');
  });
});

describe('refused before the app', () => {
  const SMUGGLED = headLines('GET /api/smuggled HTTP/1.1', []);
  it.each([
    ['Content-Length with Transfer-Encoding (CL.TE)', [['Content-Length', String(5 + SMUGGLED.length)], ['Transfer-Encoding', 'chunked']], 400],
    ['two Transfer-Encoding lines (TE.TE)', [['Transfer-Encoding', 'chunked'], ['Transfer-Encoding', 'identity']], 400],
    ['two Content-Length lines', [['Content-Length', '5'], ['Content-Length', String(5 + SMUGGLED.length)]], 400],
    ['"Transfer-Encoding :" with a space', [['Content-Length', '5'], ['Transfer-Encoding ', 'chunked']], 400],
    ['an unknown transfer coding', [['Transfer-Encoding', 'xchunked']], 501],
  ] as const)('%s → refused in the API shape, the connection closed, nothing reaches the app', async (_label, headers, status) => {
    seen = [];
    const result: Exchange = await exchange(nginx.tlsPort, [headLines('POST /api/smuggle HTTP/1.1', headers) + '0\r\n\r\n' + SMUGGLED], { ...tls(), expect: 2 });
    expect(result.responses).toHaveLength(1);
    expectApiRefusal(result.responses[0], status, 'bad_request');
    expect(result.closedByServer).toBe(true);
    expect(seen).toEqual([]);
  });

  it.each([
    ['declared', [['Content-Length', String(70_000)]], 'a'.repeat(70_000)],
    ['chunked', [['Transfer-Encoding', 'chunked']], `${(70_000).toString(16)}\r\n${'a'.repeat(70_000)}\r\n0\r\n\r\n`],
  ] as const)('a %s body over 64k → 413 in the API shape, nothing reaches the app', async (_label, headers, body) => {
    seen = [];
    const { responses } = await exchange(nginx.tlsPort, [headLines('POST /api/large HTTP/1.1', headers), body], tls());
    expectApiRefusal(responses[0], 413, 'body_too_large');
    expect(seen).toEqual([]);
  });

  it('a body that stops arriving is cut at client_body_timeout; a head trickled without pause at client_header_timeout', async () => {
    seen = [];
    const timed = async (pieces: Piece[]) => {
      const started = Date.now();
      const result = await exchange(nginx.tlsPort, pieces, { ...tls(), timeoutMs: 8_000 });
      return { ...result, seconds: (Date.now() - started) / 1000 };
    };
    const trickle: Piece[] = ['GET /api/trickle HTTP/1.1\r\n', `Host: ${SERVER_NAME}\r\n`];
    for (let i = 0; i < 20; i++) trickle.push({ delayMs: 250 }, `X-Slow-${i}: 1\r\n`);
    const [stalled, trickled] = await Promise.all([
      timed([headLines('POST /api/stall HTTP/1.1', [['Content-Length', '100']]), 'only ten b']),
      timed(trickle),
    ]);
    for (const cut of [stalled, trickled]) {
      expect(cut.closedByServer).toBe(true);
      expect(cut.responses).toEqual([]);
    }
    expect(stalled.seconds).toBeGreaterThanOrEqual(BODY_TIMEOUT_S - 0.1);
    expect(stalled.seconds).toBeLessThan(BODY_TIMEOUT_S + 1.5);
    expect(trickled.seconds).toBeGreaterThanOrEqual(HEADER_TIMEOUT_S - 0.1);
    expect(trickled.seconds).toBeLessThan(HEADER_TIMEOUT_S + 1.5);
    expect(seen).toEqual([]);
    await sleep(100);
    const log = await nginx.accessLog();
    expect(log.filter((l) => l.path === '/api/stall' || l.path === '/api/trickle').map((l) => l.status)).toEqual([408, 408]);
  });

  it('one client cannot hold more than 64 requests at once (limit_conn): the rest get 503 at once', async () => {
    seen = [];
    // 70 uploads trickled a byte every 300 ms (under client_body_timeout), opened 30 ms
    // apart so that limit_req's 20 r/s admits them all; each is dropped after 3 s.
    const upload = (i: number) =>
      sleep(30 * i).then(() =>
        exchange(nginx.tlsPort, [headLines('POST /api/held HTTP/1.1', [['Content-Length', '100']]), ...Array.from({ length: 20 }, () => [{ delayMs: 300 }, 'a']).flat()], {
          ...tls(),
          localAddress: '127.0.0.30',
          timeoutMs: 3_000,
        }),
      );
    const results = await Promise.all(Array.from({ length: 70 }, (_, i) => upload(i)));
    const refused = results.filter((r) => r.responses.length > 0);
    expect(refused.length).toBeGreaterThanOrEqual(6);
    for (const r of refused) expectApiRefusal(r.responses[0], 503, 'too_many_connections');
    expect(seen).toEqual([]);
  });

  it('an unknown Host or SNI name gets no answer; plain HTTP is redirected to https on the server name', async () => {
    const redirect = await exchange(nginx.httpPort, [headLines('GET /api/x?y=1 HTTP/1.1', [])]);
    expect(redirect.responses[0]?.status).toBe(308);
    expect(redirect.responses[0]?.headers.location).toBe(`https://${SERVER_NAME}/api/x?y=1`);
    const unknownHost = await exchange(nginx.httpPort, ['GET /api/x HTTP/1.1\r\nHost: evil.example\r\n\r\n']);
    const unknownHostTls = await exchange(nginx.tlsPort, ['GET /api/x HTTP/1.1\r\nHost: evil.example\r\n\r\n'], tls());
    for (const none of [unknownHost, unknownHostTls]) {
      expect(none.responses).toEqual([]);
      expect(none.closedByServer).toBe(true);
    }
    const unknownSni = await exchange(nginx.tlsPort, [headLines('GET /api/x HTTP/1.1', [])], { tls: { ca: nginx.ca, servername: 'evil.example' } });
    expect(unknownSni.responses).toEqual([]);
    expect(unknownSni.error).toBeDefined();
  });
});

describe('when the app is down', () => {
  it('nginx answers 502 in the API shape', async () => {
    app.closeAllConnections();
    await new Promise((resolve) => app.close(resolve));
    const res = await nginx.request('/api/down');
    expectApiRefusal(res, 502, 'internal_error');
  });
});
