import { DISTINCT_SCRIPT, TREND_SCRIPT, type LuaScript } from './lua';
import type { DistinctPolicy, DistinctResult, TrendPolicy, TrendResult } from './observations';
import { StoreError } from './store';

/** Runs one script on one key (the Redis store's `run`: by SHA, EVAL on NOSCRIPT, typed errors). */
export type ScriptRunner = (script: LuaScript, key: string, args: Array<string | number>) => Promise<unknown>;

/** {@link ObservationStore.distinct} on Redis: one script, one sorted set. */
export async function redisDistinct(run: ScriptRunner, key: string, member: string, policy: DistinctPolicy): Promise<DistinctResult> {
  const reply = await run(DISTINCT_SCRIPT, key, [member, policy.windowMs * 1000, policy.maxMembers]);
  if (!Array.isArray(reply) || !reply.every((m) => typeof m === 'string')) throw new StoreError('error');
  return { members: reply as string[] };
}

/** {@link ObservationStore.trend} on Redis: one script, one hash, expiring once the baseline has decayed below 0.1 %. */
export async function redisTrend(run: ScriptRunner, key: string, policy: TrendPolicy): Promise<TrendResult> {
  const decayBuckets = policy.alpha >= 1 ? 1 : Math.ceil(Math.log(0.001) / Math.log(1 - policy.alpha));
  const ttlMs = policy.bucketMs * (decayBuckets + 2);
  const reply = await run(TREND_SCRIPT, key, [policy.bucketMs * 1000, String(policy.alpha), ttlMs]);
  if (!Array.isArray(reply) || reply.length !== 5) throw new StoreError('error');
  const [current, previous, intoUs, ewma, buckets] = reply as [unknown, unknown, unknown, unknown, unknown];
  const baseline = Number(ewma);
  if (![current, previous, intoUs, buckets].every(Number.isSafeInteger) || !Number.isFinite(baseline)) throw new StoreError('error');
  const elapsed = Math.min(0.999_999, Math.max(0, (intoUs as number) / (policy.bucketMs * 1000)));
  return { current: current as number, previous: previous as number, elapsed, baseline, buckets: buckets as number };
}
