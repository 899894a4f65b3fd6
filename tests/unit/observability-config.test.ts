import { describe, expect, it } from 'vitest';
import * as serverConfig from '@/lib/config';
import { ConfigError, loadConfig } from '@/lib/config';
import { checkEnvironment, isSensitive, metricsTokenProblems } from '../../scripts/validate-security/env.mjs';
import { baseEnv } from '../support/runtime';

/**
 * The metrics and alerts variables (lib/config/observability.ts): their
 * rules, errors that name the variable and never echo the value, and the
 * validator's METRICS_TOKEN strength check (scripts/validate-security/env.mjs).
 */

const GOOD_TOKEN = 'f3b9c1d27a8e4f6b0c5d9e2a1b7c3f8e';

function refusal(env: Record<string, string>): ConfigError {
  try {
    loadConfig({ ...baseEnv(), ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('metrics and alerts configuration', () => {
  it('defaults: no metrics route, no webhook, 2 s deadline, one alert per kind per minute', () => {
    const config = loadConfig(baseEnv());
    expect(config.metrics).toEqual({ token: undefined });
    expect(config.alerts).toEqual({ webhookUrl: undefined, timeoutMs: 2000, minIntervalMs: 60_000 });
  });

  const badTokens: ReadonlyArray<readonly [string, string]> = [
    ['31 characters', 'a'.repeat(31)],
    ['a space inside', `${'a'.repeat(20)} ${'b'.repeat(20)}`],
    ['a non-ASCII character', `${'a'.repeat(32)}é`],
    ['over 512 characters', 'a'.repeat(513)],
  ];
  for (const [label, token] of badTokens) {
    it(`refuses METRICS_TOKEN with ${label}, naming it and not its value`, () => {
      const error = refusal({ METRICS_TOKEN: token });
      expect(error.variables).toEqual(['METRICS_TOKEN']);
      expect(error.message).not.toContain(token.slice(0, 20));
    });
  }

  it('refuses a cleartext webhook in production, except to loopback; development may use http', () => {
    const error = refusal({ ALERT_WEBHOOK_URL: 'http://hooks.example.com/T000/secret-path' });
    expect(error.variables).toEqual(['ALERT_WEBHOOK_URL']);
    expect(error.message).not.toContain('secret-path');
    expect(loadConfig({ ...baseEnv(), ALERT_WEBHOOK_URL: 'http://127.0.0.1:9000/hook' }).alerts.webhookUrl).toBe('http://127.0.0.1:9000/hook');
    expect(loadConfig({ ...baseEnv(), NODE_ENV: 'development', ALERT_WEBHOOK_URL: 'http://hooks.example.com/x' }).alerts.webhookUrl).toBe('http://hooks.example.com/x');
    expect(refusal({ ALERT_WEBHOOK_URL: 'ftp://hooks.example.com/x' }).variables).toEqual(['ALERT_WEBHOOK_URL']);
  });

  it('bounds the alert deadline and interval', () => {
    expect(refusal({ ALERT_TIMEOUT_MS: '50' }).variables).toEqual(['ALERT_TIMEOUT_MS']);
    expect(refusal({ ALERT_TIMEOUT_MS: '10001' }).variables).toEqual(['ALERT_TIMEOUT_MS']);
    expect(loadConfig({ ...baseEnv(), ALERT_MIN_INTERVAL_MS: '0' }).alerts.minIntervalMs).toBe(0);
  });
});

describe('validator: METRICS_TOKEN strength', () => {
  it('accepts 32 random hex characters and says nothing when unset', () => {
    expect(metricsTokenProblems({ METRICS_TOKEN: GOOD_TOKEN })).toEqual([]);
    expect(metricsTokenProblems({})).toEqual([]);
  });

  const weak: ReadonlyArray<readonly [string, Record<string, string>, RegExp]> = [
    ['a repeated character', { METRICS_TOKEN: 'a'.repeat(40) }, /pattern, not random/],
    ['a repeated pair', { METRICS_TOKEN: 'ab'.repeat(30) }, /pattern, not random/],
    ['a placeholder', { METRICS_TOKEN: 'change-me-change-me-change-me-change-me' }, /placeholder/],
    ['the JWT secret reused', { METRICS_TOKEN: baseEnv().JWT_SECRET, JWT_SECRET: baseEnv().JWT_SECRET }, /repeats JWT_SECRET/],
  ];
  for (const [label, env, reason] of weak) {
    it(`fails env:metrics-token for ${label}, without printing the token`, () => {
      const results = checkEnvironment({ config: serverConfig }, { ...baseEnv(), ...env }, { production: true });
      const check = results.find((r: { check: string }) => r.check === 'env:metrics-token');
      expect(check).toMatchObject({ ok: false, reason });
      expect(JSON.stringify(results)).not.toContain(env.METRICS_TOKEN);
    });
  }

  it('treats METRICS_TOKEN and ALERT_WEBHOOK_URL as secrets (masked in output, empty in .env.example)', () => {
    expect(isSensitive('METRICS_TOKEN', GOOD_TOKEN)).toBe(true);
    expect(isSensitive('ALERT_WEBHOOK_URL', 'https://hooks.example.com/T0/B0/xyz')).toBe(true);
    expect(isSensitive('RATE_LIMIT_TOKEN', '10/60')).toBe(false);
  });
});
