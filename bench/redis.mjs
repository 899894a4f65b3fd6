/**
 * Part 3: our Redis store (lib/redis-store.ts, one Lua script per check,
 * exact sliding log on the server clock) against rate-limiter-flexible's
 * RateLimiterRedis (fixed window) on the same private redis-server, both
 * through ioredis, with 50 concurrent callers.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { loadLib, ROOT } from '../scripts/lib-loader.mjs';
import { findRedisServer, startRedisServer } from './redis-server.mjs';
import { distinctKeys, median, quantile, round } from './stats.mjs';

const require = createRequire(import.meta.url);
const POLICY = { name: 'api', limit: 100, windowMs: 60_000 };

/** Thrown when a part cannot run here; the runner records it as skipped, not failed. */
export class SkipError extends Error {}

/** `callers` loops each awaiting one check at a time, for `durationMs`; returns count and latencies. */
async function drive(check, keys, callers, durationMs) {
  const latencies = [];
  let next = 0;
  let allowed = 0;
  let errors = 0;
  const stopAt = performance.now() + durationMs;
  const caller = async () => {
    while (performance.now() < stopAt) {
      const key = keys[next++ % keys.length];
      const start = performance.now();
      try {
        if (await check(key)) allowed++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - start);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: callers }, caller));
  return { checks: latencies.length, seconds: (performance.now() - started) / 1000, latencies, allowed, errors };
}

export async function redisBench({ smoke }) {
  if (!existsSync(join(ROOT, 'lib/limits/redis.ts'))) throw new SkipError('lib/limits/redis.ts does not exist');
  const binary = findRedisServer();
  if (!binary) throw new SkipError('redis-server is not installed (apt-get install -y redis-server)');
  const { RedisRateLimitStore } = (await loadLib(['limits/redis']))['limits/redis'];
  const { RateLimiterRedis } = require('rate-limiter-flexible');
  const Redis = require('ioredis');

  const callers = 50;
  const keys = distinctKeys(100_000, 11);
  const plan = smoke ? { warmupMs: 200, rounds: 1, roundMs: 500 } : { warmupMs: 2000, rounds: 6, roundMs: 3000 };
  const server = await startRedisServer(binary);
  const admin = new Redis(server.url);
  // Production settings but a 1 s command deadline: on a shared two-core machine
  // a 50 ms deadline would turn scheduling hiccups into errors, not measure the store.
  const ours = new RedisRateLimitStore({ url: server.url, prefix: 'bench:ours:', timeoutMs: 1000 });
  const flexClient = new Redis(server.url, { enableOfflineQueue: true });
  const flexible = new RateLimiterRedis({
    storeClient: flexClient,
    keyPrefix: 'bench:flex',
    points: POLICY.limit,
    duration: POLICY.windowMs / 1000,
  });
  const contenders = [
    { id: 'ours', name: 'ours: RedisRateLimitStore (Lua sliding log)', check: async (k) => (await ours.hit(k, POLICY)).allowed },
    {
      id: 'flexible',
      name: 'rate-limiter-flexible RateLimiterRedis (fixed window)',
      check: async (k) => {
        try {
          await flexible.consume(k);
          return true;
        } catch (refusal) {
          if (refusal instanceof Error) throw refusal;
          return false;
        }
      },
    },
  ];
  try {
    await ours.ping();
    const results = new Map(contenders.map((c) => [c.id, { rps: [], latencies: [], allowed: 0, checks: 0, errors: 0 }]));
    for (const c of contenders) await drive(c.check, keys, callers, plan.warmupMs);
    for (let r = 0; r < plan.rounds; r++) {
      const order = r % 2 === 0 ? contenders : [...contenders].reverse();
      for (const c of order) {
        await admin.flushdb();
        const run = await drive(c.check, keys, callers, plan.roundMs);
        const acc = results.get(c.id);
        acc.rps.push(run.checks / run.seconds);
        for (const ms of run.latencies) acc.latencies.push(ms);
        acc.allowed += run.allowed;
        acc.checks += run.checks;
        acc.errors += run.errors;
      }
    }
    const rate = (id) => median(results.get(id).rps);
    return contenders.map((c) => {
      const acc = results.get(c.id);
      return {
        group: 'limiter-redis',
        name: c.name,
        contender: c.id,
        concurrency: callers,
        keys: keys.length,
        policy: `${POLICY.limit}/${POLICY.windowMs / 1000}s`,
        rounds: plan.rounds,
        secondsPerRound: plan.roundMs / 1000,
        checksPerSec: round(rate(c.id)),
        latencyP50Ms: round(quantile(acc.latencies, 0.5), 3),
        latencyP99Ms: round(quantile(acc.latencies, 0.99), 3),
        allowedFraction: round(acc.allowed / acc.checks, 3),
        errors: acc.errors,
        valid: acc.errors === 0,
        ratioVsRateLimiterRedis: round(rate(c.id) / rate('flexible'), 3),
      };
    });
  } finally {
    await ours.close();
    flexClient.disconnect();
    admin.disconnect();
    await server.stop();
  }
}
