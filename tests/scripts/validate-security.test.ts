import { execFile, type ExecFileException } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, type ExpectStatic } from 'vitest';

/**
 * scripts/validate-security.js, run with real `node` against copies of the
 * project. Each case removes, reorders, comments out or weakens one control
 * (or feeds one bad setting) and asserts that the script exits non-zero and
 * that exactly the check guarding that control fails, naming it.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = join(ROOT, 'scripts', 'validate-security.js');
const COPIED = ['app', 'lib', 'middleware.ts', 'next.config.ts', '.env.example', 'SECURITY.md'];

interface Result {
  check: string;
  ok: boolean;
  reason: string;
}
interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  results: Result[];
}

// Distinctive secrets: no output may ever contain them.
const SECRETS = {
  OPENAI_API_KEY: 'sk-test-validate-4f1c9a7e2b8d6035',
  JWT_SECRET: 'jwt-secret-validate-7d2e9b4c1a8f6e3057c9d2b1',
  REDIS_PASSWORD: 'redis-pw-validate-93c1e7',
};

/** A production deployment that satisfies every environment rule. */
const GOOD_ENV: Record<string, string> = {
  NODE_ENV: 'production',
  OPENAI_API_KEY: SECRETS.OPENAI_API_KEY,
  ALLOWED_ORIGINS: 'https://app.example.com,http://localhost:3000',
  JWT_SECRET: SECRETS.JWT_SECRET,
  TRUSTED_PROXY_HOPS: '1',
  REDIS_URL: `rediss://default:${SECRETS.REDIS_PASSWORD}@redis.internal:6380`,
};

let work: string;
let fixture: string;
let counter = 0;
let baselineFailures: string[];

function runScript(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [SCRIPT, ...args],
      // Only PATH and `env`: the script must not see the test runner's NODE_ENV or anything else.
      { env: { PATH: process.env.PATH ?? '', ...env } as unknown as NodeJS.ProcessEnv, timeout: 20_000, encoding: 'utf8' },
      (error: ExecFileException | null, stdout: string, stderr: string) => {
        if (error && typeof error.code !== 'number') return reject(error);
        const code = error ? Number(error.code) : 0;
        let results: Result[] = [];
        if (args.includes('--json') && stdout.trim().startsWith('[')) results = JSON.parse(stdout);
        resolve({ code, stdout, stderr, results });
      },
    );
  });
}

function writeEnv(vars: Record<string, string | undefined>): string {
  const file = join(work, `env-${++counter}.env`);
  const lines = Object.entries(vars)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** A fresh copy of the project with `edits` applied. */
function project(...edits: Array<(dir: string) => void>): string {
  const dir = join(work, `project-${++counter}`);
  cpSync(fixture, dir, { recursive: true });
  for (const e of edits) e(dir);
  return dir;
}

/** Edits one file; fails the test if the edit changes nothing (the source moved on). */
function edit(file: string, change: (text: string) => string) {
  return (dir: string) => {
    const path = join(dir, file);
    const before = readFileSync(path, 'utf8');
    const after = change(before);
    if (after === before) throw new Error(`edit of ${file} changed nothing`);
    writeFileSync(path, after);
  };
}

function replace(search: string | RegExp, replacement: string) {
  return (text: string) => {
    const found = typeof search === 'string' ? text.includes(search) : search.test(text);
    if (!found) throw new Error(`not found: ${String(search)}`);
    return text.replace(search, replacement);
  };
}

const remove = (file: string) => (dir: string) => rmSync(join(dir, file), { force: true });

/** Validates `dir` with the good production env (or `env`) as JSON. */
function validate(dir: string, env: Record<string, string | undefined> = GOOD_ENV, extra: string[] = []) {
  return runScript(['--root', dir, '--env-file', writeEnv(env), '--json', ...extra]);
}

const failing = (run: Run) => run.results.filter((r) => !r.ok).map((r) => r.check);

/**
 * The script exited 1, the named check failed with `reason`, and no other
 * check newly failed (`expect` is the test's own, as concurrent tests need).
 */
function expectFailure(expect: ExpectStatic, run: Run, check: string, reason: RegExp, alsoFailing: string[] = []) {
  expect(run.code, run.stdout + run.stderr).toBe(1);
  const result = run.results.find((r) => r.check === check);
  expect(result, `no ${check} result`).toBeDefined();
  expect(result!.ok).toBe(false);
  expect(result!.reason).toMatch(reason);
  expect(failing(run).sort()).toEqual([...new Set([...baselineFailures, check, ...alsoFailing])].sort());
}

/** Nothing failed beyond what fails on the unmodified copy. */
function expectBaseline(expect: ExpectStatic, run: Run) {
  expect(failing(run)).toEqual(baselineFailures);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'validate-security-'));
  fixture = join(work, 'fixture');
  mkdirSync(fixture);
  for (const entry of COPIED) {
    if (existsSync(join(ROOT, entry))) cpSync(join(ROOT, entry), join(fixture, entry), { recursive: true });
  }
  // SECURITY.md is written separately; the fixture only needs the file to exist.
  if (!existsSync(join(fixture, 'SECURITY.md'))) writeFileSync(join(fixture, 'SECURITY.md'), '# Security\n');
  baselineFailures = failing(await validate(fixture));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the real project', () => {
  it('passes every check with a good production env file', async ({ expect }) => {
    const run = await runScript(['--env-file', writeEnv(GOOD_ENV), '--json']);
    expect(run.results.filter((r) => !r.ok)).toEqual([]);
    expect(run.code).toBe(0);
    expect(run.results.map((r) => r.check)).toEqual([
      'security-files',
      'route-pipeline',
      'rate-limits',
      'middleware',
      'security-headers',
      'env:file',
      'env:OPENAI_API_KEY',
      'env:ALLOWED_ORIGINS',
      'env:JWT_SECRET',
      'env:auth',
      'env:TRUSTED_PROXY_HOPS',
      'env:REDIS_URL',
      'env:rate-limit-overrides',
      'env:NODE_ENV',
      'env-example',
    ]);
  });

  it('passes the CI command: .env.example filled with safe test values', async ({ expect }) => {
    const run = await runScript(['--example-env']);
    expect(run.stdout).toContain('safe test values for OPENAI_API_KEY, JWT_SECRET');
    expect(run.stdout).not.toContain('✗');
    expect(run.stdout).toMatch(/✓ all \d+ checks passed/);
    expect(run.code).toBe(0);
  });

  it('passes the CI command under production rules too', async ({ expect }) => {
    const run = await runScript(['--example-env', '--production', '--json']);
    expect(run.results.filter((r) => !r.ok)).toEqual([]);
    expect(run.code).toBe(0);
  });

  it('the copy used by the mutation cases passes too (so each failure below is the mutation)', () => {
    expect(baselineFailures).toEqual([]);
  });
});

describe.concurrent('security-files: deleting any security file fails', () => {
  const files = [
    'app/api/realtime/token/route.ts',
    'lib/auth.ts',
    'lib/rate-limit.ts',
    'lib/security-logger.ts',
    'middleware.ts',
    'lib/config.ts',
    'lib/origin.ts',
    'lib/validation.ts',
    'lib/security-headers.ts',
    'lib/client-ip.ts',
    'lib/openai.ts',
    'SECURITY.md',
    '.env.example',
  ];
  it.for(files)('without %s', async (file, { expect }) => {
    const run = await validate(project(remove(file)));
    expect(run.code).toBe(1);
    const result = run.results.find((r) => r.check === 'security-files')!;
    expect(result.ok).toBe(false);
    expect(result.reason).toContain(file);
  });

  it('an empty SECURITY.md counts as missing', async ({ expect }) => {
    const run = await validate(project(edit('SECURITY.md', () => '')));
    expectFailure(expect, run, 'security-files', /missing or empty: SECURITY\.md/);
  });
});

const STEPS = [
  'checkRequestShape',
  'checkRequestOrigin',
  'limitApiPerIp',
  'limitAuthFailures',
  'requireConfigured',
  'authenticateUser',
  'limitTokensPerUser',
  'validateBody',
  'mintToken',
];
const ROUTE = 'app/api/realtime/token/route.ts';
const PIPELINE = 'lib/token-pipeline.ts';

/** Rewrites the TOKEN_PIPELINE array literal with `steps`. */
const setPipeline = (steps: string[]) =>
  edit(ROUTE, replace(/(const TOKEN_PIPELINE[^=]*=\s*\[)[\s\S]*?(\];)/, `$1\n  ${steps.join(',\n  ')},\n$2`));

describe.concurrent('route-pipeline: every step present, in order, real', () => {
  it.for(STEPS)('removing %s from TOKEN_PIPELINE fails', async (step, { expect }) => {
    const run = await validate(project(setPipeline(STEPS.filter((s) => s !== step))));
    expectFailure(expect, run, 'route-pipeline', new RegExp(`${step} \\(.+\\) is missing from TOKEN_PIPELINE`));
  });

  const swaps = STEPS.slice(1).map((step, i) => [STEPS[i], step] as const);
  it.for(swaps)('swapping %s and %s fails', async ([first, second], { expect }) => {
    const order = STEPS.map((s) => (s === first ? second : s === second ? first : s));
    const run = await validate(project(setPipeline(order)));
    expectFailure(expect, run, 'route-pipeline', new RegExp(`${second} runs before ${first}`));
  });

  it('moving origin after authentication fails (a non-adjacent reorder)', async ({ expect }) => {
    const order = ['checkRequestShape', 'limitApiPerIp', 'limitAuthFailures', 'requireConfigured', 'authenticateUser', 'checkRequestOrigin', 'limitTokensPerUser', 'validateBody', 'mintToken'];
    expectFailure(expect, await validate(project(setPipeline(order))), 'route-pipeline', /checkRequestOrigin runs before|runs before checkRequestOrigin/);
  });

  it('a step commented out with // does not count', async ({ expect }) => {
    const run = await validate(project(edit(ROUTE, replace(/^(\s*)(limitAuthFailures, \/\/)/m, '$1// $2'))));
    expectFailure(expect, run, 'route-pipeline', /limitAuthFailures \(auth-failure limit per IP \(429\)\) is missing/);
  });

  it('a step commented out with /* */ does not count', async ({ expect }) => {
    const run = await validate(project(edit(ROUTE, replace(/^(\s*)(checkRequestOrigin,)( \/\/)/m, '$1/* $2 */$3'))));
    expectFailure(expect, run, 'route-pipeline', /checkRequestOrigin \(origin check \(403\)\) is missing/);
  });

  it('a local stand-in for a step (not the one from lib/token-pipeline) fails', async ({ expect }) => {
    const run = await validate(
      project(
        edit(ROUTE, (text) =>
          replace(/^\s*checkRequestOrigin,\n/m, '')(text.replace('const TOKEN_PIPELINE', 'const checkRequestOrigin: Step = async () => undefined;\n\nconst TOKEN_PIPELINE')),
        ),
      ),
    );
    expectFailure(expect, run, 'route-pipeline', /checkRequestOrigin in TOKEN_PIPELINE is not the step imported from lib\/token-pipeline/);
  });

  it('an extra step that could answer before the controls fails', async ({ expect }) => {
    const order = ['allowInternalCallers', ...STEPS];
    const run = await validate(
      project(setPipeline(order), edit(ROUTE, replace('const TOKEN_PIPELINE', 'const allowInternalCallers: Step = async () => undefined;\n\nconst TOKEN_PIPELINE'))),
    );
    expectFailure(expect, run, 'route-pipeline', /TOKEN_PIPELINE has unknown step\(s\) allowInternalCallers/);
  });

  it('POST that no longer runs TOKEN_PIPELINE fails', async ({ expect }) => {
    const run = await validate(project(edit(ROUTE, replace('runPipeline(req, getRuntime, TOKEN_PIPELINE)', 'runPipeline(req, getRuntime, [mintToken])'))));
    expectFailure(expect, run, 'route-pipeline', /POST does not run TOKEN_PIPELINE/);
  });

  it('runPipeline skipping steps fails', async ({ expect }) => {
    const run = await validate(project(edit(PIPELINE, replace('for (const step of steps)', 'for (const step of steps.slice(2))'))));
    expectFailure(expect, run, 'route-pipeline', /runPipeline in lib\/token-pipeline\.ts no longer loops over every step/);
  });

  it('a step no longer exported by lib/token-pipeline.ts fails', async ({ expect }) => {
    const run = await validate(project(edit(PIPELINE, replace('export const validateBody', 'const validateBody'))));
    expectFailure(expect, run, 'route-pipeline', /validateBody is not exported by lib\/token-pipeline\.ts/);
  });

  // Each step must still call the control it stands for.
  const hollowed: Array<[step: string, search: string | RegExp, replacement: string, names: RegExp]> = [
    ['checkRequestShape', 'await readCapped(req.body, rt.config.maxBodyBytes)', 'new Uint8Array(await req.arrayBuffer())', /checkRequestShape .* no longer uses readCapped\(\) from lib\/body/],
    ['checkRequestOrigin', 'checkOrigin(ctx.req.headers, ctx.rt.config.allowedOrigins)', '({ ok: true as const, reason: "" })', /checkRequestOrigin .* no longer uses checkOrigin\(\) from lib\/origin/],
    ['limitApiPerIp', 'ctx.rt.store.hit(ctx.ip, ctx.rt.config.rateLimits.api)', 'ctx.rt.store.peek(ctx.ip, ctx.rt.config.rateLimits.api)', /limitApiPerIp .* no longer uses store\.hit\(\)/],
    ['limitAuthFailures', 'ctx.rt.store.peek(ctx.ip, ctx.rt.config.rateLimits.authFailures)', 'ctx.rt.store.peek(ctx.ip, ctx.rt.config.rateLimits.suspicious)', /limitAuthFailures .* no longer uses rateLimits\.authFailures/],
    ['requireConfigured', /export const requireConfigured: Step = async \(ctx\) => \{[\s\S]*?\n\};\n/, 'export const requireConfigured: Step = async () => undefined;\n', /requireConfigured .* no longer uses authConfigured\(\) from lib\/auth, openai\.apiKey/],
    ['authenticateUser', 'await authenticate(ctx.req.headers, ctx.rt.config)', "{ ok: true as const, identity: { userId: 'anonymous', method: 'jwt' as const } }", /authenticateUser .* no longer uses authenticate\(\) from lib\/auth/],
    ['limitTokensPerUser', 'ctx.rt.store.hit(key, ctx.rt.config.rateLimits.token)', 'ctx.rt.store.hit(key, ctx.rt.config.rateLimits.api)', /limitTokensPerUser .* no longer uses rateLimits\.token/],
    ['validateBody', 'validateTokenRequest(ctx.rt.schema, json)', '({ ok: true as const, value: json as TokenRequest })', /validateBody .* no longer uses validateTokenRequest\(\) from lib\/validation/],
    ['mintToken', 'await createEphemeralKey(request, {', 'await fetchKeyDirectly(request, {', /mintToken .* no longer uses createEphemeralKey\(\) from lib\/openai/],
  ];
  it.for(hollowed)('%s without its control fails', async ([, search, replacement, names], { expect }) => {
    const run = await validate(project(edit(PIPELINE, replace(search, replacement))));
    expectFailure(expect, run, 'route-pipeline', names);
  });

  it('a commented-out control call does not count', async ({ expect }) => {
    const run = await validate(
      project(edit(PIPELINE, replace('const result = checkOrigin(ctx.req.headers, ctx.rt.config.allowedOrigins);', 'const result = { ok: true as const }; // checkOrigin(ctx.req.headers, ctx.rt.config.allowedOrigins);'))),
    );
    expectFailure(expect, run, 'route-pipeline', /checkRequestOrigin .* no longer uses checkOrigin\(\)/);
  });

  it('survives reformatting: one line, no trailing comma, extra comments', async ({ expect }) => {
    const run = await validate(
      project(edit(ROUTE, replace(/(const TOKEN_PIPELINE[^=]*=\s*\[)[\s\S]*?(\];)/, `$1 /* order matters */ ${STEPS.join(' ,/* … */ ')} $2`))),
    );
    expectBaseline(expect, run);
  });
});

const CONFIG = 'lib/config.ts';

describe.concurrent('rate-limits: the spec policies are the defaults', () => {
  const weakened: Array<[label: string, search: string, replacement: string, names: RegExp]> = [
    ['token 10/60 → 50/60', "policy('token', 10, 60)", "policy('token', 50, 60)", /token issuance default is 50\/60 s, the spec says 10\/60 s \(RATE_LIMIT_TOKEN\)/],
    ['api 100/60 → 100/6', "policy('api', 100, 60)", "policy('api', 100, 6)", /general API default is 100\/6 s, the spec says 100\/60 s/],
    ['auth failures 20/300 → 20/60', "policy('auth', 20, 300)", "policy('auth', 20, 60)", /auth failures default is 20\/60 s, the spec says 20\/300 s/],
    ['token limit fed from the API variable', 'token: e.RATE_LIMIT_TOKEN', 'token: e.RATE_LIMIT_API', /rateLimits\.token is not built from RATE_LIMIT_TOKEN/],
  ];
  it.for(weakened)('%s fails', async ([, search, replacement, names], { expect }) => {
    const run = await validate(project(edit(CONFIG, replace(search, replacement))));
    expectFailure(expect, run, 'rate-limits', names);
  });

  it('a policy the schema no longer reads fails (and .env.example is now out of date)', async ({ expect }) => {
    const run = await validate(project(edit(CONFIG, replace(/^\s*RATE_LIMIT_AUTH_FAILURES: .*\n/m, ''))));
    expectFailure(expect, run, 'rate-limits', /RATE_LIMIT_AUTH_FAILURES \(auth failures policy\) is not read by envSchema/, ['env-example']);
  });

  it('the same defaults written as named constants still pass', async ({ expect }) => {
    const run = await validate(
      project(edit(CONFIG, (t) => replace("policy('token', 10, 60)", "policy('token', TOKEN_LIMIT, 2 * 30)")(t).replace('const envSchema', 'const TOKEN_LIMIT = 10;\nconst envSchema'))),
    );
    expectBaseline(expect, run);
  });
});

const MIDDLEWARE = 'middleware.ts';
const MATCHER = /matcher: \[[^\]]*\],/;

describe.concurrent('middleware: covers /api/* and answers preflight before Clerk', () => {
  const matchers: Array<[label: string, matcher: string, names: RegExp]> = [
    ['narrowed to /api/realtime', "matcher: ['/api/realtime/:path*'],", /config\.matcher does not cover \/api\/\* \(misses \/api\/unknown, \/api\/a\/b\/c\)/],
    ['pages only (api excluded)', "matcher: ['/((?!api|_next/static|_next/image|favicon.ico).*)'],", /does not cover \/api\/\*/],
    ['only when a header is present', "matcher: [{ source: '/api/:path*', has: [{ type: 'header', key: 'origin' }] }],", /does not cover \/api\/\*/],
    ['removed', '', /config\.matcher is missing/],
  ];
  it.for(matchers)('matcher %s fails', async ([, matcher, names], { expect }) => {
    const run = await validate(project(edit(MIDDLEWARE, replace(MATCHER, matcher))));
    expectFailure(expect, run, 'middleware', names);
  });

  it('a single-string matcher that covers /api/* passes', async ({ expect }) => {
    const run = await validate(project(edit(MIDDLEWARE, replace(MATCHER, "matcher: '/api/:path*',"))));
    expectBaseline(expect, run);
  });

  const preflightLine = /^\s*if \(isPreflight\(req\)\) return preflight\(req, cfg, traceId\);\n/m;

  it('Clerk set up before the preflight answer fails', async ({ expect }) => {
    const run = await validate(
      project(
        edit(MIDDLEWARE, (t) =>
          replace('  return withClerk(req, event);', '  if (isPreflight(req)) return preflight(req, cfg, traceId);\n  return withClerk(req, event);')(replace(preflightLine, '')(t)),
        ),
      ),
    );
    expectFailure(expect, run, 'middleware', /Clerk runs before the CORS preflight is answered/);
  });

  it('Clerk wrapping the whole middleware fails', async ({ expect }) => {
    const run = await validate(
      project(edit(MIDDLEWARE, replace('export default async function middleware(', 'export default clerkMiddleware(async (_auth, req) => middlewareInner(req, undefined as never));\n\nasync function middlewareInner('))),
    );
    expectFailure(expect, run, 'middleware', /Clerk runs before the CORS preflight is answered/);
  });

  it('no preflight answer fails', async ({ expect }) => {
    const run = await validate(project(edit(MIDDLEWARE, replace(preflightLine, ''))));
    expectFailure(expect, run, 'middleware', /never answers the CORS preflight/);
  });

  it('a preflight answer not limited to OPTIONS fails', async ({ expect }) => {
    const run = await validate(project(edit(MIDDLEWARE, replace("req.method === 'OPTIONS' && ", ''))));
    expectFailure(expect, run, 'middleware', /not limited to OPTIONS/);
  });

  it('no CORS grant for allowed origins fails', async ({ expect }) => {
    const run = await validate(project(edit(MIDDLEWARE, replace('applyCorsHeaders(res.headers, origin)', 'res.headers.set("Vary", "Origin")'))));
    expectFailure(expect, run, 'middleware', /never adds CORS headers/);
  });
});

const HEADERS = 'lib/security-headers.ts';

describe.concurrent('security-headers: complete and applied', () => {
  const spec: Array<[name: string, line: RegExp]> = [
    ['X-Content-Type-Options', /^\s*'X-Content-Type-Options': 'nosniff',\n/m],
    ['X-Frame-Options', /^\s*'X-Frame-Options': 'DENY',\n/m],
    ['X-XSS-Protection', /^\s*'X-XSS-Protection': '1; mode=block',\n/m],
    ['Referrer-Policy', /^\s*'Referrer-Policy': 'strict-origin-when-cross-origin',\n/m],
    ['Cache-Control', /^\s*'Cache-Control': 'no-store, no-cache, must-revalidate',\n/m],
    ['Content-Security-Policy', /^\s*'Content-Security-Policy': .*\n/m],
    ['Cross-Origin-Resource-Policy', /^\s*'Cross-Origin-Resource-Policy': .*\n/m],
    ['Permissions-Policy', /^\s*'Permissions-Policy': .*\n/m],
  ];
  it.for(spec)('deleting %s fails', async ([name, line], { expect }) => {
    const run = await validate(project(edit(HEADERS, replace(line, ''))));
    expectFailure(expect, run, 'security-headers', new RegExp(`${name} is not set`));
  });

  const weakened: Array<[label: string, file: string, search: string | RegExp, replacement: string, names: RegExp]> = [
    ['X-Frame-Options SAMEORIGIN', HEADERS, "'X-Frame-Options': 'DENY'", "'X-Frame-Options': 'SAMEORIGIN'", /X-Frame-Options is not "DENY"/],
    ['Cache-Control without no-store', HEADERS, "'no-store, no-cache, must-revalidate'", "'no-cache'", /Cache-Control is not "no-store, no-cache, must-revalidate"/],
    ['CSP without frame-ancestors', HEADERS, `"default-src 'none'; frame-ancestors 'none'"`, `"default-src 'none'"`, /Content-Security-Policy lacks frame-ancestors 'none'/],
    ['CORP cross-origin', HEADERS, "'Cross-Origin-Resource-Policy': 'same-origin'", "'Cross-Origin-Resource-Policy': 'cross-origin'", /Cross-Origin-Resource-Policy is not same-origin/],
    ['Permissions-Policy allowing the camera', HEADERS, 'camera=(), ', 'camera=*, ', /Permissions-Policy does not deny camera/],
    ['HSTS removed', HEADERS, /^\s*if \(production\) headers\.set\('Strict-Transport-Security', HSTS_VALUE\);\n/m, '', /Strict-Transport-Security is not set/],
    ['HSTS for one day', HEADERS, 'max-age=63072000', 'max-age=86400', /Strict-Transport-Security max-age is under one year/],
    ['X-Powered-By back on', 'next.config.ts', 'poweredByHeader: false', 'poweredByHeader: true', /next\.config\.ts does not set poweredByHeader: false/],
    ['poweredByHeader deleted', 'next.config.ts', /^\s*poweredByHeader: false,\n/m, '', /does not set poweredByHeader: false/],
    ['pages without the spec headers', 'next.config.ts', /^\s*\.\.\.Object\.entries\(SPEC_SECURITY_HEADERS\).*\n/m, '', /headers\(\) does not send the spec's headers on pages/],
    ['route answers without headers', PIPELINE, '  applySecurityHeaders(headers, ctx.rt.config.isProduction);\n  headers.set', '  headers.set', /finalize .* no longer applies the security headers/],
  ];
  it.for(weakened)('%s fails', async ([, file, search, replacement, names], { expect }) => {
    const run = await validate(project(edit(file, replace(search, replacement))));
    expectFailure(expect, run, 'security-headers', names);
  });

  it('the middleware not applying the headers fails the middleware check', async ({ expect }) => {
    const run = await validate(project(edit(MIDDLEWARE, (t) => t.replaceAll(/^\s*applySecurityHeaders\(res\.headers, (false|cfg\.isProduction)\);\n/gm, ''))));
    expectFailure(expect, run, 'middleware', /never applies the security headers/);
  });
});

describe.concurrent('environment: bad values via --env-file', () => {
  const bad: Array<[label: string, env: Record<string, string | undefined>, check: string, names: RegExp]> = [
    ['no OPENAI_API_KEY', { OPENAI_API_KEY: undefined }, 'env:OPENAI_API_KEY', /OPENAI_API_KEY is not set/],
    ['blank OPENAI_API_KEY', { OPENAI_API_KEY: '   ' }, 'env:OPENAI_API_KEY', /OPENAI_API_KEY is not set/],
    ['a wildcard origin', { ALLOWED_ORIGINS: 'https://app.example.com,*' }, 'env:ALLOWED_ORIGINS', /entry 2 is a wildcard/],
    ['a wildcard subdomain', { ALLOWED_ORIGINS: 'https://*.example.com' }, 'env:ALLOWED_ORIGINS', /entry 1 is a wildcard/],
    ['the null origin', { ALLOWED_ORIGINS: 'null' }, 'env:ALLOWED_ORIGINS', /entry 1 is "null"/],
    ['an origin with a path', { ALLOWED_ORIGINS: 'https://app.example.com/app' }, 'env:ALLOWED_ORIGINS', /entry 1 has a path/],
    ['an origin with a trailing slash', { ALLOWED_ORIGINS: 'https://app.example.com/' }, 'env:ALLOWED_ORIGINS', /entry 1 has a path/],
    ['an origin with credentials', { ALLOWED_ORIGINS: 'https://user:pw@app.example.com' }, 'env:ALLOWED_ORIGINS', /entry 1 has credentials/],
    ['http in production', { ALLOWED_ORIGINS: 'http://app.example.com' }, 'env:ALLOWED_ORIGINS', /entry 1 is not https:\/\/ \(required in production\)/],
    ['not a URL', { ALLOWED_ORIGINS: 'app.example.com' }, 'env:ALLOWED_ORIGINS', /entry 1 is not a URL/],
    ['no origins in production', { ALLOWED_ORIGINS: undefined }, 'env:ALLOWED_ORIGINS', /no allowed origin in production/],
    ['a PRODUCTION_DOMAIN with a scheme', { PRODUCTION_DOMAIN: 'https://app.example.com' }, 'env:ALLOWED_ORIGINS', /PRODUCTION_DOMAIN is not a bare domain/],
    ['a 31-byte JWT_SECRET', { JWT_SECRET: 'x'.repeat(31) }, 'env:JWT_SECRET', /JWT_SECRET is shorter than 32 bytes/],
    ['a 10-character JWT_SECRET', { JWT_SECRET: 'short-pass' }, 'env:JWT_SECRET', /JWT_SECRET is far shorter than 32 bytes/],
    ['a placeholder JWT_SECRET in production', { JWT_SECRET: 'change-me-change-me-change-me-change-me' }, 'env:JWT_SECRET', /JWT_SECRET is a placeholder or test value in production/],
    ['the CI test key in production', { OPENAI_API_KEY: 'sk-ci-placeholder-not-a-real-key' }, 'env:OPENAI_API_KEY', /OPENAI_API_KEY is a placeholder or test value in production/],
    ['no auth method at all', { JWT_SECRET: undefined }, 'env:auth', /no authentication method/],
    ['half a Clerk setup', { CLERK_SECRET_KEY: 'sk_test_abcdefghijklmnop' }, 'env:auth', /NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY must be set together with the other Clerk key/],
    ['a CLERK_JWT_KEY that is not PEM', { CLERK_JWT_KEY: 'not-a-key' }, 'env:auth', /CLERK_JWT_KEY is not a PEM public key/],
    ['11 proxy hops', { TRUSTED_PROXY_HOPS: '11' }, 'env:TRUSTED_PROXY_HOPS', /whole number from 0 to 10/],
    ['negative proxy hops', { TRUSTED_PROXY_HOPS: '-1' }, 'env:TRUSTED_PROXY_HOPS', /whole number from 0 to 10/],
    ['fractional proxy hops', { TRUSTED_PROXY_HOPS: '1.5' }, 'env:TRUSTED_PROXY_HOPS', /whole number from 0 to 10/],
    ['worded proxy hops', { TRUSTED_PROXY_HOPS: 'two' }, 'env:TRUSTED_PROXY_HOPS', /whole number from 0 to 10/],
    ['an http REDIS_URL', { REDIS_URL: 'http://redis.internal:6379' }, 'env:REDIS_URL', /not a redis:\/\/ or rediss:\/\/ URL/],
    ['an unparsable REDIS_URL', { REDIS_URL: 'redis.internal:6379' }, 'env:REDIS_URL', /REDIS_URL (does not parse|is not a redis)/],
    ['a REDIS_URL without host', { REDIS_URL: 'redis://' }, 'env:REDIS_URL', /REDIS_URL (has no host|does not parse)/],
    ['a token limit of 50/60', { RATE_LIMIT_TOKEN: '50/60' }, 'env:rate-limit-overrides', /RATE_LIMIT_TOKEN allows more than the spec's 10 per 60 s/],
    ['a token limit of 10/59', { RATE_LIMIT_TOKEN: '10/59' }, 'env:rate-limit-overrides', /RATE_LIMIT_TOKEN allows more/],
    ['an auth-failure limit of 20/60', { RATE_LIMIT_AUTH_FAILURES: '20/60' }, 'env:rate-limit-overrides', /RATE_LIMIT_AUTH_FAILURES allows more than the spec's 20 per 300 s/],
    ['a malformed API limit', { RATE_LIMIT_API: 'lots' }, 'env:rate-limit-overrides', /RATE_LIMIT_API must look like LIMIT\/WINDOW_SECONDS/],
    ['an unknown NODE_ENV', { NODE_ENV: 'staging' }, 'env:NODE_ENV', /NODE_ENV must be development, production or test/],
  ];
  it.for(bad)('%s fails', async ([, overrides, check, names], { expect }) => {
    expectFailure(expect, await validate(fixture, { ...GOOD_ENV, ...overrides }), check, names);
  });

  const good: Array<[label: string, env: Record<string, string | undefined>]> = [
    ['loopback origins over http in production', { ALLOWED_ORIGINS: 'http://localhost:3000,http://127.0.0.1:8080,http://[::1]:3000' }],
    ['only PRODUCTION_DOMAIN in production', { ALLOWED_ORIGINS: undefined, PRODUCTION_DOMAIN: 'app.example.com' }],
    ['http origins outside production', { NODE_ENV: 'development', ALLOWED_ORIGINS: 'http://dev.example.com' }],
    ['no origins outside production', { NODE_ENV: 'test', ALLOWED_ORIGINS: undefined }],
    ['a 32-byte JWT_SECRET', { JWT_SECRET: 'y'.repeat(32) }],
    ['placeholder secrets outside production', { NODE_ENV: 'development', JWT_SECRET: 'change-me-change-me-change-me-change-me', OPENAI_API_KEY: 'sk-ci-placeholder-not-a-real-key' }],
    ['11 euro signs (33 bytes)', { JWT_SECRET: '€'.repeat(11) }],
    ['Clerk instead of JWT', { JWT_SECRET: undefined, CLERK_SECRET_KEY: 'sk_test_abcdefghijklmnop', NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: 'pk_test_ZXhhbXBsZS5jbGVyay5hY2NvdW50cy5kZXYk' }],
    ['10 proxy hops and no Redis', { TRUSTED_PROXY_HOPS: '10', REDIS_URL: undefined }],
    ['stricter limits', { RATE_LIMIT_TOKEN: '5/30', RATE_LIMIT_API: '100/60', RATE_LIMIT_AUTH_FAILURES: '10/600' }],
  ];
  it.for(good)('%s passes', async ([, overrides], { expect }) => {
    expectBaseline(expect, await validate(fixture, { ...GOOD_ENV, ...overrides }));
  });

  it('an 11-character JWT_SECRET of 3-byte characters is measured in bytes, not characters', async ({ expect }) => {
    const run = await validate(fixture, { ...GOOD_ENV, JWT_SECRET: '€'.repeat(10) });
    expectFailure(expect, run, 'env:JWT_SECRET', /shorter than 32 bytes/);
  });

  it('--production applies production rules when NODE_ENV is unset', async ({ expect }) => {
    const env = { ...GOOD_ENV, NODE_ENV: undefined, ALLOWED_ORIGINS: 'http://app.example.com' };
    expectBaseline(expect, await validate(fixture, env));
    const run = await validate(fixture, env, ['--production']);
    expectFailure(expect, run, 'env:ALLOWED_ORIGINS', /entry 1 is not https:\/\/ \(required in production\)/);
  });
});

describe.concurrent('--env-file parsing (dotenv syntax)', () => {
  it('reads comments, quotes and export prefixes', async ({ expect }) => {
    const file = join(work, `dotenv-${++counter}.env`);
    writeFileSync(
      file,
      [
        '# deployment settings',
        'NODE_ENV=production',
        `export OPENAI_API_KEY="${SECRETS.OPENAI_API_KEY}"`,
        `JWT_SECRET='${SECRETS.JWT_SECRET}'   # rotated quarterly`,
        'ALLOWED_ORIGINS=https://app.example.com # the SPA',
        '# ALLOWED_ORIGINS=*',
        '   # TRUSTED_PROXY_HOPS=99',
        '',
        'REDIS_URL=',
      ].join('\n'),
    );
    const run = await runScript(['--root', fixture, '--env-file', file, '--json']);
    expectBaseline(expect, run);
    expect(run.results.find((r) => r.check === 'env:file')!.reason).toBe('5 variable(s) parsed');
    expect(run.results.find((r) => r.check === 'env:REDIS_URL')!.reason).toMatch(/unset/);
  });

  it('keeps a # inside quotes and counts the quoted bytes', async ({ expect }) => {
    const file = join(work, `dotenv-${++counter}.env`);
    // 31 bytes once the quotes are removed: the # must not end the value early, nor the quotes count.
    writeFileSync(file, `NODE_ENV=test\nOPENAI_API_KEY=k-1234\nJWT_SECRET="${'a'.repeat(15)} #${'b'.repeat(14)}"\n`);
    const run = await runScript(['--root', fixture, '--env-file', file, '--json']);
    expectFailure(expect, run, 'env:JWT_SECRET', /^JWT_SECRET is shorter than 32 bytes$/);
  });

  it('a line that is not KEY=VALUE fails env:file, naming the line', async ({ expect }) => {
    const file = join(work, `dotenv-${++counter}.env`);
    writeFileSync(file, `NODE_ENV=test\nOPENAI_API_KEY=k-1234\nthis is not an assignment\nJWT_SECRET=${SECRETS.JWT_SECRET}\n`);
    const run = await runScript(['--root', fixture, '--env-file', file, '--json']);
    expectFailure(expect, run, 'env:file', /^line\(s\) 3 are not KEY=VALUE$/);
  });

  it('without --env-file it validates process.env', async ({ expect }) => {
    const good = await runScript(['--root', fixture, '--json'], GOOD_ENV);
    expectBaseline(expect, good);
    const bad = await runScript(['--root', fixture, '--json'], { ...GOOD_ENV, OPENAI_API_KEY: '' });
    expectFailure(expect, bad, 'env:OPENAI_API_KEY', /OPENAI_API_KEY is not set/);
  });

  it('a missing env file or an unknown option is an error, not a pass', async ({ expect }) => {
    // Node 20 itself vets every --env-file path on its command line (exit 9), before the script runs.
    const missing = await runScript(['--env-file', join(work, 'nope.env')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/nope\.env/);
    const unknown = await runScript(['--strict']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option --strict/);
  });
});

const EXAMPLE = '.env.example';

describe.concurrent('env-example: .env.example matches what lib/config.ts reads', () => {
  it('a variable dropped from .env.example fails', async ({ expect }) => {
    const run = await validate(project(edit(EXAMPLE, replace(/^JWT_SECRET=.*\n/m, ''))));
    expectFailure(expect, run, 'env-example', /\.env\.example lacks JWT_SECRET\b.*\(read by lib\/config\.ts\)/);
  });

  it('an unknown variable in .env.example fails', async ({ expect }) => {
    const run = await validate(project(edit(EXAMPLE, (t) => `${t}\nSESSION_TIMEOUT=30\n`)));
    expectFailure(expect, run, 'env-example', /\.env\.example lists SESSION_TIMEOUT, which lib\/config\.ts does not read/);
  });

  it('a variable lib/config.ts starts reading without documenting it fails', async ({ expect }) => {
    const run = await validate(project(edit(CONFIG, replace('const envSchema = z.object({', 'const envSchema = z.object({\n  AUDIT_WEBHOOK_URL: optionalString,'))));
    expectFailure(expect, run, 'env-example', /lacks AUDIT_WEBHOOK_URL/);
  });

  it('a commented-out assignment documents a variable', async ({ expect }) => {
    const run = await validate(project(edit(EXAMPLE, replace(/^REDIS_URL=.*$/m, '# REDIS_URL=rediss://redis.internal:6380'))));
    expectBaseline(expect, run);
  });

  it('a real secret committed to .env.example fails without printing it', async ({ expect }) => {
    const run = await validate(project(edit(EXAMPLE, replace(/^JWT_SECRET=.*$/m, `JWT_SECRET=${SECRETS.JWT_SECRET}`))));
    expectFailure(expect, run, 'env-example', /holds values for secrets JWT_SECRET/);
    expect(run.stdout).not.toContain(SECRETS.JWT_SECRET);
  });

  it('the CI mode fails when .env.example is out of date', async ({ expect }) => {
    const dir = project(edit(EXAMPLE, replace(/^JWT_SECRET=.*\n/m, '')));
    const run = await runScript(['--root', dir, '--example-env', '--json']);
    // Without JWT_SECRET documented, CI has no auth method to fill in either.
    expectFailure(expect, run, 'env-example', /lacks JWT_SECRET/, ['env:auth']);
  });
});

describe.concurrent('output', () => {
  it('--json is an array of { check, ok, reason }', async ({ expect }) => {
    const run = await validate(fixture, { ...GOOD_ENV, JWT_SECRET: 'short' });
    expect(run.results.length).toBeGreaterThan(10);
    for (const r of run.results) {
      expect(Object.keys(r).sort()).toEqual(['check', 'ok', 'reason']);
      expect(typeof r.ok).toBe('boolean');
      expect(r.reason).toMatch(/^[^\n]+$/);
    }
  });

  it('the default output is one ✓/✗ line per check and a summary', async ({ expect }) => {
    const run = await runScript(['--root', fixture, '--env-file', writeEnv({ ...GOOD_ENV, TRUSTED_PROXY_HOPS: '50' })]);
    expect(run.code).toBe(1);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toContain('✗ env:TRUSTED_PROXY_HOPS — TRUSTED_PROXY_HOPS must be a whole number from 0 to 10');
    expect(lines.filter((l) => /^[✓✗] \S+ — \S/.test(l))).toHaveLength(15);
    expect(lines.at(-1)).toBe(`✗ ${baselineFailures.length + 1} of 15 checks failed`);
  });

  it('never prints a secret value, passing or failing', async ({ expect }) => {
    const envs = [
      GOOD_ENV,
      { ...GOOD_ENV, JWT_SECRET: SECRETS.JWT_SECRET.slice(0, 20) },
      { ...GOOD_ENV, REDIS_URL: `http://default:${SECRETS.REDIS_PASSWORD}@redis.internal` },
      { ...GOOD_ENV, ALLOWED_ORIGINS: `https://x:${SECRETS.REDIS_PASSWORD}@app.example.com` },
      { ...GOOD_ENV, CLERK_SECRET_KEY: SECRETS.OPENAI_API_KEY.replace('sk-', 'sk_test_') },
    ];
    const secrets = [...Object.values(SECRETS), SECRETS.JWT_SECRET.slice(0, 20), SECRETS.OPENAI_API_KEY.replace('sk-', 'sk_test_')];
    // Alternate JSON and text output across the environments.
    const runs = await Promise.all(envs.map((env, i) => runScript(['--root', fixture, '--env-file', writeEnv(env), ...(i % 2 ? [] : ['--json'])])));
    for (const run of runs) {
      expect(run.stdout).toMatch(/env:JWT_SECRET/);
      for (const secret of secrets) expect(run.stdout + run.stderr).not.toContain(secret);
    }
  });
});
