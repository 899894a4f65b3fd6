/**
 * Runs one benchmark part in a fresh process (fresh heap and JIT state, and
 * --expose-gc), started by scripts/bench.mjs over IPC: receives
 * { part, options }, answers { rows } or { skipped } or { error }.
 */
import { e2eBench } from './e2e.mjs';
import { guardsBench } from './guards.mjs';
import { jsonBench } from './json.mjs';
import { limiterMicro, memoryFlood, scaling } from './limiters.mjs';
import { redisBench, SkipError } from './redis.mjs';

const PARTS = { e2e: e2eBench, 'limiter-memory': limiterMicro, 'memory-flood': memoryFlood, scaling, 'limiter-redis': redisBench, json: jsonBench, guards: guardsBench };

process.once('message', async ({ part, options }) => {
  const say = (line) => process.send({ say: line });
  let reply;
  try {
    reply = { rows: await PARTS[part]({ ...options, say }) };
  } catch (error) {
    reply = error instanceof SkipError ? { skipped: error.message } : { error: error?.stack ?? String(error) };
  }
  process.send(reply, () => process.exit(0));
});
