import { parseDenyEntry, type DenyEntry } from '../deny';
import type { RatePolicy } from '../limits/store';
import { ENV_KEYS, intIn, policy, type Env, type ParsedEnv } from './schema';

/**
 * The abuse controls' settings (geography, deny lists, anomalies, the wallet,
 * plans, dry run) and their cross-variable rules. Called by `loadConfig`; a
 * bad value throws through its `fail`, naming the variable, never its value.
 */

/** Guards that `GUARD_DRY_RUN` may never name: without them nothing else holds. */
export const CORE_GUARDS = ['front_door', 'shape', 'origin', 'configured', 'auth_failure_limit', 'authenticate', 'validate', 'token_limit', 'mint'] as const;
/** Guards that can be rolled out in dry run (a new route's guards join this list). */
export const DRY_RUN_GUARDS: readonly string[] = ['api_limit', 'deny_ip', 'geo', 'deny_user', 'anomaly', 'token_daily', 'global_limit', 'quota_circuit'];

export interface GeoConfig {
  readonly allow: ReadonlySet<string> | undefined;
  readonly deny: ReadonlySet<string> | undefined;
  /** What a request whose country is unknown gets. */
  readonly unknown: 'allow' | 'deny';
  /** The platform's country header; read only where `CLIENT_IP_HEADER` is set. */
  readonly countryHeader: string | undefined;
}

export interface AnomalyConfig {
  readonly mode: 'off' | 'log' | 'block';
  readonly maxNetworks: number;
  readonly travelMs: number;
  readonly spikeFactor: number;
  readonly spikeFloor: number;
  readonly cooloffMs: number;
}

/** The policies a verified `plan` claim selects (unset ones are the defaults). */
export interface PlanPolicies {
  readonly token: RatePolicy;
  readonly daily: RatePolicy;
  /** `CALL_MINUTES_PER_DAY_<PLAN>`; undefined: the calls route's own default. */
  readonly callMinutesPerDay: number | undefined;
}

export interface AbuseConfig {
  /** Undefined when geography is off (no country list and no country header). */
  readonly geo: GeoConfig | undefined;
  readonly deny: { readonly entries: readonly DenyEntry[]; readonly file: string | undefined };
  readonly anomaly: AnomalyConfig;
  readonly wallet: { readonly daily: RatePolicy; readonly global: RatePolicy; readonly quotaCooloffMs: number };
  /** Plans by lower-case name; `claim` is the Clerk session claim (dotted path) that names one. */
  readonly plans: { readonly claim: string; readonly byName: ReadonlyMap<string, PlanPolicies> };
  /** Guard names that log what they would refuse and let the request through. */
  readonly dryRun: ReadonlySet<string>;
}

type Fail = (name: string, why: string) => never;

export function abuseConfig(e: ParsedEnv, env: Env, fail: Fail): AbuseConfig {
  const countries = (name: string, values: readonly string[]) => {
    if (values.length === 0) return undefined;
    const codes = values.map((v) => v.toUpperCase());
    if (!codes.every((c) => /^[A-Z][A-Z0-9]$/.test(c))) fail(name, 'entries must be ISO 3166-1 alpha-2 country codes such as DE or US');
    return new Set(codes);
  };
  const allow = countries('GEO_ALLOW_COUNTRIES', e.GEO_ALLOW_COUNTRIES);
  const deny = countries('GEO_DENY_COUNTRIES', e.GEO_DENY_COUNTRIES);
  if (allow && deny) fail('GEO_ALLOW_COUNTRIES', 'and GEO_DENY_COUNTRIES are both set: choose an allow list or a deny list');
  // A country header is as trustworthy as the client IP header: only a platform in front sets it.
  if (e.CLIENT_COUNTRY_HEADER && !e.CLIENT_IP_HEADER) fail('CLIENT_COUNTRY_HEADER', 'is trusted only behind a platform that also sets CLIENT_IP_HEADER');
  const geoOn = allow !== undefined || deny !== undefined || e.CLIENT_COUNTRY_HEADER !== undefined;

  const entries: DenyEntry[] = [];
  for (const [name, kinds, why] of [
    ['DENY_USERS', ['user'], 'entries must be user ids as the logs show them, such as jwt:alice or clerk:user_2abc'],
    ['DENY_IPS', ['ip4', 'ip6'], 'entries must be IPv4 or IPv6 addresses or CIDR networks'],
  ] as const) {
    for (const raw of e[name]) {
      const entry = parseDenyEntry(raw);
      if (entry === undefined || !(kinds as readonly string[]).includes(entry.kind)) fail(name, why);
      entries.push(entry);
    }
  }

  const dryRun = new Set(e.GUARD_DRY_RUN.map((n) => n.toLowerCase()));
  const core = CORE_GUARDS.filter((n) => dryRun.has(n));
  if (core.length > 0) fail('GUARD_DRY_RUN', `lists core controls that cannot run dry: ${core.join(', ')}`);
  if ([...dryRun].some((n) => !DRY_RUN_GUARDS.includes(n))) fail('GUARD_DRY_RUN', `may list only ${DRY_RUN_GUARDS.join(', ')}`);

  return {
    geo: geoOn ? { allow, deny, unknown: e.GEO_UNKNOWN, countryHeader: e.CLIENT_COUNTRY_HEADER } : undefined,
    deny: { entries, file: e.DENY_LIST_FILE },
    anomaly: {
      mode: e.ANOMALY_MODE,
      maxNetworks: e.ANOMALY_MAX_NETWORKS,
      travelMs: e.ANOMALY_TRAVEL_MINUTES * 60_000,
      spikeFactor: e.ANOMALY_SPIKE_FACTOR,
      spikeFloor: e.ANOMALY_SPIKE_FLOOR,
      cooloffMs: e.ANOMALY_COOLOFF_SECONDS * 1000,
    },
    wallet: { daily: e.RATE_LIMIT_TOKEN_DAILY, global: e.RATE_LIMIT_GLOBAL, quotaCooloffMs: e.UPSTREAM_QUOTA_COOLOFF_SECONDS * 1000 },
    plans: { claim: e.CLERK_PLAN_CLAIM, byName: plans(e, env, fail) },
    dryRun,
  };
}

const PLAN_PREFIXES = ['RATE_LIMIT_TOKEN', 'RATE_LIMIT_TOKEN_DAILY', 'CALL_MINUTES_PER_DAY'] as const;

/**
 * `PLANS=pro,team` names the plans; each may set `RATE_LIMIT_TOKEN_<PLAN>`,
 * `RATE_LIMIT_TOKEN_DAILY_<PLAN>` and `CALL_MINUTES_PER_DAY_<PLAN>`. A plan's
 * own policy gets its own name (`token_pro`), so its window is its own; an
 * unset one is the default policy itself. A plan variable for a plan that
 * `PLANS` does not list is refused (a typo would otherwise give the defaults).
 */
function plans(e: ParsedEnv, env: Env, fail: Fail): ReadonlyMap<string, PlanPolicies> {
  const byName = new Map<string, PlanPolicies>();
  const expected = new Set<string>();
  for (const plan of e.PLANS.map((p) => p.toLowerCase())) {
    if (!/^[a-z0-9_]{1,32}$/.test(plan) || plan.startsWith('daily')) fail('PLANS', 'entries must be 1-32 characters of a-z 0-9 _ and not start with "daily"');
    const [token, daily, minutes] = PLAN_PREFIXES.map((prefix) => {
      const name = `${prefix}_${plan.toUpperCase()}`;
      expected.add(name);
      const value = env[name]?.trim();
      return value ? { name, value } : undefined;
    });
    const read = <T>(v: { name: string; value: string } | undefined, schema: { safeParse(x: string): { success: boolean; data?: T } }, fallback: T, why: string): T => {
      if (v === undefined) return fallback;
      const parsed = schema.safeParse(v.value);
      return parsed.success ? (parsed.data as T) : fail(v.name, why);
    };
    const window = 'must look like LIMIT/WINDOW_SECONDS, e.g. 60/60';
    byName.set(plan, {
      token: read(token, policy(`token_${plan}`, 1, 1), e.RATE_LIMIT_TOKEN, window),
      daily: read(daily, policy(`token_daily_${plan}`, 1, 1), e.RATE_LIMIT_TOKEN_DAILY, window),
      callMinutesPerDay: read<number | undefined>(minutes, intIn(1, 1440, 1), undefined, 'must be a whole number of minutes (1-1440), like CALL_MINUTES_PER_DAY'),
    });
  }
  for (const name of Object.keys(env)) {
    if (!PLAN_PREFIXES.some((p) => name.startsWith(`${p}_`)) || ENV_KEYS.includes(name) || expected.has(name) || !env[name]?.trim()) continue;
    fail(name, 'names a plan that PLANS does not list');
  }
  return byName;
}
