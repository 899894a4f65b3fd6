import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RatePolicy } from '@/lib/limits/store';
import { rateLimitHeaders } from '@/lib/http/rate-limit-headers';
import { MemoryRateLimitStore } from '@/lib/limits/memory';
import type { RateLimitResult } from '@/lib/limits/store';
// mulberry32, seeded, so a failing sequence can be replayed from its seed.
import { prng } from '../../bench/stats.mjs';

const T0 = 1_700_000_000_000;

/** A store on a fake clock, without the sweep timer. */
function fakeStore(options: { maxKeys?: number; evictionScan?: number } = {}) {
  let now = T0;
  const store = new MemoryRateLimitStore({ ...options, sweepIntervalMs: 0, now: () => now });
  return {
    store,
    at(t: number) {
      now = T0 + t;
      return store;
    },
    advance(ms: number) {
      now += ms;
    },
    get now() {
      return now;
    },
  };
}

const policy = (limit: number, windowMs: number, name = 'test'): RatePolicy => ({ name, limit, windowMs });


/** The sliding log the store must behave exactly like: admits in (now - W, now]. */
class ReferenceLimiter {
  private readonly admits = new Map<string, number[]>();
  constructor(private readonly p: RatePolicy) {}

  private live(key: string, now: number): number[] {
    const live = (this.admits.get(key) ?? []).filter((t) => t > now - this.p.windowMs);
    this.admits.set(key, live);
    return live;
  }

  peek(key: string, now: number) {
    const live = this.live(key, now);
    const full = live.length >= this.p.limit;
    const oldest = live.length ? live[0] : now;
    return {
      allowed: !full,
      remaining: this.p.limit - live.length,
      resetAt: oldest + this.p.windowMs,
      retryAfterMs: full ? oldest + this.p.windowMs - now : 0,
    };
  }

  hit(key: string, now: number) {
    const live = this.live(key, now);
    if (live.length >= this.p.limit) {
      const wait = Math.max(1, live[0] + this.p.windowMs - now);
      return { allowed: false, remaining: 0, resetAt: now + wait, retryAfterMs: wait };
    }
    live.push(now);
    return { allowed: true, remaining: this.p.limit - live.length, resetAt: live[0] + this.p.windowMs, retryAfterMs: 0 };
  }
}

function same(r: RateLimitResult, want: ReturnType<ReferenceLimiter['hit']>): boolean {
  return r.allowed === want.allowed && r.remaining === want.remaining && r.resetAt === want.resetAt && r.retryAfterMs === want.retryAfterMs;
}

function summary(r: RateLimitResult) {
  return { allowed: r.allowed, remaining: r.remaining, resetAt: r.resetAt, retryAfterMs: r.retryAfterMs };
}

/** Largest number of admits inside any half-open interval [s, s + W). */
function maxInAnyWindow(admits: readonly number[], windowMs: number): number {
  let best = 0;
  for (let i = 0, j = 0; i < admits.length; i++) {
    while (j < admits.length && admits[j] < admits[i] + windowMs) j++;
    best = Math.max(best, j - i);
  }
  return best;
}

describe('exactness (property-style, seeded)', () => {
  it('never admits more than N in any interval of length W, and matches the sliding log exactly', () => {
    for (let seed = 1; seed <= 250; seed++) {
      const random = prng(seed);
      const limit = 1 + Math.floor(random() * 8);
      const windowMs = 100 + Math.floor(random() * 900);
      const p = policy(limit, windowMs);
      const clock = fakeStore();
      const { store } = clock;
      const reference = new ReferenceLimiter(p);
      const keys = ['a', 'b', 'c'];
      const admitted = new Map<string, number[]>(keys.map((k) => [k, []]));

      for (let step = 0; step < 300; step++) {
        // Bursts (gap 0), short gaps, gaps of exactly W and long idle periods.
        const r = random();
        clock.advance(r < 0.3 ? 0 : r < 0.8 ? Math.floor(random() * (windowMs / limit) * 2) : r < 0.9 ? windowMs : Math.floor(random() * windowMs * 3));
        const key = keys[Math.floor(random() * keys.length)];
        const now = clock.now;
        if (random() < 0.15) {
          const peeked = store.peekSync(key, p);
          const expected = reference.peek(key, now);
          // expect() only on a mismatch: 75 000 deep comparisons would dominate the run time.
          if (!same(peeked, expected)) expect(summary(peeked), `seed ${seed} step ${step} peek`).toEqual(expected);
          continue;
        }
        const got = store.hitSync(key, p);
        const want = reference.hit(key, now);
        if (!same(got, want) || got.limit !== limit || got.policy !== p) {
          expect({ ...summary(got), limit: got.limit }, `seed ${seed} step ${step} (limit ${limit}, window ${windowMs})`).toEqual({ ...want, limit });
        }
        if (got.allowed) admitted.get(key)!.push(now);
      }
      for (const [key, times] of admitted) {
        expect(maxInAnyWindow(times, windowMs), `seed ${seed} key ${key}`).toBeLessThanOrEqual(limit);
      }
    }
  });

  it('a steady over-limit flood gets exactly N per window, no more, no less', () => {
    const { at } = fakeStore();
    const p = policy(10, 60_000);
    const admitted: number[] = [];
    for (let t = 0; t < 600_000; t += 250) {
      if (at(t).hitSync('flood', p).allowed) admitted.push(t);
    }
    expect(maxInAnyWindow(admitted, 60_000)).toBe(10);
    expect(admitted).toHaveLength(100); // 10 per minute for 10 minutes
  });

  it('the boundary: an admit at t leaves the window exactly at t + W', () => {
    const { at } = fakeStore();
    const p = policy(2, 1000);
    expect(at(0).hitSync('k', p).allowed).toBe(true);
    expect(at(0).hitSync('k', p).allowed).toBe(true);
    expect(at(999).hitSync('k', p)).toMatchObject({ allowed: false, retryAfterMs: 1, resetAt: T0 + 1000 });
    expect(at(1000).hitSync('k', p).allowed).toBe(true);
    expect(at(1000).hitSync('k', p).allowed).toBe(true);
    expect(at(1000).hitSync('k', p).allowed).toBe(false);
  });
});

describe('results', () => {
  it('reports remaining, resetAt and retryAfterMs', () => {
    const { at } = fakeStore();
    const p = policy(3, 10_000);
    expect(at(0).hitSync('k', p)).toMatchObject({ allowed: true, limit: 3, remaining: 2, resetAt: T0 + 10_000, retryAfterMs: 0 });
    expect(at(2_000).hitSync('k', p)).toMatchObject({ allowed: true, remaining: 1, resetAt: T0 + 10_000 });
    expect(at(4_000).hitSync('k', p)).toMatchObject({ allowed: true, remaining: 0, resetAt: T0 + 10_000 });
    expect(at(7_500).hitSync('k', p)).toMatchObject({ allowed: false, remaining: 0, resetAt: T0 + 10_000, retryAfterMs: 2_500 });
    // The oldest admit leaves; the next oldest now sets the reset.
    expect(at(10_000).hitSync('k', p)).toMatchObject({ allowed: true, remaining: 0, resetAt: T0 + 12_000 });
    expect(at(10_001).hitSync('k', p)).toMatchObject({ allowed: false, retryAfterMs: 1_999 });
  });

  it('refused requests consume nothing, however many there are', () => {
    const { at } = fakeStore();
    const p = policy(2, 1000);
    at(0).hitSync('k', p);
    at(0).hitSync('k', p);
    for (let t = 1; t < 1000; t++) expect(at(t).hitSync('k', p).allowed).toBe(false);
    // Had the refusals counted, the key would still be locked out.
    expect(at(1000).hitSync('k', p)).toMatchObject({ allowed: true, remaining: 1 });
    expect(at(1000).hitSync('k', p)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('the async API matches the sync one', async () => {
    const { store } = fakeStore();
    const p = policy(1, 1000);
    expect(await store.peek('k', p)).toMatchObject({ allowed: true, remaining: 1 });
    expect(await store.hit('k', p)).toMatchObject({ allowed: true, remaining: 0 });
    expect(await store.hit('k', p)).toMatchObject({ allowed: false, retryAfterMs: 1000 });
    await store.close();
  });

  it('keys and policy names are separate namespaces', () => {
    const { store } = fakeStore();
    const a = policy(1, 1000, 'token');
    const b = policy(1, 1000, 'api');
    expect(store.hitSync('k', a).allowed).toBe(true);
    expect(store.hitSync('k', a).allowed).toBe(false);
    expect(store.hitSync('k', b).allowed).toBe(true);
    expect(store.hitSync('k2', a).allowed).toBe(true);
  });
});

describe('peek', () => {
  it('does not consume, however often it is called', () => {
    const { store } = fakeStore();
    const p = policy(3, 1000);
    for (let i = 0; i < 100; i++) expect(store.peekSync('k', p)).toMatchObject({ allowed: true, remaining: 3 });
    expect(store.size).toBe(0);
    store.hitSync('k', p);
    for (let i = 0; i < 100; i++) expect(store.peekSync('k', p)).toMatchObject({ allowed: true, remaining: 2 });
    expect(store.hitSync('k', p).remaining).toBe(1);
    expect(store.hitSync('k', p).remaining).toBe(0);
    expect(store.hitSync('k', p).allowed).toBe(false);
  });

  it('reports a saturated key as refused with its wait', () => {
    const { at } = fakeStore();
    const p = policy(2, 1000);
    at(0).hitSync('k', p);
    at(100).hitSync('k', p);
    expect(at(400).peekSync('k', p)).toMatchObject({ allowed: false, remaining: 0, resetAt: T0 + 1000, retryAfterMs: 600 });
    expect(at(1000).peekSync('k', p)).toMatchObject({ allowed: true, remaining: 1, resetAt: T0 + 1100, retryAfterMs: 0 });
  });
});

describe('ring buffer', () => {
  it('unrolls correctly when it grows with head != 0 (regression: the oldest admit was overwritten)', () => {
    const { at } = fakeStore();
    const p = policy(5, 100);
    // Three admits: the ring holds [0, 10, 20].
    at(0).hitSync('k', p);
    at(10).hitSync('k', p);
    at(20).hitSync('k', p);
    // 0 leaves the window (head moves to 1); 105 reuses its slot: [105, 10, 20], head 1, full.
    expect(at(105).hitSync('k', p)).toMatchObject({ allowed: true, remaining: 2, resetAt: T0 + 110 });
    // The ring is full below the limit with head != 0: it must unroll to [10, 20, 105, 106].
    expect(at(106).hitSync('k', p)).toMatchObject({ allowed: true, remaining: 1, resetAt: T0 + 110 });
    expect(at(107).hitSync('k', p)).toMatchObject({ allowed: true, remaining: 0, resetAt: T0 + 110 });
    // Oldest is 10, then 20, then 105: each refusal must wait for exactly that admit.
    expect(at(108).hitSync('k', p)).toMatchObject({ allowed: false, retryAfterMs: 2 });
    expect(at(110).hitSync('k', p)).toMatchObject({ allowed: true, resetAt: T0 + 120 });
    expect(at(111).hitSync('k', p)).toMatchObject({ allowed: false, retryAfterMs: 9 });
    expect(at(120).hitSync('k', p)).toMatchObject({ allowed: true, resetAt: T0 + 205 });
    expect(at(121).hitSync('k', p)).toMatchObject({ allowed: false, retryAfterMs: 84 });
    expect(at(205).hitSync('k', p)).toMatchObject({ allowed: true, resetAt: T0 + 206 });
  });

  it('survives many wrap-arounds of a full ring', () => {
    const { at } = fakeStore();
    const p = policy(4, 40);
    const admitted: number[] = [];
    for (let t = 0; t < 10_000; t += 3) if (at(t).hitSync('k', p).allowed) admitted.push(t);
    expect(maxInAnyWindow(admitted, 40)).toBe(4);
    // With arrivals every 3 ms, each admit frees at +40 and the next arrival after it is admitted.
    for (let i = 4; i < admitted.length; i++) {
      expect(admitted[i] - admitted[i - 4]).toBeGreaterThanOrEqual(40);
      expect(admitted[i] - admitted[i - 4]).toBeLessThan(43);
    }
  });
});

describe('sweep', () => {
  it('drops keys whose windows are empty and keeps the rest', () => {
    const { store, at } = fakeStore();
    const short = policy(5, 100, 'short');
    const long = policy(5, 10_000, 'long');
    for (let i = 0; i < 50; i++) at(0).hitSync(`s${i}`, short);
    at(0).hitSync('kept', long);
    expect(store.size).toBe(51);
    expect(at(99).sweep()).toBe(0);
    expect(at(100).sweep()).toBe(50);
    expect(store.size).toBe(1);
    expect(store.peekSync('kept', long).remaining).toBe(4);
  });

  it('runs on its timer, which does not keep the process alive', async () => {
    vi.useFakeTimers();
    let now = T0;
    const store = new MemoryRateLimitStore({ sweepIntervalMs: 1000, now: () => now });
    try {
      store.hitSync('k', policy(1, 500));
      expect(store.size).toBe(1);
      now += 600;
      vi.advanceTimersByTime(1000);
      expect(store.size).toBe(0);
    } finally {
      await store.close();
      vi.useRealTimers();
    }
  });
});

describe('key cap', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('evicts an emptied key before a key that still holds admits', () => {
    const { store, at } = fakeStore({ maxKeys: 3 });
    const long = policy(5, 60_000, 'long');
    const short = policy(5, 100, 'short');
    at(0).hitSync('honest', long); // least recently used, one admit still in its window
    at(0).hitSync('stale', short);
    at(0).hitSync('other', long);
    at(500).hitSync('newcomer', long); // 'stale' is empty by now: it goes, 'honest' stays
    expect(store.size).toBe(3);
    expect(store.peekSync('honest', long).remaining).toBe(4);
    expect(store.peekSync('newcomer', long).remaining).toBe(4);
    for (let i = 0; i < 4; i++) expect(store.hitSync('honest', long).allowed).toBe(true);
    expect(store.hitSync('honest', long).allowed).toBe(false);
  });

  it('never evicts a saturated key to give it a fresh window', () => {
    const { store, at } = fakeStore({ maxKeys: 100 });
    const p = policy(3, 60_000);
    for (let i = 0; i < 3; i++) at(0).hitSync('attacker', p);
    expect(store.hitSync('attacker', p).allowed).toBe(false);
    // The attacker floods with distinct keys to push its own key out.
    for (let i = 0; i < 5_000; i++) at(1 + i).hitSync(`flood-${i}`, p);
    expect(store.size).toBeLessThanOrEqual(100);
    expect(at(10_000).hitSync('attacker', p)).toMatchObject({ allowed: false, retryAfterMs: 50_000 });
    expect(at(60_000).hitSync('attacker', p).allowed).toBe(true);
  });

  it('refuses new keys (fails closed) when every scanned key is saturated', () => {
    const { store, at } = fakeStore({ maxKeys: 100, evictionScan: 16 });
    const p = policy(1, 60_000);
    for (let i = 0; i < 100; i++) at(0).hitSync(`sat-${i}`, p);
    const refused = at(1_000).hitSync('newcomer', p);
    expect(refused).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 60_000, resetAt: T0 + 61_000 });
    expect(store.size).toBe(100);
    expect(store.peekSync('newcomer', p).remaining).toBe(1); // nothing was recorded for it
    // Every saturated key is still limited, wherever the scans moved it.
    for (let i = 0; i < 100; i++) expect(store.hitSync(`sat-${i}`, p).allowed).toBe(false);
    // Once their windows empty, newcomers get in again.
    expect(at(60_000).hitSync('newcomer', p).allowed).toBe(true);
  });

  it('an active honest key keeps its window under a flood of distinct keys', () => {
    const { store, at } = fakeStore({ maxKeys: 100 });
    const p = policy(5, 60_000);
    let t = 0;
    let honestAdmits = 0;
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 40; i++) at(t++).hitSync(`flood-${round}-${i}`, p);
      if (at(t++).hitSync('honest', p).allowed) honestAdmits++;
      expect(store.size).toBeLessThanOrEqual(100);
    }
    // 8 040 requests in 8 s: the honest key was never evicted and reset.
    expect(honestAdmits).toBe(5);
  });

  it('stays bounded under a flood from a single window', () => {
    const { store, at } = fakeStore({ maxKeys: 100 });
    const p = policy(10, 60_000);
    for (let i = 0; i < 20_000; i++) at(i % 1000).hitSync(`k${i}`, p);
    expect(store.size).toBe(100);
  });
});

describe('rateLimitHeaders', () => {
  const token = policy(10, 60_000, 'token');
  const api = policy(100, 60_000, 'api');
  const now = 1_700_000_000_000;
  const ok = (p: RatePolicy, remaining: number, resetInMs: number): RateLimitResult => ({
    allowed: true,
    reason: 'allowed',
    policy: p,
    limit: p.limit,
    remaining,
    resetAt: now + resetInMs,
    retryAfterMs: 0,
  });
  const refusedResult = (p: RatePolicy, waitMs: number): RateLimitResult => ({
    allowed: false,
    reason: 'limited',
    policy: p,
    limit: p.limit,
    remaining: 0,
    resetAt: now + waitMs,
    retryAfterMs: waitMs,
  });

  function asObject(headers: Headers): Record<string, string> {
    return Object.fromEntries(headers.entries());
  }

  it('no limiter ran: no headers', () => {
    expect([...rateLimitHeaders([], now).keys()]).toEqual([]);
  });

  it('one allowed result', () => {
    expect(asObject(rateLimitHeaders([ok(token, 7, 42_300)], now))).toEqual({
      'x-ratelimit-limit': '10',
      'x-ratelimit-remaining': '7',
      'x-ratelimit-reset': String(Math.ceil((now + 42_300) / 1000)),
      'ratelimit-policy': '"token";q=10;w=60',
      ratelimit: '"token";r=7;t=43',
    });
  });

  it('X-RateLimit-* follow the result with the least quota left; the IETF fields list every policy', () => {
    const headers = asObject(rateLimitHeaders([ok(api, 99, 60_000), ok(token, 2, 5_000)], now));
    expect(headers['x-ratelimit-limit']).toBe('10');
    expect(headers['x-ratelimit-remaining']).toBe('2');
    expect(headers['retry-after']).toBeUndefined();
    expect(headers['ratelimit-policy']).toBe('"api";q=100;w=60, "token";q=10;w=60');
    expect(headers.ratelimit).toBe('"api";r=99;t=60, "token";r=2;t=5');
  });

  it('a refusal is binding and adds Retry-After in whole seconds, rounded up', () => {
    const headers = asObject(rateLimitHeaders([ok(api, 50, 60_000), refusedResult(token, 12_001)], now));
    expect(headers).toMatchObject({
      'x-ratelimit-limit': '10',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(Math.ceil((now + 12_001) / 1000)),
      'retry-after': '13',
      ratelimit: '"api";r=50;t=60, "token";r=0;t=13',
    });
  });

  it('Retry-After is at least 1 second', () => {
    expect(rateLimitHeaders([refusedResult(token, 1)], now).get('Retry-After')).toBe('1');
  });

  it('Retry-After is absent whenever the request was allowed, even with nothing left', () => {
    expect(rateLimitHeaders([ok(token, 0, 1000)], now).get('Retry-After')).toBeNull();
  });

  it('reset times in the past are reported as 0 seconds', () => {
    expect(rateLimitHeaders([ok(token, 3, -5_000)], now).get('RateLimit')).toBe('"token";r=3;t=0');
  });

  it('works on real store results', () => {
    const { at } = fakeStore();
    const p = policy(1, 30_000, 'token');
    at(0).hitSync('u', p);
    const result = at(10_000).hitSync('u', p);
    const headers = rateLimitHeaders([result], T0 + 10_000);
    expect(headers.get('Retry-After')).toBe('20');
    expect(headers.get('RateLimit-Policy')).toBe('"token";q=1;w=30');
    expect(headers.get('RateLimit')).toBe('"token";r=0;t=20');
  });
});
