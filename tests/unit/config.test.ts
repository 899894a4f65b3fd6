import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_ALLOWED_MODELS,
  DEFAULT_ALLOWED_VOICES,
  loadConfig,
} from '@/lib/config';
import { normalizeOrigin } from '@/lib/origin';

/** A value no error message may ever contain. */
const CANARY = 'CANARY-7f3a9c';

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(Object.keys(env))} to be refused`);
}

describe('defaults', () => {
  it('an empty environment is a development config with every documented default', () => {
    const config = loadConfig({});
    expect(config.nodeEnv).toBe('development');
    expect(config.isProduction).toBe(false);
    expect(config.openai).toEqual({
      apiKey: undefined,
      baseUrl: 'https://api.openai.com/v1',
      timeoutMs: 10_000,
      tokenTtlSeconds: 60,
    });
    expect([...config.allowedOrigins]).toEqual(['http://localhost:3000']);
    expect(config.jwt).toBeUndefined();
    expect(config.clerk).toBeUndefined();
    expect(config.redisUrl).toBeUndefined();
    expect(config.rateLimitPrefix).toBe('rl:');
    expect(config.trustedProxyHops).toBe(0);
    expect(config.voices).toEqual(DEFAULT_ALLOWED_VOICES);
    expect(config.voices).toEqual(['alloy', 'echo', 'fable', 'onyx', 'nova', 'shimmer']);
    expect(config.models).toEqual(DEFAULT_ALLOWED_MODELS);
    expect(config.defaultVoice).toBe('alloy');
    expect(config.defaultModel).toBe('gpt-realtime');
    expect(config.maxBodyBytes).toBe(16_384);
    expect(config.rateLimits).toEqual({
      token: { name: 'token', limit: 10, windowMs: 60_000 },
      api: { name: 'api', limit: 100, windowMs: 60_000 },
      authFailures: { name: 'auth', limit: 20, windowMs: 300_000 },
      suspicious: { name: 'suspicious', limit: 10, windowMs: 300_000 },
    });
    expect(config.rateLimitMaxKeys).toBe(100_000);
    expect(config.rateLimitSweepMs).toBe(300_000);
  });

  it('production has no default origin (nothing is allowed until configured)', () => {
    const config = loadConfig({ NODE_ENV: 'production' });
    expect(config.isProduction).toBe(true);
    expect(config.allowedOrigins.size).toBe(0);
  });

  it('an explicit ALLOWED_ORIGINS replaces the development default', () => {
    const config = loadConfig({ ALLOWED_ORIGINS: 'https://app.example.com' });
    expect([...config.allowedOrigins]).toEqual(['https://app.example.com']);
  });

  it.each([
    ['empty', ''],
    ['blank', '   '],
    ['undefined', undefined],
  ])('%s values count as unset', (_label, value) => {
    const blank = Object.fromEntries(
      [
        'NODE_ENV', 'OPENAI_API_KEY', 'OPENAI_BASE_URL', 'ALLOWED_ORIGINS', 'PRODUCTION_DOMAIN', 'JWT_SECRET',
        'JWT_ISSUER', 'JWT_AUDIENCE', 'CLERK_SECRET_KEY', 'NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY', 'CLERK_JWT_KEY',
        'REDIS_URL', 'RATE_LIMIT_PREFIX', 'TRUSTED_PROXY_HOPS', 'ALLOWED_VOICES', 'ALLOWED_MODELS', 'DEFAULT_VOICE',
        'DEFAULT_MODEL', 'REALTIME_TOKEN_TTL_SECONDS', 'UPSTREAM_TIMEOUT_MS', 'MAX_BODY_BYTES', 'RATE_LIMIT_TOKEN',
        'RATE_LIMIT_API', 'RATE_LIMIT_AUTH_FAILURES', 'RATE_LIMIT_SUSPICIOUS', 'RATE_LIMIT_MAX_KEYS',
        'RATE_LIMIT_SWEEP_SECONDS',
      ].map((name) => [name, value]),
    );
    expect(loadConfig(blank)).toEqual(loadConfig({}));
  });

  it('trims values and strips trailing slashes from OPENAI_BASE_URL', () => {
    const config = loadConfig({ OPENAI_API_KEY: '  sk-abc  ', OPENAI_BASE_URL: ' http://127.0.0.1:4010/v1/// ' });
    expect(config.openai.apiKey).toBe('sk-abc');
    expect(config.openai.baseUrl).toBe('http://127.0.0.1:4010/v1');
  });
});

describe('JWT_SECRET', () => {
  it.each([
    ['31 ASCII bytes', 'a'.repeat(31)],
    ['1 byte', 'x'],
    ['10 two-byte characters (20 bytes)', 'é'.repeat(10)],
  ])('refuses a secret shorter than 32 bytes: %s', (_label, secret) => {
    const error = configError({ JWT_SECRET: secret });
    expect(error.variables).toEqual(['JWT_SECRET']);
    expect(error.message).toContain('JWT_SECRET');
    expect(error.message).not.toContain(secret);
  });

  it('never echoes a short secret, even a distinctive one', () => {
    const error = configError({ JWT_SECRET: CANARY });
    expect(error.message).toMatch(/JWT_SECRET/);
    expect(error.message).not.toContain(CANARY);
    expect(String(error.stack)).not.toContain(CANARY);
  });

  it('accepts 32 bytes, counting UTF-8 bytes rather than characters', () => {
    expect(loadConfig({ JWT_SECRET: 'a'.repeat(32) }).jwt?.secret).toEqual(new TextEncoder().encode('a'.repeat(32)));
    expect(loadConfig({ JWT_SECRET: 'é'.repeat(16) }).jwt?.secret.byteLength).toBe(32);
  });

  it('carries issuer, audience, max age and clock tolerance', () => {
    const config = loadConfig({
      JWT_SECRET: 'k'.repeat(40),
      JWT_ISSUER: 'https://issuer.example',
      JWT_AUDIENCE: 'realtime',
      JWT_MAX_AGE_SECONDS: '600',
      JWT_CLOCK_TOLERANCE_SECONDS: '0',
    });
    expect(config.jwt).toMatchObject({
      issuer: 'https://issuer.example',
      audience: 'realtime',
      maxAgeSeconds: 600,
      clockToleranceSeconds: 0,
    });
    expect(loadConfig({ JWT_SECRET: 'k'.repeat(40) }).jwt).toMatchObject({ maxAgeSeconds: 3600, clockToleranceSeconds: 5 });
  });
});

describe('ALLOWED_ORIGINS', () => {
  it.each([
    ['wildcard', '*'],
    ['wildcard subdomain', 'https://*.example.com'],
    ['null', 'null'],
    ['path', 'https://app.example.com/app'],
    ['trailing slash', 'https://app.example.com/'],
    ['backslash path', 'https://app.example.com\\path'],
    ['query', 'https://app.example.com?x=1'],
    ['fragment', 'https://app.example.com#x'],
    ['userinfo', 'https://user@app.example.com'],
    ['bare host', 'app.example.com'],
    ['other scheme', 'ftp://app.example.com'],
    ['javascript scheme', 'javascript:alert(1)'],
    ['file scheme', 'file:///etc/passwd'],
    ['bad port', 'https://app.example.com:99999'],
    ['space inside', 'https://app example.com'],
    ['one bad among good', 'https://app.example.com,https://*.evil.com'],
  ])('refuses %s', (_label, value) => {
    const error = configError({ ALLOWED_ORIGINS: value });
    expect(error.variables).toEqual(['ALLOWED_ORIGINS']);
    expect(error.message).toContain('ALLOWED_ORIGINS');
  });

  it.each([
    ['plain http host', 'http://app.example.com'],
    ['http with port', 'http://app.example.com:8080'],
    ['LAN address', 'http://192.168.1.10:3000'],
  ])('refuses http in production: %s', (_label, origin) => {
    const error = configError({ NODE_ENV: 'production', ALLOWED_ORIGINS: origin });
    expect(error.variables).toEqual(['ALLOWED_ORIGINS']);
    expect(error.message).toMatch(/https/);
  });

  it.each(['http://localhost:3000', 'http://127.0.0.1:8080', 'http://[::1]:3000'])(
    'allows loopback http in production: %s',
    (origin) => {
      expect([...loadConfig({ NODE_ENV: 'production', ALLOWED_ORIGINS: origin }).allowedOrigins]).toEqual([origin]);
    },
  );

  it('allows http outside production', () => {
    expect(loadConfig({ NODE_ENV: 'test', ALLOWED_ORIGINS: 'http://app.example.com' }).allowedOrigins.has('http://app.example.com')).toBe(true);
  });

  it('normalises case and default ports, and ignores empty list entries', () => {
    const config = loadConfig({ ALLOWED_ORIGINS: ' HTTPS://App.Example.COM:443 , ,http://localhost:80,' });
    expect([...config.allowedOrigins]).toEqual(['https://app.example.com', 'http://localhost']);
  });

  it('normalizeOrigin keeps exact origins and refuses anything else', () => {
    expect(normalizeOrigin('https://app.example.com:8443')).toBe('https://app.example.com:8443');
    expect(normalizeOrigin('https://app.example.com/')).toBeUndefined();
    expect(normalizeOrigin('null')).toBeUndefined();
    expect(normalizeOrigin('https://a.com\\@evil.com')).toBeUndefined();
  });

  it('never echoes the bad origin', () => {
    const error = configError({ ALLOWED_ORIGINS: `https://${CANARY}.example.com/path` });
    expect(error.message).not.toContain(CANARY);
  });
});

describe('PRODUCTION_DOMAIN', () => {
  it('adds the https origin of the domain, lower-cased', () => {
    const config = loadConfig({ NODE_ENV: 'production', PRODUCTION_DOMAIN: 'App.Example.com' });
    expect([...config.allowedOrigins]).toEqual(['https://app.example.com']);
  });

  it('adds to ALLOWED_ORIGINS rather than replacing them', () => {
    const config = loadConfig({ ALLOWED_ORIGINS: 'https://a.example.com', PRODUCTION_DOMAIN: 'b.example.com' });
    expect([...config.allowedOrigins].sort()).toEqual(['https://a.example.com', 'https://b.example.com']);
  });

  it('keeps the development default when only the domain is set outside production', () => {
    const config = loadConfig({ PRODUCTION_DOMAIN: 'app.example.com' });
    expect([...config.allowedOrigins].sort()).toEqual(['http://localhost:3000', 'https://app.example.com']);
  });

  it.each([
    ['scheme', 'https://app.example.com'],
    ['path', 'app.example.com/x'],
    ['port', 'app.example.com:443'],
    ['wildcard', '*.example.com'],
    ['single label', 'localhost'],
    ['userinfo', 'evil.com@app.example.com'],
  ])('refuses a domain with a %s', (_label, value) => {
    expect(configError({ PRODUCTION_DOMAIN: value }).variables).toEqual(['PRODUCTION_DOMAIN']);
  });
});

describe('voices and models', () => {
  it('parses comma lists with whitespace and empty entries', () => {
    const config = loadConfig({ ALLOWED_VOICES: ' marin, cedar ,,alloy ', ALLOWED_MODELS: 'gpt-realtime-mini' });
    expect(config.voices).toEqual(['marin', 'cedar', 'alloy']);
    expect(config.models).toEqual(['gpt-realtime-mini']);
    expect(config.defaultVoice).toBe('alloy');
    expect(config.defaultModel).toBe('gpt-realtime-mini');
  });

  it('defaults to the first entry when alloy / gpt-realtime are not listed', () => {
    const config = loadConfig({ ALLOWED_VOICES: 'marin,cedar', ALLOWED_MODELS: 'gpt-realtime-mini,gpt-4o-realtime-preview' });
    expect(config.defaultVoice).toBe('marin');
    expect(config.defaultModel).toBe('gpt-realtime-mini');
  });

  it('accepts explicit defaults that are listed', () => {
    const config = loadConfig({ ALLOWED_VOICES: 'marin,cedar', DEFAULT_VOICE: 'cedar', DEFAULT_MODEL: 'gpt-realtime-mini' });
    expect(config.defaultVoice).toBe('cedar');
    expect(config.defaultModel).toBe('gpt-realtime-mini');
  });

  it.each([
    [{ DEFAULT_VOICE: 'ash' }, 'DEFAULT_VOICE'],
    [{ ALLOWED_VOICES: 'marin', DEFAULT_VOICE: 'alloy' }, 'DEFAULT_VOICE'],
    [{ DEFAULT_MODEL: 'gpt-4' }, 'DEFAULT_MODEL'],
    [{ ALLOWED_VOICES: ',, ,' }, 'ALLOWED_VOICES'],
    [{ ALLOWED_MODELS: ',' }, 'ALLOWED_MODELS'],
    [{ ALLOWED_VOICES: 'alloy,<script>' }, 'ALLOWED_VOICES'],
    [{ ALLOWED_MODELS: 'gpt realtime' }, 'ALLOWED_MODELS'],
    [{ ALLOWED_VOICES: 'x'.repeat(65) }, 'ALLOWED_VOICES'],
  ])('refuses %j, naming %s', (env, name) => {
    expect(configError(env).variables).toEqual([name]);
  });

  it('never echoes a bad default or list entry', () => {
    expect(configError({ DEFAULT_VOICE: CANARY }).message).not.toContain(CANARY);
    expect(configError({ ALLOWED_MODELS: `${CANARY} x` }).message).not.toContain(CANARY);
  });
});

describe('rate limit policies ("N/S")', () => {
  it('parses N per S seconds', () => {
    const config = loadConfig({
      RATE_LIMIT_TOKEN: '5/30',
      RATE_LIMIT_API: '1000/1',
      RATE_LIMIT_AUTH_FAILURES: ' 3/900 ',
      RATE_LIMIT_SUSPICIOUS: '1/86400',
    });
    expect(config.rateLimits).toEqual({
      token: { name: 'token', limit: 5, windowMs: 30_000 },
      api: { name: 'api', limit: 1000, windowMs: 1000 },
      authFailures: { name: 'auth', limit: 3, windowMs: 900_000 },
      suspicious: { name: 'suspicious', limit: 1, windowMs: 86_400_000 },
    });
  });

  it.each(['0/60', '10/0', '10', '10/', '/60', '10/60s', '-1/60', '1.5/60', '10 / 60', '1e3/60', '1234567/60', '10/12345678', '0x10/60'])(
    'refuses %j',
    (value) => {
      const error = configError({ RATE_LIMIT_TOKEN: value });
      expect(error.variables).toEqual(['RATE_LIMIT_TOKEN']);
      expect(error.message).toContain('RATE_LIMIT_TOKEN');
    },
  );
});

describe('integer settings', () => {
  it.each([
    ['TRUSTED_PROXY_HOPS', '0', 0],
    ['TRUSTED_PROXY_HOPS', '10', 10],
    ['REALTIME_TOKEN_TTL_SECONDS', '10', 10],
    ['REALTIME_TOKEN_TTL_SECONDS', '7200', 7200],
    ['UPSTREAM_TIMEOUT_MS', '100', 100],
    ['MAX_BODY_BYTES', '256', 256],
  ])('%s=%s is accepted', (name, value, expected) => {
    const config = loadConfig({ [name]: value });
    const read = {
      TRUSTED_PROXY_HOPS: config.trustedProxyHops,
      REALTIME_TOKEN_TTL_SECONDS: config.openai.tokenTtlSeconds,
      UPSTREAM_TIMEOUT_MS: config.openai.timeoutMs,
      MAX_BODY_BYTES: config.maxBodyBytes,
    }[name];
    expect(read).toBe(expected);
  });

  it.each([
    ['TRUSTED_PROXY_HOPS', '-1'],
    ['TRUSTED_PROXY_HOPS', '11'],
    ['TRUSTED_PROXY_HOPS', '1.5'],
    ['TRUSTED_PROXY_HOPS', 'one'],
    ['TRUSTED_PROXY_HOPS', '0x1'],
    ['TRUSTED_PROXY_HOPS', '1e1'],
    ['REALTIME_TOKEN_TTL_SECONDS', '9'],
    ['REALTIME_TOKEN_TTL_SECONDS', '7201'],
    ['UPSTREAM_TIMEOUT_MS', '99'],
    ['MAX_BODY_BYTES', '99999999'],
    ['JWT_MAX_AGE_SECONDS', '59'],
    ['JWT_CLOCK_TOLERANCE_SECONDS', '301'],
    ['RATE_LIMIT_MAX_KEYS', '99'],
    ['RATE_LIMIT_SWEEP_SECONDS', '0'],
  ])('%s=%s is refused, naming the variable', (name, value) => {
    const error = configError({ [name]: value });
    expect(error.variables).toEqual([name]);
    expect(error.message).toContain(name);
  });
});

describe('URLs and keys', () => {
  it.each(['redis://127.0.0.1:6379', 'rediss://user:pw@cache.example.com:6380/0'])('accepts REDIS_URL %s', (url) => {
    expect(loadConfig({ REDIS_URL: url }).redisUrl).toBe(url);
  });

  it.each(['http://127.0.0.1:6379', 'unix:///tmp/redis.sock', '127.0.0.1:6379', 'redis//x'])('refuses REDIS_URL %s', (url) => {
    expect(configError({ REDIS_URL: url }).variables).toEqual(['REDIS_URL']);
  });

  it.each(['ftp://api.example.com', 'api.openai.com/v1', 'file:///etc/passwd'])('refuses OPENAI_BASE_URL %s', (url) => {
    expect(configError({ OPENAI_BASE_URL: url }).variables).toEqual(['OPENAI_BASE_URL']);
  });

  it.each(['rl', 'tenant-a:rl:', 'x'.repeat(64)])('accepts RATE_LIMIT_PREFIX %s', (prefix) => {
    expect(loadConfig({ RATE_LIMIT_PREFIX: prefix }).rateLimitPrefix).toBe(prefix);
  });

  it.each(['has space', 'a*b', 'x'.repeat(65), 'rl:{tag}'])('refuses RATE_LIMIT_PREFIX %s', (prefix) => {
    expect(configError({ RATE_LIMIT_PREFIX: prefix }).variables).toEqual(['RATE_LIMIT_PREFIX']);
  });

  it('refuses an unknown NODE_ENV without echoing it', () => {
    const error = configError({ NODE_ENV: CANARY });
    expect(error.variables).toEqual(['NODE_ENV']);
    expect(error.message).not.toContain(CANARY);
  });

  it('turns Clerk on only with both keys, and unescapes a one-line PEM', () => {
    const pem = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const keys = { secretKey: `sk_test_${'x'.repeat(40)}`, publishableKey: 'pk_test_ZXhhbXBsZS5jbGVyay5hY2NvdW50cy5kZXYk' };
    const oneLine = pem.replace(/\n/g, '\\n');
    expect(oneLine).not.toContain('\n');
    const config = loadConfig({
      CLERK_SECRET_KEY: keys.secretKey,
      NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: keys.publishableKey,
      CLERK_JWT_KEY: oneLine,
    });
    expect(config.clerk).toEqual({ ...keys, jwtKey: pem });
    expect(loadConfig({ CLERK_JWT_KEY: pem }).clerk).toBeUndefined();
  });

  it.each([
    [{ CLERK_SECRET_KEY: `sk_test_${CANARY}` }, 'NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY'],
    [{ NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: `pk_test_${CANARY}` }, 'CLERK_SECRET_KEY'],
    [{ CLERK_JWT_KEY: `not a pem ${CANARY}` }, 'CLERK_JWT_KEY'],
  ])('refuses an incomplete Clerk setup %j', (env, name) => {
    const error = configError(env);
    expect(error.variables).toEqual([name]);
    expect(error.message).not.toContain(CANARY);
  });

  it('refuses Clerk without any allowed origin (Clerk would skip its azp check)', () => {
    const clerk = { CLERK_SECRET_KEY: `sk_test_${'x'.repeat(40)}`, NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: 'pk_test_ZXhhbXBsZS5jbGVyay5hY2NvdW50cy5kZXYk' };
    expect(configError({ ...clerk, NODE_ENV: 'production' }).variables).toEqual(['ALLOWED_ORIGINS']);
    expect(loadConfig({ ...clerk, NODE_ENV: 'production', PRODUCTION_DOMAIN: 'voice.example.com' }).clerk).toBeDefined();
  });
});

describe('error messages never contain the bad value', () => {
  // Every variable with a value check, given the same distinctive bad value.
  const checked = [
    'NODE_ENV', 'OPENAI_BASE_URL', 'ALLOWED_ORIGINS', 'PRODUCTION_DOMAIN', 'JWT_SECRET', 'JWT_MAX_AGE_SECONDS',
    'JWT_CLOCK_TOLERANCE_SECONDS', 'CLERK_JWT_KEY', 'REDIS_URL', 'RATE_LIMIT_PREFIX', 'TRUSTED_PROXY_HOPS',
    'ALLOWED_VOICES', 'ALLOWED_MODELS', 'DEFAULT_VOICE', 'DEFAULT_MODEL', 'REALTIME_TOKEN_TTL_SECONDS',
    'UPSTREAM_TIMEOUT_MS', 'MAX_BODY_BYTES', 'RATE_LIMIT_TOKEN', 'RATE_LIMIT_API', 'RATE_LIMIT_AUTH_FAILURES',
    'RATE_LIMIT_SUSPICIOUS', 'RATE_LIMIT_MAX_KEYS', 'RATE_LIMIT_SWEEP_SECONDS',
  ];
  const bad = `${CANARY} <x> /*`;

  it.each(checked)('%s', (name) => {
    const error = configError({ [name]: bad });
    expect(error.variables).toContain(name);
    expect(error.message).toContain(name);
    expect(error.message).not.toContain(CANARY);
    expect(JSON.stringify(error)).not.toContain(CANARY);
  });

  it('names every bad variable at once', () => {
    const error = configError({ TRUSTED_PROXY_HOPS: bad, REDIS_URL: bad, RATE_LIMIT_API: bad });
    expect([...error.variables].sort()).toEqual(['RATE_LIMIT_API', 'REDIS_URL', 'TRUSTED_PROXY_HOPS']);
    expect(error.message).not.toContain(CANARY);
  });
});
