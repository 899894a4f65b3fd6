import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RatePolicy } from '@/lib/limits/store';
import { HIT_SCRIPT, PEEK_SCRIPT } from '@/lib/limits/lua';
import {
  classifyRedisError,
  RedisRateLimitStore,
  RedisStoreError,
  type RedisStoreOptions,
} from '@/lib/limits/redis';
import { startRedis, type RedisServer } from '../support/redis';

/**
 * What the Redis store does inside Redis: key layout, TTLs, the bound of N,
 * calls by SHA with the EVAL fallback, and how it fails. Semantics shared
 * with the memory store are in tests/contract. A real redis-server, no mocks.
 */

const PREFIX = 'unit-rl:';
const policy = (limit: number, windowMs = 60_000, name = 'token'): RatePolicy => ({ name, limit, windowMs });
const key = () => `user-${randomUUID()}`;

let server: RedisServer;
let admin: Redis;
const stores: RedisRateLimitStore[] = [];

function open(options: Partial<RedisStoreOptions> = {}): RedisRateLimitStore {
  const store = new RedisRateLimitStore({ url: server.url, prefix: PREFIX, timeoutMs: 2000, ...options });
  stores.push(store);
  return store;
}

async function commandCalls(name: string): Promise<number> {
  const info = await admin.info('commandstats');
  const match = new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(info);
  return match ? Number(match[1]) : 0;
}

beforeAll(async () => {
  server = await startRedis({ password: 'unit-test-password' });
  admin = server.client();
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await server?.close();
});

describe('layout in Redis', () => {
  it('keeps each key as a sorted set of admit times at <prefix><policy>:<key>, bounded by N', async () => {
    const store = open();
    const k = key();
    for (let i = 0; i < 12; i++) await store.hit(k, policy(5));
    const redisKey = `${PREFIX}token:${k}`;
    expect(store.keyFor(k, policy(5))).toBe(redisKey);
    expect(await admin.type(redisKey)).toBe('zset');
    // Seven refusals later, still only the five admits.
    const members = await admin.zrange(redisKey, 0, -1, 'WITHSCORES');
    expect(members).toHaveLength(10);
    for (let i = 0; i < members.length; i += 2) {
      expect(members[i]).toMatch(/^\d{16}$/);
      expect(members[i]).toBe(members[i + 1]);
    }
  });

  it('gives a key a TTL of its window and refreshes it only on admits', async () => {
    const store = open();
    const k = key();
    const p = policy(2, 30_000);
    await store.hit(k, p);
    const redisKey = store.keyFor(k, p);
    const ttl = await admin.pttl(redisKey);
    expect(ttl).toBeGreaterThan(29_000);
    expect(ttl).toBeLessThanOrEqual(30_001);
    await store.hit(k, p);
    const before = await admin.zrange(redisKey, 0, -1, 'WITHSCORES');
    const ttlBefore = await admin.pttl(redisKey);
    for (let i = 0; i < 5; i++) expect((await store.hit(k, p)).allowed).toBe(false);
    // A refused request writes nothing: same members, TTL not extended.
    expect(await admin.zrange(redisKey, 0, -1, 'WITHSCORES')).toEqual(before);
    expect(await admin.pttl(redisKey)).toBeLessThanOrEqual(ttlBefore);
  });

  it('peek never creates or changes a key', async () => {
    const store = open();
    const k = key();
    const p = policy(3);
    await store.peek(k, p);
    expect(await admin.exists(store.keyFor(k, p))).toBe(0);
    await store.hit(k, p);
    const before = await admin.zrange(store.keyFor(k, p), 0, -1, 'WITHSCORES');
    await store.peek(k, p);
    expect(await admin.zrange(store.keyFor(k, p), 0, -1, 'WITHSCORES')).toEqual(before);
  });

  it('records a distinct admit when two would share a microsecond (or the clock stepped back)', async () => {
    const store = open();
    const k = key();
    const p = policy(10, 60_000);
    const redisKey = store.keyFor(k, p);
    // An admit stamped 5 s ahead of the server clock: every new admit is
    // "at or before" it, the case a same-microsecond admit also hits.
    const [seconds, micros] = await admin.time();
    const ahead = Number(seconds) * 1_000_000 + Number(micros) + 5_000_000;
    await admin.zadd(redisKey, ahead, String(ahead));
    await admin.pexpire(redisKey, 65_000);

    const first = await store.hit(k, p);
    const second = await store.hit(k, p);
    expect([first.remaining, second.remaining]).toEqual([8, 7]);
    expect(await admin.zrange(redisKey, 0, -1)).toEqual([String(ahead), String(ahead + 1), String(ahead + 2)]);
    // The TTL covers the latest stamp's window, so nothing expires early.
    expect(await admin.pttl(redisKey)).toBeGreaterThan(61_000);
  });
});

describe('scripts', () => {
  it('are loaded when a client connects and then called by SHA only', async () => {
    await admin.script('FLUSH');
    await admin.config('RESETSTAT');
    const store = open();
    const k = key();
    for (let i = 0; i < 5; i++) {
      await store.hit(k, policy(3));
      await store.peek(k, policy(3));
    }
    expect(await admin.script('EXISTS', HIT_SCRIPT.sha, PEEK_SCRIPT.sha)).toEqual([1, 1]);
    expect(await commandCalls('evalsha')).toBe(10);
    expect(await commandCalls('eval')).toBe(0);
  });

  it('fall back to EVAL on NOSCRIPT (after SCRIPT FLUSH) and keep the state', async () => {
    const store = open();
    const k = key();
    const p = policy(3);
    expect((await store.hit(k, p)).remaining).toBe(2);
    await admin.script('FLUSH');
    await admin.config('RESETSTAT');
    expect(await admin.script('EXISTS', HIT_SCRIPT.sha)).toEqual([0]);

    expect((await store.hit(k, p)).remaining).toBe(1);
    expect(await commandCalls('eval')).toBe(1);
    // EVAL cached the script again: the next call goes by SHA.
    expect(await admin.script('EXISTS', HIT_SCRIPT.sha)).toEqual([1]);
    expect((await store.hit(k, p)).remaining).toBe(0);
    expect(await commandCalls('eval')).toBe(1);

    await admin.script('FLUSH');
    expect(await store.peek(k, p)).toMatchObject({ allowed: false, remaining: 0 });
    expect(await commandCalls('eval')).toBe(2);
  });
});

describe('connections and failures', () => {
  it('the first check waits for the first connection instead of failing', async () => {
    const store = open();
    await expect(store.hit(key(), policy(1))).resolves.toMatchObject({ allowed: true });
  });

  it.each([
    ['a closed port', 'redis://127.0.0.1:1'],
    ['a wrong password', () => server.url.replace('unit-test-password', 'wrong-password')],
  ])('rejects with RedisStoreError when pointed at %s', async (_label, url) => {
    const store = open({ url: typeof url === 'function' ? url() : url, connectTimeoutMs: 500 });
    await expect(store.hit(key(), policy(1))).rejects.toBeInstanceOf(RedisStoreError);
    await expect(store.ping()).rejects.toBeInstanceOf(RedisStoreError);
  });

  it('an error reply (a key of the wrong type) is a RedisStoreError, reason "error"', async () => {
    const store = open();
    const k = key();
    await admin.set(store.keyFor(k, policy(1)), 'not a sorted set', 'PX', 60_000);
    const failure = await store.hit(k, policy(1)).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(RedisStoreError);
    expect((failure as RedisStoreError).reason).toBe('error');
  });

  it('a server that answers after the deadline is a failure, reason "timeout"', async () => {
    const store = open({ timeoutMs: 50 });
    await vi.waitFor(() => store.ping(), { timeout: 10_000, interval: 100 });
    // The server holds every client's commands for 400 ms (in effect once it answers OK).
    await admin.client('PAUSE', 400);
    const failure = await store.hit(key(), policy(1)).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(RedisStoreError);
    expect((failure as RedisStoreError).reason).toBe('timeout');
  });

  it('reconnects by itself after the server comes back', async () => {
    const own = await startRedis();
    try {
      const store = new RedisRateLimitStore({ url: own.url, prefix: PREFIX, timeoutMs: 2000, maxReconnectDelayMs: 100 });
      stores.push(store);
      expect((await store.hit('k', policy(5))).allowed).toBe(true);
      await own.stop();
      const failure = await store.hit('k', policy(5)).catch((e: unknown) => e);
      expect((failure as RedisStoreError).reason).toBe('unavailable');
      await own.start();
      // A restarted server without persistence comes back empty.
      await vi.waitFor(() => expect(store.hit('k', policy(5))).resolves.toMatchObject({ remaining: 4 }), { timeout: 5000, interval: 50 });
    } finally {
      await own.close();
    }
  });

  it('close() ends the connection and later checks reject', async () => {
    const store = new RedisRateLimitStore({ url: server.url, prefix: PREFIX });
    // Under a loaded machine the first connect can miss its 1 s wait; the store keeps reconnecting.
    await vi.waitFor(() => store.ping(), { timeout: 10_000, interval: 100 });
    const connections = async () => ((await admin.client('LIST')) as string).split('\n').filter((l) => l.includes('cmd=')).length;
    const before = await connections();
    await store.close();
    await vi.waitFor(async () => expect(await connections()).toBe(before - 1));
    await expect(store.hit(key(), policy(1))).rejects.toMatchObject({ reason: 'unavailable' });
  });

  it.each([
    ['a timeout', Object.assign(new Error('Command timed out'), { name: 'Error' }), 'timeout'],
    ['an error reply', Object.assign(new Error('WRONGTYPE Operation against a key'), { name: 'ReplyError' }), 'error'],
    ['a refused connection', new Error('connect ECONNREFUSED 10.0.0.7:6379'), 'unavailable'],
    ['a closed stream', new Error("Stream isn't writeable and enableOfflineQueue options is false"), 'unavailable'],
    ['a non-error', 'boom', 'unavailable'],
    ['a store error', new RedisStoreError('timeout'), 'timeout'],
  ])('classifies %s without keeping its message', (_label, error, reason) => {
    expect(classifyRedisError(error)).toBe(reason);
    expect(new RedisStoreError(classifyRedisError(error), { cause: error }).message).not.toMatch(/10\.0\.0\.7|WRONGTYPE/);
  });
});
