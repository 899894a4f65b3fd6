import { randomBytes, randomInt } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockOpenAI, type MockOpenAI } from '../support/upstream';
import { startApp, type AppServer } from '../support/app-server';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';
import { flushLogs, newTrace, TOKEN_PATH } from './http';

/**
 * The two production setups the README documents, proven against the real
 * server: a client that forges X-Forwarded-For never chooses its rate-limit key.
 * The API limit is 5 per minute here, so the 6th request from one client is 429.
 */

const API_LIMIT = 5;
const BASE_ENV = {
  OPENAI_API_KEY: 'sk-client-ip-key-0123456789',
  JWT_SECRET: TEST_JWT_SECRET,
  RATE_LIMIT_API: `${API_LIMIT}/60`,
};

let upstream: MockOpenAI;
beforeAll(async () => {
  upstream = await startMockOpenAI();
});
afterAll(async () => {
  await upstream?.close();
});

const randomIpv4 = () => Array.from({ length: 4 }, () => randomInt(1, 255)).join('.');
const randomIpv6 = () => `2001:db8:${randomBytes(2).toString('hex')}::${randomBytes(2).toString('hex')}`;

/** A forged X-Forwarded-For value: different on every call. */
function forgedChain(): string {
  const chains = [
    randomIpv4(),
    `${randomIpv4()}, ${randomIpv4()}`,
    `${randomIpv6()}, ${randomIpv4()}, ${randomIpv4()}`,
    `127.0.0.1, ${randomIpv4()}`,
    `unknown, ${randomIpv4()}`,
  ];
  return chains[randomInt(chains.length)];
}

async function tokenRequest(url: string, headers: Record<string, string>): Promise<{ status: number; traceId: string; retryAfter: string | null }> {
  const { traceId, traceparent } = newTrace();
  const res = await fetch(`${url}${TOKEN_PATH}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${await signJwt({}, { subject: `user-${randomBytes(4).toString('hex')}` })}`,
      traceparent,
      ...headers,
    },
    body: '{}',
  });
  await res.arrayBuffer();
  return { status: res.status, traceId, retryAfter: res.headers.get('retry-after') };
}

describe('direct exposure (TRUSTED_PROXY_HOPS=0)', () => {
  let app: AppServer;
  beforeAll(async () => {
    app = await startApp({ ...BASE_ENV, OPENAI_BASE_URL: upstream.baseUrl, TRUSTED_PROXY_HOPS: '0' });
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('a client forging a new X-Forwarded-For on every request still hits its one limit', async () => {
    const results = [];
    for (let i = 0; i < API_LIMIT + 3; i++) {
      results.push(await tokenRequest(app.url, { 'x-forwarded-for': forgedChain(), 'x-real-ip': randomIpv4(), forwarded: `for=${randomIpv4()}` }));
    }
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    for (const r of results.slice(API_LIMIT)) expect(Number(r.retryAfter)).toBeGreaterThan(0);

    const logs = await flushLogs(app);
    const ours = new Set(results.map((r) => r.traceId));
    const lines = logs.filter((l) => ours.has(l.traceId!));
    expect(lines.length).toBeGreaterThan(0);
    expect(new Set(lines.map((l) => l.ip))).toEqual(new Set(['127.0.0.1']));
    const refused = lines.filter((l) => l.event === 'rate_limit_exceeded');
    expect(refused).toHaveLength(3);
    for (const line of refused) expect(line.metadata).toMatchObject({ policy: 'api', limit: API_LIMIT });
  });
});

/**
 * A minimal reverse proxy like nginx with
 * `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`: it appends
 * the peer it saw to whatever the client sent. To stand in for many clients on
 * one loopback machine, the peer it records can be set with a test-only header
 * that the proxy strips (a real proxy would see distinct socket addresses).
 */
async function startAppendingProxy(target: AppServer): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const peer = (req.headers['x-test-peer'] as string | undefined) ?? req.socket.remoteAddress ?? 'unknown';
    const headers = { ...req.headers };
    delete headers['x-test-peer'];
    const sent = headers['x-forwarded-for'];
    headers['x-forwarded-for'] = sent ? `${Array.isArray(sent) ? sent.join(', ') : sent}, ${peer}` : peer;
    const upstreamReq = httpRequest(
      { host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    upstreamReq.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstreamReq);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('behind one reverse proxy (TRUSTED_PROXY_HOPS=1)', () => {
  let app: AppServer;
  let proxy: Awaited<ReturnType<typeof startAppendingProxy>>;
  beforeAll(async () => {
    app = await startApp({ ...BASE_ENV, OPENAI_BASE_URL: upstream.baseUrl, TRUSTED_PROXY_HOPS: '1' });
    proxy = await startAppendingProxy(app);
  });
  afterAll(async () => {
    await proxy?.close();
    await app?.stop();
  });

  async function ipsLogged(traceIds: string[]): Promise<Set<unknown>> {
    const wanted = new Set(traceIds);
    return new Set((await flushLogs(app)).filter((l) => wanted.has(l.traceId!)).map((l) => l.ip));
  }

  it('keys the client the proxy saw, whatever the client prepends', async () => {
    const client = '203.0.113.7';
    const results = [];
    for (let i = 0; i < API_LIMIT + 2; i++) {
      results.push(await tokenRequest(proxy.url, { 'x-test-peer': client, 'x-forwarded-for': forgedChain() }));
    }
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429, 429]);
    expect(await ipsLogged(results.map((r) => r.traceId))).toEqual(new Set([client]));
  });

  it('cannot borrow another client\'s fresh key by naming it in X-Forwarded-For', async () => {
    // 203.0.113.7 is spent; it claims to be a fresh client, placed where the proxy would write it.
    const results = [];
    for (const forged of ['198.51.100.200', '198.51.100.200, 198.51.100.201', '10.0.0.1, 198.51.100.202']) {
      results.push(await tokenRequest(proxy.url, { 'x-test-peer': '203.0.113.7', 'x-forwarded-for': forged }));
    }
    expect(results.map((r) => r.status)).toEqual([429, 429, 429]);
    expect(await ipsLogged(results.map((r) => r.traceId))).toEqual(new Set(['203.0.113.7']));
  });

  it('gives two clients the proxy reports separately their own limits', async () => {
    const other = '198.51.100.9';
    const results = [];
    for (let i = 0; i < API_LIMIT + 1; i++) {
      results.push(await tokenRequest(proxy.url, { 'x-test-peer': other, 'x-forwarded-for': forgedChain() }));
    }
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429]);
    expect(await ipsLogged(results.map((r) => r.traceId))).toEqual(new Set([other]));
    // The first client is still limited; the second's quota did not reset it.
    expect((await tokenRequest(proxy.url, { 'x-test-peer': '203.0.113.7' })).status).toBe(429);
  });

  it('keys IPv6 clients by their /64, so rotating the interface id does not help', async () => {
    const results = [];
    for (let i = 0; i < API_LIMIT + 1; i++) {
      results.push(await tokenRequest(proxy.url, { 'x-test-peer': `2001:db8:aaaa:bbbb:${randomBytes(2).toString('hex')}::${i + 1}` }));
    }
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429]);
    expect(await ipsLogged(results.map((r) => r.traceId))).toEqual(new Set(['2001:db8:aaaa:bbbb::/64']));
  });
});
