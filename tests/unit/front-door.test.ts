import { createRequire } from 'node:module';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ERRORS } from '@/lib/errors';
import { createFrontDoor, MARKER_HEADER, REFUSAL_SLOTS, type FrontDoorOptions } from '@/server/front-door';
import { exchange, openIdle, type Exchange, type Piece, type RawResponse } from '../support/raw-http';

/**
 * The front door with a stub handler in place of Next, on a loopback port,
 * attacked with raw sockets. The stub records what it was given, so each test
 * can say both what the client got and what the app would have seen.
 */

const MARKER = 'a'.repeat(32);
const CAP = 16_384;
const requireFromHere = createRequire(import.meta.url);
const { parseAndValidateFlightRouterState } = requireFromHere(
  'next/dist/server/app-render/parse-and-validate-flight-router-state',
) as { parseAndValidateFlightRouterState: (value: string) => unknown };

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: string;
}

interface Door {
  server: Server;
  port: number;
  seen: Seen[];
  logs: Array<{ level: string; event: string; message: string; metadata: Record<string, unknown> }>;
  /** Server-side sockets, in accept order. */
  sockets: Socket[];
}

const doors: Door[] = [];
const clients: Socket[] = [];
afterEach(async () => {
  for (const socket of clients.splice(0)) socket.destroy();
  for (const door of doors.splice(0)) {
    door.server.closeAllConnections();
    await new Promise((resolve) => door.server.close(resolve));
  }
});

/** A stub app: reads the whole body, records the request, answers 200 with a JSON echo. */
function stub(seen: Seen[], respond?: (req: IncomingMessage, res: ServerResponse) => void) {
  return (req: IncomingMessage, res: ServerResponse) =>
    new Promise<void>((resolve) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        seen.push({ method: req.method!, url: req.url!, headers: { ...req.headers }, rawHeaders: [...req.rawHeaders], body });
        if (respond) respond(req, res);
        else {
          res.setHeader('Content-Type', 'application/json');
          res.end(JSON.stringify({ ok: true, bytes: Buffer.byteLength(body) }));
        }
        resolve();
      });
    });
}

async function startDoor(overrides: Partial<FrontDoorOptions> & { respond?: (req: IncomingMessage, res: ServerResponse) => void } = {}): Promise<Door> {
  const seen: Seen[] = [];
  const logs: Door['logs'] = [];
  const sockets: Socket[] = [];
  const { respond, ...rest } = overrides;
  const server = createFrontDoor({
    handler: stub(seen, respond),
    marker: MARKER,
    maxBodyBytes: CAP,
    bodyCaps: [['/api/realtime/calls', 65_536]],
    maxConnections: 448,
    maxConnectionsPerIp: 64,
    trustedProxyHops: 0,
    production: true,
    logger: { log: (level, event, message, metadata) => logs.push({ level, event, message, metadata }) },
    validateRouterState: parseAndValidateFlightRouterState,
    ...rest,
  });
  server.on('connection', (socket: Socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const door = { server, port: (server.address() as AddressInfo).port, seen, logs, sockets };
  doors.push(door);
  return door;
}

/** A request head; `headers` are sent as given, in order (duplicates allowed). */
function head(requestLine: string, headers: Array<[string, string]> = [['Host', 'door.test']]): string {
  return `${requestLine}\r\n${headers.map(([n, v]) => `${n}: ${v}`).join('\r\n')}\r\n\r\n`;
}

const API_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'x-xss-protection': '1; mode=block',
  'referrer-policy': 'strict-origin-when-cross-origin',
  'cache-control': 'no-store, no-cache, must-revalidate',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
  'strict-transport-security': 'max-age=63072000; includeSubDomains',
};

/** Asserts the API error shape: JSON body with code, catalog message and trace id, X-Trace-Id, security headers. */
function expectApiError(res: RawResponse | undefined, code: keyof typeof ERRORS, status = ERRORS[code].status): RawResponse {
  expect(res, `no response (expected ${status} ${code})`).toBeDefined();
  const r = res!;
  expect(r.status).toBe(status);
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  const body = r.json();
  expect(body).toEqual({ error: code, message: ERRORS[code].message, traceId: r.headers['x-trace-id'] });
  expect(r.headers['x-trace-id']).toMatch(/^[0-9a-f]{32}$/);
  for (const [name, value] of Object.entries(API_HEADERS)) expect(r.headers[name], name).toBe(value);
  expect(r.headers['permissions-policy']).toContain('microphone=()');
  return r;
}

function post(path: string, body: string, headers: Array<[string, string]> = []): string {
  return head(`POST ${path} HTTP/1.1`, [['Host', 'door.test'], ['Content-Type', 'application/json'], ['Content-Length', String(Buffer.byteLength(body))], ...headers]) + body;
}

describe('forwarding', () => {
  it('forwards an ordinary request with the marker set and the socket peer appended to X-Forwarded-For', async () => {
    const door = await startDoor();
    const { responses } = await exchange(door.port, [post('/api/realtime/token', '{"voice":"alloy"}', [['X-Forwarded-For', '1.1.1.1']])]);
    expect(responses[0].status).toBe(200);
    expect(door.seen).toHaveLength(1);
    expect(door.seen[0].body).toBe('{"voice":"alloy"}');
    expect(door.seen[0].headers[MARKER_HEADER]).toBe(MARKER);
    expect(door.seen[0].headers['x-forwarded-for']).toBe('1.1.1.1, 127.0.0.1');
    expect(door.seen[0].rawHeaders).toContain('X-Forwarded-For');
  });

  it('replaces a client-sent marker, however it is spelled or repeated', async () => {
    const door = await startDoor();
    await exchange(door.port, [head('GET /api/health HTTP/1.1', [['Host', 'door.test'], ['X-RTG-Front-Door', 'forged'], ['x-rtg-front-door', MARKER.replace(/a/g, 'b')]])]);
    expect(door.seen[0].headers[MARKER_HEADER]).toBe(MARKER);
    const raw = door.seen[0].rawHeaders;
    expect(raw.filter((v, i) => i % 2 === 0 && v.toLowerCase() === MARKER_HEADER)).toHaveLength(1);
    expect(raw).not.toContain('forged');
  });

  it('keeps X-Forwarded-For from the client left of the peer, repeated lines joined in order', async () => {
    const door = await startDoor();
    await exchange(door.port, [head('GET /api/health HTTP/1.1', [['Host', 'door.test'], ['X-Forwarded-For', '9.9.9.9'], ['X-Forwarded-For', '8.8.8.8']])]);
    expect(door.seen[0].headers['x-forwarded-for']).toBe('9.9.9.9, 8.8.8.8, 127.0.0.1');
  });

  it('answers a handler that throws with a 500 in the API shape', async () => {
    for (const handler of [
      () => {
        throw new Error('boom');
      },
      () => Promise.reject(new Error('boom')),
    ]) {
      const door = await startDoor({ handler });
      const { responses } = await exchange(door.port, [head('GET /api/health HTTP/1.1')]);
      expectApiError(responses[0], 'internal_error');
      expect(responses[0].body).not.toContain('boom');
      expect(door.logs.find((l) => l.event === 'internal_error')).toMatchObject({ level: 'error' });
    }
  });
});

describe('request targets', () => {
  it.each([
    ['absolute-form GET', 'GET http://evil.example/x HTTP/1.1'],
    ['absolute-form POST to the token route', 'POST http://door.test/api/realtime/token HTTP/1.1'],
    ['asterisk GET', 'GET * HTTP/1.1'],
    ['asterisk POST', 'POST * HTTP/1.1'],
    ['a bare word', 'GET api HTTP/1.1'],
  ])('%s → 400 in the API shape, never forwarded, connection closed', async (_label, line) => {
    const door = await startDoor();
    const result = await exchange(door.port, [head(line)]);
    const res = expectApiError(result.responses[0], 'bad_request');
    expect(res.headers.location).toBeUndefined();
    expect(result.closedByServer).toBe(true);
    expect(door.seen).toHaveLength(0);
    // Node's parser refuses some of these itself; either way the door answers and logs.
    expect(door.logs.find((l) => l.metadata.code === 'bad_request')).toMatchObject({ level: 'warn', event: 'input_validation_failed' });
  });

  it('its refusals pass through the route finaliser: Vary: Origin, and the CORS grant for a listed origin', async () => {
    const door = await startDoor({ allowedOrigins: new Set(['https://app.example']) });
    const listed = await exchange(door.port, [head('GET http://evil.example/ HTTP/1.1', [['Host', 'door.test'], ['Origin', 'https://app.example']])]);
    expect(listed.responses[0].headers['access-control-allow-origin']).toBe('https://app.example');
    const other = await exchange(door.port, [head('GET http://evil.example/ HTTP/1.1', [['Host', 'door.test'], ['Origin', 'https://evil.example']])]);
    expect(other.responses[0].headers['access-control-allow-origin']).toBeUndefined();
    expect(other.responses[0].headers.vary).toBe('Origin');
  });

  it('answers OPTIONS * itself: 204 with Allow and the security headers', async () => {
    const door = await startDoor();
    const { responses } = await exchange(door.port, [head('OPTIONS * HTTP/1.1')]);
    expect(responses[0].status).toBe(204);
    expect(responses[0].headers.allow).toBe('OPTIONS, GET, HEAD, POST');
    expect(responses[0].headers['x-trace-id']).toMatch(/^[0-9a-f]{32}$/);
    for (const [name, value] of Object.entries(API_HEADERS)) expect(responses[0].headers[name], name).toBe(value);
    expect(door.seen).toHaveLength(0);
  });

  it('refuses CONNECT in the API shape', async () => {
    const door = await startDoor();
    const result = await exchange(door.port, [head('CONNECT evil.example:443 HTTP/1.1', [['Host', 'evil.example:443']])]);
    expectApiError(result.responses[0], 'bad_request');
    expect(result.closedByServer).toBe(true);
  });

  it('refuses a WebSocket upgrade when no upgrade handler is configured', async () => {
    const door = await startDoor();
    const result = await exchange(door.port, [
      head('GET /_next/webpack-hmr HTTP/1.1', [['Host', 'door.test'], ['Connection', 'Upgrade'], ['Upgrade', 'websocket'], ['Sec-WebSocket-Version', '13'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==']]),
    ]);
    expectApiError(result.responses[0], 'bad_request');
    expect(door.seen).toHaveLength(0);
  });

  it('passes an upgrade through the same header rewrite when a handler is configured', async () => {
    const upgrades: IncomingMessage[] = [];
    const door = await startDoor({
      upgrade: (req, socket) => {
        upgrades.push(req);
        socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      },
    });
    await exchange(door.port, [
      head('GET /_next/webpack-hmr HTTP/1.1', [['Host', 'door.test'], ['Connection', 'Upgrade'], ['Upgrade', 'websocket'], ['x-middleware-subrequest', 'middleware']]),
    ], { expect: 0, waitCloseMs: 0, timeoutMs: 500 });
    expect(upgrades).toHaveLength(1);
    expect(upgrades[0].headers[MARKER_HEADER]).toBe(MARKER);
    expect(upgrades[0].headers['x-middleware-subrequest']).toBeUndefined();
  });
});

describe('duplicate and conflicting header lines', () => {
  const body = '{}';
  it.each<[string, Array<[string, string]>, string]>([
    ['two Authorization lines', [['Host', 'door.test'], ['Authorization', 'Bearer a'], ['authorization', 'Bearer b']], ''],
    ['two Host lines', [['Host', 'door.test'], ['Host', 'evil.example']], ''],
    ['two Content-Length lines, equal', [['Host', 'door.test'], ['Content-Length', '2'], ['Content-Length', '2']], body],
    ['two Content-Length lines, different', [['Host', 'door.test'], ['Content-Length', '2'], ['Content-Length', '3']], body],
    ['two Transfer-Encoding lines', [['Host', 'door.test'], ['Transfer-Encoding', 'chunked'], ['Transfer-Encoding', 'chunked']], '2\r\n{}\r\n0\r\n\r\n'],
    ['Content-Length with Transfer-Encoding', [['Host', 'door.test'], ['Content-Length', '2'], ['Transfer-Encoding', 'chunked']], '2\r\n{}\r\n0\r\n\r\n'],
    ['no Host at all', [['Content-Length', '2']], body],
  ])('%s → 400 in the API shape, never forwarded', async (_label, headers, payload) => {
    const door = await startDoor();
    const result = await exchange(door.port, [head('POST /api/realtime/token HTTP/1.1', headers) + payload]);
    expectApiError(result.responses[0], 'bad_request');
    expect(result.closedByServer).toBe(true);
    expect(door.seen).toHaveLength(0);
  });

  it('one line of each is fine', async () => {
    const door = await startDoor();
    const { responses } = await exchange(door.port, [post('/api/realtime/token', '{}', [['Authorization', 'Bearer a']])]);
    expect(responses[0].status).toBe(200);
  });
});

describe('Next-internal request headers', () => {
  const internal: Array<[string, string]> = [
    ['x-middleware-prefetch', '1'],
    ['x-middleware-subrequest', 'middleware:middleware:middleware:middleware:middleware'],
    ['x-middleware-rewrite', '/api/health'],
    ['x-middleware-next', '1'],
    ['x-middleware-skip', '1'],
    ['x-middleware-override-headers', 'authorization'],
    ['x-middleware-request-authorization', 'Bearer forged'],
    ['x-middleware-set-cookie', 'a=b'],
    ['x-nextjs-data', '1'],
    ['x-nextjs-matched-path', '/api/health'],
    ['x-now-route-matches', '1=x'],
    ['x-matched-path', '/api/health'],
    ['x-invoke-path', '/api/health'],
    ['x-invoke-query', '{}'],
    ['x-action-forwarded', '1'],
    ['x-next-resume-state-length', '10'],
    ['next-resume', '1'],
    ['x-prerender-revalidate', 'x'],
    ['x-invocation-id', 'x'],
    ['x-vercel-protection-bypass', 'x'],
  ];
  const flight: Array<[string, string]> = [
    ['RSC', '1'],
    ['Next-Action', 'abc'],
    ['Next-Router-State-Tree', encodeURIComponent(JSON.stringify(['', { children: ['__PAGE__', {}] }, null, null, true]))],
    ['Next-Router-Prefetch', '1'],
    ['Next-Router-Segment-Prefetch', '/_tree'],
    ['Next-Url', '/'],
  ];

  it('strips every one of them on an API path', async () => {
    const door = await startDoor();
    await exchange(door.port, [post('/api/realtime/token', '{}', [...internal, ...flight])]);
    const seen = door.seen[0];
    for (const [name] of [...internal, ...flight]) expect(seen.headers[name.toLowerCase()], name).toBeUndefined();
    for (const [name] of [...internal, ...flight]) expect(seen.rawHeaders.map((h) => h.toLowerCase())).not.toContain(name.toLowerCase());
    expect(seen.headers['content-type']).toBe('application/json');
  });

  it('strips the internal ones on a page but keeps the flight headers navigation needs', async () => {
    const door = await startDoor();
    await exchange(door.port, [head('GET / HTTP/1.1', [['Host', 'door.test'], ...internal, ...flight])]);
    const seen = door.seen[0];
    for (const [name] of internal) expect(seen.headers[name], name).toBeUndefined();
    for (const [name, value] of flight) expect(seen.headers[name.toLowerCase()], name).toBe(value);
  });

  it.each([
    ['not URI-decodable', '%E0%A4%A'],
    ['not JSON', encodeURIComponent('{not json')],
    ['JSON but not an array', encodeURIComponent('{"children":1}')],
    ['an array Next cannot read', encodeURIComponent('[1,2,3]')],
  ])('a Next-Router-State-Tree that is %s drops the RSC headers so the page renders normally', async (_label, value) => {
    const door = await startDoor();
    await exchange(door.port, [head('GET / HTTP/1.1', [['Host', 'door.test'], ['RSC', '1'], ['Next-Router-State-Tree', value], ['Next-Router-Prefetch', '1']])]);
    const seen = door.seen[0];
    expect(seen.headers.rsc).toBeUndefined();
    expect(seen.headers['next-router-state-tree']).toBeUndefined();
    expect(seen.headers['next-router-prefetch']).toBeUndefined();
  });

  it('headers over 16 KiB in total get 431 in the API shape', async () => {
    const door = await startDoor();
    const result = await exchange(door.port, [head('GET / HTTP/1.1', [['Host', 'door.test'], ['X-Big', 'x'.repeat(20_000)]])]);
    expectApiError(result.responses[0], 'headers_too_large');
    expect(result.closedByServer).toBe(true);
  });

  it('removes client-sent X-Forwarded-Host/Proto/Port when no proxy is trusted, keeps them behind one', async () => {
    const forwarded: Array<[string, string]> = [['Host', 'door.test'], ['X-Forwarded-Host', 'evil.example'], ['X-Forwarded-Proto', 'https'], ['X-Forwarded-Port', '443']];
    const direct = await startDoor();
    await exchange(direct.port, [head('GET /api/health HTTP/1.1', forwarded)]);
    expect(direct.seen[0].headers['x-forwarded-host']).toBeUndefined();
    expect(direct.seen[0].headers['x-forwarded-proto']).toBeUndefined();
    const proxied = await startDoor({ trustedProxyHops: 1, maxConnectionsPerIp: 0 });
    await exchange(proxied.port, [head('GET /api/health HTTP/1.1', forwarded)]);
    expect(proxied.seen[0].headers['x-forwarded-host']).toBe('evil.example');
  });
});

describe('framework headers in responses', () => {
  it('never lets x-middleware-* or x-clerk-* reach the client, whichever way the app sets them', async () => {
    const door = await startDoor({
      respond: (_req, res) => {
        res.setHeader('X-Clerk-Auth-Status', 'signed-out');
        res.setHeader('x-clerk-auth-message', 'Invalid JWT algorithm "HS256". Supported: RS256');
        res.setHeader('X-Middleware-Rewrite', '/x');
        res.writeHead(200, { 'x-clerk-auth-reason': 'token-invalid', 'x-middleware-next': '1', 'Content-Type': 'text/plain' });
        res.end('ok');
      },
    });
    const { responses } = await exchange(door.port, [head('GET / HTTP/1.1')]);
    expect(responses[0].status).toBe(200);
    expect(responses[0].headers['content-type']).toBe('text/plain');
    expect(Object.keys(responses[0].headers).filter((n) => n.startsWith('x-clerk-') || n.startsWith('x-middleware-'))).toEqual([]);
  });

  it('filters a flat header array passed to writeHead', async () => {
    const door = await startDoor({
      respond: (_req, res) => {
        res.writeHead(200, ['X-Clerk-Auth-Status', 'signed-out', 'X-Kept', 'yes']);
        res.end();
      },
    });
    const { responses } = await exchange(door.port, [head('GET / HTTP/1.1')]);
    expect(responses[0].headers['x-kept']).toBe('yes');
    expect(responses[0].headers['x-clerk-auth-status']).toBeUndefined();
  });
});

describe('paths Next would redirect or refuse', () => {
  it.each([
    ['/api/realtime/token/', '/api/realtime/token'],
    ['//api/realtime/token', '/api/realtime/token'],
    ['/api//realtime///token', '/api/realtime/token'],
    ['/api/realtime/token/?a=1', '/api/realtime/token?a=1'],
    ['//evil.example/', '/evil.example'],
    ['/\\evil.example', '/evil.example'],
    ['/voice/', '/voice'],
  ])('%s → 308 in the API shape to the same-origin %s', async (path, location) => {
    const door = await startDoor();
    const { responses } = await exchange(door.port, [head(`GET ${path} HTTP/1.1`)]);
    const res = expectApiError(responses[0], 'permanent_redirect');
    expect(res.headers.location).toBe(location);
    expect(new URL(res.headers.location, 'https://door.test').origin).toBe('https://door.test');
    expect(door.seen).toHaveLength(0);
  });

  it.each(['/api/%zz', '/api/realtime/%E0%A4%A', '/%'])('%s (bad percent-encoding) → 400 in the API shape', async (path) => {
    const door = await startDoor();
    const { responses } = await exchange(door.port, [head(`GET ${path} HTTP/1.1`)]);
    expectApiError(responses[0], 'bad_request');
    expect(door.seen).toHaveLength(0);
  });

  it('leaves a bad escape in the query string to the app', async () => {
    const door = await startDoor();
    const { responses } = await exchange(door.port, [head('GET /api/health?q=%zz HTTP/1.1')]);
    expect(responses[0].status).toBe(200);
  });
});

/** The body a client sends in `count` pieces of `size` bytes, `delayMs` apart. */
function splitBody(body: string, parts: number, delayMs: number): Piece[] {
  const size = Math.ceil(body.length / parts);
  const pieces: Piece[] = [];
  for (let i = 0; i < body.length; i += size) {
    if (i > 0) pieces.push({ delayMs });
    pieces.push(body.slice(i, i + size));
  }
  return pieces;
}

describe('request bodies', () => {
  const json = JSON.stringify({ voice: 'alloy', model: 'gpt-realtime', instructions: 'Be brief. '.repeat(300) });

  it.each([
    ['2 pieces, 300 ms apart', 2, 300],
    ['2 pieces, 20 ms apart', 2, 20],
    ['7 pieces, 80 ms apart', 7, 80],
  ])('a Content-Length body in %s reaches the app whole', async (_label, parts, delayMs) => {
    const door = await startDoor();
    const start = post('/api/realtime/token', json).slice(0, -json.length);
    const { responses } = await exchange(door.port, [start, ...splitBody(json, parts, delayMs)]);
    expect(responses[0].status).toBe(200);
    expect(door.seen[0].body).toBe(json);
  });

  it('a chunked body in pieces with delays reaches the app whole', async () => {
    const door = await startDoor();
    const pieces: Piece[] = [head('POST /api/realtime/token HTTP/1.1', [['Host', 'door.test'], ['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']])];
    for (const [i, part] of splitBody(json, 4, 0).filter((p) => typeof p === 'string').entries()) {
      const text = part as string;
      pieces.push({ delayMs: 60 }, `${Buffer.byteLength(text).toString(16)}\r\n`, i % 2 ? { delayMs: 30 } : '', `${text}\r\n`);
    }
    pieces.push({ delayMs: 60 }, '0\r\n\r\n');
    const { responses } = await exchange(door.port, pieces);
    expect(responses[0].status).toBe(200);
    expect(door.seen[0].body).toBe(json);
  });

  it('two pipelined requests with bodies on one connection each reach the app whole', async () => {
    const door = await startDoor();
    const { responses } = await exchange(door.port, [post('/api/realtime/token', '{"a":1}') + post('/api/realtime/token', '{"b":22}')], { expect: 2 });
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    expect(door.seen.map((s) => s.body)).toEqual(['{"a":1}', '{"b":22}']);
  });

  it('a body of exactly the cap is forwarded; one byte more is 413', async () => {
    const door = await startDoor();
    const exact = await exchange(door.port, [post('/api/realtime/token', 'x'.repeat(CAP))]);
    expect(exact.responses[0].status).toBe(200);
    const over = await exchange(door.port, [post('/api/realtime/token', 'x'.repeat(CAP + 1))]);
    expectApiError(over.responses[0], 'body_too_large');
  });

  it('applies the per-prefix cap: 64 KiB under /api/realtime/calls, the token cap elsewhere', async () => {
    const door = await startDoor();
    const body = 'x'.repeat(40_000);
    expect((await exchange(door.port, [post('/api/realtime/calls', body)])).responses[0].status).toBe(200);
    expectApiError((await exchange(door.port, [post('/api/realtime/token', body)])).responses[0], 'body_too_large');
    expectApiError((await exchange(door.port, [post('/api/other', body)])).responses[0], 'body_too_large');
    expectApiError((await exchange(door.port, [post('/', body)])).responses[0], 'body_too_large');
  });

  it('a declared 8 MiB body is refused 413 from the headers alone: nothing read, connection closed', async () => {
    const door = await startDoor();
    const size = 8 * 1024 * 1024;
    const result = await exchange(door.port, [
      head('POST /api/realtime/token HTTP/1.1', [['Host', 'door.test'], ['Content-Type', 'application/json'], ['Content-Length', String(size)]]),
      { delayMs: 50 },
      Buffer.alloc(size, 0x61),
    ]);
    expectApiError(result.responses[0], 'body_too_large');
    expect(result.closedByServer).toBe(true);
    expect(door.sockets[0].bytesRead).toBeLessThan(CAP + 256 * 1024);
    expect(door.seen).toHaveLength(0);
    expect(door.logs.find((l) => l.metadata.code === 'body_too_large')).toMatchObject({ event: 'input_validation_failed', metadata: { reason: 'declared' } });
  });

  it('30 concurrent 8 MiB uploads each get their 413, and the server reads about the cap from each', async () => {
    const door = await startDoor();
    const size = 8 * 1024 * 1024;
    const payload = Buffer.alloc(size, 0x61);
    const results = await Promise.all(
      Array.from({ length: 30 }, () =>
        exchange(door.port, [head('POST /api/realtime/token HTTP/1.1', [['Host', 'door.test'], ['Content-Length', String(size)]]), { delayMs: 5 }, payload], { timeoutMs: 15_000 }),
      ),
    );
    for (const result of results) expectApiError(result.responses[0], 'body_too_large');
    for (const socket of door.sockets) expect(socket.bytesRead).toBeLessThan(CAP + 256 * 1024);
  }, 30_000);

  it('a chunked 8 MiB body is refused 413 after at most about the cap is read, connection closed', async () => {
    const door = await startDoor();
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const pieces: Piece[] = [head('POST /api/realtime/token HTTP/1.1', [['Host', 'door.test'], ['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']])];
    for (let i = 0; i < 128; i++) pieces.push(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]));
    pieces.push('0\r\n\r\n');
    const result = await exchange(door.port, pieces);
    expectApiError(result.responses[0], 'body_too_large');
    expect(result.closedByServer).toBe(true);
    // The kernel hands over up to one read's worth past the cap; the 8 MiB are never read.
    expect(door.sockets[0].bytesRead).toBeLessThan(CAP + 256 * 1024);
    expect(door.seen).toHaveLength(0);
  });

  it('Expect: 100-continue over the cap gets 413 and no 100; within the cap gets 100, then the app', async () => {
    const door = await startDoor();
    const over = await exchange(door.port, [
      head('POST /api/realtime/token HTTP/1.1', [['Host', 'door.test'], ['Content-Length', String(CAP + 1)], ['Expect', '100-continue']]),
    ]);
    expect(over.interim).toEqual([]);
    expectApiError(over.responses[0], 'body_too_large');
    const within = await exchange(door.port, [
      head('POST /api/realtime/token HTTP/1.1', [['Host', 'door.test'], ['Content-Length', '2'], ['Expect', '100-continue']]),
      { delayMs: 100 },
      '{}',
    ]);
    expect(within.interim.map((r) => r.status)).toEqual([100]);
    expect(within.responses[0].status).toBe(200);
    expect(door.seen[0].body).toBe('{}');
  });
});

describe('slow and idle connections', () => {
  const timeouts = { headersMs: 600, requestMs: 1200, checkIntervalMs: 100, refusalGraceMs: 300 };

  it('a request head dribbled past the headers timeout gets 408 in the API shape and is closed', async () => {
    const door = await startDoor({ timeouts });
    const pieces: Piece[] = [];
    for (const ch of 'GET /api/health HTTP/1.1\r\nHost: door.test\r\nX-Slow: ') pieces.push(ch, { delayMs: 40 });
    const result = await exchange(door.port, pieces, { timeoutMs: 5000 });
    expectApiError(result.responses[0], 'request_timeout');
    expect(result.closedByServer).toBe(true);
    expect(door.seen).toHaveLength(0);
  });

  it('a body dribbled past the request timeout gets 408 and never reaches the app', async () => {
    const door = await startDoor({ timeouts });
    const pieces: Piece[] = [head('POST /api/realtime/token HTTP/1.1', [['Host', 'door.test'], ['Content-Length', '100']])];
    for (let i = 0; i < 60; i++) pieces.push('x', { delayMs: 50 });
    const result = await exchange(door.port, pieces, { timeoutMs: 5000 });
    expect(result.responses[0]?.status).toBe(408);
    expect(result.closedByServer).toBe(true);
    expect(door.seen).toHaveLength(0);
  });

  it('a connection that never sends a byte is closed without an answer', async () => {
    const door = await startDoor({ timeouts });
    const result = await exchange(door.port, [], { expect: 1, timeoutMs: 4000 });
    expect(result.responses).toEqual([]);
    expect(result.closedByServer).toBe(true);
  });
});

describe('connection caps', () => {
  /** A GET on a new connection from `localAddress`: the status, or the socket error. */
  async function request(port: number, localAddress: string): Promise<Exchange> {
    return exchange(port, [head('GET /api/health HTTP/1.1')], { localAddress, waitCloseMs: 100, timeoutMs: 5000 });
  }

  it('1,100 idle sockets from one client: other clients are still served, and the hog gets 503 for more', async () => {
    // 448: the total cap the door derives from a 1024 open-files limit (server/limits.ts).
    const door = await startDoor({ maxConnections: 448, maxConnectionsPerIp: 64 });
    const hog = await openIdle(door.port, 1100, '127.0.0.1');
    clients.push(...hog);
    await new Promise((r) => setTimeout(r, 200));
    const still = hog.filter((s) => !s.destroyed && s.readyState === 'open').length;
    // The hog keeps its 64 plus at most the refusal slots (answered or closed within the grace period).
    expect(still).toBeLessThanOrEqual(64 + REFUSAL_SLOTS);
    for (const address of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
      const result = await request(door.port, address);
      expect(result.responses[0]?.status, address).toBe(200);
    }
    const more = await request(door.port, '127.0.0.1');
    expect(more.closedByServer).toBe(true);
    if (more.responses[0]) {
      const res = expectApiError(more.responses[0], 'too_many_connections');
      expect(res.headers['retry-after']).toBe('1');
    }
    const warned = door.logs.filter((l) => l.event === 'rate_limit_exceeded');
    expect(warned.length).toBeGreaterThan(0);
    // One line per second at most, whatever the flood.
    expect(warned.length).toBeLessThan(5);
    expect(warned[0].metadata).toMatchObject({ reason: 'per_ip', maxConnectionsPerIp: 64 });
  }, 30_000);

  it('an over-cap connection that sends a request gets 503 too_many_connections and is closed', async () => {
    const door = await startDoor({ maxConnections: 448, maxConnectionsPerIp: 3 });
    const held = await openIdle(door.port, 3, '127.0.0.5');
    clients.push(...held);
    const result = await request(door.port, '127.0.0.5');
    const res = expectApiError(result.responses[0], 'too_many_connections');
    expect(res.headers.connection).toBe('close');
    expect(result.closedByServer).toBe(true);
    for (const socket of held) socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect((await request(door.port, '127.0.0.5')).responses[0].status).toBe(200);
  });

  it('the total cap holds across clients', async () => {
    const door = await startDoor({ maxConnections: 20, maxConnectionsPerIp: 10 });
    clients.push(...(await openIdle(door.port, 10, '127.0.0.6')), ...(await openIdle(door.port, 10, '127.0.0.7')));
    await new Promise((r) => setTimeout(r, 100));
    const result = await request(door.port, '127.0.0.8');
    expectApiError(result.responses[0], 'too_many_connections');
    expect(door.logs.find((l) => l.event === 'rate_limit_exceeded')?.metadata).toMatchObject({ reason: 'total' });
  });

  it('with the per-IP cap off (behind a proxy) one peer may use the whole total', async () => {
    const door = await startDoor({ maxConnections: 100, maxConnectionsPerIp: 0, trustedProxyHops: 1 });
    clients.push(...(await openIdle(door.port, 90, '127.0.0.9')));
    await new Promise((r) => setTimeout(r, 100));
    expect((await request(door.port, '127.0.0.9')).responses[0].status).toBe(200);
  });

  it('idle over-cap sockets are closed after the grace period, freeing their descriptors', async () => {
    const door = await startDoor({ maxConnections: 448, maxConnectionsPerIp: 2, timeouts: { refusalGraceMs: 200 } });
    const sockets = await openIdle(door.port, 10, '127.0.0.10');
    clients.push(...sockets);
    await new Promise((r) => setTimeout(r, 600));
    expect(sockets.filter((s) => s.readyState === 'open').length).toBe(2);
  });
});
