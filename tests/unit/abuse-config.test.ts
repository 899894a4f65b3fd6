import { describe, expect, it } from 'vitest';
import { ConfigError, CORE_GUARDS, DRY_RUN_GUARDS, loadConfig } from '@/lib/config';
import { CANARY } from '../support/config-cases';

/**
 * The abuse controls' configuration rules (lib/config/abuse.ts): each bad
 * setting stops the start naming the variable, never echoing the value.
 */

type Env = Record<string, string | undefined>;

function refusal(env: Env): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('loadConfig accepted the environment');
}

describe('refused settings name the variable, never the value', () => {
  const cases: Array<[label: string, env: Env, variable: string, why: RegExp]> = [
    ['both country lists', { GEO_ALLOW_COUNTRIES: 'DE', GEO_DENY_COUNTRIES: 'RU' }, 'GEO_ALLOW_COUNTRIES', /GEO_DENY_COUNTRIES are both set/],
    ['a three-letter country', { GEO_ALLOW_COUNTRIES: `DE,${CANARY}` }, 'GEO_ALLOW_COUNTRIES', /alpha-2/],
    ['a country name', { GEO_DENY_COUNTRIES: 'Germany' }, 'GEO_DENY_COUNTRIES', /alpha-2/],
    ['GEO_UNKNOWN other than allow/deny', { GEO_UNKNOWN: CANARY }, 'GEO_UNKNOWN', /./],
    ['a country header without the platform IP header', { CLIENT_COUNTRY_HEADER: 'cf-ipcountry' }, 'CLIENT_COUNTRY_HEADER', /CLIENT_IP_HEADER/],
    ['a country header that is not a header name', { CLIENT_IP_HEADER: 'cf-connecting-ip', CLIENT_COUNTRY_HEADER: `${CANARY} x` }, 'CLIENT_COUNTRY_HEADER', /header name/],
    ['a user id without its method prefix', { DENY_USERS: `jwt:ok,${CANARY}` }, 'DENY_USERS', /user ids/],
    ['an address in DENY_USERS', { DENY_USERS: '203.0.113.7' }, 'DENY_USERS', /user ids/],
    ['a prefix length past 32', { DENY_IPS: `203.0.113.0/33,${CANARY}` }, 'DENY_IPS', /CIDR/],
    ['a user id in DENY_IPS', { DENY_IPS: `jwt:${CANARY}` }, 'DENY_IPS', /CIDR/],
    ['ANOMALY_MODE other than off/log/block', { ANOMALY_MODE: 'enforce' }, 'ANOMALY_MODE', /./],
    ['zero networks', { ANOMALY_MAX_NETWORKS: '0' }, 'ANOMALY_MAX_NETWORKS', /./],
    ['a daily quota that is not LIMIT/WINDOW', { RATE_LIMIT_TOKEN_DAILY: CANARY }, 'RATE_LIMIT_TOKEN_DAILY', /LIMIT\/WINDOW_SECONDS/],
    ['a global breaker of zero', { RATE_LIMIT_GLOBAL: '0/60' }, 'RATE_LIMIT_GLOBAL', /at least 1/],
    ['a cool-off past an hour', { UPSTREAM_QUOTA_COOLOFF_SECONDS: '3601' }, 'UPSTREAM_QUOTA_COOLOFF_SECONDS', /./],
    ['a plan name with a dash', { PLANS: 'pro-plus' }, 'PLANS', /a-z 0-9 _/],
    ['a plan whose variables would collide with the daily ones', { PLANS: 'daily_x' }, 'PLANS', /daily/],
    ['a plan policy that is not LIMIT/WINDOW', { PLANS: 'pro', RATE_LIMIT_TOKEN_PRO: CANARY }, 'RATE_LIMIT_TOKEN_PRO', /LIMIT\/WINDOW_SECONDS/],
    ['plan minutes that are not a number', { PLANS: 'pro', CALL_MINUTES_PER_DAY_PRO: CANARY }, 'CALL_MINUTES_PER_DAY_PRO', /minutes/],
    ['a plan variable for a plan PLANS does not list (a typo)', { PLANS: 'pro', RATE_LIMIT_TOKEN_PRP: '60/60' }, 'RATE_LIMIT_TOKEN_PRP', /PLANS does not list/],
    ['a plan variable with no PLANS at all', { RATE_LIMIT_TOKEN_DAILY_TEAM: '60/60' }, 'RATE_LIMIT_TOKEN_DAILY_TEAM', /PLANS does not list/],
    ['a Clerk claim path that is not a path', { CLERK_PLAN_CLAIM: 'a..b' }, 'CLERK_PLAN_CLAIM', /dotted path/],
    ['an unknown guard in GUARD_DRY_RUN', { GUARD_DRY_RUN: `geo,${CANARY}` }, 'GUARD_DRY_RUN', /may list only/],
    ...CORE_GUARDS.map((name): [string, Env, string, RegExp] => [`core control ${name} in dry run`, { GUARD_DRY_RUN: `geo, ${name.toUpperCase()}` }, 'GUARD_DRY_RUN', new RegExp(`cannot run dry: ${name}$`)]),
  ];

  it.each(cases)('%s', (_label, env, variable, why) => {
    const error = refusal(env);
    expect(error.variables).toContain(variable);
    expect(error.message).toMatch(why);
    expect(error.message).not.toContain(CANARY);
  });
});

describe('accepted settings', () => {
  it('defaults: geography off, deny lists empty, anomalies logged, the wallet at 200/day and 1000/min, quota cool-off 60 s', () => {
    const c = loadConfig({});
    expect(c.geo).toBeUndefined();
    expect(c.deny).toEqual({ entries: [], file: undefined });
    expect(c.anomaly).toEqual({ mode: 'log', maxNetworks: 5, travelMs: 3_600_000, spikeFactor: 4, spikeFloor: 20, cooloffMs: 900_000 });
    expect(c.wallet).toEqual({
      daily: { name: 'token_daily', limit: 200, windowMs: 86_400_000 },
      global: { name: 'global', limit: 1000, windowMs: 60_000 },
      quotaCooloffMs: 60_000,
    });
    expect(c.plans.claim).toBe('plan');
    expect(c.plans.byName.size).toBe(0);
    expect(c.dryRun.size).toBe(0);
  });

  it('country codes are upper-cased; the header needs CLIENT_IP_HEADER and turns geography on by itself', () => {
    expect(loadConfig({ GEO_DENY_COUNTRIES: ' ru, kp ,T1' }).geo).toEqual({ allow: undefined, deny: new Set(['RU', 'KP', 'T1']), unknown: 'allow', countryHeader: undefined });
    expect(loadConfig({ CLIENT_IP_HEADER: 'CF-Connecting-IP', CLIENT_COUNTRY_HEADER: 'CF-IPCountry' }).geo).toMatchObject({ countryHeader: 'cf-ipcountry' });
  });

  it('plans: own policies get their own names; unset ones are the default policy objects', () => {
    const c = loadConfig({ PLANS: 'Pro, team', RATE_LIMIT_TOKEN_PRO: '60/60', CALL_MINUTES_PER_DAY_PRO: '600', RATE_LIMIT_TOKEN_DAILY_TEAM: '5000/86400' });
    expect(c.plans.byName.get('pro')).toEqual({ token: { name: 'token_pro', limit: 60, windowMs: 60_000 }, daily: c.wallet.daily, callMinutesPerDay: 600 });
    expect(c.plans.byName.get('team')).toEqual({ token: c.rateLimits.token, daily: { name: 'token_daily_team', limit: 5000, windowMs: 86_400_000 }, callMinutesPerDay: undefined });
  });

  it('GUARD_DRY_RUN takes every eligible guard, case-insensitively', () => {
    expect([...loadConfig({ GUARD_DRY_RUN: DRY_RUN_GUARDS.join(',').toUpperCase() }).dryRun].sort()).toEqual([...DRY_RUN_GUARDS].sort());
  });
});
