import fc from 'fast-check';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryRateLimitStore } from '@/lib/limits/memory';
import { RedisRateLimitStore } from '@/lib/limits/redis';
import type { RatePolicy, RateLimitResult, Reservation } from '@/lib/limits/store';
import { startRedis, type RedisServer } from '../support/redis';

/**
 * The Redis admit log (lib/limits/lua.ts: one string of 16-digit stamps)
 * against a model and the memory store, on random sequences of hits,
 * reservations, releases and peeks: the same answers, and a log that stays
 * sorted, unique and bounded by N. Windows are long (nothing expires while a
 * sequence runs, so both real clocks agree); expiry is in tests/contract.
 */

type Op = { kind: 'hit' } | { kind: 'reserve' } | { kind: 'peek' } | { kind: 'release'; which: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.constant<Op>({ kind: 'hit' }),
  fc.constant<Op>({ kind: 'reserve' }),
  fc.constant<Op>({ kind: 'peek' }),
  fc.nat(20).map<Op>((which) => ({ kind: 'release', which })),
);

let server: RedisServer;
let admin: Redis;
let redisStore: RedisRateLimitStore;
let run = 0;

beforeAll(async () => {
  server = await startRedis();
  admin = server.client();
  redisStore = new RedisRateLimitStore({ url: server.url, prefix: 'prop:', timeoutMs: 2000 });
});
afterAll(async () => {
  await redisStore?.close();
  await server?.close();
});

/** What a store answered, without its clock. */
const seen = (r: RateLimitResult) => ({ allowed: r.allowed, remaining: r.remaining, reason: r.reason });

describe('the Redis admit log', () => {
  it('answers as the model and the memory store do, and stays sorted, unique and bounded by N', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.array(op, { minLength: 1, maxLength: 30 }), async (limit, ops) => {
        const key = `k${run++}`;
        const policy: RatePolicy = { name: 'prop', limit, windowMs: 600_000 };
        const memory = new MemoryRateLimitStore({ sweepIntervalMs: 0 });
        const held: Array<{ redis: Reservation; memory: Reservation; live: boolean }> = [];
        let admits = 0;
        try {
          for (const o of ops) {
            if (o.kind === 'release') {
              const h = held[o.which % Math.max(1, held.length)];
              if (h === undefined) continue;
              await h.redis.release();
              await h.memory.release();
              if (h.live) admits--;
              h.live = false;
              continue;
            }
            const [r, m] =
              o.kind === 'hit'
                ? [await redisStore.hit(key, policy), await memory.hit(key, policy)]
                : o.kind === 'reserve'
                  ? [await redisStore.reserve(key, policy), await memory.reserve(key, policy)]
                  : [await redisStore.peek(key, policy), await memory.peek(key, policy)];
            const expectAllowed = admits < limit;
            if (o.kind !== 'peek' && expectAllowed) admits++;
            expect(seen(r)).toEqual(seen(m));
            expect(r.allowed).toBe(expectAllowed);
            expect(r.remaining).toBe(o.kind === 'peek' || !expectAllowed ? Math.max(0, limit - admits) : limit - admits);
            if (o.kind === 'reserve') held.push({ redis: r as Reservation, memory: m as Reservation, live: r.allowed });
          }
          const log = (await admin.get(redisStore.logKey(key, policy))) ?? '';
          const stamps = (log.slice(16).match(/.{16}/g) ?? []).map(Number);
          expect(log.length % 16).toBe(0);
          expect(stamps.length).toBe(admits);
          expect(stamps.length).toBeLessThanOrEqual(limit);
          for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThan(stamps[i - 1]);
          if (log) expect(await admin.pttl(redisStore.logKey(key, policy))).toBeGreaterThan(0);
        } finally {
          await memory.close();
        }
      }),
      { numRuns: 120, seed: 15 },
    );
  });
});
