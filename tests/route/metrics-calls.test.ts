import { describe, expect, it } from 'vitest';
import { GET as METRICS } from '@/app/api/metrics/route';
import { value } from '../support/metrics';
import { callsHarness, controlCall, eventually, placeCall } from './calls-helpers';
import { call, THROUGH_DOOR } from './helpers';

/**
 * The calls route in the metrics: the active-calls gauge follows the
 * supervisor, the call endpoints get their own latency series, and the call
 * budgets count as limiter decisions.
 */

const METRICS_TOKEN = 'metrics-scrape-token-0123456789abcdef0123456789';
callsHarness({ METRICS_TOKEN });

const scrape = async (): Promise<string> =>
  (await call(METRICS, new Request('http://localhost:3000/api/metrics', { headers: { ...THROUGH_DOOR, 'x-forwarded-for': '192.0.2.50', authorization: `Bearer ${METRICS_TOKEN}` } }))).text;

describe('calls in the metrics', () => {
  it('counts an active call while it lasts, and its upstream endpoints and budgets', async () => {
    expect(value(await scrape(), 'rtg_active_calls')).toBe(0);
    const res = await placeCall();
    expect(res.status).toBe(201);
    const { callId } = res.body as { callId: string };
    const during = await scrape();
    expect(value(during, 'rtg_active_calls')).toBe(1);
    expect(value(during, 'rtg_upstream_duration_seconds_count', { endpoint: 'realtime_calls', outcome: '2xx' })).toBe(1);
    expect(value(during, 'rtg_limiter_decisions_total', { policy: 'calls', outcome: 'allowed' })).toBe(1);
    expect(value(during, 'rtg_limiter_decisions_total', { policy: 'call_seconds', outcome: 'allowed' })).toBe(1);
    expect(during).not.toContain(callId);

    expect((await controlCall('DELETE', callId)).status).toBeLessThan(300);
    await eventually(async () => value(await scrape(), 'rtg_active_calls') === 0, 5000, 'the gauge back at 0');
    expect(value(await scrape(), 'rtg_upstream_duration_seconds_count', { endpoint: 'realtime_hangup' })).toBeGreaterThanOrEqual(1);
  });
});
