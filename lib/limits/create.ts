import type { AppConfig } from '../config';
import type { SecurityLogger } from '../security-logger';
import { MemoryRateLimitStore } from './memory';
import { RedisRateLimitStore } from './redis';
import { ResilientRateLimitStore } from './resilient';
import type { Clock, RateLimitStore } from './store';

/**
 * The limiter store for `config`: with `REDIS_URL`, Redis shared by every
 * instance, falling back to per-process memory while Redis fails; without
 * it, memory only.
 */
export function createStore(config: AppConfig, logger: SecurityLogger, now?: Clock): RateLimitStore {
  const memory = new MemoryRateLimitStore({ maxKeys: config.rateLimitMaxKeys, sweepIntervalMs: config.rateLimitSweepMs, now });
  if (config.redisUrl === undefined) return memory;
  const redis = new RedisRateLimitStore({ url: config.redisUrl, prefix: config.rateLimitPrefix, timeoutMs: config.redisTimeoutMs });
  return new ResilientRateLimitStore({ primary: redis, fallback: memory, logger, now });
}
