import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RatePolicy } from '@/lib/limits/store';
import { HIT_PACK, HIT_SCRIPT, PEEK_SCRIPT } from '@/lib/limits/lua';
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

/** The records of an admit log (lib/limits/lua.ts): 16-digit stamps after a 16-digit header. */
async function records(redisKey: string): Promise<string[]> {
  const log = (await admin.get(redisKey)) ?? '';
  return log.slice(16).match(/.{16}/g) ?? [];
}

describe('layout in Redis', () => {
  it('keeps each key as a string of admit stamps at <prefix><policy>#2:<key>, bounded by N', async () => {
    const store = open();
    const k = key();
    for (let i = 0; i < 12; i++) await store.hit(k, policy(5));
    const redisKey = `${PREFIX}token#2:${k}`;
    expect(store.logKey(k, policy(5))).toBe(redisKey);
    expect(await admin.type(redisKey)).toBe('string');
    // Seven refusals later, still only the five admits, oldest first.
    const log = (await admin.get(redisKey)) ?? '';
    expect(log).toMatch(/^(\d{16}){6}$/);
    const stamps = await records(redisKey);
    expect(stamps).toHaveLength(5);
    expect([...stamps].sort()).toEqual(stamps);
    // The header is the stamp the TTL was last set from (the first admit here).
    expect(log.slice(0, 16)).toBe(stamps[0]);
  });

  it('keeps at most N records: the expired ones go when the log is full', async () => {
    const store = open();
    const k = key();
    const p = policy(3, 300);
    for (let i = 0; i < 3; i++) await store.hit(k, p);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(await store.hit(k, p)).toMatchObject({ allowed: true, remaining: 2 });
    expect(await records(store.logKey(k, p))).toHaveLength(1);
    expect(await store.hit(k, p)).toMatchObject({ allowed: true, remaining: 1 });
    expect(await records(store.logKey(k, p))).toHaveLength(2);
  });

  it('gives a key a TTL of its window plus an eighth, set again only on admits past that slack', async () => {
    const store = open();
    const k = key();
    const p = policy(2, 32_000);
    await store.hit(k, p);
    const redisKey = store.logKey(k, p);
    const ttl = await admin.pttl(redisKey);
    expect(ttl).toBeGreaterThan(35_000);
    expect(ttl).toBeLessThanOrEqual(36_001);
    await store.hit(k, p);
    const before = await admin.get(redisKey);
    const ttlBefore = await admin.pttl(redisKey);
    for (let i = 0; i < 5; i++) expect((await store.hit(k, p)).allowed).toBe(false);
    // A refused request writes nothing: same log, TTL not extended.
    expect(await admin.get(redisKey)).toBe(before);
    expect(await admin.pttl(redisKey)).toBeLessThanOrEqual(ttlBefore);
  });

  it('sets the TTL again (and the header) for an admit later than the header plus the slack', async () => {
    const store = open();
    const k = key();
    const p = policy(5, 80_000);
    const redisKey = store.logKey(k, p);
    // A log whose TTL was set from a stamp 30 s ago (slack: 10 s) and runs out in 60 s.
    const [seconds, micros] = await admin.time();
    const old = Number(seconds) * 1_000_000 + Number(micros) - 30_000_000;
    await admin.set(redisKey, `${old}${old}`, 'PX', 60_000);
    expect(await store.hit(k, p)).toMatchObject({ allowed: true, remaining: 3 });
    // Now the key outlives the new admit's window: 80 s + 10 s.
    expect(await admin.pttl(redisKey)).toBeGreaterThan(89_000);
    const log = (await admin.get(redisKey)) ?? '';
    expect(log.slice(0, 16)).toBe((await records(redisKey))[1]);
  });

  it('peek never creates or changes a key', async () => {
    const store = open();
    const k = key();
    const p = policy(3);
    await store.peek(k, p);
    expect(await admin.exists(store.logKey(k, p))).toBe(0);
    await store.hit(k, p);
    const before = await admin.get(store.logKey(k, p));
    await store.peek(k, p);
    expect(await admin.get(store.logKey(k, p))).toBe(before);
  });

  it('records a distinct admit when two would share a microsecond (or the clock stepped back)', async () => {
    const store = open();
    const k = key();
    const p = policy(10, 60_000);
    const redisKey = store.logKey(k, p);
    // An admit stamped 5 s ahead of the server clock: every new admit is
    // "at or before" it, the case a same-microsecond admit also hits.
    const [seconds, micros] = await admin.time();
    const ahead = Number(seconds) * 1_000_000 + Number(micros) + 5_000_000;
    await admin.set(redisKey, `${ahead}${ahead}`, 'PX', 65_000);

    const first = await store.hit(k, p);
    const second = await store.hit(k, p);
    expect([first.remaining, second.remaining]).toEqual([8, 7]);
    expect(await records(redisKey)).toEqual([String(ahead), String(ahead + 1), String(ahead + 2)]);
    // The TTL covers the latest stamp's window, so nothing expires early.
    expect(await admin.pttl(redisKey)).toBeGreaterThan(61_000);
  });

  it('a released reservation removes its own record and keeps the TTL', async () => {
    const store = open();
    const k = key();
    const p = policy(4);
    const redisKey = store.logKey(k, p);
    await store.hit(k, p);
    const held = await store.reserve(k, p);
    await store.hit(k, p);
    const [a, b, c] = await records(redisKey);
    const ttl = await admin.pttl(redisKey);
    await held.release();
    expect(await records(redisKey)).toEqual([a, c]);
    expect(b).not.toBe(a);
    expect(await admin.pttl(redisKey)).toBeGreaterThan(ttl - 1000);
    expect(await admin.pttl(redisKey)).toBeLessThanOrEqual(ttl);
    // Released twice: nothing more goes.
    await held.release();
    expect(await records(redisKey)).toEqual([a, c]);
  });

  it('answers the same reset and remaining whether the reply is packed in one integer or a table', async () => {
    const store = open();
    const k = key();
    const p = policy(HIT_PACK + 10, 60_000);
    const redisKey = store.logKey(k, p);
    // A log one admit short of the packing base, its oldest admit 1 s ago.
    const [seconds, micros] = await admin.time();
    const now = Number(seconds) * 1_000_000 + Number(micros);
    const stamps = Array.from({ length: HIT_PACK - 2 }, (_, i) => now - 1_000_000 + i);
    await admin.set(redisKey, `${stamps[0]}${stamps.join('')}`, 'PX', 65_000);
    const resetAt = Math.ceil((stamps[0] + 60_000_000) / 1000);
    // Admit HIT_PACK - 1 is packed; admit HIT_PACK comes as a table.
    expect(await store.hit(k, p)).toMatchObject({ allowed: true, remaining: 11, resetAt });
    expect(await store.hit(k, p)).toMatchObject({ allowed: true, remaining: 10, resetAt });
    expect((await store.reserve(k, p)) as object).toMatchObject({ allowed: true, remaining: 9, resetAt });
    expect(await store.peek(k, p)).toMatchObject({ remaining: 9, resetAt });
  });

  it('leaves an old sorted-set key of the same name alone (a rolling deploy from the previous layout)', async () => {
    const store = open();
    const k = key();
    const p = policy(3);
    const legacy = store.keyFor(k, p);
    await admin.zadd(legacy, 1, '1');
    expect(await store.hit(k, p)).toMatchObject({ allowed: true, remaining: 2 });
    expect(await admin.type(legacy)).toBe('zset');
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
    await admin.rpush(store.logKey(k, policy(1)), 'not a string');
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
