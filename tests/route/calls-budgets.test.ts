import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { callsOf, createSupervisor, setCalls } from '@/lib/calls';
import { setRuntime } from '@/lib/runtime';
import { startRedis, type RedisServer } from '../support/redis';
import { baseEnv, testRuntime, type TestRuntime } from '../support/runtime';
import { signJwt } from '../support/tokens';
import { callsHarness, controlCall, eventually, placeCall } from './calls-helpers';
import { byStatus, type Answer, type Env } from './helpers';

/**
 * Call budgets are exact: concurrent calls per user (a reserved slot) and
 * call seconds per user per day (drawn up front, unused seconds refunded), in
 * memory and on a real Redis shared by two instances. Limits that would
 * interfere (API and session-start rates) are raised out of the way.
 */

const OPEN: Env = { RATE_LIMIT_API: '1000/60', RATE_LIMIT_TOKEN: '1000/60' };
const h = callsHarness(OPEN);

const endsIn = (res: Answer) => (res.body as { endsAt: number }).endsAt - Math.floor(Date.now() / 1000);
const idOf = (res: Answer) => (res.body as { callId: string }).callId;

describe('in memory', () => {
  it('20 parallel call requests from one user open exactly CALLS_MAX_CONCURRENT; ending one frees its slot', async () => {
    h.configure({ CALLS_MAX_CONCURRENT: '2' });
    const jwt = await signJwt({}, { subject: 'busy' });
    const answers = await Promise.all(Array.from({ length: 20 }, () => placeCall({ token: jwt })));
    expect(byStatus(answers)).toEqual({ 201: 2, 429: 18 });
    const refused = answers.filter((a) => a.status === 429);
    expect(new Set(refused.map((a) => a.body?.error))).toEqual(new Set(['call_limit_reached']));
    for (const a of refused) expect(Number(a.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(h.upstream.calls.calls.size).toBe(2);
    // Another user has slots of their own.
    expect((await placeCall({ token: await signJwt({}, { subject: 'someone-else' }) })).status).toBe(201);
    const open = answers.filter((a) => a.status === 201);
    expect((await controlCall('DELETE', idOf(open[0]), { token: jwt })).status).toBe(204);
    expect((await placeCall({ token: jwt })).status).toBe(201);
    expect((await placeCall({ token: jwt })).status).toBe(429);
  });

  it('minutes per day: endsAt never lies past what is left; then minutes_exhausted; unused seconds come back at hang-up', async () => {
    h.configure({ CALL_MINUTES_PER_DAY: '1', CALL_MAX_SECONDS: '45', CALLS_MAX_CONCURRENT: '5' });
    const jwt = await signJwt({}, { subject: 'talker' });
    const first = await placeCall({ token: jwt });
    expect(endsIn(first)).toBeGreaterThanOrEqual(44);
    const second = await placeCall({ token: jwt });
    expect(second.status).toBe(201);
    expect(endsIn(second)).toBeLessThanOrEqual(15);
    expect(endsIn(second)).toBeGreaterThanOrEqual(14);
    expect(h.events('call_started').map((e) => (e.metadata as { limitedBy: string }).limitedBy)).toEqual(['max_duration', 'budget']);
    const third = await placeCall({ token: jwt });
    expect([third.status, third.body?.error]).toEqual([429, 'minutes_exhausted']);
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(86_000);
    expect(h.upstream.calls.calls.size).toBe(2);
    // The first call ends at once (the test clock stands still): its 45 s are refunded.
    expect((await controlCall('DELETE', idOf(first), { token: jwt })).status).toBe(204);
    const fourth = await placeCall({ token: jwt });
    expect(fourth.status).toBe(201);
    expect(endsIn(fourth)).toBeGreaterThanOrEqual(44);
  });
});

describe('on Redis, two instances sharing one server', () => {
  let redis: RedisServer;
  const instances: TestRuntime[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const instance of instances.splice(0)) {
      await callsOf(instance.runtime).close();
      await instance.runtime.store.close();
    }
  });
  afterAll(async () => {
    await redis?.close();
  });

  /** Two instances on one Redis; each gets a supervisor that sweeps often. */
  function twoInstances(env: Env): [TestRuntime, TestRuntime] {
    const prefix = `calls-${Math.random().toString(36).slice(2)}:`;
    const full = { ...baseEnv(h.upstream.baseUrl), UPSTREAM_TIMEOUT_MS: '10000', ...OPEN, REDIS_URL: redis.url, RATE_LIMIT_PREFIX: prefix, REDIS_TIMEOUT_MS: '2000', ...env };
    const pair = [testRuntime(full), testRuntime(full)] as [TestRuntime, TestRuntime];
    for (const instance of pair) setCalls(instance.runtime, createSupervisor(instance.runtime, { sweepIntervalMs: 100, sweepGraceMs: 300 }));
    instances.push(...pair);
    return pair;
  }

  /** Sends `n` call requests in parallel, alternating instances (each handler takes its runtime synchronously). */
  function across(pair: [TestRuntime, TestRuntime], n: number, token: string): Promise<Answer[]> {
    const sent: Promise<Answer>[] = [];
    for (let i = 0; i < n; i++) {
      setRuntime(pair[i % 2].runtime);
      sent.push(placeCall({ token }));
    }
    return Promise.all(sent);
  }

  it('20 parallel call requests from one user across both instances open exactly CALLS_MAX_CONCURRENT', async () => {
    const pair = twoInstances({ CALLS_MAX_CONCURRENT: '2' });
    const jwt = await signJwt({}, { subject: 'redis-busy' });
    const answers = await across(pair, 20, jwt);
    expect(byStatus(answers)).toEqual({ 201: 2, 429: 18 });
    expect(h.upstream.calls.calls.size).toBe(2);
  });

  it('call minutes across both instances: 20 parallel requests never draw more than the day allows', async () => {
    const pair = twoInstances({ CALLS_MAX_CONCURRENT: '20', CALL_MINUTES_PER_DAY: '1', CALL_MAX_SECONDS: '30' });
    const answers = await across(pair, 20, await signJwt({}, { subject: 'redis-talker' }));
    expect(byStatus(answers)).toEqual({ 201: 2, 429: 18 });
    expect(answers.filter((a) => a.status === 429).every((a) => a.body?.error === 'minutes_exhausted')).toBe(true);
    const granted = answers.filter((a) => a.status === 201).reduce((sum, a) => sum + endsIn(a), 0);
    expect(granted).toBeGreaterThanOrEqual(58);
    expect(granted).toBeLessThanOrEqual(60);
  });

  it('a DELETE on the other instance hangs up; the supervising instance gives the slot back', async () => {
    const [a, b] = twoInstances({ CALLS_MAX_CONCURRENT: '1' });
    const jwt = await signJwt({}, { subject: 'redis-owner' });
    setRuntime(a.runtime);
    const res = await placeCall({ token: jwt });
    expect(res.status).toBe(201);
    setRuntime(b.runtime);
    expect((await controlCall('DELETE', idOf(res), { token: await signJwt({}, { subject: 'redis-intruder' }) })).status).toBe(404);
    expect(h.upstream.calls.hangups).toEqual([]);
    expect((await controlCall('DELETE', idOf(res), { token: jwt })).status).toBe(204);
    expect(h.upstream.calls.hangups).toHaveLength(1);
    expect(b.entries().filter((e) => e.event === 'call_ended').map((e) => e.metadata)).toEqual([{ callId: idOf(res), reason: 'client', durationSeconds: expect.any(Number) }]);
    await eventually(() => callsOf(a.runtime).size === 0, 3000, 'instance a settled the call');
    setRuntime(a.runtime);
    expect((await placeCall({ token: jwt })).status).toBe(201);
  });

  it('when the supervising instance dies, another instance\'s sweeper hangs the call up after its deadline', async () => {
    const [a, b] = twoInstances({ CALL_MAX_SECONDS: '1' });
    setRuntime(a.runtime);
    const res = await placeCall();
    expect(res.status).toBe(201);
    callsOf(a.runtime).abandon();
    // The test clocks stand still: b's moves past the deadline and the sweep grace.
    b.advance(1500);
    const upstreamCall = [...h.upstream.calls.calls.values()][0];
    await eventually(() => upstreamCall.ended, 4000, 'swept and hung up');
    // call_ended is logged once the hang-up's answer is back, a moment after the upstream saw it.
    await eventually(() => b.entries().some((e) => e.event === 'call_ended'), 4000, 'call_ended logged');
    const ended = b.entries().filter((e) => e.event === 'call_ended');
    expect(ended.map((e) => e.metadata)).toEqual([{ callId: idOf(res), reason: 'max_duration', durationSeconds: expect.any(Number), sweptBy: 'sweeper' }]);
    expect(a.entries().filter((e) => e.event === 'call_ended')).toEqual([]);
  });
});
