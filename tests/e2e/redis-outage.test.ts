import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { startMockOpenAI, type MockOpenAI } from '../support/upstream';
import { startApp, type AppServer } from '../support/app-server';
import { startRedis, type RedisServer } from '../support/redis';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';

/**
 * Redis killed under load, then restarted on the same port, with two
 * production servers sharing it (issue 4 "Redis killed mid-load"):
 * no 5xx, limits still enforced (per instance while Redis is gone), one
 * `critical` line per instance per outage, and back to Redis after restart.
 */

const PASSWORD = 'outage-redis-password';
let redis: RedisServer;
let upstream: MockOpenAI;
let a: AppServer;
let b: AppServer;
const tokens = new Map<string, Promise<string>>();

beforeAll(async () => {
  redis = await startRedis({ password: PASSWORD });
  upstream = await startMockOpenAI();
  const env = {
    OPENAI_API_KEY: 'sk-test-e2e-key-123456',
    OPENAI_BASE_URL: upstream.baseUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    REDIS_URL: redis.url,
    RATE_LIMIT_PREFIX: 'e2e-outage:',
    // Generous on a loaded 2-core box, so the only outage is the one this test causes.
    REDIS_TIMEOUT_MS: '1000',
    RATE_LIMIT_API: '100000/60',
  };
  [a, b] = await Promise.all([startApp(env), startApp(env)]);
}, 900_000); // may include a production build, queued behind others on a 2-core box

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await upstream?.close();
  await redis?.close();
});

function tokenFor(user: string): Promise<string> {
  if (!tokens.has(user)) tokens.set(user, signJwt({}, { subject: user, expiresIn: '10m' }));
  return tokens.get(user)!;
}

async function requestToken(app: AppServer, user: string): Promise<number> {
  const res = await fetch(`${app.url}/api/realtime/token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await tokenFor(user)}`, 'content-type': 'application/json' },
    body: '{}',
  });
  await res.arrayBuffer();
  return res.status;
}

async function statuses(app: AppServer, user: string, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(await requestToken(app, user));
  return out;
}

async function health(app: AppServer): Promise<{ status: number; body: unknown; text: string }> {
  const res = await fetch(`${app.url}/api/health`);
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), text };
}

const events = (app: AppServer, event: string) => app.logs().filter((l) => l.event === event);
const tenThenRefused = (n: number) => [...Array(10).fill(200), ...Array(n - 10).fill(429)];

it('keeps limiting through a Redis crash and returns to Redis after the restart', { timeout: 120_000 }, async () => {
  expect((await health(a)).body).toEqual({ status: 'ok', limiter: 'redis' });
  expect((await health(b)).body).toEqual({ status: 'ok', limiter: 'redis' });

  // Load: six clients, two users, both instances, until told to stop.
  const users = ['load-0', 'load-1'];
  const seen: Array<{ user: string; status: number; afterKill: boolean }> = [];
  let killed = false;
  let running = true;
  const workers = Array.from({ length: 6 }, async (_, w) => {
    for (let i = 0; running; i++) {
      const user = users[(w + i) % 2];
      const status = await requestToken((w + i) % 3 === 0 ? a : b, user);
      seen.push({ user, status, afterKill: killed });
    }
  });
  // Both users exhaust their shared 10 while Redis is up...
  await vi.waitFor(() => expect(seen.filter((s) => s.status === 429).length).toBeGreaterThan(10), { timeout: 30_000 });
  // ...and Redis dies mid-load.
  await redis.stop('SIGKILL');
  killed = true;
  await vi.waitFor(() => expect(seen.filter((s) => s.afterKill).length).toBeGreaterThan(100), { timeout: 30_000 });
  running = false;
  await Promise.all(workers);

  // No 5xx at any point: only tokens and refusals.
  expect(seen.filter((s) => s.status >= 500)).toEqual([]);
  expect(new Set(seen.map((s) => s.status))).toEqual(new Set([200, 429]));
  // Never open: at most the shared 10, plus 10 per instance once each limits on its own.
  for (const user of users) {
    const admitted = seen.filter((s) => s.user === user && s.status === 200).length;
    expect(admitted).toBeGreaterThanOrEqual(10);
    expect(admitted).toBeLessThanOrEqual(10 + 2 * 10);
  }
  expect(seen.filter((s) => s.afterKill && s.status === 429).length).toBeGreaterThan(30);

  // While Redis is down each instance limits on its own: 10 per user per instance.
  expect(await statuses(a, 'outage-user', 14)).toEqual(tenThenRefused(14));
  expect(await statuses(b, 'outage-user', 14)).toEqual(tenThenRefused(14));

  for (const app of [a, b]) {
    const h = await health(app);
    expect(h.status).toBe(200);
    expect(h.body).toEqual({ status: 'degraded', limiter: 'redis-degraded' });
    const degraded = events(app, 'rate_limit_store_degraded');
    expect(degraded).toHaveLength(1);
    expect(degraded[0]).toMatchObject({ level: 'critical', metadata: { store: 'redis', fallback: 'memory' } });
  }

  // Redis comes back on the same port, empty (no persistence).
  await redis.start();
  for (const app of [a, b]) {
    await vi.waitFor(async () => expect((await health(app)).body).toEqual({ status: 'ok', limiter: 'redis' }), {
      timeout: 15_000,
      interval: 250,
    });
    await app.waitForLog((l) => l.event === 'rate_limit_store_recovered');
  }

  // A user limited during the outage stays limited, though Redis forgot them.
  expect(await statuses(a, 'outage-user', 2)).toEqual([429, 429]);
  expect(await statuses(b, 'outage-user', 2)).toEqual([429, 429]);

  // Shared again: a new user alternating between instances gets 10 in total.
  const shared: number[] = [];
  for (let i = 0; i < 14; i++) shared.push(await requestToken(i % 2 === 0 ? a : b, 'after-restart-user'));
  expect(shared).toEqual(tenThenRefused(14));
  const keys = await redis.client().keys('e2e-outage:*');
  expect(keys).toContain('e2e-outage:token:jwt:after-restart-user');

  for (const app of [a, b]) {
    // Once per outage, not once per request; and the recovery once.
    expect(events(app, 'rate_limit_store_degraded')).toHaveLength(1);
    expect(events(app, 'rate_limit_store_recovered')).toHaveLength(1);
    expect(events(app, 'internal_error')).toEqual([]);
    // Nothing about the Redis server reaches the logs.
    expect(app.stdout.join('\n')).not.toMatch(new RegExp(`${PASSWORD}|redis://|ECONNREFUSED|:${redis.port}\\b`));
  }
});
