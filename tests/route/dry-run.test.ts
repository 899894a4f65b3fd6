import { describe, expect, it } from 'vitest';
import { POST } from '@/app/api/realtime/token/route';
import { DRY_RUN_GUARDS } from '@/lib/config';
import { signJwt } from '../support/tokens';
import { call, routeHarness, sequential, tokenRequest, type Answer, type Env, type Harness } from './helpers';

/**
 * Dry run (`GUARD_DRY_RUN`, lib/pipeline/run.ts): a listed guard logs what it
 * would have refused and the request goes on, so a new rule can be watched
 * before it is enforced. Every case runs twice: enforced (it must refuse,
 * or the case proves nothing) and in dry run (it must not).
 */

const h = routeHarness({ RATE_LIMIT_TOKEN: '1000/60' });

type Setup = (h: Harness) => Promise<Answer>;
const twice: Setup = async () => {
  await call(POST, tokenRequest());
  return call(POST, tokenRequest());
};
const once: Setup = async () => call(POST, tokenRequest());

const CASES: Array<[guard: string, env: Env, setup: Setup, code: string]> = [
  ['api_limit', { RATE_LIMIT_API: '1/60' }, twice, 'rate_limited'],
  ['deny_ip', { DENY_IPS: '203.0.113.0/24' }, once, 'denied'],
  ['geo', { GEO_DENY_COUNTRIES: 'AU' }, once, 'geo_blocked'],
  ['deny_user', { DENY_USERS: 'jwt:user-1' }, once, 'denied'],
  ['anomaly', { ANOMALY_MODE: 'block', ANOMALY_SPIKE_FLOOR: '1' }, twice, 'anomaly_cooloff'],
  ['token_daily', { RATE_LIMIT_TOKEN_DAILY: '1/86400' }, twice, 'rate_limited'],
  ['global_limit', { RATE_LIMIT_GLOBAL: '1/60' }, twice, 'issuance_paused'],
  [
    'quota_circuit',
    {},
    async (harness) => {
      harness.upstream.setMode('quota');
      await call(POST, tokenRequest());
      harness.upstream.setMode('ok');
      return call(POST, tokenRequest());
    },
    'upstream_quota_cooloff',
  ],
];

describe('every guard that may run dry', () => {
  it('has a case here', () => {
    expect(CASES.map(([guard]) => guard).sort()).toEqual([...DRY_RUN_GUARDS].sort());
  });

  it.each(CASES)('%s: refuses when enforced, logs dry_run_refusal and lets the request through when listed', async (guard, env, setup, code) => {
    h.configure(env);
    const enforced = await setup(h);
    expect(enforced.body?.error).toBe(code);

    h.configure({ ...env, GUARD_DRY_RUN: guard });
    h.upstream.requests.length = 0;
    const dry = await setup(h);
    expect(dry.status).toBe(200);
    expect(dry.body?.value).toMatch(/^ek_/);
    expect(dry.headers.get('Retry-After')).toBeNull();
    const lines = h.events('dry_run_refusal');
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.at(-1)).toMatchObject({ level: 'info', metadata: { guard, code } });
    // The would-be refusal is not also logged as a refusal, nor counted against the client.
    expect(h.entries().filter((e) => (e.metadata as { code?: string } | undefined)?.code === code && e.event !== 'dry_run_refusal')).toEqual([]);
    expect(h.events('suspicious_activity')).toEqual([]);
  });
});

describe('what dry run does not do', () => {
  it('guards not listed keep refusing', async () => {
    h.configure({ GUARD_DRY_RUN: 'geo', GEO_DENY_COUNTRIES: 'AU', DENY_IPS: '203.0.113.7' });
    const res = await call(POST, tokenRequest());
    expect(res.body?.error).toBe('denied');
  });

  it('a dry-run limiter leaves no refused result in the rate-limit headers and no suspicion after many would-be refusals', async () => {
    h.configure({ GUARD_DRY_RUN: 'api_limit', RATE_LIMIT_API: '1/60' });
    const token = await signJwt();
    const answers = await sequential(15, () => call(POST, tokenRequest({ token })));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.at(-1)!.headers.get('RateLimit-Policy')).not.toContain('"api"');
    expect(h.events('dry_run_refusal')).toHaveLength(14);
    expect(h.events('suspicious_activity')).toEqual([]);
  });
});
