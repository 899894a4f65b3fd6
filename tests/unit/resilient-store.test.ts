import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RatePolicy } from '@/lib/limits/store';
import { MemoryRateLimitStore } from '@/lib/limits/memory';
import type { Allotment, RateLimitResult, Reservation } from '@/lib/limits/store';
import { RedisRateLimitStore, RedisStoreError, type RedisFailure } from '@/lib/limits/redis';
import { ResilientRateLimitStore, type PrimaryStore } from '@/lib/limits/resilient';
import { createSecurityLogger, type SecurityLogEntry } from '@/lib/security-logger';
import { startRedis, type RedisServer } from '../support/redis';

/**
 * The failure policy (issue 4): never fail open, never throw, `critical`
 * once per outage, back to the shared store when it recovers.
 *
 * The first part drives the policy with a fake clock and a shared store that
 * can be switched off (a real memory store behind a switch, standing in for
 * Redis); the second runs it over a real redis-server that is killed and
 * restarted.
 */

const policy = (limit: number, windowMs = 60_000): RatePolicy => ({ name: 'token', limit, windowMs });

/** A real store behind a switch: `down` rejects every call like an unreachable Redis. */
class SwitchableStore implements PrimaryStore {
  readonly inner: MemoryRateLimitStore;
  failure: RedisFailure | undefined;
  calls = 0;
  pings = 0;
  constructor(now: () => number) {
    this.inner = new MemoryRateLimitStore({ now, sweepIntervalMs: 0 });
  }
  private gate(): void {
    this.calls++;
    // The cause carries what an ioredis error would: a URL with a password.
    if (this.failure) throw new RedisStoreError(this.failure, { cause: new Error('connect ECONNREFUSED redis://:hunter2@10.1.2.3:6379') });
  }
  async hit(key: string, p: RatePolicy): Promise<RateLimitResult> {
    this.gate();
    return this.inner.hitSync(key, p);
  }
  async peek(key: string, p: RatePolicy): Promise<RateLimitResult> {
    this.gate();
    return this.inner.peekSync(key, p);
  }
  async reserve(key: string, p: RatePolicy): Promise<Reservation> {
    this.gate();
    return this.inner.reserveSync(key, p);
  }
  async draw(key: string, p: RatePolicy, want: number, min: number): Promise<Allotment> {
    this.gate();
    return this.inner.drawSync(key, p, want, min);
  }
  async ping(): Promise<void> {
    this.pings++;
    this.calls--;
    this.gate();
  }
  async close(): Promise<void> {}
}

function setup(probeIntervalMs = 1000) {
  let now = 1_800_000_000_000;
  const clock = () => now;
  const lines: string[] = [];
  const primary = new SwitchableStore(clock);
  const store = new ResilientRateLimitStore({
    primary,
    fallback: new MemoryRateLimitStore({ now: clock, sweepIntervalMs: 0 }),
    logger: createSecurityLogger({ sink: (l) => void lines.push(l), now: clock }),
    probeIntervalMs,
    now: clock,
  });
  return {
    store,
    primary,
    lines,
    entries: () => lines.map((l) => JSON.parse(l) as SecurityLogEntry),
    events: () => lines.map((l) => (JSON.parse(l) as SecurityLogEntry).event),
    advance: (ms: number) => void (now += ms),
  };
}

async function hits(store: ResilientRateLimitStore, key: string, p: RatePolicy, n: number): Promise<boolean[]> {
  const out: boolean[] = [];
  for (let i = 0; i < n; i++) out.push((await store.hit(key, p)).allowed);
  return out;
}

describe('failure policy (fake clock)', () => {
  it('uses the shared store while it answers, and logs nothing', async () => {
    const t = setup();
    expect(await hits(t.store, 'u', policy(2), 3)).toEqual([true, true, false]);
    expect(t.primary.calls).toBe(3);
    expect(t.store.state).toBe('redis');
    expect(t.lines).toEqual([]);
  });

  it.each<RedisFailure>(['unavailable', 'timeout', 'error'])(
    'keeps limiting in memory when the shared store fails (%s): never open, never a throw',
    async (failure) => {
      const t = setup();
      t.primary.failure = failure;
      const results = await hits(t.store, 'u', policy(3), 6);
      expect(results).toEqual([true, true, true, false, false, false]);
      const refused = await t.store.hit('u', policy(3));
      expect(refused).toMatchObject({ allowed: false, remaining: 0 });
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(await t.store.peek('u', policy(3))).toMatchObject({ allowed: false });
      expect(t.store.state).toBe('redis-degraded');
    },
  );

  it('logs critical once per outage, with a reason and nothing that names the server', async () => {
    const t = setup();
    t.primary.failure = 'unavailable';
    for (let i = 0; i < 50; i++) {
      await t.store.hit(`user-${i % 7}`, policy(3));
      t.advance(100); // five seconds of traffic, probes included
    }
    const degraded = t.entries().filter((e) => e.event === 'rate_limit_store_degraded');
    expect(degraded).toHaveLength(1);
    expect(degraded[0]).toMatchObject({ level: 'critical', metadata: { store: 'redis', fallback: 'memory', reason: 'unavailable' } });
    expect(t.lines.join('\n')).not.toMatch(/hunter2|10\.1\.2\.3|6379|redis:\/\//);
  });

  it('tries the shared store at most once per probe interval while degraded', async () => {
    const t = setup(1000);
    t.primary.failure = 'timeout';
    await t.store.hit('u', policy(100));
    expect(t.primary.calls).toBe(1);
    for (let i = 0; i < 9; i++) {
      t.advance(100);
      await t.store.hit('u', policy(100));
    }
    expect(t.primary.calls).toBe(1);
    t.advance(100); // 1000 ms after the failure
    await Promise.all([t.store.hit('u', policy(100)), t.store.hit('u', policy(100)), t.store.peek('u', policy(100))]);
    expect(t.primary.calls).toBe(2);
  });

  it('goes back to the shared store when it answers again, and logs the recovery once', async () => {
    const t = setup();
    t.primary.failure = 'unavailable';
    await t.store.hit('u', policy(5));
    t.primary.failure = undefined;
    await t.store.hit('u', policy(5));
    expect(t.store.state).toBe('redis-degraded'); // not yet due for a probe
    t.advance(1000);
    const probe = await t.store.hit('v', policy(5));
    expect(probe).toMatchObject({ allowed: true, remaining: 4 });
    expect(t.store.state).toBe('redis');
    const callsAfterRecovery = t.primary.calls;
    await t.store.hit('v', policy(5));
    expect(t.primary.calls).toBe(callsAfterRecovery + 1);
    expect(t.events()).toEqual(['rate_limit_store_degraded', 'rate_limit_store_recovered']);
    expect(t.entries()[1]).toMatchObject({ level: 'info', metadata: { store: 'redis', degradedForMs: 1000 } });
  });

  it('logs a second outage again', async () => {
    const t = setup();
    for (const failure of ['unavailable', undefined, 'error', undefined] as const) {
      t.primary.failure = failure;
      await t.store.hit('u', policy(100));
      t.advance(1000);
    }
    expect(t.events()).toEqual([
      'rate_limit_store_degraded',
      'rate_limit_store_recovered',
      'rate_limit_store_degraded',
      'rate_limit_store_recovered',
    ]);
  });

  it('after recovery, admits granted during the outage still count until they leave the window', async () => {
    const t = setup();
    const p = policy(3, 60_000);
    t.primary.failure = 'unavailable';
    expect(await hits(t.store, 'attacker', p, 4)).toEqual([true, true, true, false]);
    expect(await hits(t.store, 'honest', p, 1)).toEqual([true]);
    // The shared store comes back empty (a restarted Redis without persistence).
    t.primary.failure = undefined;
    t.advance(10_000);
    const callsBefore = t.primary.calls;
    expect(await hits(t.store, 'attacker', p, 3)).toEqual([false, false, false]);
    // Refused locally, so the shared store spent nothing on them.
    expect(t.primary.calls).toBe(callsBefore);
    // The honest user's request is the probe that ends the outage; it has two
    // left, not three: the outage admit is remembered.
    const honest = await t.store.hit('honest', p);
    expect(t.store.state).toBe('redis');
    expect(honest).toMatchObject({ allowed: true, remaining: 1 });
    expect(await hits(t.store, 'honest', p, 2)).toEqual([true, false]);
    expect(await t.store.peek('honest', p)).toMatchObject({ allowed: false });

    t.advance(50_001); // the outage admits have left the window
    expect(await hits(t.store, 'attacker', p, 4)).toEqual([true, true, true, false]);
  });

  it('probe() pings at most once per interval and reports the state', async () => {
    const t = setup(1000);
    expect(await t.store.probe()).toBe('redis');
    expect(t.primary.pings).toBe(1);
    expect(await t.store.probe()).toBe('redis');
    expect(t.primary.pings).toBe(1);

    t.primary.failure = 'unavailable';
    t.advance(1000);
    expect(await t.store.probe()).toBe('redis-degraded');
    expect(t.events()).toEqual(['rate_limit_store_degraded']);
    t.primary.failure = undefined;
    expect(await t.store.probe()).toBe('redis-degraded');
    t.advance(1000);
    expect(await t.store.probe()).toBe('redis');
    expect(t.primary.pings).toBe(3);
    expect(t.events()).toEqual(['rate_limit_store_degraded', 'rate_limit_store_recovered']);
  });
});

describe('over a real redis-server that dies and comes back', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis({ password: 'resilient-test-pw' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('falls back at once, keeps limiting, and returns to Redis after a restart', async () => {
    const lines: string[] = [];
    const store = new ResilientRateLimitStore({
      primary: new RedisRateLimitStore({ url: server.url, prefix: 'res:', timeoutMs: 1000, maxReconnectDelayMs: 100 }),
      fallback: new MemoryRateLimitStore({ sweepIntervalMs: 0 }),
      logger: createSecurityLogger({ sink: (l) => void lines.push(l) }),
      probeIntervalMs: 100,
    });
    try {
      const p = policy(3);
      expect(await hits(store, 'before', p, 1)).toEqual([true]);
      expect(store.state).toBe('redis');

      await server.stop('SIGKILL');
      const during = await hits(store, 'during', p, 20);
      expect(during).toEqual([true, true, true, ...Array(17).fill(false)]);
      expect(store.state).toBe('redis-degraded');

      await server.start();
      await vi.waitFor(async () => expect(await store.probe()).toBe('redis'), { timeout: 5000, interval: 100 });
      // Shared again: the key lives in Redis, and the outage's admits still count.
      expect(await hits(store, 'after', p, 1)).toEqual([true]);
      expect(await server.client().exists('res:token#2:after')).toBe(1);
      expect(await hits(store, 'during', p, 1)).toEqual([false]);

      const events = lines.map((l) => JSON.parse(l) as SecurityLogEntry);
      expect(events.map((e) => [e.level, e.event])).toEqual([
        ['critical', 'rate_limit_store_degraded'],
        ['info', 'rate_limit_store_recovered'],
      ]);
      expect(lines.join('\n')).not.toMatch(/resilient-test-pw|127\.0\.0\.1|redis:\/\/|ECONNREFUSED/);
      expect(lines.join('\n')).not.toContain(`:${server.port}`);
    } finally {
      await store.close();
    }
  });
});

describe('budget draws through outages (fake clock)', () => {
  const seconds = (limit: number): RatePolicy => ({ name: 'call_seconds', limit, windowMs: 86_400_000 });

  it('draws from memory while the shared store fails, and after recovery the outage\'s draws still count', async () => {
    const t = setup();
    t.primary.failure = 'unavailable';
    const during = await t.store.draw('u', seconds(1000), 900, 10);
    expect([during.allowed, during.granted]).toEqual([true, 900]);
    expect(t.store.state).toBe('redis-degraded');
    t.advance(1500);
    t.primary.failure = undefined;
    // The shared store came back empty, but only 100 s are left by the outage's record.
    const after = await t.store.draw('u', seconds(1000), 900, 10);
    expect([after.allowed, after.granted]).toEqual([true, 100]);
    expect(t.store.state).toBe('redis');
    expect((await t.store.draw('u', seconds(1000), 900, 10)).allowed).toBe(false);
    // A refund reaches both records.
    await after.refund(100);
    expect((await t.store.draw('u', seconds(1000), 900, 10)).granted).toBe(100);
  });
});
