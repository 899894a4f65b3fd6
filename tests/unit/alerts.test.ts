import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAlerter, type AlerterOptions } from '@/lib/alerts';
import type { AlertOutcome } from '@/lib/metrics';
import { freePort } from '../support/redis';
import { startReceiver, type Receiver } from '../support/webhook';

/**
 * The alert webhook (lib/alerts.ts) against real loopback receivers: one that
 * answers, one that answers 500, one that answers only after 10 s, and a
 * closed port. What is asserted is what the receiver got and what was counted.
 */

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SECRETS = {
  apiKey: 'sk-live-server-key-must-never-leave-0123456789',
  jwtSecret: 'jwt-secret-must-never-leave-0123456789abcdef',
  bearer: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJl',
  ip: '198.51.100.23',
  userId: 'user_secret_identity_42',
};

let receiver: Receiver;
let slow: Receiver;
let failing: Receiver;
let counts: Record<string, number>;
let now: number;

function alerter(url: string, options: Partial<AlerterOptions> = {}) {
  return createAlerter({ url, now: () => now, count: (o: AlertOutcome) => void (counts[o] = (counts[o] ?? 0) + 1), ...options });
}

beforeAll(async () => {
  [receiver, slow, failing] = await Promise.all([startReceiver(), startReceiver({ mode: 'slow' }), startReceiver({ mode: 'fail' })]);
});
afterAll(async () => {
  await Promise.all([receiver?.close(), slow?.close(), failing?.close()]);
});
beforeEach(() => {
  counts = {};
  now = Date.parse('2026-01-01T00:00:00Z');
  for (const r of [receiver, slow, failing]) {
    r.bodies.length = 0;
    r.raw.length = 0;
  }
});

describe('alert webhook', () => {
  it('POSTs a fixed-shape JSON alert with no secret, IP or user id from the triggering line', async () => {
    const a = alerter(receiver.url);
    a.notify({
      event: 'suspicious_activity',
      traceId: TRACE,
      metadata: { threshold: 10, windowSeconds: 300, lastFailure: SECRETS.bearer, ip: SECRETS.ip, userId: SECRETS.userId, apiKey: SECRETS.apiKey, reason: SECRETS.jwtSecret, code: 'auth_invalid' },
    });
    await a.idle();
    expect(receiver.bodies).toEqual([
      {
        service: 'realtime-token-guard',
        event: 'suspicious_activity',
        level: 'critical',
        summary: expect.any(String),
        traceId: TRACE,
        timestamp: '2026-01-01T00:00:00.000Z',
        suppressed: 0,
        detail: { threshold: 10, windowSeconds: 300, code: 'auth_invalid' },
      },
    ]);
    for (const secret of Object.values(SECRETS)) expect(receiver.raw[0]).not.toContain(secret);
    expect(counts).toEqual({ sent: 1 });
  });

  it('sends one alert per kind per interval, and the next one counts those held back', async () => {
    const a = alerter(receiver.url, { minIntervalMs: 60_000 });
    for (let i = 0; i < 50; i++) a.notify({ event: 'rate_limit_store_degraded', traceId: TRACE, metadata: { reason: 'timeout' } });
    // Another kind (event + catalog code) is not held back by the first.
    a.notify({ event: 'upstream_error', traceId: TRACE, metadata: { code: 'upstream_auth', status: 401 } });
    await a.idle();
    expect(receiver.bodies).toHaveLength(2);
    now += 60_000;
    a.notify({ event: 'rate_limit_store_degraded', traceId: TRACE });
    await a.idle();
    expect(receiver.bodies).toHaveLength(3);
    expect(receiver.bodies[2]).toMatchObject({ event: 'rate_limit_store_degraded', suppressed: 49 });
    expect(counts).toEqual({ sent: 3, suppressed: 49 });
  });

  it('never waits for a slow receiver: notify returns at once and the deadline ends the POST', async () => {
    const a = alerter(slow.url, { timeoutMs: 1000 });
    a.notify({ event: 'global_limit_tripped', traceId: TRACE, metadata: { limit: 1000 } });
    // Synchronous return: the POST is running, nothing has been answered.
    expect(a.inFlight).toBe(1);
    await slow.received(1);
    expect(slow.open).toBe(1);
    await a.idle();
    expect(counts).toEqual({ timeout: 1 });
    await expect.poll(() => slow.abandoned).toBe(1);
    expect(slow.open).toBe(0);
  });

  it('bounds the POSTs in flight: past the bound alerts are dropped and counted, not queued', async () => {
    const a = alerter(slow.url, { timeoutMs: 500, maxInFlight: 2 });
    const events = ['suspicious_activity', 'global_limit_tripped', 'quota_circuit_open', 'rate_limit_store_degraded', 'config_error'] as const;
    for (const event of events) a.notify({ event, traceId: TRACE });
    expect(a.inFlight).toBe(2);
    await a.idle();
    expect(slow.bodies).toHaveLength(2);
    expect(counts).toEqual({ timeout: 2, dropped: 3 });
    // A dropped kind is not silenced: its next alert goes out and reports the drop.
    receiver.bodies.length = 0;
    const b = alerter(receiver.url, { maxInFlight: 1 });
    b.notify({ event: 'suspicious_activity', traceId: TRACE });
    b.notify({ event: 'config_error', traceId: TRACE });
    await b.idle();
    b.notify({ event: 'config_error', traceId: TRACE });
    await b.idle();
    expect(receiver.bodies.map((x) => (x as { suppressed: number }).suppressed)).toEqual([0, 1]);
  });

  it('does not retry a failing receiver: one POST per alert let through, counted as failed', async () => {
    const a = alerter(failing.url, { minIntervalMs: 0 });
    for (let i = 0; i < 20; i++) {
      a.notify({ event: 'upstream_error', traceId: TRACE, metadata: { code: 'upstream_auth' } });
      await a.idle();
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(failing.bodies).toHaveLength(20);
    expect(counts).toEqual({ failed: 20 });

    const b = alerter(failing.url, { minIntervalMs: 60_000 });
    for (let i = 0; i < 20; i++) b.notify({ event: 'upstream_error', traceId: TRACE, metadata: { code: 'upstream_auth' } });
    await b.idle();
    expect(failing.bodies).toHaveLength(21);
  });

  it('swallows a receiver that is down and counts the error', async () => {
    const a = alerter(`http://127.0.0.1:${await freePort()}/hook`);
    expect(() => a.notify({ event: 'suspicious_activity', traceId: TRACE })).not.toThrow();
    await a.idle();
    expect(counts).toEqual({ error: 1 });
  });

  it('does not follow a redirect (the payload stays with the configured receiver)', async () => {
    const a = alerter(receiver.url, {
      fetch: async (input, init) => {
        expect(init?.redirect).toBe('manual');
        return new Response(null, { status: 302, headers: { Location: 'http://attacker.invalid/' } });
      },
    });
    a.notify({ event: 'config_error', traceId: 'not-a-trace-id' });
    await a.idle();
    expect(counts).toEqual({ failed: 1 });
  });
});
