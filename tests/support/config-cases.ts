import { generateKeyPairSync } from 'node:crypto';

/**
 * The configuration cases of tests/unit/config.test.ts, shared with
 * tests/scripts/validate-security.test.ts, which runs the server's
 * loadConfig and the validator on every one of them and expects the same
 * verdict. Add a case here and both files test it.
 */

export type Env = Record<string, string | undefined>;

/** A value no error message may ever contain. */
export const CANARY = 'CANARY-7f3a9c';

const CLERK_PUBLISHABLE = 'pk_test_ZXhhbXBsZS5jbGVyay5hY2NvdW50cy5kZXYk';
export const CLERK_KEYS = { secretKey: `sk_test_${'x'.repeat(40)}`, publishableKey: CLERK_PUBLISHABLE };
export const CLERK_PEM = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();

/** Every variable that must read an empty, blank or undefined value as unset. */
export const UNSET_VARIABLES = [
  'NODE_ENV', 'OPENAI_API_KEY', 'OPENAI_BASE_URL', 'ALLOWED_ORIGINS', 'PRODUCTION_DOMAIN', 'JWT_SECRET',
  'JWT_ISSUER', 'JWT_AUDIENCE', 'CLERK_SECRET_KEY', 'NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY', 'CLERK_JWT_KEY',
  'REDIS_URL', 'RATE_LIMIT_PREFIX', 'TRUSTED_PROXY_HOPS', 'ALLOWED_VOICES', 'ALLOWED_MODELS', 'DEFAULT_VOICE',
  'DEFAULT_MODEL', 'REALTIME_TOKEN_TTL_SECONDS', 'UPSTREAM_TIMEOUT_MS', 'MAX_BODY_BYTES', 'RATE_LIMIT_TOKEN',
  'RATE_LIMIT_API', 'RATE_LIMIT_AUTH_FAILURES', 'RATE_LIMIT_SUSPICIOUS', 'RATE_LIMIT_MAX_KEYS',
  'RATE_LIMIT_SWEEP_SECONDS', 'JWT_SECRET_PREVIOUS', 'JWT_JWKS_URL', 'JWT_ALGORITHMS', 'JWT_JWKS_TIMEOUT_MS',
  'JWT_JWKS_COOLDOWN_SECONDS', 'JWT_JWKS_CACHE_SECONDS',
  'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS', 'REDIS_SENTINEL_NAME', 'REDIS_USERNAME', 'REDIS_PASSWORD',
  'REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_PASSWORD', 'REDIS_TLS',
];
export const BLANK_VALUES: Array<[string, string | undefined]> = [
  ['empty', ''],
  ['blank', '   '],
  ['undefined', undefined],
];
export const blankEnv = (value: string | undefined): Env => Object.fromEntries(UNSET_VARIABLES.map((name) => [name, value]));

/** Single cases, by what config.test.ts uses them for. */
export const ENVS = {
  empty: {},
  production: { NODE_ENV: 'production' },
  explicitOrigin: { ALLOWED_ORIGINS: 'https://app.example.com' },
  trimmed: { OPENAI_API_KEY: '  sk-abc  ', OPENAI_BASE_URL: ' http://127.0.0.1:4010/v1/// ' },
  canarySecret: { JWT_SECRET: CANARY },
  secret32Ascii: { JWT_SECRET: 'a'.repeat(32) },
  secret32Bytes: { JWT_SECRET: 'é'.repeat(16) },
  jwtClaims: {
    JWT_SECRET: 'k'.repeat(40),
    JWT_ISSUER: 'https://issuer.example',
    JWT_AUDIENCE: 'realtime',
    JWT_MAX_AGE_SECONDS: '600',
    JWT_CLOCK_TOLERANCE_SECONDS: '0',
  },
  jwtDefaults: { JWT_SECRET: 'k'.repeat(40) },
  httpOutsideProduction: { NODE_ENV: 'test', ALLOWED_ORIGINS: 'http://app.example.com' },
  originCase: { ALLOWED_ORIGINS: ' HTTPS://App.Example.COM:443 , ,http://localhost:80,' },
  canaryOrigin: { ALLOWED_ORIGINS: `https://${CANARY}.example.com/path` },
  domainProduction: { NODE_ENV: 'production', PRODUCTION_DOMAIN: 'App.Example.com' },
  domainAndOrigins: { ALLOWED_ORIGINS: 'https://a.example.com', PRODUCTION_DOMAIN: 'b.example.com' },
  domainDevelopment: { PRODUCTION_DOMAIN: 'app.example.com' },
  voiceLists: { ALLOWED_VOICES: ' marin, cedar ,,alloy ', ALLOWED_MODELS: 'gpt-realtime-mini' },
  firstEntries: { ALLOWED_VOICES: 'marin,cedar', ALLOWED_MODELS: 'gpt-realtime-mini,gpt-4o-realtime-preview' },
  explicitDefaults: { ALLOWED_VOICES: 'marin,cedar', DEFAULT_VOICE: 'cedar', DEFAULT_MODEL: 'gpt-realtime-mini' },
  canaryVoice: { DEFAULT_VOICE: CANARY },
  canaryModels: { ALLOWED_MODELS: `${CANARY} x` },
  policies: { RATE_LIMIT_TOKEN: '5/30', RATE_LIMIT_API: '1000/1', RATE_LIMIT_AUTH_FAILURES: ' 3/900 ', RATE_LIMIT_SUSPICIOUS: '1/86400' },
  canaryNodeEnv: { NODE_ENV: CANARY },
  clerkOneLinePem: { CLERK_SECRET_KEY: CLERK_KEYS.secretKey, NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: CLERK_PUBLISHABLE, CLERK_JWT_KEY: CLERK_PEM.replace(/\n/g, '\\n') },
  pemWithoutClerk: { CLERK_JWT_KEY: CLERK_PEM },
  clerkWithoutOrigin: { CLERK_SECRET_KEY: CLERK_KEYS.secretKey, NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: CLERK_PUBLISHABLE, NODE_ENV: 'production' },
  clerkWithDomain: { CLERK_SECRET_KEY: CLERK_KEYS.secretKey, NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: CLERK_PUBLISHABLE, NODE_ENV: 'production', PRODUCTION_DOMAIN: 'voice.example.com' },
} satisfies Record<string, Env>;

export const SHORT_SECRETS: Array<[string, string]> = [
  ['31 ASCII bytes', 'a'.repeat(31)],
  ['1 byte', 'x'],
  ['10 two-byte characters (20 bytes)', 'é'.repeat(10)],
];

export const BAD_ORIGINS: Array<[string, string]> = [
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
];

export const HTTP_ORIGINS: Array<[string, string]> = [
  ['plain http host', 'http://app.example.com'],
  ['http with port', 'http://app.example.com:8080'],
  ['LAN address', 'http://192.168.1.10:3000'],
];

export const LOOPBACK_ORIGINS = ['http://localhost:3000', 'http://127.0.0.1:8080', 'http://[::1]:3000'];

export const BAD_DOMAINS: Array<[string, string]> = [
  ['scheme', 'https://app.example.com'],
  ['path', 'app.example.com/x'],
  ['port', 'app.example.com:443'],
  ['wildcard', '*.example.com'],
  ['single label', 'localhost'],
  ['userinfo', 'evil.com@app.example.com'],
];

export const BAD_LISTS: Array<[Env, string]> = [
  [{ DEFAULT_VOICE: 'ash' }, 'DEFAULT_VOICE'],
  [{ ALLOWED_VOICES: 'marin', DEFAULT_VOICE: 'alloy' }, 'DEFAULT_VOICE'],
  [{ DEFAULT_MODEL: 'gpt-4' }, 'DEFAULT_MODEL'],
  [{ ALLOWED_VOICES: ',, ,' }, 'ALLOWED_VOICES'],
  [{ ALLOWED_MODELS: ',' }, 'ALLOWED_MODELS'],
  [{ ALLOWED_VOICES: 'alloy,<script>' }, 'ALLOWED_VOICES'],
  [{ ALLOWED_MODELS: 'gpt realtime' }, 'ALLOWED_MODELS'],
  [{ ALLOWED_VOICES: 'x'.repeat(65) }, 'ALLOWED_VOICES'],
];

export const BAD_POLICIES = ['0/60', '10/0', '10', '10/', '/60', '10/60s', '-1/60', '1.5/60', '10 / 60', '1e3/60', '1234567/60', '10/12345678', '0x10/60'];

export const GOOD_INTEGERS: Array<[string, string, number]> = [
  ['TRUSTED_PROXY_HOPS', '0', 0],
  ['TRUSTED_PROXY_HOPS', '10', 10],
  ['REALTIME_TOKEN_TTL_SECONDS', '10', 10],
  ['REALTIME_TOKEN_TTL_SECONDS', '7200', 7200],
  ['UPSTREAM_TIMEOUT_MS', '100', 100],
  ['MAX_BODY_BYTES', '256', 256],
];

export const BAD_INTEGERS: Array<[string, string]> = [
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
];

export const GOOD_REDIS_URLS = ['redis://127.0.0.1:6379', 'rediss://user:pw@cache.example.com:6380/0'];
export const BAD_REDIS_URLS = ['http://127.0.0.1:6379', 'unix:///tmp/redis.sock', '127.0.0.1:6379', 'redis//x'];
export const BAD_BASE_URLS = ['ftp://api.example.com', 'api.openai.com/v1', 'file:///etc/passwd'];
export const GOOD_PREFIXES = ['rl', 'tenant-a:rl:', 'x'.repeat(64)];
export const BAD_PREFIXES = ['has space', 'a*b', 'x'.repeat(65), 'rl:{tag}'];

export const INCOMPLETE_CLERK: Array<[Env, string]> = [
  [{ CLERK_SECRET_KEY: `sk_test_${CANARY}` }, 'NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY'],
  [{ NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: `pk_test_${CANARY}` }, 'CLERK_SECRET_KEY'],
  [{ CLERK_JWT_KEY: `not a pem ${CANARY}` }, 'CLERK_JWT_KEY'],
];

/** Every variable with a value check, given the same distinctive bad value. */
export const CHECKED_VARIABLES = [
  'NODE_ENV', 'OPENAI_BASE_URL', 'ALLOWED_ORIGINS', 'PRODUCTION_DOMAIN', 'JWT_SECRET', 'JWT_MAX_AGE_SECONDS',
  'JWT_CLOCK_TOLERANCE_SECONDS', 'CLERK_JWT_KEY', 'REDIS_URL', 'RATE_LIMIT_PREFIX', 'TRUSTED_PROXY_HOPS',
  'ALLOWED_VOICES', 'ALLOWED_MODELS', 'DEFAULT_VOICE', 'DEFAULT_MODEL', 'REALTIME_TOKEN_TTL_SECONDS',
  'UPSTREAM_TIMEOUT_MS', 'MAX_BODY_BYTES', 'RATE_LIMIT_TOKEN', 'RATE_LIMIT_API', 'RATE_LIMIT_AUTH_FAILURES',
  'RATE_LIMIT_SUSPICIOUS', 'RATE_LIMIT_MAX_KEYS', 'RATE_LIMIT_SWEEP_SECONDS', 'JWT_SECRET_PREVIOUS', 'JWT_JWKS_URL',
  'JWT_ALGORITHMS', 'JWT_JWKS_TIMEOUT_MS', 'JWT_JWKS_COOLDOWN_SECONDS', 'JWT_JWKS_CACHE_SECONDS',
];
export const CANARY_VALUE = `${CANARY} <x> /*`;
export const SEVERAL_BAD: Env = { TRUSTED_PROXY_HOPS: CANARY_VALUE, REDIS_URL: CANARY_VALUE, RATE_LIMIT_API: CANARY_VALUE };

/** Redis beyond one node (lib/config/redis.ts): good and bad combinations of the modes. */
export const REDIS_MODE_CASES: Array<[string, Env]> = [
  ['cluster', { REDIS_CLUSTER_NODES: '10.0.0.1:6379, 10.0.0.2:6379,[::1]:7000', REDIS_PASSWORD: `pw-${CANARY}`, REDIS_TLS: '1' }],
  ['sentinel', { REDIS_SENTINELS: 'sentinel-a.internal:26379,sentinel-b.internal:26379', REDIS_SENTINEL_NAME: 'mymaster', REDIS_SENTINEL_PASSWORD: `s-${CANARY}` }],
  ['REDIS_URL and REDIS_CLUSTER_NODES', { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: '127.0.0.1:7000' }],
  ['REDIS_CLUSTER_NODES and REDIS_SENTINELS', { REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_NAME: 'm' }],
  ['REDIS_SENTINELS without a name', { REDIS_SENTINELS: '127.0.0.1:26379' }],
  ['REDIS_SENTINEL_NAME without sentinels', { REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_SENTINEL_NAME: 'm' }],
  ['REDIS_PASSWORD with REDIS_URL', { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PASSWORD: `pw-${CANARY}` }],
  ['REDIS_TLS alone', { REDIS_TLS: '1' }],
  ['REDIS_TLS=yes', { REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_TLS: 'yes' }],
  ...['127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', 'host:port', `${CANARY}:1`, 'a:1,,', ',', 'redis://h:1'].map((v): [string, Env] => [`REDIS_CLUSTER_NODES ${v}`, { REDIS_CLUSTER_NODES: v }]),
];

const IDP: Env = { JWT_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json', JWT_ISSUER: 'https://idp.example.com/', JWT_AUDIENCE: 'realtime' };

/** Rotation, identity-provider and cleartext-upstream rules (lib/config/auth.ts, lib/config/index.ts). */
export const STRICT_CASES: Array<[string, Env]> = [
  ['rotation', { JWT_SECRET: 'c'.repeat(40), JWT_SECRET_PREVIOUS: 'p'.repeat(40) }],
  ['short JWT_SECRET_PREVIOUS', { JWT_SECRET: 'c'.repeat(40), JWT_SECRET_PREVIOUS: 'p'.repeat(31) }],
  ['JWT_SECRET_PREVIOUS alone', { JWT_SECRET_PREVIOUS: 'p'.repeat(40) }],
  ['JWT_SECRET_PREVIOUS equal to JWT_SECRET', { JWT_SECRET: 'c'.repeat(40), JWT_SECRET_PREVIOUS: 'c'.repeat(40) }],
  ['JWKS with defaults', { NODE_ENV: 'production', ...IDP }],
  ['JWKS with RS256,ES256', { ...IDP, JWT_ALGORITHMS: 'RS256,ES256' }],
  ['JWKS with none', { ...IDP, JWT_ALGORITHMS: 'none' }],
  ['JWKS with HS256', { ...IDP, JWT_ALGORITHMS: 'RS256,HS256' }],
  ['JWT_ALGORITHMS without a JWKS', { JWT_SECRET: 'k'.repeat(40), JWT_ALGORITHMS: 'RS256' }],
  ['JWKS without JWT_AUDIENCE', { ...IDP, JWT_AUDIENCE: undefined }],
  ['JWKS over http in production', { NODE_ENV: 'production', ...IDP, JWT_JWKS_URL: 'http://idp.example.com/jwks.json' }],
  ['JWKS cache shorter than the cooldown', { ...IDP, JWT_JWKS_COOLDOWN_SECONDS: '60', JWT_JWKS_CACHE_SECONDS: '30' }],
  ['production OPENAI_BASE_URL over http', { NODE_ENV: 'production', OPENAI_BASE_URL: 'http://api.openai.com/v1' }],
  ['production OPENAI_BASE_URL over http to loopback', { NODE_ENV: 'production', OPENAI_BASE_URL: 'http://127.0.0.1:4010/v1' }],
];

/** Every environment above, labelled: the table both the server and the validator are run on. */
export function allConfigCases(): Array<[label: string, env: Env]> {
  return [
    ...Object.entries(ENVS),
    ...BLANK_VALUES.map(([label, v]): [string, Env] => [`${label} values`, blankEnv(v)]),
    ...SHORT_SECRETS.map(([label, v]): [string, Env] => [`JWT_SECRET ${label}`, { JWT_SECRET: v }]),
    ...BAD_ORIGINS.map(([label, v]): [string, Env] => [`ALLOWED_ORIGINS ${label}`, { ALLOWED_ORIGINS: v }]),
    ...HTTP_ORIGINS.map(([label, v]): [string, Env] => [`production ${label}`, { NODE_ENV: 'production', ALLOWED_ORIGINS: v }]),
    ...LOOPBACK_ORIGINS.map((v): [string, Env] => [`production ${v}`, { NODE_ENV: 'production', ALLOWED_ORIGINS: v }]),
    ...BAD_DOMAINS.map(([label, v]): [string, Env] => [`PRODUCTION_DOMAIN ${label}`, { PRODUCTION_DOMAIN: v }]),
    ...BAD_LISTS.map(([env, name]): [string, Env] => [`${name} ${JSON.stringify(env)}`, env]),
    ...BAD_POLICIES.map((v): [string, Env] => [`RATE_LIMIT_TOKEN ${v}`, { RATE_LIMIT_TOKEN: v }]),
    ...[...GOOD_INTEGERS, ...BAD_INTEGERS].map(([name, v]): [string, Env] => [`${name}=${v}`, { [name]: v }]),
    ...[...GOOD_REDIS_URLS, ...BAD_REDIS_URLS].map((v): [string, Env] => [`REDIS_URL ${v}`, { REDIS_URL: v }]),
    ...BAD_BASE_URLS.map((v): [string, Env] => [`OPENAI_BASE_URL ${v}`, { OPENAI_BASE_URL: v }]),
    ...[...GOOD_PREFIXES, ...BAD_PREFIXES].map((v): [string, Env] => [`RATE_LIMIT_PREFIX ${v}`, { RATE_LIMIT_PREFIX: v }]),
    ...INCOMPLETE_CLERK.map(([env, name]): [string, Env] => [`incomplete Clerk (${name})`, env]),
    ...CHECKED_VARIABLES.map((name): [string, Env] => [`${name} canary`, { [name]: CANARY_VALUE }]),
    ['several bad', SEVERAL_BAD],
    ...STRICT_CASES,
    ...REDIS_MODE_CASES,
  ];
}
