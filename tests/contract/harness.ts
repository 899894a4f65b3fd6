import { afterAll } from 'vitest';
import { MemoryRateLimitStore } from '@/lib/limits/memory';
import type { ObservationStore } from '@/lib/limits/observations';
import { RedisRateLimitStore } from '@/lib/limits/redis';
import { ResilientRateLimitStore } from '@/lib/limits/resilient';
import type { RateLimitStore } from '@/lib/limits/store';
import { createSecurityLogger } from '@/lib/security-logger';
import { startRedis, type RedisServer } from '../support/redis';

/** Every store implements the limits, the budget and the observations (lib/limits/store.ts, observations.ts). */
export type ContractStore = RateLimitStore & ObservationStore;

/** One store under contract. */
export interface StoreHarness {
  readonly name: string;
  setUp(): Promise<void>;
  /** Another client over the same shared state (memory: the same instance; Redis: a new connection, as another instance would have). */
  connect(): Promise<ContractStore>;
  tearDown(): Promise<void>;
}

/**
 * The stores a contract runs unchanged against: memory, Redis, and the
 * resilient store over Redis, so their semantics cannot drift. The Redis ones
 * share one `redis-server` of this file's, started on first use and stopped
 * in afterAll, with keys under `prefix`. A generous command deadline: the
 * contracts are about semantics, not the failure policy.
 */
export function storeHarnesses(prefix: string): { memory: StoreHarness; redis: StoreHarness; resilient: StoreHarness; server(): Promise<RedisServer> } {
  // One promise: both Redis harnesses may set up at the same time (concurrent suites).
  let server: Promise<RedisServer> | undefined;
  afterAll(async () => {
    await (await server)?.close();
  });
  const onRedis = (name: string, wrap: (primary: RedisRateLimitStore) => ContractStore): StoreHarness => {
    const opened: ContractStore[] = [];
    return {
      name,
      setUp: async () => void (await (server ??= startRedis())),
      async connect() {
        const store = wrap(new RedisRateLimitStore({ url: (await server!).url, prefix, timeoutMs: 2000 }));
        opened.push(store);
        return store;
      },
      tearDown: async () => void (await Promise.all(opened.splice(0).map((store) => store.close()))),
    };
  };
  let memory: MemoryRateLimitStore;
  return {
    memory: {
      name: 'memory',
      setUp: async () => void (memory = new MemoryRateLimitStore({ sweepIntervalMs: 0 })),
      connect: async () => memory,
      tearDown: () => memory.close(),
    },
    redis: onRedis('Redis', (primary) => primary),
    resilient: onRedis(
      'resilient over Redis',
      (primary) => new ResilientRateLimitStore({ primary, fallback: new MemoryRateLimitStore({ sweepIntervalMs: 0 }), logger: createSecurityLogger({ sink: () => {} }) }),
    ),
    /** The shared redis-server, for reading keys directly (once a Redis harness has set up). */
    server: () => server!,
  };
}
