import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redisConfigured } from '@/lib/config';
import { configWarnings } from '@/lib/config/warnings';
import { CANARY } from '../support/config-cases';

/**
 * Redis beyond one node (lib/config/redis.ts): which mode the variables
 * select, the rules between them, and the cleartext warning. Errors name
 * variables, never values (host names and passwords are private).
 */

function failure(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('config.redis', () => {
  it('unset: memory only', () => {
    const config = loadConfig({});
    expect(config.redis).toBeUndefined();
    expect(redisConfigured(config)).toBe(false);
  });

  it('REDIS_URL: one server, credentials and TLS in the URL', () => {
    const config = loadConfig({ REDIS_URL: 'rediss://:pw@cache.internal:6380' });
    expect(config.redis).toEqual({ mode: 'single', url: 'rediss://:pw@cache.internal:6380' });
    expect(redisConfigured(config)).toBe(true);
  });

  it('REDIS_CLUSTER_NODES: the seed nodes (names, IPv4, bracketed IPv6), credentials and TLS', () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: ' cache-1.internal:6379, 10.0.0.2:6380 ,[::1]:7000', REDIS_USERNAME: 'app', REDIS_PASSWORD: 'pw', REDIS_TLS: '1' });
    expect(config.redis).toEqual({
      mode: 'cluster',
      nodes: [{ host: 'cache-1.internal', port: 6379 }, { host: '10.0.0.2', port: 6380 }, { host: '::1', port: 7000 }],
      username: 'app',
      password: 'pw',
      tls: true,
    });
  });

  it('REDIS_SENTINELS: the sentinels, the primary\'s name, and separate sentinel credentials', () => {
    const config = loadConfig({ REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_NAME: 'mymaster', REDIS_PASSWORD: 'data-pw', REDIS_SENTINEL_PASSWORD: 'sentinel-pw' });
    expect(config.redis).toEqual({
      mode: 'sentinel',
      sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }],
      name: 'mymaster',
      username: undefined,
      password: 'data-pw',
      sentinelUsername: undefined,
      sentinelPassword: 'sentinel-pw',
      tls: false,
    });
  });

  it.each([
    ['two modes', { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: '127.0.0.1:7000' }, 'REDIS_CLUSTER_NODES', /exactly one of/],
    ['three modes', { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_CLUSTER_NODES', /exactly one of/],
    ['cluster and sentinel', { REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS', /exactly one of/],
    ['sentinels without a name', { REDIS_SENTINELS: '127.0.0.1:26379' }, 'REDIS_SENTINEL_NAME', /must name/],
    ['a sentinel name without sentinels', { REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINEL_NAME', /only read with REDIS_SENTINELS/],
    ['a password with REDIS_URL', { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PASSWORD: CANARY }, 'REDIS_PASSWORD', /in the URL/],
    ['TLS with REDIS_URL', { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_TLS: '1' }, 'REDIS_TLS', /rediss:\/\//],
    ['a password without Redis', { REDIS_PASSWORD: CANARY }, 'REDIS_PASSWORD', /only read with/],
    ['REDIS_TLS=yes', { REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_TLS: 'yes' }, 'REDIS_TLS', /0 or 1/],
    ...['127.0.0.1', `${CANARY}.internal:0`, `${CANARY}:70000`, 'host:port', ',', `redis://${CANARY}:1`].map((v): [string, Record<string, string>, string, RegExp] => [`node ${v}`, { REDIS_CLUSTER_NODES: v }, 'REDIS_CLUSTER_NODES', /host:port/]),
    ['a bad sentinel entry', { REDIS_SENTINELS: `${CANARY}`, REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS', /host:port/],
  ])('%s fails at start, naming %s, never a value', (_label, env, variable, why) => {
    const error = failure(env);
    expect(error.variables).toContain(variable);
    expect(error.message).toMatch(why);
    expect(error.message).not.toContain(CANARY);
  });
});

describe('cleartext Redis across a network (production)', () => {
  const redisWarning = (env: Record<string, string>) => configWarnings(loadConfig({ NODE_ENV: 'production', ALLOWED_VOICES: 'alloy', ...env })).filter((w) => w.variable.startsWith('REDIS_'));

  it.each([
    ['cluster', { REDIS_CLUSTER_NODES: '127.0.0.1:7000,cache-2.internal:7000', REDIS_PASSWORD: 'hunter2-pw' }, 'REDIS_CLUSTER_NODES'],
    ['sentinel', { REDIS_SENTINELS: 'sentinel.internal:26379', REDIS_SENTINEL_NAME: 'mymaster', REDIS_SENTINEL_PASSWORD: 'hunter2-pw' }, 'REDIS_SENTINELS'],
  ])('%s without REDIS_TLS to a host that is not loopback warns, recommending REDIS_TLS=1, naming no host or password', (_label, env, variable) => {
    const [warning, ...more] = redisWarning(env);
    expect(more).toEqual([]);
    expect(warning.variable).toBe(variable);
    expect(warning.message).toMatch(/REDIS_TLS=1/);
    expect(JSON.stringify(warning)).not.toMatch(/hunter2|internal/);
  });

  it.each([
    ['cluster with TLS', { REDIS_CLUSTER_NODES: 'cache-1.internal:7000', REDIS_TLS: '1' }],
    ['cluster on loopback', { REDIS_CLUSTER_NODES: '127.0.0.1:7000,localhost:7001,[::1]:7002' }],
    ['sentinel with TLS', { REDIS_SENTINELS: 'sentinel.internal:26379', REDIS_SENTINEL_NAME: 'm', REDIS_TLS: '1' }],
  ])('%s does not warn', (_label, env) => {
    expect(redisWarning(env)).toEqual([]);
  });
});
