/**
 * In-process limiter benchmarks: our
 * MemoryRateLimitStore against rate-limiter-flexible's RateLimiterMemory and
 * a naive sliding log; memory under a key flood; cost per check as the
 * number of tracked keys grows. Each part runs in its own child process
 * (see scripts/bench.mjs), started with --expose-gc.
 */
import { createRequire } from 'node:module';
import { loadLib } from '../scripts/lib-loader.mjs';
import { collect, distinctKeys, median, msSince, round } from './stats.mjs';

const require = createRequire(import.meta.url);

/** The spec's general API policy: 100 per minute per key. */
const API_POLICY = { name: 'api', limit: 100, windowMs: 60_000 };

async function memoryStoreClass() {
  return (await loadLib(['limits/memory']))['limits/memory'].MemoryRateLimitStore;
}

/**
 * The textbook sliding log the issue names: an array of admit times per key,
 * filtered on every call. Exact, like ours, but O(N) per check and unbounded.
 */
export class NaiveSlidingLog {
  constructor(limit, windowMs) {
    this.limit = limit;
    this.windowMs = windowMs;
    this.log = new Map();
  }

  check(key) {
    const now = Date.now();
    const fresh = (this.log.get(key) ?? []).filter((t) => t > now - this.windowMs);
    const allowed = fresh.length < this.limit;
    if (allowed) fresh.push(now);
    this.log.set(key, fresh);
    return allowed;
  }
}

// One loop per contender, so every call site stays monomorphic and no
// contender pays for another's inline caches.
function loopOursSync(store, keys, checks) {
  let allowed = 0;
  for (let i = 0, j = 0; i < checks; i++) {
    if (store.hitSync(keys[j], API_POLICY).allowed) allowed++;
    if (++j === keys.length) j = 0;
  }
  return allowed;
}

async function loopOursAsync(store, keys, checks) {
  let allowed = 0;
  for (let i = 0, j = 0; i < checks; i++) {
    if ((await store.hit(keys[j], API_POLICY)).allowed) allowed++;
    if (++j === keys.length) j = 0;
  }
  return allowed;
}

async function loopFlexible(limiter, keys, checks) {
  let allowed = 0;
  for (let i = 0, j = 0; i < checks; i++) {
    try {
      await limiter.consume(keys[j]);
      allowed++;
    } catch (refusal) {
      if (refusal instanceof Error) throw refusal;
    }
    if (++j === keys.length) j = 0;
  }
  return allowed;
}

function loopNaive(limiter, keys, checks) {
  let allowed = 0;
  for (let i = 0, j = 0; i < checks; i++) {
    if (limiter.check(keys[j])) allowed++;
    if (++j === keys.length) j = 0;
  }
  return allowed;
}

/**
 * Part 2. Checks/s of each contender on one hot key and on many distinct keys
 * (policy 100/min, the real clock for everyone). Every round builds fresh
 * limiters, warms them (one pass over the keys), then times `checks` calls;
 * the median round is reported.
 */
export async function limiterMicro({ smoke }) {
  const MemoryRateLimitStore = await memoryStoreClass();
  const { RateLimiterMemory } = require('rate-limiter-flexible');
  const distinct = smoke ? 5_000 : 100_000;
  // Many short rounds in rotating order: on a shared machine every contender
  // then samples the same mix of quiet and busy moments.
  const checks = smoke ? 30_000 : 400_000;
  const rounds = smoke ? 1 : 9;
  const patterns = [
    { pattern: 'hot-key', keys: ['203.0.113.7'] },
    { pattern: 'distinct-keys', keys: distinctKeys(distinct) },
  ];
  const contenders = [
    {
      name: 'ours: MemoryRateLimitStore.hitSync',
      id: 'ours-sync',
      make: () => new MemoryRateLimitStore({ sweepIntervalMs: 0 }),
      run: loopOursSync,
    },
    {
      name: 'ours: await MemoryRateLimitStore.hit',
      id: 'ours-async',
      make: () => new MemoryRateLimitStore({ sweepIntervalMs: 0 }),
      run: loopOursAsync,
    },
    {
      name: 'rate-limiter-flexible RateLimiterMemory',
      id: 'flexible',
      make: () => new RateLimiterMemory({ points: API_POLICY.limit, duration: API_POLICY.windowMs / 1000 }),
      run: loopFlexible,
    },
    {
      name: 'naive sliding log (filter per call)',
      id: 'naive',
      make: () => new NaiveSlidingLog(API_POLICY.limit, API_POLICY.windowMs),
      run: loopNaive,
    },
  ];

  const out = [];
  for (const { pattern, keys } of patterns) {
    const samples = new Map(contenders.map((c) => [c.id, { ms: [], allowed: 0 }]));
    for (let r = 0; r < rounds; r++) {
      // Rotate the order so no contender always runs right after another's garbage.
      for (let k = 0; k < contenders.length; k++) {
        const c = contenders[(k + r) % contenders.length];
        const limiter = c.make();
        await c.run(limiter, keys, Math.max(keys.length, 10_000));
        collect();
        const start = process.hrtime.bigint();
        const allowed = await c.run(limiter, keys, checks);
        samples.get(c.id).ms.push(msSince(start));
        samples.get(c.id).allowed = allowed;
        await limiter.close?.();
      }
    }
    const rate = (id) => checks / (median(samples.get(id).ms) / 1000);
    for (const c of contenders) {
      const perSec = rate(c.id);
      out.push({
        group: 'limiter-memory',
        name: c.name,
        contender: c.id,
        pattern,
        keys: keys.length,
        policy: `${API_POLICY.limit}/${API_POLICY.windowMs / 1000}s`,
        checks,
        rounds,
        checksPerSec: round(perSec),
        nsPerCheck: round(1e9 / perSec),
        allowedFraction: round(samples.get(c.id).allowed / checks),
        ratioVsRateLimiterMemory: round(perSec / rate('flexible'), 3),
        ratioVsNaive: round(perSec / rate('naive'), 3),
      });
    }
  }
  return out;
}

/**
 * Part 4. A flood of distinct keys through a store with the default cap, on a
 * fake clock that stays inside the window (so eviction is the only way to make
 * room). An honest key hits steadily and must never see its window reset; a
 * key saturated before the flood and idle during it must still be refused.
 */
export async function memoryFlood({ smoke }) {
  const MemoryRateLimitStore = await memoryStoreClass();
  const floodKeys = smoke ? 150_000 : 1_000_000;
  const honestEvery = floodKeys / API_POLICY.limit; // the honest key spends its quota exactly over the flood
  const T0 = 1_700_000_000_000;
  let now = T0;

  collect();
  const heapBefore = process.memoryUsage().heapUsed;
  const store = new MemoryRateLimitStore({ now: () => now });
  const maxKeys = 100_000; // the documented default, asserted below

  for (let i = 0; i < API_POLICY.limit; i++) store.hitSync('198.51.100.66', API_POLICY);
  let honestHits = 0;
  let honestKept = true;
  let refusedNewKeys = 0;
  let peakSize = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < floodKeys; i++) {
    now = T0 + Math.floor(i / 1000); // 1 ms per 1000 keys: the flood lasts well under one window
    const key = `2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64`;
    if (!store.hitSync(key, API_POLICY).allowed) refusedNewKeys++;
    if (i % honestEvery === honestEvery - 1) {
      const result = store.hitSync('203.0.113.7', API_POLICY);
      honestHits++;
      // Exact accounting: after k admits, k fewer remain; a reset would show more.
      if (!result.allowed || result.remaining !== API_POLICY.limit - honestHits) honestKept = false;
    }
    if (store.size > peakSize) peakSize = store.size;
  }
  const floodMs = msSince(start);
  const honestAfter = store.hitSync('203.0.113.7', API_POLICY);
  const saturatedAfter = store.hitSync('198.51.100.66', API_POLICY);
  collect();
  const heapAfter = process.memoryUsage().heapUsed;
  const retainedKeys = store.size;
  await store.close();
  const growthMb = (heapAfter - heapBefore) / 2 ** 20;
  return [
    {
      group: 'memory-flood',
      name: 'MemoryRateLimitStore, default cap',
      floodKeys,
      maxKeys,
      retainedKeys,
      peakKeys: peakSize,
      heapGrowthMB: round(growthMb),
      bytesPerRetainedKey: Math.round((heapAfter - heapBefore) / retainedKeys),
      floodChecksPerSec: round((floodKeys + honestHits) / (floodMs / 1000)),
      refusedNewKeys,
      honestKeyHits: honestHits,
      honestKeyKeptWindow: honestKept && !honestAfter.allowed,
      saturatedKeyStillRefused: !saturatedAfter.allowed,
      gcExposed: typeof globalThis.gc === 'function',
    },
  ];
}

/**
 * Part 5. Cost per check with `trackedKeys` keys in the store (cap raised so
 * nothing is evicted). Keys are visited round-robin in a shuffled order on a
 * fake clock (+1 ms per check) with a window of 2 × trackedKeys ms, so every
 * check does the same work at every size: drop one expired admit, record one.
 * A bare Map.get over the same keys is timed alongside as the hardware floor
 * (hash lookups get slower once the table no longer fits in cache).
 */
export async function scaling({ smoke, trackedKeys }) {
  const MemoryRateLimitStore = await memoryStoreClass();
  const keys = distinctKeys(trackedKeys, 7);
  const policy = { name: 'api', limit: 100, windowMs: 2 * trackedKeys };
  const checks = Math.max(smoke ? 50_000 : 2_000_000, 2 * trackedKeys);
  const rounds = smoke ? 1 : 3;
  let now = 1_700_000_000_000;
  let store = new MemoryRateLimitStore({ maxKeys: 2 * trackedKeys + 100, sweepIntervalMs: 0, now: () => now });

  // Two passes fill every ring to its steady size (2 admits).
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < keys.length; j++) {
      now++;
      store.hitSync(keys[j], policy);
    }
  }
  const ms = [];
  let allowed = 0;
  for (let r = 0; r < rounds; r++) {
    collect();
    const start = process.hrtime.bigint();
    for (let i = 0, j = 0; i < checks; i++) {
      now++;
      if (store.hitSync(keys[j], policy).allowed) allowed++;
      if (++j === keys.length) j = 0;
    }
    ms.push(msSince(start));
  }
  if (allowed !== checks * rounds || store.size !== trackedKeys) {
    throw new Error(`scaling: steady state broken (allowed ${allowed}/${checks * rounds}, size ${store.size})`);
  }
  await store.close();
  store = undefined; // measured alone: the reference does not share the heap with the store

  // The store files entries per policy, then by the caller's key string: the
  // floor is a Map keyed by the same string objects.
  const map = new Map(keys.map((k) => [k, { size: 2 }]));
  const mapMs = [];
  let found = 0;
  for (let r = 0; r < rounds; r++) {
    collect();
    const start = process.hrtime.bigint();
    for (let i = 0, j = 0; i < checks; i++) {
      if (map.get(keys[j]) !== undefined) found++;
      if (++j === keys.length) j = 0;
    }
    mapMs.push(msSince(start));
  }
  if (found !== checks * rounds) throw new Error('scaling: Map reference lost keys');
  return [
    {
      group: 'scaling',
      name: 'MemoryRateLimitStore.hitSync',
      trackedKeys,
      checks,
      rounds,
      nsPerCheck: round((median(ms) * 1e6) / checks),
      mapGetNsPerCheck: round((median(mapMs) * 1e6) / checks),
    },
  ];
}
