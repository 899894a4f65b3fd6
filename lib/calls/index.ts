import type { Runtime } from '../runtime';
import { liveSessions } from './live';
import { realtimeCalls } from './realtime';
import { MemoryCallRegistry, type CallRegistry } from './registry';
import { RedisCallRegistry } from './registry-redis';
import { CallSupervisor } from './supervisor';

/**
 * The call supervisor of a runtime, created on first use: with Redis (`config.redis`)
 * its registry is shared (and it sweeps), else it lives in this process.
 * Held on `globalThis` like the runtime (lib/runtime.ts), because Next bundles
 * the calls route and its `[callId]` route apart, and both must reach the
 * same supervisor.
 */

const HOLDER = Symbol.for('realtime-token-guard.calls');
type Holder = { [HOLDER]?: WeakMap<Runtime, CallSupervisor> };

const supervisors = (): WeakMap<Runtime, CallSupervisor> => ((globalThis as Holder)[HOLDER] ??= new WeakMap());

export function callsOf(rt: Runtime): CallSupervisor {
  let supervisor = supervisors().get(rt);
  if (supervisor === undefined) {
    supervisor = createSupervisor(rt);
    supervisors().set(rt, supervisor);
  }
  return supervisor;
}

/** Builds a supervisor for `rt`; tests pass their own registry or sweep interval. */
export function createSupervisor(rt: Runtime, options: { registry?: CallRegistry; sweepIntervalMs?: number; sweepGraceMs?: number } = {}): CallSupervisor {
  const { config } = rt;
  const registry =
    options.registry ??
    (config.redis ? new RedisCallRegistry({ connection: config.redis, prefix: config.rateLimitPrefix, timeoutMs: config.redisTimeoutMs }) : new MemoryCallRegistry(rt.now));
  const supervisor = new CallSupervisor({
    config,
    logger: rt.logger,
    fetch: rt.fetch,
    now: rt.now,
    registry,
    adapters: { realtime: realtimeCalls, live: liveSessions },
    sweepIntervalMs: options.sweepIntervalMs,
    sweepGraceMs: options.sweepGraceMs,
  });
  // The active-calls gauge (lib/metrics.ts) reads the runtime's latest supervisor.
  rt.metrics.trackActiveCalls(() => supervisor.size);
  return supervisor;
}

/** Makes `supervisor` the one `callsOf(rt)` returns (tests, embedding servers). */
export function setCalls(rt: Runtime, supervisor: CallSupervisor): void {
  supervisors().set(rt, supervisor);
  rt.metrics.trackActiveCalls(() => supervisor.size);
}
