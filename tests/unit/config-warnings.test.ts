import { describe, expect, it } from 'vitest';
import { loadConfig, REALTIME_VOICES } from '@/lib/config';
import { configWarnings, isRealtimeVoice } from '@/lib/config/warnings';
import { MemoryRateLimitStore } from '@/lib/limits/memory';
import { createRuntime } from '@/lib/runtime';
import { createSecurityLogger, type SecurityLogEntry } from '@/lib/security-logger';

const warningsFor = (env: Record<string, string>) => configWarnings(loadConfig(env));

describe('voices the Realtime API does not accept', () => {
  it('the default allowlist (the spec\'s) warns once, naming fable, onyx and nova', () => {
    const warnings = warningsFor({});
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ variable: 'ALLOWED_VOICES', detail: { rejectedVoices: ['fable', 'onyx', 'nova'] } });
    expect(warnings[0].message).toMatch(/fable, onyx, nova/);
  });

  it('a list of Realtime voices does not warn', () => {
    expect(warningsFor({ ALLOWED_VOICES: REALTIME_VOICES.join(',') })).toEqual([]);
  });

  it('a TTS-only DEFAULT_VOICE gets its own warning', () => {
    const warnings = warningsFor({ ALLOWED_VOICES: 'alloy,nova', DEFAULT_VOICE: 'nova' });
    expect(warnings.map((w) => w.variable)).toEqual(['ALLOWED_VOICES', 'DEFAULT_VOICE']);
  });

  it.each([['alloy', true], ['marin', true], ['fable', false], ['Alloy', false], ['', false]])('isRealtimeVoice(%j) → %s', (voice, ok) => {
    expect(isRealtimeVoice(voice)).toBe(ok);
  });
});

describe('REDIS_URL in cleartext across a network', () => {
  const redisWarnings = (env: Record<string, string>) => warningsFor({ ALLOWED_VOICES: 'alloy', ...env }).filter((w) => w.variable === 'REDIS_URL');

  it('redis:// to another host in production warns, recommending rediss://, without the password', () => {
    const [warning] = redisWarnings({ NODE_ENV: 'production', REDIS_URL: 'redis://:hunter2-pw@cache.internal:6379/0' });
    expect(warning.message).toMatch(/rediss:\/\//);
    expect(JSON.stringify(warning)).not.toMatch(/hunter2|cache\.internal/);
  });

  it.each([
    ['rediss:// in production', { NODE_ENV: 'production', REDIS_URL: 'rediss://cache.internal:6380' }],
    ['redis:// to loopback in production', { NODE_ENV: 'production', REDIS_URL: 'redis://127.0.0.1:6379' }],
    ['redis:// to localhost in production', { NODE_ENV: 'production', REDIS_URL: 'redis://localhost:6379' }],
    ['redis:// to another host in development', { NODE_ENV: 'development', REDIS_URL: 'redis://cache.internal:6379' }],
  ])('%s does not warn', (_label, env) => {
    expect(redisWarnings(env)).toEqual([]);
  });
});

describe('createRuntime logs each warning once, as config_error at level warn', () => {
  it('logs at creation and never again', async () => {
    const lines: string[] = [];
    const logger = createSecurityLogger({ sink: (l) => void lines.push(l) });
    const config = loadConfig({ NODE_ENV: 'production', REDIS_URL: 'redis://:pw@cache.internal:6379' });
    // A store of its own, so no Redis connection is attempted.
    const store = new MemoryRateLimitStore({ sweepIntervalMs: 0 });
    const rt = createRuntime({ config, logger, store });
    const entries = lines.map((l) => JSON.parse(l) as SecurityLogEntry);
    expect(entries.map((e) => [e.level, e.event, (e.metadata as { variable: string }).variable])).toEqual([
      ['warn', 'config_error', 'ALLOWED_VOICES'],
      ['warn', 'config_error', 'REDIS_URL'],
    ]);
    expect(entries[0].traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(lines.join('')).not.toContain(':pw@');
    await rt.store.close();
  });
});
