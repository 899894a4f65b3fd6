import { execFile, type ExecFileException } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@/lib/config';
import { main, validate } from '../../scripts/validate-security/cli.mjs';
import { checkBehaviour, checkGuardList, checkMiddleware, checkNextConfig, checkRateLimitDefaults, loadServer, REQUIRED_CALL_CONTROL_GUARDS, REQUIRED_CALL_GUARDS, REQUIRED_GUARDS, REQUIRED_METRICS_GUARDS } from '../../scripts/validate-security/code.mjs';
import { checkEnvExample, checkEnvironment, nextEnv, readEnvironment } from '../../scripts/validate-security/env.mjs';
import { allConfigCases, type Env } from '../support/config-cases';

/**
 * scripts/validate-security.js. Most cases run in process on the server's
 * own modules as the validator loads them, with one part swapped (a guard
 * list, a route handler, a middleware config, an environment); a handful run
 * the real CLI with node, including one mutation of lib/routes/token.ts each
 * for a control deleted, reordered and commented out.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = join(ROOT, 'scripts', 'validate-security.js');
const GUARDS = REQUIRED_GUARDS.map(([name]) => name);

interface Result {
  check: string;
  ok: boolean;
  reason: string;
  warning?: boolean;
}
type Server = Awaited<ReturnType<typeof loadServer>>;
type Factory = (config: unknown) => { name: string; refuses: string[]; run(ctx: unknown): Promise<Response | undefined> };

// Distinctive secrets: no output may ever contain them.
const SECRETS = {
  OPENAI_API_KEY: 'sk-test-validate-4f1c9a7e2b8d6035',
  JWT_SECRET: 'jwt-secret-validate-7d2e9b4c1a8f6e3057c9d2b1',
  REDIS_PASSWORD: 'redis-pw-validate-93c1e7',
};

/** A production deployment that satisfies every environment rule. */
const GOOD_ENV: Env = {
  NODE_ENV: 'production',
  OPENAI_API_KEY: SECRETS.OPENAI_API_KEY,
  ALLOWED_ORIGINS: 'https://app.example.com,http://localhost:3000',
  JWT_SECRET: SECRETS.JWT_SECRET,
  TRUSTED_PROXY_HOPS: '1',
  REDIS_URL: `rediss://default:${SECRETS.REDIS_PASSWORD}@redis.internal:6380`,
};

let server: Server;
let work: string;
/** A folder with no .env files: environment cases read only what they pass. */
let bare: string;
let counter = 0;

beforeAll(async () => {
  server = await loadServer(ROOT);
  work = mkdtempSync(join(tmpdir(), 'validate-security-'));
  bare = join(work, 'bare');
  mkdirSync(bare);
});

afterAll(() => {
  server?.runtime.setRuntime(undefined);
  if (work) rmSync(work, { recursive: true, force: true });
});

const failing = (results: Result[]) => results.filter((r) => !r.ok).map((r) => r.check);
const find = (results: Result[], check: string) => results.find((r) => r.check === check);

/** The environment checks on `env` (nothing else loaded), as the CLI would run them. */
function envChecks(env: Env, production = false): Result[] {
  const read = readEnvironment({ root: bare, env, production });
  return checkEnvironment(server, read.env, { production: read.production });
}

function writeFile(name: string, text: string): string {
  const file = join(work, `${++counter}-${name}`);
  writeFileSync(file, text);
  return file;
}

/** The server with TOKEN_GUARDS (and the route's POST) replaced by `guards`. */
function withGuards(guards: Factory[]): Server {
  return { ...server, routes: { ...server.routes, TOKEN_GUARDS: guards }, route: { ...server.route, POST: server.run.pipeline(guards) } };
}

const nameOf = (make: Factory) => make(loadConfig({})).name;
const realGuards = (): Factory[] => [...server.routes.TOKEN_GUARDS];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], env: Env = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [SCRIPT, ...args],
      // Only PATH and `env`: the script must not see the test runner's NODE_ENV or anything else.
      { env: { PATH: process.env.PATH ?? '', ...env } as unknown as NodeJS.ProcessEnv, timeout: 30_000, encoding: 'utf8' },
      (error: ExecFileException | null, stdout: string, stderr: string) => {
        if (error && typeof error.code !== 'number') return reject(error);
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
  });
}

describe('the real project', () => {
  it('passes every check with a good production environment, in report order', async () => {
    const { results } = await validate({ root: ROOT, env: GOOD_ENV });
    expect(results.filter((r: Result) => !r.ok)).toEqual([]);
    expect(results.filter((r: Result) => r.warning)).toEqual([]);
    expect(results.map((r: Result) => r.check)).toEqual([
      'security-files',
      'route-guards',
      'rate-limits',
      ...GUARDS.map((g: string) => `guard:${g}`),
      'answer-headers',
      'middleware',
      'next-config',
      'env:config',
      'env:ready',
      'env:rate-limits',
      'env-example',
    ]);
  });

  it('--example-env --production passes, with warnings that do not fail it', async () => {
    const lines: string[] = [];
    const code = await main(['--example-env', '--production'], (line: string) => lines.push(line));
    expect(code).toBe(0);
    expect(lines).toContainEqual(expect.stringMatching(/^⚠ env:origins — every allowed origin is loopback or http:\/\//));
    expect(lines).toContainEqual(expect.stringMatching(/^⚠ env:redis — REDIS_URL is not set: .*several instances/));
    expect(lines.at(-1)).toMatch(/^✓ all \d+ checks passed \(2 warnings\)$/);
  });
});

describe('route-guards and guard:<name>: the route is the required guards, each still refusing', () => {
  it.each(GUARDS)('deleting %s fails the list and its probe', async (name) => {
    const changed = withGuards(realGuards().filter((g) => nameOf(g) !== name));
    expect(checkGuardList(changed).reason).toContain(`${name} is missing from TOKEN_GUARDS`);
    const [probe] = await checkBehaviour(changed, [name]);
    expect(probe).toMatchObject({ check: `guard:${name}`, ok: false });
  });

  it.each(GUARDS)('%s kept by name but doing nothing fails its probe only', async (name) => {
    const hollow = realGuards().map((make) => (nameOf(make) === name ? (config: unknown) => ({ ...make(config), run: async () => undefined }) : make));
    const changed = withGuards(hollow);
    expect(checkGuardList(changed).ok).toBe(true);
    const [probe] = await checkBehaviour(changed, [name]);
    expect(probe.ok, probe.reason).toBe(false);
  });

  const swaps = GUARDS.slice(1).map((second: string, i: number) => [GUARDS[i], second] as const);
  it.each(swaps)('swapping %s and %s fails', (first, second) => {
    const guards = realGuards();
    const [a, b] = [guards.findIndex((g) => nameOf(g) === first), guards.findIndex((g) => nameOf(g) === second)];
    [guards[a], guards[b]] = [guards[b], guards[a]];
    const result = checkGuardList(withGuards(guards));
    expect(result.ok).toBe(false);
    expect(result.reason).toContain(`${second} runs before ${first}`);
  });

  it('moving origin after authentication fails (a non-adjacent reorder)', async () => {
    const guards = realGuards();
    const [origin] = guards.splice(guards.findIndex((g) => nameOf(g) === 'origin'), 1);
    guards.splice(guards.findIndex((g) => nameOf(g) === 'authenticate') + 1, 0, origin);
    const changed = withGuards(guards);
    expect(checkGuardList(changed).reason).toMatch(/origin runs before|runs before origin/);
    expect((await checkBehaviour(changed, ['origin']))[0].reason).toMatch(/401|verified before/);
  });

  it('an extra guard that could answer before the controls fails', () => {
    const extra: Factory = () => ({ name: 'allow_internal', refuses: [], run: async () => undefined });
    expect(checkGuardList(withGuards([extra, ...realGuards()])).reason).toContain('unknown guard(s) allow_internal');
  });

  it('a guard list that does not compile fails load, and nothing else runs', async () => {
    const copy = mkdtempSync(join(work, 'broken-'));
    for (const entry of ['lib', 'app', 'middleware.ts', 'next.config.ts', '.env.example', 'SECURITY.md']) cpSync(join(ROOT, entry), join(copy, entry), { recursive: true });
    writeFileSync(join(copy, 'lib/routes/token.ts'), readFileSync(join(copy, 'lib/routes/token.ts'), 'utf8').replace('export const TOKEN_GUARDS', 'export const TOKEN_GUARDS = ;\nconst unused'));
    const { results } = await validate({ root: copy, exampleEnv: true });
    expect(results.map((r: Result) => [r.check, r.ok])).toEqual([['security-files', true], ['load', false]]);
    expect(results[1].reason).toMatch(/^the server's modules do not compile or load: .*Unexpected token at lib\/routes\/token\.ts:\d+:\d+$/);
  });

  it('a guard factory that throws fails route-guards, naming the error, and the run goes on', async () => {
    const throwing: Factory = () => {
      throw new TypeError('policy is undefined');
    };
    const { results } = await validate({ root: ROOT, env: GOOD_ENV, server: withGuards([...realGuards(), throwing]) });
    expect(find(results, 'route-guards')).toEqual({ check: 'route-guards', ok: false, reason: 'the check threw policy is undefined' });
    expect(find(results, 'env-example')!.ok).toBe(true);
  });

  it('a guard that no longer declares its codes fails', () => {
    const guards = realGuards().map((make) => (nameOf(make) === 'authenticate' ? (c: unknown) => ({ ...make(c), refuses: ['auth_invalid'] }) : make));
    expect(checkGuardList(withGuards(guards)).reason).toContain('authenticate no longer declares auth_missing, auth_malformed');
  });
});

describe('route-guards on the calls and metrics routes: the same controls, in the same order', () => {
  type List = 'CALLS_GUARDS' | 'CALL_CONTROL_GUARDS';
  const withCallList = (list: List, guards: Factory[]): Server => ({ ...server, callRoutes: { ...server.callRoutes, [list]: guards } });
  const real = (list: List): Factory[] => [...server.callRoutes[list]];
  const cases = [
    ...REQUIRED_CALL_GUARDS.map(([name]) => ['CALLS_GUARDS', name] as const),
    ...REQUIRED_CALL_CONTROL_GUARDS.map(([name]) => ['CALL_CONTROL_GUARDS', name] as const),
  ];

  it('the real lists pass', () => {
    expect(checkGuardList(server)).toMatchObject({ ok: true });
  });

  it.each(cases)('deleting it from %s: %s fails', (list, name) => {
    const result = checkGuardList(withCallList(list, real(list).filter((g) => nameOf(g) !== name)));
    expect(result.reason).toContain(`${name} is missing from ${list} (lib/routes/calls.ts)`);
  });

  it('authentication moved before the origin check in CALLS_GUARDS fails', () => {
    const guards = real('CALLS_GUARDS');
    const [auth] = guards.splice(guards.findIndex((g) => nameOf(g) === 'authenticate'), 1);
    guards.splice(guards.findIndex((g) => nameOf(g) === 'origin'), 0, auth);
    expect(checkGuardList(withCallList('CALLS_GUARDS', guards)).reason).toMatch(/CALLS_GUARDS: authenticate runs before /);
  });

  it('a call looked up before authentication fails', () => {
    const guards = real('CALL_CONTROL_GUARDS');
    const [control] = guards.splice(guards.findIndex((g) => nameOf(g) === 'call_control'), 1);
    guards.unshift(control);
    expect(checkGuardList(withCallList('CALL_CONTROL_GUARDS', guards)).ok).toBe(false);
  });

  it.each(REQUIRED_METRICS_GUARDS.map(([name]) => name))('deleting %s from METRICS_GUARDS fails', (name) => {
    const guards = [...server.metricsRoutes.METRICS_GUARDS].filter((g: Factory) => nameOf(g) !== name);
    const result = checkGuardList({ ...server, metricsRoutes: { METRICS_GUARDS: guards } });
    expect(result.reason).toContain(`${name} is missing from METRICS_GUARDS (lib/routes/metrics.ts)`);
  });

  it('the metrics token checked before the auth-failure reservation fails', () => {
    const guards = [...server.metricsRoutes.METRICS_GUARDS].reverse();
    expect(checkGuardList({ ...server, metricsRoutes: { METRICS_GUARDS: guards } }).ok).toBe(false);
  });

  it('an extra guard on the calls route fails, and a missing list fails', () => {
    const extra: Factory = () => ({ name: 'allow_internal', refuses: [], run: async () => undefined });
    expect(checkGuardList(withCallList('CALLS_GUARDS', [extra, ...real('CALLS_GUARDS')])).reason).toContain('CALLS_GUARDS has unknown guard(s) allow_internal');
    expect(checkGuardList({ ...server, callRoutes: {} }).reason).toContain('CALLS_GUARDS is not exported from lib/routes/calls.ts');
  });
});

describe('answer-headers, middleware, next-config, rate-limits', () => {
  const wrapped = (edit: (res: Response) => void): Server => ({
    ...server,
    route: { ...server.route, POST: async (req: Request) => { const res = await server.route.POST(req); edit(res); return res; } },
  });

  it('answers missing security headers or the trace id fail', async () => {
    const results: Result[] = await checkBehaviour(wrapped((res) => ['x-frame-options', 'strict-transport-security', 'x-trace-id'].forEach((h) => res.headers.delete(h))));
    const reason = find(results, 'answer-headers')!.reason;
    expect(reason).toContain('x-frame-options is not "DENY"');
    expect(reason).toContain('Strict-Transport-Security is not max-age');
    expect(reason).toContain('X-Trace-Id is not a 32-hex trace id');
  });

  it('a CORS grant for an unlisted origin fails', async () => {
    const results: Result[] = await checkBehaviour(wrapped((res) => res.headers.set('Access-Control-Allow-Origin', '*')));
    expect(find(results, 'answer-headers')!.reason).toContain('answers to an unlisted origin carry a CORS grant');
  });

  const matchers: Array<[label: string, matcher: unknown, reason: RegExp]> = [
    ['narrowed to /api/realtime', [{ source: '/api/realtime/:path*', has: [{ type: 'header', key: 'access-control-request-method' }] }, '/'], /a CORS preflight to \/api\/health does not reach it/],
    ['every /api request', ['/api/:path*', '/((?!api/|api$|_next/static).*)'], /requests to \/api\/realtime\/token without Access-Control-Request-Method pass through it/],
    ['pages only', ['/((?!api|_next/static).*)'], /a CORS preflight to \/api\/realtime\/token does not reach it/],
    ['missing', undefined, /exports no config\.matcher/],
    ['not a path', ['api/:path*'], /not a matcher Next accepts/],
  ];
  it.each(matchers)('a middleware matcher %s fails', async (_label, matcher, reason) => {
    const result = await checkMiddleware({ ...server, middleware: { ...server.middleware, config: { matcher } } });
    expect(result.ok).toBe(false);
    expect(result.reason).toMatch(reason);
  });

  it('a middleware that lets preflights through to the route fails', async () => {
    const result = await checkMiddleware({ ...server, middleware: { ...server.middleware, default: async () => undefined } });
    expect(result.reason).toContain('a preflight from a listed origin got no answer');
  });

  it('next.config.ts with X-Powered-By on and no page headers fails', async () => {
    const result = await checkNextConfig({ ...server, nextConfig: { default: () => ({ poweredByHeader: true, headers: async () => [] }) } });
    expect(result.reason).toContain('does not set poweredByHeader: false');
    expect(result.reason).toContain('the page / does not get x-content-type-options');
  });

  it("next.config.ts headers that also match API paths and replace their CSP fail", async () => {
    const make = server.nextConfig.default;
    const widened = async (phase: string, ctx: unknown) => {
      const config = await make(phase, ctx);
      const rules = await config.headers();
      return { ...config, headers: async () => rules.map((r: { source: string }) => ({ ...r, source: '/:path*' })) };
    };
    const result = await checkNextConfig({ ...server, nextConfig: { default: widened } });
    expect(result.reason).toBe("its headers() replaces the API answers' content-security-policy, permissions-policy");
  });

  it('a default policy looser than the spec fails', () => {
    const loose = (env: Env) => {
      const config = server.config.loadConfig(env);
      return { ...config, rateLimits: { ...config.rateLimits, token: { ...config.rateLimits.token, limit: 50 } } };
    };
    const result = checkRateLimitDefaults({ ...server, config: { ...server.config, loadConfig: loose } });
    expect(result.reason).toBe('RATE_LIMIT_TOKEN defaults to 50/60 s, the spec says 10/60 s');
  });
});

describe('the environment, judged by lib/config plus the stricter checks', () => {
  const bad: Array<[label: string, env: Env, check: string, reason: RegExp]> = [
    ['no OPENAI_API_KEY', { OPENAI_API_KEY: undefined }, 'env:ready', /OPENAI_API_KEY is not set/],
    ['blank OPENAI_API_KEY', { OPENAI_API_KEY: '   ' }, 'env:ready', /OPENAI_API_KEY is not set/],
    ['a wildcard origin', { ALLOWED_ORIGINS: 'https://app.example.com,*' }, 'env:config', /ALLOWED_ORIGINS must list bare origins/],
    ['an origin with a backslash path', { ALLOWED_ORIGINS: 'https://a.com\\p' }, 'env:config', /ALLOWED_ORIGINS/],
    ['http in production', { ALLOWED_ORIGINS: 'http://app.example.com' }, 'env:config', /ALLOWED_ORIGINS must use https:\/\/ in production/],
    ['no origins in production', { ALLOWED_ORIGINS: undefined }, 'env:ready', /no allowed origin in production/],
    ['a PRODUCTION_DOMAIN with a scheme', { PRODUCTION_DOMAIN: 'https://app.example.com' }, 'env:config', /PRODUCTION_DOMAIN must be a bare domain/],
    ['a 31-byte JWT_SECRET', { JWT_SECRET: 'x'.repeat(31) }, 'env:config', /JWT_SECRET must be at least 32 bytes/],
    ['10 three-byte characters (30 bytes)', { JWT_SECRET: '€'.repeat(10) }, 'env:config', /JWT_SECRET must be at least 32 bytes/],
    ['a placeholder JWT_SECRET in production', { JWT_SECRET: 'change-me-change-me-change-me-change-me' }, 'env:ready', /JWT_SECRET is a placeholder or test value in production/],
    ['the CI test key in production', { OPENAI_API_KEY: 'sk-ci-placeholder-not-a-real-key' }, 'env:ready', /OPENAI_API_KEY is a placeholder or test value/],
    ['no auth method at all', { JWT_SECRET: undefined }, 'env:ready', /no authentication method/],
    ['half a Clerk setup', { CLERK_SECRET_KEY: 'sk_test_abcdefghijklmnop' }, 'env:config', /NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY must be set together/],
    ['11 proxy hops', { TRUSTED_PROXY_HOPS: '11' }, 'env:config', /TRUSTED_PROXY_HOPS/],
    ['an http REDIS_URL', { REDIS_URL: 'http://redis.internal:6379' }, 'env:config', /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/],
    ['a token limit of 50/60', { RATE_LIMIT_TOKEN: '50/60' }, 'env:rate-limits', /RATE_LIMIT_TOKEN allows more than the spec's 10 per 60 s/],
    ['a token limit of 10/59', { RATE_LIMIT_TOKEN: '10/59' }, 'env:rate-limits', /RATE_LIMIT_TOKEN allows more/],
    ['an auth-failure limit of 20/60', { RATE_LIMIT_AUTH_FAILURES: '20/60' }, 'env:rate-limits', /RATE_LIMIT_AUTH_FAILURES allows more than the spec's 20 per 300 s/],
    ['a malformed API limit', { RATE_LIMIT_API: 'lots' }, 'env:config', /RATE_LIMIT_API must look like LIMIT\/WINDOW_SECONDS/],
    ['an unknown NODE_ENV', { NODE_ENV: 'staging' }, 'env:config', /NODE_ENV/],
  ];
  it.each(bad)('%s fails %s', (_label, overrides, check, reason) => {
    const results = envChecks({ ...GOOD_ENV, ...overrides });
    expect(failing(results)).toEqual([check]);
    expect(find(results, check)!.reason).toMatch(reason);
  });

  const good: Array<[label: string, env: Env]> = [
    ['only PRODUCTION_DOMAIN in production', { ALLOWED_ORIGINS: undefined, PRODUCTION_DOMAIN: 'app.example.com' }],
    ['http origins outside production', { NODE_ENV: 'development', ALLOWED_ORIGINS: 'http://dev.example.com' }],
    ['placeholder secrets outside production', { NODE_ENV: 'development', JWT_SECRET: 'change-me-change-me-change-me-change-me', OPENAI_API_KEY: 'sk-ci-placeholder-not-a-real-key' }],
    ['11 euro signs (33 bytes)', { JWT_SECRET: '€'.repeat(11) }],
    ['Clerk instead of JWT', { JWT_SECRET: undefined, CLERK_SECRET_KEY: 'sk_test_abcdefghijklmnop', NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: 'pk_test_ZXhhbXBsZS5jbGVyay5hY2NvdW50cy5kZXYk' }],
    ['stricter limits', { RATE_LIMIT_TOKEN: '5/30', RATE_LIMIT_API: '100/60', RATE_LIMIT_AUTH_FAILURES: '10/600' }],
  ];
  it.each(good)('%s passes', (_label, overrides) => {
    expect(failing(envChecks({ ...GOOD_ENV, ...overrides }))).toEqual([]);
  });

  it('--production applies production rules when NODE_ENV is unset', () => {
    const env = { ...GOOD_ENV, NODE_ENV: undefined, ALLOWED_ORIGINS: 'http://app.example.com' };
    expect(failing(envChecks(env))).toEqual([]);
    expect(find(envChecks(env, true), 'env:config')!.reason).toMatch(/ALLOWED_ORIGINS must use https/);
  });

  it('warns in production about another upstream, loopback or http origins, and no Redis; not otherwise', () => {
    const env = { ...GOOD_ENV, OPENAI_BASE_URL: 'https://proxy.example.net/v1', ALLOWED_ORIGINS: 'http://localhost:3000,http://127.0.0.1:8080', REDIS_URL: undefined };
    const warnings = envChecks(env).filter((r) => r.warning);
    expect(warnings.map((r) => r.check)).toEqual(['env:upstream', 'env:origins', 'env:redis']);
    expect(warnings.every((r) => r.ok)).toBe(true);
    expect(warnings[0].reason).toContain('proxy.example.net, not api.openai.com');
    expect(warnings[2].reason).toContain('several instances');
    expect(envChecks({ ...env, NODE_ENV: 'development' }).filter((r) => r.warning)).toEqual([]);
    expect(envChecks({ ...env, ALLOWED_ORIGINS: 'https://app.example.com,http://localhost:3000' }).map((r) => r.check)).not.toContain('env:origins');
  });
});

describe('the validator agrees with the server on every case of tests/unit/config.test.ts', () => {
  it.each(allConfigCases())('%s', (_label, env) => {
    let refused: readonly string[] = [];
    try {
      loadConfig(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      refused = (error as ConfigError).variables;
    }
    const [result] = envChecks(env);
    expect(result.check).toBe('env:config');
    expect(result.ok, result.reason).toBe(refused.length === 0);
    for (const name of refused) expect(result.reason).toContain(name);
  });
});

describe(".env files, read as Next reads them", () => {
  let dir: string;
  beforeAll(() => {
    dir = join(work, 'dotenv');
    mkdirSync(dir);
    const files: Record<string, string> = {
      '.env.production.local': 'A=production.local\n',
      '.env.local': 'A=local\nB=local\nOPENAI_API_KEY=sk-from-env-local\n',
      '.env.production': 'A=production\nB=production\nC=production\n',
      '.env.development': 'E=development\n',
      '.env.test': 'T=test\n',
      '.env': 'A=env\nB=env\nC=env\nD=env\nF=${D}-expanded\n',
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  });

  it('production: .env.production.local, .env.local, .env.production, .env; the first wins', () => {
    const { env, files } = nextEnv(dir, {}, true);
    expect(files).toEqual(['.env.production.local', '.env.local', '.env.production', '.env']);
    expect(env).toMatchObject({ A: 'production.local', B: 'local', C: 'production', D: 'env', F: 'env-expanded' });
    expect(env.E).toBeUndefined();
  });

  it('the real environment wins over every file, even with an empty value, and is left untouched', () => {
    const { env } = nextEnv(dir, { A: 'real', B: '' }, true);
    expect(env).toMatchObject({ A: 'real', B: '', C: 'production' });
    expect(process.env.C).toBeUndefined();
  });

  it('development reads .env.development; NODE_ENV=test skips .env.local', () => {
    expect(nextEnv(dir, {}, false)).toMatchObject({ files: ['.env.local', '.env.development', '.env'], env: { E: 'development', B: 'local' } });
    expect(nextEnv(dir, { NODE_ENV: 'test' }, false)).toMatchObject({ files: ['.env.test', '.env'], env: { T: 'test', B: 'env' } });
  });

  it('a key that .env.local provides counts, and the label says where it came from', () => {
    const read = readEnvironment({ root: dir, env: { JWT_SECRET: SECRETS.JWT_SECRET } });
    expect(read.label).toBe("process environment + .env.local, .env.development, .env (Next's order)");
    expect(find(checkEnvironment(server, read.env, { production: false }), 'env:ready')!.ok).toBe(true);
  });
});

describe('--env-file (dotenv syntax, parsed by the code Next uses)', () => {
  it('reads comments, quotes and export prefixes', () => {
    const file = writeFile('deploy.env', [
      '# deployment settings',
      'NODE_ENV=production',
      `export OPENAI_API_KEY="${SECRETS.OPENAI_API_KEY}"`,
      `JWT_SECRET='${SECRETS.JWT_SECRET}'   # rotated quarterly`,
      'ALLOWED_ORIGINS=https://app.example.com # the SPA',
      '# ALLOWED_ORIGINS=*',
      '   # TRUSTED_PROXY_HOPS=99',
      '',
      'REDIS_URL=',
    ].join('\n'));
    const read = readEnvironment({ root: bare, envFile: file });
    expect(read.results).toEqual([{ check: 'env:file', ok: true, reason: '5 variable(s) parsed' }]);
    expect(read.env).toMatchObject({ OPENAI_API_KEY: SECRETS.OPENAI_API_KEY, JWT_SECRET: SECRETS.JWT_SECRET, ALLOWED_ORIGINS: 'https://app.example.com', REDIS_URL: '' });
    expect(read.production).toBe(true);
  });

  it('keeps a # inside quotes', () => {
    const read = readEnvironment({ root: bare, envFile: writeFile('quoted.env', `JWT_SECRET="${'a'.repeat(15)} #${'b'.repeat(14)}"\n`) });
    expect(read.env.JWT_SECRET).toBe(`${'a'.repeat(15)} #${'b'.repeat(14)}`);
  });

  it('a line that is not KEY=VALUE fails env:file, naming the line', () => {
    const read = readEnvironment({ root: bare, envFile: writeFile('broken.env', 'NODE_ENV=test\nOPENAI_API_KEY=k-1234\nthis is not an assignment\n') });
    expect(read.results).toEqual([{ check: 'env:file', ok: false, reason: 'line(s) 3 are not KEY=VALUE' }]);
  });
});

describe('env-example: .env.example lists exactly ENV_KEYS', () => {
  const example = () => readFileSync(join(ROOT, '.env.example'), 'utf8');
  const exampleRoot = (text: string) => {
    const dir = join(work, `example-${++counter}`);
    mkdirSync(dir);
    writeFileSync(join(dir, '.env.example'), text);
    return dir;
  };

  it('the real .env.example passes', () => {
    expect(checkEnvExample(server, ROOT).ok).toBe(true);
  });

  it('a variable dropped from .env.example fails', () => {
    expect(checkEnvExample(server, exampleRoot(example().replace(/^JWT_SECRET=.*\n/m, ''))).reason).toMatch(/lacks JWT_SECRET \(read by lib\/config\/schema\.ts\)/);
  });

  it('an unknown variable fails', () => {
    expect(checkEnvExample(server, exampleRoot(`${example()}\nSESSION_TIMEOUT=30\n`)).reason).toContain('lists SESSION_TIMEOUT, which lib/config/schema.ts does not read');
  });

  it('a variable the schema starts reading without documenting it fails', () => {
    const changed = { ...server, config: { ...server.config, ENV_KEYS: [...server.config.ENV_KEYS, 'AUDIT_WEBHOOK_URL'] } };
    expect(checkEnvExample(changed, ROOT).reason).toContain('lacks AUDIT_WEBHOOK_URL');
  });

  it('a commented-out assignment documents a variable', () => {
    expect(checkEnvExample(server, exampleRoot(example().replace(/^REDIS_URL=.*$/m, '# REDIS_URL=rediss://redis.internal:6380'))).ok).toBe(true);
  });

  it('a real secret committed to .env.example fails without naming its value', () => {
    const result = checkEnvExample(server, exampleRoot(example().replace(/^JWT_SECRET=.*$/m, `JWT_SECRET=${SECRETS.JWT_SECRET}`)));
    expect(result.reason).toContain('holds values for secrets JWT_SECRET');
    expect(result.reason).not.toContain(SECRETS.JWT_SECRET);
  });
});

describe('output', () => {
  const printed = async (args: string[]) => {
    const lines: string[] = [];
    const code = await main(args, (line: string) => lines.push(line));
    return { code, text: lines.join('\n') };
  };

  it('--json is an array of { check, ok, reason } (plus warning), one line each', async () => {
    const { code, text } = await printed(['--env-file', writeFile('short.env', 'NODE_ENV=production\nJWT_SECRET=short\n'), '--json']);
    expect(code).toBe(1);
    const results = JSON.parse(text) as Result[];
    for (const r of results) {
      expect(Object.keys(r).filter((k) => k !== 'warning').sort()).toEqual(['check', 'ok', 'reason']);
      expect(r.reason).toMatch(/^[^\n]+$/);
    }
    expect(find(results, 'env:config')!.reason).toMatch(/JWT_SECRET must be at least 32 bytes/);
  });

  it('one ✓/✗ line per check and a summary; exit 1 for a bad deployment env file', async () => {
    const { code, text } = await printed(['--env-file', writeFile('bad.env', 'NODE_ENV=production\nTRUSTED_PROXY_HOPS=50\n')]);
    expect(code).toBe(1);
    const lines = text.split('\n');
    expect(lines).toContainEqual(expect.stringMatching(/^✗ env:config — Invalid configuration: TRUSTED_PROXY_HOPS /));
    expect(lines).toContainEqual(expect.stringMatching(/^✓ route-guards — 17 guards in order: front_door → deny_ip → geo → shape → origin/));
    expect(lines.slice(2, -1).every((l) => /^[✓✗⚠] \S+ — \S/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/^✗ 1 of \d+ checks failed$/);
  });

  it('never prints a secret value, passing or failing', async () => {
    const envs: Env[] = [
      GOOD_ENV,
      { ...GOOD_ENV, JWT_SECRET: SECRETS.JWT_SECRET.slice(0, 20) },
      { ...GOOD_ENV, REDIS_URL: `http://default:${SECRETS.REDIS_PASSWORD}@redis.internal` },
      { ...GOOD_ENV, ALLOWED_ORIGINS: `https://x:${SECRETS.REDIS_PASSWORD}@app.example.com` },
      { ...GOOD_ENV, CLERK_SECRET_KEY: SECRETS.OPENAI_API_KEY.replace('sk-', 'sk_test_') },
    ];
    const secrets = [...Object.values(SECRETS), SECRETS.JWT_SECRET.slice(0, 20), SECRETS.OPENAI_API_KEY.replace('sk-', 'sk_test_')];
    for (const [i, env] of envs.entries()) {
      const file = writeFile('secret.env', Object.entries(env).map(([k, v]) => `${k}=${v ?? ''}`).join('\n'));
      const { text } = await printed(['--env-file', file, ...(i % 2 ? [] : ['--json'])]);
      expect(text).toMatch(/env:config/);
      for (const secret of secrets) expect(text).not.toContain(secret);
    }
  });
});

describe.concurrent('the real CLI', () => {
  it('the CI command passes: .env.example with safe test values', async () => {
    const run = await runCli(['--example-env']);
    expect(run.stdout).toContain('safe test values for OPENAI_API_KEY, JWT_SECRET');
    expect(run.stdout).not.toContain('✗');
    expect(run.stdout).toMatch(/✓ all \d+ checks passed/);
    expect(run.code, run.stdout + run.stderr).toBe(0);
  });

  it('a missing env file or an unknown option is an error, not a pass', async () => {
    // Node 20 itself vets every --env-file path on its command line (exit 9), before the script runs.
    const [missing, unknown] = await Promise.all([runCli(['--env-file', join(work, 'nope.env')]), runCli(['--strict'])]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/nope\.env/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option --strict/);
  });

  const TOKEN = 'lib/routes/token.ts';
  const mutations: Array<[label: string, edit: (text: string) => string, reason: RegExp]> = [
    ['deleted', (t) => t.replace(/^\s*originGuard,.*\n/m, ''), /origin is missing from TOKEN_GUARDS/],
    ['reordered', (t) => t.replace(/^(\s*authenticateGuard,.*\n)/m, '').replace(/^(\s*originGuard,)/m, '  authenticateGuard,\n$1'), /authenticate runs before auth_failure_limit/],
    ['commented out', (t) => t.replace(/^(\s*)(authFailureLimitGuard,)/m, '$1// $2'), /auth_failure_limit is missing from TOKEN_GUARDS/],
  ];
  it.each(mutations)('a control %s in a copy of the project fails route-guards', async (_label, edit, reason) => {
    const copy = mkdtempSync(join(work, 'project-'));
    for (const entry of ['lib', 'app', 'middleware.ts', 'next.config.ts', '.env.example', 'SECURITY.md']) cpSync(join(ROOT, entry), join(copy, entry), { recursive: true });
    const before = readFileSync(join(copy, TOKEN), 'utf8');
    const after = edit(before);
    expect(after).not.toBe(before);
    writeFileSync(join(copy, TOKEN), after);
    const run = await runCli(['--root', copy, '--example-env', '--json']);
    expect(run.code, run.stderr).toBe(1);
    const result = find(JSON.parse(run.stdout), 'route-guards')!;
    expect(result.ok).toBe(false);
    expect(result.reason).toMatch(reason);
  });
});
