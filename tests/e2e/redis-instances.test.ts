import type Redis from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MockOpenAI } from '../support/upstream';
import type { AppServer } from '../support/app-server';
import { startRedisInstances, type RedisInstances, type RedisServer } from '../support/redis';
import { signJwt } from '../support/tokens';

/**
 * Two production servers (`npm start`) on different ports behind one private
 * redis-server, as several instances behind a load balancer: the token limit
 * (10 per minute per user) is one limit across both.
 */

const PASSWORD = 'two-instances-redis-pw';
const PREFIX = 'e2e-two:';
let redis: RedisServer;
let admin: Redis;
let upstream: MockOpenAI;
let a: AppServer;
let b: AppServer;
let instances: RedisInstances;

beforeAll(async () => {
  instances = await startRedisInstances({
    password: PASSWORD,
    prefix: PREFIX,
    env: {
      // A loaded CI box must not turn a slow answer into a (per-instance) fallback here.
      REDIS_TIMEOUT_MS: '2000',
      // Every request comes from 127.0.0.1: keep the per-IP API limit out of the way.
      RATE_LIMIT_API: '1000/60',
    },
  });
  ({ redis, upstream } = instances);
  [a, b] = instances.apps;
  admin = redis.client();
});

afterAll(async () => {
  await instances?.close();
});

async function requestToken(app: AppServer, token: string): Promise<Response> {
  const res = await fetch(`${app.url}/api/realtime/token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: '{}',
  });
  await res.arrayBuffer();
  return res;
}

async function health(app: AppServer): Promise<unknown> {
  const res = await fetch(`${app.url}/api/health`);
  expect(res.status).toBe(200);
  return res.json();
}

it('both instances report the shared Redis limiter', { timeout: 60_000 }, async () => {
  expect(await health(a)).toEqual({ status: 'ok', limiter: 'redis' });
  expect(await health(b)).toEqual({ status: 'ok', limiter: 'redis' });
});

it('a user alternating between the two instances gets exactly 10 tokens per minute in total', { timeout: 60_000 }, async () => {
  const token = await signJwt({}, { subject: 'alternating-user' });
  const before = upstream.requests.length;
  const answers: Array<{ via: string; status: number; remaining: string | null; retryAfter: string | null }> = [];
  for (let i = 0; i < 20; i++) {
    const app = i % 2 === 0 ? a : b;
    const res = await requestToken(app, token);
    answers.push({ via: app === a ? 'a' : 'b', status: res.status, remaining: res.headers.get('x-ratelimit-remaining'), retryAfter: res.headers.get('retry-after') });
  }
  expect(answers.map((x) => x.status)).toEqual([...Array(10).fill(200), ...Array(10).fill(429)]);
  // One count across both: each answer sees the other instance's admits.
  expect(answers.slice(0, 10).map((x) => x.remaining)).toEqual(['9', '8', '7', '6', '5', '4', '3', '2', '1', '0']);
  expect(answers.slice(0, 10).map((x) => x.via)).toEqual(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
  for (const refused of answers.slice(10)) {
    expect(refused.remaining).toBe('0');
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(refused.retryAfter)).toBeLessThanOrEqual(60);
  }
  expect(upstream.requests.length - before).toBe(10);
  // The shared log (lib/limits/lua.ts): a 16-digit header, then one 16-digit record per admit.
  expect(await admin.strlen(`${PREFIX}token#2:jwt:alternating-user`)).toBe(16 + 10 * 16);
});

it('a concurrent burst spread over both instances still admits exactly 10', { timeout: 60_000 }, async () => {
  const token = await signJwt({}, { subject: 'burst-user' });
  const before = upstream.requests.length;
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => requestToken(i % 2 === 0 ? a : b, token)));
  const statuses = results.map((r) => r.status);
  expect(statuses.filter((s) => s === 200)).toHaveLength(10);
  expect(statuses.filter((s) => s === 429)).toHaveLength(30);
  expect(upstream.requests.length - before).toBe(10);
});

it('every key the instances wrote carries a TTL, and nothing else is in Redis', async () => {
  const keys = await admin.keys('*');
  expect(keys.length).toBeGreaterThan(0);
  for (const key of keys) {
    expect(key.startsWith(PREFIX)).toBe(true);
    const ttl = await admin.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    // The longest default window (RATE_LIMIT_TOKEN_DAILY, 24 h), plus an admit log's slack of an eighth (lib/limits/lua.ts, "TTL").
    expect(ttl).toBeLessThanOrEqual(86_400_000 * 1.125 + 1);
  }
});

it('neither instance fell back to memory, or logged anything about Redis', async () => {
  for (const app of [a, b]) {
    const events = app.logs().map((l) => l.event);
    expect(events).not.toContain('rate_limit_store_degraded');
    expect(app.stdout.join('\n')).not.toMatch(new RegExp(`${PASSWORD}|redis://|:${redis.port}\\b`));
  }
});
