import { describe, expect, it } from 'vitest';
import { callsOf } from '@/lib/calls';
import { callsHarness, eventually, placeCall } from './calls-helpers';
import { headerText } from './helpers';

/**
 * Upstream faults on the calls path map to the token route's codes, with no
 * upstream text relayed and the budget given back; a sideband that refuses or
 * drops never leaves a call unbounded.
 */

const h = callsHarness();

const FAULTS: Array<[mode: string, status: number, code: string, retryAfter: string | null]> = [
  ['error500', 502, 'upstream_error', null],
  ['hang', 504, 'upstream_timeout', null],
  ['reset', 502, 'upstream_error', null],
  ['unauthorized', 502, 'upstream_auth', null],
  ['quota', 503, 'upstream_rate_limited', '30'],
  ['ratelimit', 503, 'upstream_rate_limited', '7'],
  ['rejected', 502, 'upstream_rejected', null],
  ['redirect', 502, 'upstream_error', null],
  ['badsdp', 502, 'upstream_error', null],
  ['nolocation', 502, 'upstream_error', null],
];

describe('upstream faults on the calls path', () => {
  it.each(FAULTS)('%s → %i %s, nothing relayed, the budget given back', async (mode, status, code, retryAfter) => {
    // The quota circuit off: after `quota` it would answer the next call itself (tests/route/calls-abuse.test.ts).
    h.configure({ UPSTREAM_TIMEOUT_MS: mode === 'hang' ? '300' : '10000', CALLS_MAX_CONCURRENT: '1', UPSTREAM_QUOTA_COOLOFF_SECONDS: '0' });
    h.upstream.setMode(mode);
    const res = await placeCall();
    expect([res.status, res.body?.error]).toEqual([status, code]);
    expect(res.headers.get('retry-after')).toBe(retryAfter);
    const everything = `${res.text}\n${headerText(res.headers)}`;
    for (const leaked of ['secret-upstream-detail', 'sk-abc', 'rtc_', 'Incorrect API key', 'You exceeded', '127.0.0.1:9']) expect(everything).not.toContain(leaked);
    expect(h.events('upstream_error')).toHaveLength(1);
    if (code === 'upstream_auth') expect(h.events('upstream_error')[0].level).toBe('critical');
    // The slot and the seconds came back: with one slot allowed, the next call gets it.
    h.upstream.setMode('ok');
    expect((await placeCall()).status).toBe(201);
    expect(callsOf(h.rt.runtime).size).toBe(1);
  });
});

describe('a sideband that fails never leaves a call unbounded', () => {
  it.each([
    ['refuses to open', 'refuse'],
    ['drops mid-call, and on every reconnect', 'drop'],
  ] as const)('one that %s: the call is still hung up at its deadline', async (_label, sideband) => {
    h.configure({ CALL_MAX_SECONDS: '2' });
    h.upstream.calls.sideband = sideband;
    const placedAt = Date.now();
    const res = await placeCall();
    expect(res.status).toBe(201);
    const callId = (res.body as { callId: string }).callId;
    const upstreamCall = [...h.upstream.calls.calls.values()][0];
    await eventually(() => h.events('call_supervisor_error').length > 0, 2000, 'sideband failure logged');
    expect(upstreamCall.ended).toBe(false);
    await eventually(() => upstreamCall.ended, 4000, 'hung up at the deadline');
    expect(Date.now() - placedAt).toBeGreaterThanOrEqual(1900);
    expect(h.upstream.calls.hangups.map((x) => x.id)).toEqual([upstreamCall.id]);
    const ended = await eventually(() => h.events('call_ended')[0], 1000);
    expect(ended.metadata).toMatchObject({ callId, reason: 'max_duration' });
    const failures = h.events('call_supervisor_error').map((e) => e.metadata as { reason: string });
    expect(failures[0].reason).toMatch(sideband === 'refuse' ? /^upgrade refused \(HTTP 403\)$/ : /^dropped \(code 1006\)$/);
    expect(JSON.stringify(h.entries())).not.toContain('secret-upstream-detail');
  });

  it('a hang-up the upstream refuses is retried and logged; the call still counts as ended here', async () => {
    h.configure({ CALL_MAX_SECONDS: '1' });
    expect((await placeCall()).status).toBe(201);
    h.upstream.setMode('unauthorized');
    await eventually(() => h.events('call_ended')[0], 5000, 'call_ended');
    expect(h.events('call_supervisor_error').filter((e) => e.message === 'Call hang-up failed').map((e) => (e.metadata as { attempt: number }).attempt)).toEqual([1, 2, 3]);
    expect(callsOf(h.rt.runtime).size).toBe(0);
  });
});
