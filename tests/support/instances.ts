import { POST } from '@/app/api/realtime/token/route';
import { setRuntime } from '@/lib/runtime';
import type { SecurityLogEntry } from '@/lib/security-logger';
import { read, type Answer } from '../route/helpers';
import { baseEnv, testRuntime, type TestRuntime } from './runtime';

/**
 * Two instances of the service on one shared store, in process: two runtimes
 * (each its own Redis client, memory fallback, logger and clock) with the same
 * REDIS_URL and key prefix, as two servers behind a load balancer. The route
 * reads the runtime when a request arrives, so `send` selects the instance
 * right before calling the handler and requests can be in flight on both at once.
 */
export interface Instances {
  readonly all: readonly [TestRuntime, TestRuntime];
  /** Sends `req` to instance `i` (0 or 1) and reads the answer. */
  send(i: number, req: Request | Promise<Request>): Promise<Answer>;
  /** Log entries of both instances for `event`. */
  events(event: string): SecurityLogEntry[];
  close(): Promise<void>;
}

/** `redis`: a REDIS_URL, or the variables of another mode (tests/support/redis-ha.ts). */
export function twoInstances(redis: string | Record<string, string>, openaiBaseUrl: string, env: Record<string, string> = {}): Instances {
  const shared = {
    ...baseEnv(openaiBaseUrl),
    UPSTREAM_TIMEOUT_MS: '10000',
    ...(typeof redis === 'string' ? { REDIS_URL: redis } : redis),
    // A generous deadline: a loaded machine must not turn these cases into per-instance fallbacks.
    REDIS_TIMEOUT_MS: '2000',
    RATE_LIMIT_PREFIX: `two-${Date.now()}-${Math.random().toString(36).slice(2)}:`,
    ...env,
  };
  const all = [testRuntime(shared), testRuntime(shared)] as const;
  return {
    all,
    async send(i, req) {
      const request = await req;
      // Nothing awaits between selecting the instance and the handler reading it.
      setRuntime(all[i].runtime);
      return read(await POST(request));
    },
    events: (event) => all.flatMap((rt) => rt.entries().filter((e) => e.event === event)),
    async close() {
      setRuntime(undefined);
      await Promise.all(all.map((rt) => rt.runtime.store.close()));
    },
  };
}
