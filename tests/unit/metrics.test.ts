import { describe, expect, it } from 'vitest';
import { createMetrics, endpointOf, meteredFetch } from '@/lib/metrics';
import type { ErrorCode } from '@/lib/errors';
import type { RateLimitResult } from '@/lib/limits/store';
import type { SecurityEvent } from '@/lib/security-logger';
import { samples, value } from '../support/metrics';

/**
 * lib/metrics.ts on its own: label values stay in their fixed sets whatever
 * a caller passes, and the upstream timer names endpoints and outcomes.
 */

const result = (name: string, reason: RateLimitResult['reason'] = 'allowed'): RateLimitResult => ({
  allowed: reason === 'allowed',
  reason,
  policy: { name, limit: 1, windowMs: 1000 },
  limit: 1,
  remaining: 0,
  resetAt: 0,
  retryAfterMs: 0,
});

describe('metrics labels', () => {
  it('maps names outside the fixed sets to "other" (events, levels, codes)', async () => {
    const m = createMetrics();
    m.securityEvent('warn', 'user@example.com' as SecurityEvent);
    m.refusal('203.0.113.9' as ErrorCode);
    m.refusal('toString' as ErrorCode);
    const text = await m.render();
    expect(value(text, 'rtg_security_events_total', { event: 'other', level: 'warn' })).toBe(1);
    expect(value(text, 'rtg_refusals_total', { code: 'other' })).toBe(2);
    expect(text).not.toMatch(/example\.com|203\.0\.113/);
  });

  it('bounds policy labels: malformed names and more than 64 distinct ones become "other"', async () => {
    const m = createMetrics();
    m.limiterDecision(result('token'));
    m.limiterDecision(result('Bad Name"}'));
    for (let i = 0; i < 200; i++) m.limiterDecision(result(`plan_${i}`, 'limited'));
    const text = await m.render();
    const policies = new Set(samples(text).filter((s) => s.name === 'rtg_limiter_decisions_total').map((s) => s.labels.policy));
    expect(policies.size).toBeLessThanOrEqual(65);
    expect(value(text, 'rtg_limiter_decisions_total', { policy: 'other', outcome: 'limited' })).toBe(137);
    expect(value(text, 'rtg_limiter_decisions_total', { policy: 'other', outcome: 'allowed' })).toBe(1);
  });

  it('names upstream endpoints from the path only, never the call id', () => {
    expect(endpointOf('https://api.openai.com/v1/realtime/client_secrets')).toBe('client_secrets');
    expect(endpointOf('https://api.openai.com/v1/realtime/calls')).toBe('realtime_calls');
    expect(endpointOf('https://api.openai.com/v1/realtime/calls/rtc_abc123/hangup')).toBe('realtime_hangup');
    expect(endpointOf('https://api.openai.com/v1/live/sessions/ls_1/hangup')).toBe('live_hangup');
    expect(endpointOf('https://api.openai.com/v1/models?user=x')).toBe('other');
    expect(endpointOf('not a url')).toBe('other');
  });

  it('times upstream calls by status class, timeout and error, and rethrows', async () => {
    const m = createMetrics();
    const url = 'http://127.0.0.1:9/v1/realtime/client_secrets';
    await meteredFetch(async () => new Response(null, { status: 201 }), m)(url);
    await meteredFetch(async () => new Response(null, { status: 503 }), m)(url);
    const aborted = AbortSignal.abort();
    await expect(meteredFetch(async () => Promise.reject(new Error('aborted')), m)(url, { signal: aborted })).rejects.toThrow('aborted');
    await expect(meteredFetch(async () => Promise.reject(new TypeError('fetch failed')), m)(url)).rejects.toThrow('fetch failed');
    const text = await m.render();
    for (const outcome of ['2xx', '5xx', 'timeout', 'error']) {
      expect(value(text, 'rtg_upstream_duration_seconds_count', { endpoint: 'client_secrets', outcome }), outcome).toBe(1);
    }
  });
});
