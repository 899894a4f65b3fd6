import { describe, expect, it } from 'vitest';
import { MemoryRateLimitStore } from '@/lib/limits/memory';
import { foldTrend, MemoryObservations, recentCount } from '@/lib/limits/observations';
import { RedisRateLimitStore } from '@/lib/limits/redis';
import { ResilientRateLimitStore } from '@/lib/limits/resilient';
import { createSecurityLogger } from '@/lib/security-logger';
import { startRedis } from '../support/redis';

/**
 * The memory side of the anomaly detectors' state (lib/limits/observations.ts):
 * bounded whatever the traffic, and the EWMA fold the Lua script mirrors
 * (tests/contract/observation-store.contract.test.ts runs both).
 */

const networks = { name: 'n', windowMs: 3_600_000, maxMembers: 6 };
const issuance = { name: 't', bucketMs: 600_000, alpha: 0.1 };

describe('MemoryObservations bound', () => {
  it('never holds more than maxKeys keys, across both operations, under a flood of new keys', () => {
    const store = new MemoryObservations(100);
    for (let i = 0; i < 10_000; i++) {
      store.distinct(`user-${i}`, 'net', networks, i);
      store.trend(`user-${i}`, issuance, i);
    }
    expect(store.size).toBe(100);
  });

  it('a key touched since the last pass survives eviction (second chance); an idle one goes first', () => {
    const store = new MemoryObservations(3);
    for (const user of ['a', 'b', 'c']) store.distinct(user, 'n1', networks, 0);
    store.distinct('a', 'n2', networks, 1); // a is in use
    store.distinct('d', 'n1', networks, 2); // full: b (idle) goes, a gets its second chance
    expect(store.distinct('a', 'n3', networks, 3).members).toEqual(['n3', 'n2', 'n1']);
    expect(store.distinct('b', 'n9', networks, 4).members).toEqual(['n9']);
  });
});

describe('the EWMA fold', () => {
  it('starts from a quiet history, folds completed buckets, decays over empty ones', () => {
    let s = foldTrend(undefined, 10, 0.5);
    expect(s).toEqual({ bucket: 10, current: 1, previous: 0, baseline: 0, buckets: 0 });
    s = foldTrend(foldTrend(s, 10, 0.5), 10, 0.5);
    expect(s.current).toBe(3);
    s = foldTrend(s, 11, 0.5);
    expect(s).toEqual({ bucket: 11, current: 1, previous: 3, baseline: 1.5, buckets: 1 });
    s = foldTrend(s, 14, 0.5); // bucket 11 (1 event) folded, then 12 and 13 empty
    expect(s.previous).toBe(0);
    expect(s.buckets).toBe(4);
    expect(s.baseline).toBeCloseTo((0.5 * 1 + 0.5 * 1.5) * 0.25, 12);
  });

  it('a clock step back counts in the current bucket', () => {
    const s = foldTrend(foldTrend(undefined, 10, 0.5), 9, 0.5);
    expect(s).toMatchObject({ bucket: 10, current: 2 });
  });

  it('the last-10-minutes estimate weighs the previous bucket by its overlap', () => {
    expect(recentCount({ current: 5, previous: 10, elapsed: 0.25, baseline: 0, buckets: 1 })).toBe(12.5);
    expect(recentCount({ current: 5, previous: 10, elapsed: 0, baseline: 0, buckets: 1 })).toBe(15);
  });
});

describe('the resilient store during a Redis outage', () => {
  it('answers observations from memory (never throws, never blocks), logs the outage once, and goes back to Redis', async () => {
    const redis = await startRedis();
    const lines: string[] = [];
    const store = new ResilientRateLimitStore({
      primary: new RedisRateLimitStore({ url: redis.url, prefix: 'obs-outage:', timeoutMs: 500, maxReconnectDelayMs: 100 }),
      fallback: new MemoryRateLimitStore({ sweepIntervalMs: 0 }),
      logger: createSecurityLogger({ sink: (line) => void lines.push(line) }),
      probeIntervalMs: 100,
    });
    try {
      expect((await store.distinct('u', 'shared-1', networks)).members).toEqual(['shared-1']);
      await redis.stop();
      expect((await store.distinct('u', 'local-1', networks)).members).toEqual(['local-1']);
      expect((await store.trend('u', issuance)).current).toBe(1);
      expect(lines.filter((l) => l.includes('rate_limit_store_degraded'))).toHaveLength(1);
      await redis.start();
      // Back on Redis (restarted empty): the shared set again, not the outage's local one.
      let members: readonly string[] = [];
      for (let i = 0; i < 50 && !members.includes('shared-2'); i++) {
        await new Promise((r) => setTimeout(r, 100));
        members = (await store.distinct('u', 'shared-2', networks)).members;
        if (!lines.some((l) => l.includes('rate_limit_store_recovered'))) members = [];
      }
      expect(members).toEqual(['shared-2']);
    } finally {
      await store.close();
      await redis.close();
    }
  }, 30_000);
});
