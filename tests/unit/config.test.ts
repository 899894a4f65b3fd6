import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_ALLOWED_MODELS,
  DEFAULT_ALLOWED_VOICES,
  loadConfig,
} from '@/lib/config';
import { normalizeOrigin } from '@/lib/origin';
import {
  BAD_BASE_URLS, BAD_DOMAINS, BAD_INTEGERS, BAD_LISTS, BAD_ORIGINS, BAD_POLICIES, BAD_PREFIXES, BAD_REDIS_URLS,
  BLANK_VALUES, blankEnv, CANARY, CANARY_VALUE, CHECKED_VARIABLES, CLERK_KEYS, CLERK_PEM, ENVS, GOOD_INTEGERS,
  GOOD_PREFIXES, GOOD_REDIS_URLS, HTTP_ORIGINS, INCOMPLETE_CLERK, LOOPBACK_ORIGINS, SEVERAL_BAD, SHORT_SECRETS,
} from '../support/config-cases';

// The environments live in tests/support/config-cases.ts, shared with the
// validator's agreement test (tests/scripts/validate-security.test.ts).

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
    const config = loadConfig(ENVS.empty);
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
    expect(config.jwks).toBeUndefined();
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
    const config = loadConfig(ENVS.production);
    expect(config.isProduction).toBe(true);
    expect(config.allowedOrigins.size).toBe(0);
  });

  it('an explicit ALLOWED_ORIGINS replaces the development default', () => {
    const config = loadConfig(ENVS.explicitOrigin);
    expect([...config.allowedOrigins]).toEqual(['https://app.example.com']);
  });

  it.each(BLANK_VALUES)('%s values count as unset', (_label, value) => {
    const blank = blankEnv(value);
    expect(loadConfig(blank)).toEqual(loadConfig({}));
  });

  it('trims values and strips trailing slashes from OPENAI_BASE_URL', () => {
    const config = loadConfig(ENVS.trimmed);
    expect(config.openai.apiKey).toBe('sk-abc');
    expect(config.openai.baseUrl).toBe('http://127.0.0.1:4010/v1');
  });
});

describe('JWT_SECRET', () => {
  it.each(SHORT_SECRETS)('refuses a secret shorter than 32 bytes: %s', (_label, secret) => {
    const error = configError({ JWT_SECRET: secret });
    expect(error.variables).toEqual(['JWT_SECRET']);
    expect(error.message).toContain('JWT_SECRET');
    expect(error.message).not.toContain(secret);
  });

  it('never echoes a short secret, even a distinctive one', () => {
    const error = configError(ENVS.canarySecret);
    expect(error.message).toMatch(/JWT_SECRET/);
    expect(error.message).not.toContain(CANARY);
    expect(String(error.stack)).not.toContain(CANARY);
  });

  it('accepts 32 bytes, counting UTF-8 bytes rather than characters', () => {
    expect(loadConfig(ENVS.secret32Ascii).jwt?.secrets).toEqual([{ id: 'current', key: new TextEncoder().encode('a'.repeat(32)) }]);
    expect(loadConfig(ENVS.secret32Bytes).jwt?.secrets[0].key.byteLength).toBe(32);
  });

  it('carries issuer, audience, max age and clock tolerance', () => {
    const config = loadConfig(ENVS.jwtClaims);
    expect(config.jwt).toMatchObject({
      issuer: 'https://issuer.example',
      audience: 'realtime',
      maxAgeSeconds: 600,
      clockToleranceSeconds: 0,
    });
    expect(loadConfig(ENVS.jwtDefaults).jwt).toMatchObject({ maxAgeSeconds: 3600, clockToleranceSeconds: 5 });
  });
});

describe('JWT_SECRET_PREVIOUS (rotation)', () => {
  const CURRENT = 'c'.repeat(40);
  const PREVIOUS = 'p'.repeat(40);

  it('holds the current secret first, then the previous one', () => {
    const encode = (v: string) => new TextEncoder().encode(v);
    expect(loadConfig({ JWT_SECRET: CURRENT, JWT_SECRET_PREVIOUS: PREVIOUS }).jwt?.secrets).toEqual([
      { id: 'current', key: encode(CURRENT) },
      { id: 'previous', key: encode(PREVIOUS) },
    ]);
  });

  it('refuses a previous secret shorter than 32 bytes, naming JWT_SECRET_PREVIOUS and not the value', () => {
    const error = configError({ JWT_SECRET: CURRENT, JWT_SECRET_PREVIOUS: CANARY });
    expect(error.variables).toEqual(['JWT_SECRET_PREVIOUS']);
    expect(error.message).toMatch(/JWT_SECRET_PREVIOUS must be at least 32 bytes/);
    expect(error.message).not.toContain(CANARY);
  });

  it('refuses a previous secret without a current one, or equal to it', () => {
    expect(configError({ JWT_SECRET_PREVIOUS: PREVIOUS }).variables).toEqual(['JWT_SECRET_PREVIOUS']);
    expect(configError({ JWT_SECRET: CURRENT, JWT_SECRET_PREVIOUS: CURRENT }).message).toMatch(/JWT_SECRET_PREVIOUS must differ/);
  });
});

describe('JWT_JWKS_URL and JWT_ALGORITHMS', () => {
  const idp = { JWT_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json', JWT_ISSUER: 'https://idp.example.com/', JWT_AUDIENCE: 'realtime' };

  it('defaults: RS256, 3 s timeout, 30 s cooldown, 10 min cache', () => {
    expect(loadConfig({ NODE_ENV: 'production', ...idp }).jwks).toEqual({
      url: idp.JWT_JWKS_URL,
      algorithms: ['RS256'],
      issuer: idp.JWT_ISSUER,
      audience: 'realtime',
      maxAgeSeconds: 3600,
      clockToleranceSeconds: 5,
      timeoutMs: 3000,
      cooldownMs: 30_000,
      cacheMaxAgeMs: 600_000,
    });
  });

  it('takes an allowlist of asymmetric algorithms', () => {
    expect(loadConfig({ ...idp, JWT_ALGORITHMS: 'RS256, ES256,EdDSA' }).jwks?.algorithms).toEqual(['RS256', 'ES256', 'EdDSA']);
  });

  it.each([
    ['none', 'none', /never allow "none"/],
    ['None among others', 'RS256,None', /never allow "none"/],
    ['HS256', 'HS256', /must not allow HS\* with a JWKS/],
    ['HS512 among others', 'ES256,HS512', /must not allow HS\* with a JWKS/],
    ['an unknown name', 'RS257', /entries must be among/],
    ['a lower-case name', 'rs256', /entries must be among/],
    ['an empty list', ' , ', /at least one/],
  ])('refuses JWT_ALGORITHMS with %s', (_label, value, message) => {
    const error = configError({ ...idp, JWT_ALGORITHMS: value });
    expect(error.variables).toEqual(['JWT_ALGORITHMS']);
    expect(error.message).toMatch(message);
  });

  it('refuses JWT_ALGORITHMS without JWT_JWKS_URL', () => {
    expect(configError({ JWT_SECRET: 'k'.repeat(40), JWT_ALGORITHMS: 'RS256' }).variables).toEqual(['JWT_ALGORITHMS']);
  });

  it.each(['JWT_ISSUER', 'JWT_AUDIENCE'])('requires %s with a JWKS (a provider signs tokens for every app it serves)', (name) => {
    expect(configError({ ...idp, [name]: undefined }).variables).toEqual([name]);
  });

  it('refuses http:// for the JWKS in production unless the host is loopback', () => {
    const error = configError({ NODE_ENV: 'production', ...idp, JWT_JWKS_URL: 'http://idp.example.com/jwks.json' });
    expect(error.variables).toEqual(['JWT_JWKS_URL']);
    expect(error.message).toMatch(/https/);
    expect(loadConfig({ NODE_ENV: 'production', ...idp, JWT_JWKS_URL: 'http://127.0.0.1:8080/jwks.json' }).jwks).toBeDefined();
    expect(loadConfig({ NODE_ENV: 'development', ...idp, JWT_JWKS_URL: 'http://idp.example.com/jwks.json' }).jwks).toBeDefined();
  });

  it('refuses a cache shorter than the cooldown, and out-of-range durations', () => {
    expect(configError({ ...idp, JWT_JWKS_COOLDOWN_SECONDS: '60', JWT_JWKS_CACHE_SECONDS: '30' }).variables).toEqual(['JWT_JWKS_CACHE_SECONDS']);
    expect(configError({ ...idp, JWT_JWKS_COOLDOWN_SECONDS: '0' }).variables).toEqual(['JWT_JWKS_COOLDOWN_SECONDS']);
    expect(configError({ ...idp, JWT_JWKS_TIMEOUT_MS: '50' }).variables).toEqual(['JWT_JWKS_TIMEOUT_MS']);
  });
});

describe('OPENAI_BASE_URL in production', () => {
  it.each(['http://api.openai.com/v1', 'http://proxy.internal:8080/v1', 'http://10.0.0.5/v1', 'http://[fd00::1]/v1'])(
    'refuses cleartext %s: the server key would cross the network',
    (url) => {
      const error = configError({ NODE_ENV: 'production', OPENAI_BASE_URL: url });
      expect(error.variables).toEqual(['OPENAI_BASE_URL']);
      expect(error.message).toMatch(/OPENAI_BASE_URL must use https:\/\/ in production/);
    },
  );

  it.each(['http://127.0.0.1:4010/v1', 'http://127.1.2.3/v1', 'http://localhost:4010/v1', 'http://[::1]:4010/v1', 'https://gateway.example.com/v1'])(
    'accepts %s',
    (url) => {
      expect(loadConfig({ NODE_ENV: 'production', OPENAI_BASE_URL: url }).openai.baseUrl).toBe(url.replace(/\/+$/, ''));
    },
  );

  it('accepts http to any host outside production', () => {
    expect(loadConfig({ NODE_ENV: 'development', OPENAI_BASE_URL: 'http://proxy.internal:8080/v1' }).openai.baseUrl).toBe('http://proxy.internal:8080/v1');
  });
});

describe('ALLOWED_ORIGINS', () => {
  it.each(BAD_ORIGINS)('refuses %s', (_label, value) => {
    const error = configError({ ALLOWED_ORIGINS: value });
    expect(error.variables).toEqual(['ALLOWED_ORIGINS']);
    expect(error.message).toContain('ALLOWED_ORIGINS');
  });

  it.each(HTTP_ORIGINS)('refuses http in production: %s', (_label, origin) => {
    const error = configError({ NODE_ENV: 'production', ALLOWED_ORIGINS: origin });
    expect(error.variables).toEqual(['ALLOWED_ORIGINS']);
    expect(error.message).toMatch(/https/);
  });

  it.each(LOOPBACK_ORIGINS)(
    'allows loopback http in production: %s',
    (origin) => {
      expect([...loadConfig({ NODE_ENV: 'production', ALLOWED_ORIGINS: origin }).allowedOrigins]).toEqual([origin]);
    },
  );

  it('allows http outside production', () => {
    expect(loadConfig(ENVS.httpOutsideProduction).allowedOrigins.has('http://app.example.com')).toBe(true);
  });

  it('normalises case and default ports, and ignores empty list entries', () => {
    const config = loadConfig(ENVS.originCase);
    expect([...config.allowedOrigins]).toEqual(['https://app.example.com', 'http://localhost']);
  });

  it('normalizeOrigin keeps exact origins and refuses anything else', () => {
    expect(normalizeOrigin('https://app.example.com:8443')).toBe('https://app.example.com:8443');
    expect(normalizeOrigin('https://app.example.com/')).toBeUndefined();
    expect(normalizeOrigin('null')).toBeUndefined();
    expect(normalizeOrigin('https://a.com\\@evil.com')).toBeUndefined();
  });

  it('never echoes the bad origin', () => {
    const error = configError(ENVS.canaryOrigin);
    expect(error.message).not.toContain(CANARY);
  });
});

describe('PRODUCTION_DOMAIN', () => {
  it('adds the https origin of the domain, lower-cased', () => {
    const config = loadConfig(ENVS.domainProduction);
    expect([...config.allowedOrigins]).toEqual(['https://app.example.com']);
  });

  it('adds to ALLOWED_ORIGINS rather than replacing them', () => {
    const config = loadConfig(ENVS.domainAndOrigins);
    expect([...config.allowedOrigins].sort()).toEqual(['https://a.example.com', 'https://b.example.com']);
  });

  it('keeps the development default when only the domain is set outside production', () => {
    const config = loadConfig(ENVS.domainDevelopment);
    expect([...config.allowedOrigins].sort()).toEqual(['http://localhost:3000', 'https://app.example.com']);
  });

  it.each(BAD_DOMAINS)('refuses a domain with a %s', (_label, value) => {
    expect(configError({ PRODUCTION_DOMAIN: value }).variables).toEqual(['PRODUCTION_DOMAIN']);
  });
});

describe('voices and models', () => {
  it('parses comma lists with whitespace and empty entries', () => {
    const config = loadConfig(ENVS.voiceLists);
    expect(config.voices).toEqual(['marin', 'cedar', 'alloy']);
    expect(config.models).toEqual(['gpt-realtime-mini']);
    expect(config.defaultVoice).toBe('alloy');
    expect(config.defaultModel).toBe('gpt-realtime-mini');
  });

  it('defaults to the first entry when alloy / gpt-realtime are not listed', () => {
    const config = loadConfig(ENVS.firstEntries);
    expect(config.defaultVoice).toBe('marin');
    expect(config.defaultModel).toBe('gpt-realtime-mini');
  });

  it('accepts explicit defaults that are listed', () => {
    const config = loadConfig(ENVS.explicitDefaults);
    expect(config.defaultVoice).toBe('cedar');
    expect(config.defaultModel).toBe('gpt-realtime-mini');
  });

  it.each(BAD_LISTS)('refuses %j, naming %s', (env, name) => {
    expect(configError(env).variables).toEqual([name]);
  });

  it('never echoes a bad default or list entry', () => {
    expect(configError(ENVS.canaryVoice).message).not.toContain(CANARY);
    expect(configError(ENVS.canaryModels).message).not.toContain(CANARY);
  });
});

describe('rate limit policies ("N/S")', () => {
  it('parses N per S seconds', () => {
    const config = loadConfig(ENVS.policies);
    expect(config.rateLimits).toEqual({
      token: { name: 'token', limit: 5, windowMs: 30_000 },
      api: { name: 'api', limit: 1000, windowMs: 1000 },
      authFailures: { name: 'auth', limit: 3, windowMs: 900_000 },
      suspicious: { name: 'suspicious', limit: 1, windowMs: 86_400_000 },
    });
  });

  it.each(BAD_POLICIES)(
    'refuses %j',
    (value) => {
      const error = configError({ RATE_LIMIT_TOKEN: value });
      expect(error.variables).toEqual(['RATE_LIMIT_TOKEN']);
      expect(error.message).toContain('RATE_LIMIT_TOKEN');
    },
  );
});

describe('integer settings', () => {
  it.each(GOOD_INTEGERS)('%s=%s is accepted', (name, value, expected) => {
    const config = loadConfig({ [name]: value });
    const read = {
      TRUSTED_PROXY_HOPS: config.trustedProxyHops,
      REALTIME_TOKEN_TTL_SECONDS: config.openai.tokenTtlSeconds,
      UPSTREAM_TIMEOUT_MS: config.openai.timeoutMs,
      MAX_BODY_BYTES: config.maxBodyBytes,
    }[name];
    expect(read).toBe(expected);
  });

  it.each(BAD_INTEGERS)('%s=%s is refused, naming the variable', (name, value) => {
    const error = configError({ [name]: value });
    expect(error.variables).toEqual([name]);
    expect(error.message).toContain(name);
  });
});

describe('URLs and keys', () => {
  it.each(GOOD_REDIS_URLS)('accepts REDIS_URL %s', (url) => {
    expect(loadConfig({ REDIS_URL: url }).redisUrl).toBe(url);
  });

  it.each(BAD_REDIS_URLS)('refuses REDIS_URL %s', (url) => {
    expect(configError({ REDIS_URL: url }).variables).toEqual(['REDIS_URL']);
  });

  it.each(BAD_BASE_URLS)('refuses OPENAI_BASE_URL %s', (url) => {
    expect(configError({ OPENAI_BASE_URL: url }).variables).toEqual(['OPENAI_BASE_URL']);
  });

  it.each(GOOD_PREFIXES)('accepts RATE_LIMIT_PREFIX %s', (prefix) => {
    expect(loadConfig({ RATE_LIMIT_PREFIX: prefix }).rateLimitPrefix).toBe(prefix);
  });

  it.each(BAD_PREFIXES)('refuses RATE_LIMIT_PREFIX %s', (prefix) => {
    expect(configError({ RATE_LIMIT_PREFIX: prefix }).variables).toEqual(['RATE_LIMIT_PREFIX']);
  });

  it('refuses an unknown NODE_ENV without echoing it', () => {
    const error = configError(ENVS.canaryNodeEnv);
    expect(error.variables).toEqual(['NODE_ENV']);
    expect(error.message).not.toContain(CANARY);
  });

  it('turns Clerk on only with both keys, and unescapes a one-line PEM', () => {
    const pem = CLERK_PEM;
    const keys = CLERK_KEYS;
    expect(ENVS.clerkOneLinePem.CLERK_JWT_KEY).not.toContain('\n');
    const config = loadConfig(ENVS.clerkOneLinePem);
    expect(config.clerk).toEqual({ ...keys, jwtKey: pem });
    expect(loadConfig(ENVS.pemWithoutClerk).clerk).toBeUndefined();
  });

  it.each(INCOMPLETE_CLERK)('refuses an incomplete Clerk setup %j', (env, name) => {
    const error = configError(env);
    expect(error.variables).toEqual([name]);
    expect(error.message).not.toContain(CANARY);
  });

  it('refuses Clerk without any allowed origin (Clerk would skip its azp check)', () => {
    expect(configError(ENVS.clerkWithoutOrigin).variables).toEqual(['ALLOWED_ORIGINS']);
    expect(loadConfig(ENVS.clerkWithDomain).clerk).toBeDefined();
  });
});

describe('error messages never contain the bad value', () => {
  const checked = CHECKED_VARIABLES;
  const bad = CANARY_VALUE;

  it.each(checked)('%s', (name) => {
    const error = configError({ [name]: bad });
    expect(error.variables).toContain(name);
    expect(error.message).toContain(name);
    expect(error.message).not.toContain(CANARY);
    expect(JSON.stringify(error)).not.toContain(CANARY);
  });

  it('names every bad variable at once', () => {
    const error = configError(SEVERAL_BAD);
    expect([...error.variables].sort()).toEqual(['RATE_LIMIT_API', 'REDIS_URL', 'TRUSTED_PROXY_HOPS']);
    expect(error.message).not.toContain(CANARY);
  });
});
