import type { RateLimitStore } from './limits/store';
import type { LimiterState } from './limits/resilient';
import type { Runtime } from './runtime';

/**
 * The readiness signal: whether the limiter runs on
 * its shared store. It says nothing else — no URLs, hosts, versions or errors —
 * so it is safe to expose to a load balancer without auth.
 */

export type LimiterKind = 'memory' | LimiterState;

export interface Health {
  /** `degraded`: the shared store failed and limits apply per instance. */
  readonly status: 'ok' | 'degraded';
  readonly limiter: LimiterKind;
}

/** A store that can report (and refresh) its own state, like `ResilientRateLimitStore`. */
interface ProbingStore extends RateLimitStore {
  probe(): Promise<LimiterState>;
}

// Duck-typed, not `instanceof`: Next bundles each route separately, so the
// class a route sees may not be the one that built the shared runtime.
function isProbing(store: RateLimitStore): store is ProbingStore {
  return typeof (store as Partial<ProbingStore>).probe === 'function';
}

/** The limiter's health; pings the shared store at most once per probe interval. Never throws. */
export async function checkHealth(rt: Pick<Runtime, 'store'>): Promise<Health> {
  const limiter: LimiterKind = isProbing(rt.store) ? await rt.store.probe() : 'memory';
  return { status: limiter === 'redis-degraded' ? 'degraded' : 'ok', limiter };
}
