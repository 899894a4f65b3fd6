import { afterAll, beforeAll, expect } from 'vitest';
import type { ResilientRateLimitStore } from '@/lib/limits/resilient';
import { tokenRequest, type Answer } from '../route/helpers';
import { twoInstances, type Instances } from './instances';
import { signJwt } from './tokens';
import { startMockOpenAI, type MockOpenAI } from './upstream';

/** What the Redis HA files share: a set of real servers (tests/support/redis-ha.ts) and two app instances on it. */
export interface HaHarness<S> {
  /** The Redis servers (set once the file's beforeAll has run). */
  readonly servers: S;
  readonly two: Instances;
  /** The token limit's admit log of `user`: `<prefix>token#2:jwt:<user>` (lib/limits/redis.ts logKey). */
  tokenKey(user: string): string;
  /** `count` requests for `user` at once, alternating between the instances, each from its own IP. */
  burst(user: string, count: number): Promise<Answer[]>;
  /** Instance `i`'s log entries of `event`. */
  events(i: number, event: string): ReturnType<Instances['all'][number]['entries']>;
  /**
   * For vi.waitFor after a node failed: a request touching `user`'s slot (a new
   * user under its hash tag) runs clean on each instance: 200, no new degraded
   * line, the store back on Redis. Until both have found the slot's new owner the
   * process flips between degraded and recovered (the state is per process).
   */
  expectSlotOnRedis(user: string): Promise<void>;
}

/**
 * Registers the file's beforeAll/afterAll: `start()`'s servers and an OpenAI
 * stand-in, and two in-process instances on them with only the token limit
 * (`limit` per minute) in play, keys under `prefix`.
 */
export function redisHaHarness<S extends { env: Record<string, string>; close(): Promise<void> }>(start: () => Promise<S>, limit: number, prefix: string): HaHarness<S> {
  let servers: S | undefined;
  let upstream: MockOpenAI | undefined;
  let two: Instances | undefined;
  let probes = 0;
  beforeAll(async () => {
    [servers, upstream] = await Promise.all([start(), startMockOpenAI()]);
    two = twoInstances(servers.env, upstream.baseUrl, {
      RATE_LIMIT_PREFIX: prefix,
      RATE_LIMIT_TOKEN: `${limit}/60`,
      RATE_LIMIT_API: '999999/60',
      RATE_LIMIT_GLOBAL: '999999/60',
    });
  });
  afterAll(async () => {
    await two?.close();
    await upstream?.close();
    await servers?.close();
  });
  const harness: HaHarness<S> = {
    get servers() {
      return servers!;
    },
    get two() {
      return two!;
    },
    tokenKey: (user) => `${prefix}token#2:jwt:${user}`,
    async burst(user, count) {
      const token = await signJwt({}, { subject: user });
      const requests = await Promise.all(Array.from({ length: count }, (_, i) => tokenRequest({ token, forwardedFor: `198.51.100.${i + 1}` })));
      return Promise.all(requests.map((req, i) => harness.two.send(i % 2, req)));
    },
    events: (i, event) => harness.two.all[i].entries().filter((e) => e.event === event),
    async expectSlotOnRedis(user) {
      for (const i of [0, 1]) {
        const before = harness.events(i, 'rate_limit_store_degraded').length;
        const subject = `{${harness.tokenKey(user)}}probe-${probes++}`;
        const answer = await harness.two.send(i, tokenRequest({ token: await signJwt({}, { subject }), forwardedFor: `203.0.113.${probes % 200}` }));
        expect(answer.status).toBe(200);
        expect(harness.events(i, 'rate_limit_store_degraded').length).toBe(before);
        expect((harness.two.all[i].runtime.store as ResilientRateLimitStore).state).toBe('redis');
      }
    },
  };
  return harness;
}
