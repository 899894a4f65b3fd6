import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockOpenAI, type MockOpenAI } from '../support/upstream';
import { startApp, type AppServer, type LogLine } from '../support/app-server';
import { ensureBuild } from '../support/build';
import { LINGER_MS } from '@/server/front-door';
import { freePort } from '../support/loopback.mjs';
import { exchange, openIdle, type Exchange, type Piece, type RawResponse } from '../support/raw-http';
import { createClerkTestKeys, signJwt, TEST_JWT_SECRET, type ClerkTestKeys } from '../support/tokens';
import { API_HEADERS, expectHeaders, flushLogs, logsFor, newTrace, TOKEN_PATH } from './http';

/**
 * The findings of the adversarial review of the request path, each sent the way
 * an attacker would, against the production build started as `npm start` starts
 * it (scripts/server.mjs), once with JWT only and once with Clerk configured.
 * The server runs with a 1024 open-files limit, the common default.
 */

const ORIGIN = 'http://localhost:3000';
const SERVER_KEY = 'sk-front-door-server-key-0123456789';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A refused upload's socket lingers, unread, for LINGER_MS (server/front-door.ts) and counts against its IP until then. */
const lingerOver = () => sleep(LINGER_MS + 300);

let upstream: MockOpenAI;
let clerk: ClerkTestKeys;
let clerkApi: Server;
let clerkApiUrl: string;

beforeAll(async () => {
  upstream = await startMockOpenAI();
  clerk = await createClerkTestKeys();
  // Stands in for Clerk's Backend API; verification is networkless, so nothing should call it.
  clerkApi = createServer((_req, res) => res.writeHead(503).end());
  await new Promise<void>((resolve) => clerkApi.listen(0, '127.0.0.1', resolve));
  clerkApiUrl = `http://127.0.0.1:${(clerkApi.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await upstream?.close();
  clerkApi?.closeAllConnections();
  await new Promise((resolve) => clerkApi?.close(resolve));
});

/** Environment shared by both configurations: generous limits, so only the control under test answers. */
function baseEnv(): Record<string, string> {
  return {
    OPENAI_API_KEY: SERVER_KEY,
    OPENAI_BASE_URL: upstream.baseUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    ALLOWED_ORIGINS: ORIGIN,
    RATE_LIMIT_TOKEN: '100000/60',
    RATE_LIMIT_API: '100000/60',
    RATE_LIMIT_AUTH_FAILURES: '100000/300',
  };
}

interface Setup {
  readonly env: () => Record<string, string>;
  /** A valid credential for a fresh user. */
  readonly credential: () => Promise<string>;
}

let users = 0;
const SETUPS: Array<[string, Setup]> = [
  ['JWT only', { env: baseEnv, credential: async () => `Bearer ${await signJwt({}, { subject: `user-${++users}` })}` }],
  [
    'Clerk configured',
    {
      env: () => ({
        ...baseEnv(),
        CLERK_SECRET_KEY: clerk.secretKey,
        NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: clerk.publishableKey,
        CLERK_JWT_KEY: clerk.publicKeyPem,
        CLERK_API_URL: clerkApiUrl,
      }),
      credential: async () => `Bearer ${await clerk.sign({ sub: `user_${++users}` })}`,
    },
  ],
];

/** A request head with headers in the given order. */
function head(requestLine: string, headers: Array<[string, string]>): string {
  return `${requestLine}\r\n${headers.map(([n, v]) => `${n}: ${v}`).join('\r\n')}\r\n\r\n`;
}

function tokenHead(length: number | 'chunked', extra: Array<[string, string]> = []): string {
  const framing: [string, string] = length === 'chunked' ? ['Transfer-Encoding', 'chunked'] : ['Content-Length', String(length)];
  return head(`POST ${TOKEN_PATH} HTTP/1.1`, [['Host', '127.0.0.1'], ['Content-Type', 'application/json'], framing, ...extra]);
}

/** Asserts the API error shape: JSON with the code and trace id, X-Trace-Id, the API security headers. */
function expectApiShape(res: RawResponse | undefined, status: number, code: string): RawResponse {
  expect(res, `no answer, expected ${status} ${code}`).toBeDefined();
  expect(res!.status).toBe(status);
  expect(res!.headers['content-type']).toMatch(/^application\/json/);
  const body = res!.json();
  expect(body.error).toBe(code);
  expect(body.traceId).toBe(res!.headers['x-trace-id']);
  expect(res!.headers['x-trace-id']).toMatch(/^[0-9a-f]{32}$/);
  expectHeaders(new Headers(res!.headers), API_HEADERS);
  return res!;
}

/** Resident set size of a process, in bytes (Linux). */
async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

const STACK_OR_CRASH = /TypeError|AbortError|unhandledRejection|disturbed or locked|could not be parsed|\n\s+at /;

describe.each(SETUPS)('front door, %s', (_label, setup) => {
  // Findings 2 and 7 are the door's own caps, met before Next and the middleware
  // run: the same with Clerk on, so they are registered in the first setup only (the slowest cases).
  const capsCases = setup === SETUPS[0][1];
  let app: AppServer;
  const body = JSON.stringify({ voice: 'alloy', model: 'gpt-realtime', instructions: 'Answer briefly and kindly.' });

  beforeAll(async () => {
    app = await startApp(setup.env(), { wrapper: ['prlimit', '--nofile=1024:1024'] });
  });
  afterAll(async () => {
    await app?.stop();
  });

  /** A token request whose body arrives in `parts` pieces, `gapMs` apart. */
  async function splitTokenRequest(parts: number, gapMs: number): Promise<Exchange> {
    const pieces: Piece[] = [tokenHead(Buffer.byteLength(body), [['Authorization', await setup.credential()], ['Origin', ORIGIN]])];
    const size = Math.ceil(body.length / parts);
    for (let i = 0; i < body.length; i += size) pieces.push(...(i > 0 ? [{ delayMs: gapMs }] : []), body.slice(i, i + size));
    return exchange(app.port, pieces, { timeoutMs: 15_000 });
  }

  it('runs with the caps derived from a 1024 open-files limit and says so on stdout', () => {
    const limits = app.logs().find((l) => l.event === 'front_door_limits');
    expect(limits).toMatchObject({ level: 'info', maxConnections: 448, maxConnectionsPerIp: 64, openFiles: { soft: 1024, hard: 1024 } });
  });

  // Finding 1
  it.each([
    ['2 pieces 300 ms apart', 2, 300, 4],
    ['2 pieces 20 ms apart', 2, 20, 10],
    ['5 pieces 150 ms apart', 5, 150, 2],
  ])('1. a valid token request whose body arrives in %s gets its key, never a 500', async (_l, parts, gapMs, times) => {
    for (let i = 0; i < times; i++) {
      const { responses } = await splitTokenRequest(parts, gapMs);
      expect(responses[0]?.status, `attempt ${i + 1}: ${responses[0]?.body}`).toBe(200);
      expect(responses[0].json().value).toMatch(/^ek_/);
    }
    expect(app.stderr()).not.toMatch(STACK_OR_CRASH);
  });

  it('1. a 2 MiB body is 413 every time, never a 500', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 0x20);
    for (let i = 0; i < 5; i++) {
      const result = await exchange(app.port, [tokenHead(big.length, [['Authorization', await setup.credential()]]), { delayMs: 20 }, big]);
      expectApiShape(result.responses[0], 413, 'body_too_large');
    }
    expect(app.stderr()).not.toMatch(STACK_OR_CRASH);
  });

  /** One upload to warm the path, then 30 at once: each refused 413, RSS grown by less than 16 MiB. */
  async function expectRefusedWithoutGrowth(kind: string, upload: () => ReturnType<typeof exchange>) {
    await lingerOver();
    await upload();
    await lingerOver();
    const before = await rss(app.process.pid!);
    const results = await Promise.all(Array.from({ length: 30 }, upload));
    await sleep(300);
    const grown = (await rss(app.process.pid!)) - before;
    for (const result of results) expectApiShape(result.responses[0], 413, 'body_too_large');
    console.log(`30 × 8 MiB ${kind} uploads: RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
    expect(grown).toBeLessThan(16 * 1024 * 1024);
  }

  // Finding 2
  if (capsCases) it('2. 30 concurrent 8 MiB uploads are each refused 413 and grow RSS by less than 16 MiB', async () => {
    const size = 8 * 1024 * 1024;
    const payload = Buffer.alloc(size, 0x61);
    await expectRefusedWithoutGrowth('declared', () => exchange(app.port, [tokenHead(size), { delayMs: 10 }, payload], { timeoutMs: 20_000 }));
  }, 60_000);

  if (capsCases) it('2. 30 concurrent chunked 8 MiB uploads are each refused 413, RSS grows < 16 MiB, nothing on stderr', async () => {
    const piece = Buffer.alloc(256 * 1024, 0x61);
    const chunk = Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
    await expectRefusedWithoutGrowth('chunked', () => exchange(app.port, [tokenHead('chunked'), ...Array.from({ length: 32 }, () => chunk), '0\r\n\r\n'], { timeoutMs: 20_000 }));
    await sleep(200);
    expect(app.stderr()).not.toMatch(STACK_OR_CRASH);
  }, 60_000);

  // Finding 3
  it('3. a client-sent x-middleware-prefetch does not skip the pipeline', async () => {
    const { traceId, traceparent } = newTrace();
    const res = await fetch(`${app.url}${TOKEN_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-middleware-prefetch': '1', traceparent },
      body: '{}',
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-middleware-skip')).toBeNull();
    expect(await res.json()).toMatchObject({ error: 'auth_missing', traceId });
    expect((await logsFor(app, traceId)).map((l) => l.event)).toContain('auth_failure');
  });

  it('3. nor does any other Next-internal header, with a valid credential', async () => {
    const headers: Record<string, string> = {
      'x-middleware-prefetch': '1',
      'x-middleware-subrequest': 'middleware:middleware:middleware:middleware:middleware',
      'x-nextjs-data': '1',
      'x-now-route-matches': '1=x',
      'x-matched-path': '/api/health',
      'x-invoke-path': '/api/health',
      rsc: '1',
      'next-action': 'x',
    };
    const res = await fetch(`${app.url}${TOKEN_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: await setup.credential(), ...headers },
      body,
    });
    expect(res.status).toBe(200);
    expect((await res.json()).value).toMatch(/^ek_/);
  });

  // Finding 4
  it.each([
    ['absolute-form GET', 'GET http://evil.example/x HTTP/1.1'],
    ['absolute-form POST to the token route', `POST http://evil.example${TOKEN_PATH} HTTP/1.1`],
    ['GET *', 'GET * HTTP/1.1'],
    ['POST *', 'POST * HTTP/1.1'],
  ])('4. %s → 400 in the API shape, no Location, no Refresh', async (_l, line) => {
    const { responses } = await exchange(app.port, [head(line, [['Host', '127.0.0.1'], ['Content-Length', '0']])]);
    const res = expectApiShape(responses[0], 400, 'bad_request');
    expect(res.headers.location).toBeUndefined();
    expect(res.headers.refresh).toBeUndefined();
  });

  it('4. OPTIONS * → 204 with Allow', async () => {
    const { responses } = await exchange(app.port, [head('OPTIONS * HTTP/1.1', [['Host', '127.0.0.1']])]);
    expect(responses[0].status).toBe(204);
    expect(responses[0].headers.allow).toContain('POST');
  });

  it.each([
    ['not JSON', '%7Bbad'],
    ['not URI-decodable', '%E0%A4%A'],
    ['a JSON array Next cannot read', encodeURIComponent('[1,2,3]')],
  ])('4. a Next-Router-State-Tree that is %s with RSC: 1 renders the page instead of a 500', async (_l, tree) => {
    const { responses } = await exchange(app.port, [
      head('GET / HTTP/1.1', [['Host', '127.0.0.1'], ['Accept', '*/*'], ['RSC', '1'], ['Next-Router-State-Tree', tree]]),
    ], { timeoutMs: 15_000 });
    expect(responses[0]?.status).toBe(200);
    await sleep(100);
    expect(app.stderr()).not.toMatch(STACK_OR_CRASH);
  });

  // Finding 5
  it.each([
    [`${TOKEN_PATH}/`, TOKEN_PATH],
    [`/${TOKEN_PATH}`, TOKEN_PATH],
    ['//api/health/', '/api/health'],
    ['//evil.example/', '/evil.example'],
  ])('5. %s → 308 in the API shape to the same-origin %s', async (path, location) => {
    const { responses } = await exchange(app.port, [head(`GET ${path} HTTP/1.1`, [['Host', '127.0.0.1']])]);
    const res = expectApiShape(responses[0], 308, 'permanent_redirect');
    expect(res.headers.location).toBe(location);
  });

  it('5. bad percent-encoding under /api → 400 in the API shape', async () => {
    const { responses } = await exchange(app.port, [head('GET /api/%zz HTTP/1.1', [['Host', '127.0.0.1']])]);
    expectApiShape(responses[0], 400, 'bad_request');
  });

  it('5. POST /api/health → 405 in the API shape', async () => {
    const res = await fetch(`${app.url}/api/health`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(405);
    expect((await res.json()).error).toBe('method_not_allowed');
    expectHeaders(res, API_HEADERS);
    expect(res.headers.get('x-trace-id')).toMatch(/^[0-9a-f]{32}$/);
  });

  // Finding 6
  it('6. no x-clerk-* or x-middleware-* header reaches a client, on the API or on pages', async () => {
    const hs256 = `Bearer ${await signJwt()}`;
    const answers = await Promise.all([
      fetch(`${app.url}${TOKEN_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: hs256 }, body: '{}' }),
      fetch(`${app.url}${TOKEN_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer not.a.jwt' }, body: '{}' }),
      fetch(`${app.url}/`, { headers: { accept: '*/*', authorization: hs256 }, redirect: 'manual' }),
      fetch(`${app.url}/`, { headers: { accept: '*/*', cookie: '__session=not.a.jwt' }, redirect: 'manual' }),
      fetch(`${app.url}/api/nowhere`, { headers: { authorization: hs256 } }),
    ]);
    for (const res of answers) {
      await res.arrayBuffer();
      expect([...res.headers.keys()].filter((name) => /^x-(clerk|middleware)-/.test(name)), res.url).toEqual([]);
    }
  });

  // Finding 7
  if (capsCases) it('7. one client holding 1,100 idle connections does not lock anyone else out', async () => {
    await lingerOver();
    const hog: Socket[] = await openIdle(app.port, 1100, '127.0.0.1');
    try {
      await sleep(300);
      for (const address of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
        const health = await exchange(app.port, [head('GET /api/health HTTP/1.1', [['Host', '127.0.0.1']])], { localAddress: address });
        expect(health.responses[0]?.status, `${address}: ${health.error ?? ''}`).toBe(200);
      }
      const token = await exchange(app.port, [tokenHead(Buffer.byteLength(body), [['Authorization', await setup.credential()]]) + body], { localAddress: '127.0.0.5' });
      expect(token.responses[0]?.status).toBe(200);
      // The hog's next connection is refused in the API shape (or closed if no slot is free).
      const more = await exchange(app.port, [head('GET /api/health HTTP/1.1', [['Host', '127.0.0.1']])], { localAddress: '127.0.0.1' });
      expect(more.closedByServer).toBe(true);
      if (more.responses[0]) expectApiShape(more.responses[0], 503, 'too_many_connections');
    } finally {
      for (const socket of hog) socket.destroy();
    }
    await sleep(300);
    const after = await exchange(app.port, [head('GET /api/health HTTP/1.1', [['Host', '127.0.0.1']])], { localAddress: '127.0.0.1' });
    expect(after.responses[0]?.status).toBe(200);
  }, 60_000);

  // Finding 10
  it('10. every stdout line is one JSON object with timestamp, level, event and message, lifecycle lines included', async () => {
    await flushLogs(app);
    await app.stop('SIGTERM');
    const lines = app.stdout.map((line) => JSON.parse(line) as LogLine);
    for (const line of lines) {
      expect(typeof line.timestamp, JSON.stringify(line)).toBe('string');
      expect(Number.isNaN(Date.parse(String(line.timestamp)))).toBe(false);
      for (const field of ['level', 'event', 'message']) expect(typeof line[field], `${field} in ${JSON.stringify(line)}`).toBe('string');
    }
    const events = lines.map((l) => l.event);
    for (const event of ['front_door_limits', 'server_started', 'server_stopping']) expect(events).toContain(event);
    expect(lines.find((l) => l.event === 'server_started')?.port).toBe(app.port);
  });
});

/** 25 requests with bad credentials, each with a new forged X-Forwarded-For. */
async function forgedBadAuth(url: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < 25; i++) {
    const res = await fetch(`${url}${TOKEN_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer bad.token.here', 'x-forwarded-for': `198.51.100.${i + 1}` },
      body: '{}',
    });
    await res.arrayBuffer();
    statuses.push(res.status);
  }
  return statuses;
}

describe('8. a client cannot pick its IP key outside the front door', () => {
  // Under `npm run dev`: tests/dev/dev-server.test.ts (one dev server for the page and the door).
  it('under bare `next start` (no front door), every token request is 503 with one critical line, never keyed from a header', async () => {
    const dir = await ensureBuild();
    const port = await freePort();
    const child = spawn(process.execPath, [join(dir, 'node_modules/next/dist/bin/next'), 'start', '-H', '127.0.0.1', '-p', String(port)], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NEXT_TELEMETRY_DISABLED: '1', OPENAI_API_KEY: SERVER_KEY, OPENAI_BASE_URL: upstream.baseUrl, JWT_SECRET: TEST_JWT_SECRET } as unknown as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    try {
      for (let start = Date.now(); !stdout.includes('Ready'); ) {
        if (Date.now() - start > 60_000) throw new Error(`next start did not get ready: ${stdout}`);
        await sleep(100);
      }
      const statuses = await forgedBadAuth(`http://127.0.0.1:${port}`);
      expect(statuses).toEqual(Array(25).fill(503));
      await sleep(300);
      const critical = stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as LogLine)
        .filter((line) => line.level === 'critical');
      expect(critical).toHaveLength(1);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }, 120_000);
});

describe('10. the documented start command', () => {
  it('`npm start --silent` writes only JSON lines to stdout', async () => {
    const dir = await ensureBuild();
    const child = spawn('npm', ['start', '--silent'], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', PORT: '0', JWT_SECRET: TEST_JWT_SECRET } as unknown as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    try {
      for (let start = Date.now(); !stdout.includes('"server_started"'); ) {
        if (Date.now() - start > 60_000) throw new Error(`npm start did not start: ${stdout}`);
        await sleep(100);
      }
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    const lines = stdout.split('\n').filter((line) => line !== '');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) {
      const parsed = JSON.parse(line) as LogLine;
      for (const field of ['timestamp', 'level', 'event', 'message']) expect(typeof parsed[field], `${field} in ${line}`).toBe('string');
    }
  }, 90_000);
});
