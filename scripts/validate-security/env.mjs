import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from '../lib-loader.mjs';
import { SPEC_POLICIES } from './code.mjs';

/**
 * The environment: read as `npm start` would see it, then judged by the
 * server's own rules (`loadConfig` from lib/config) plus the few checks that
 * are stricter than the code. Output names variables, never their values.
 */

const require = createRequire(join(ROOT, 'package.json'));

/** One dotenv assignment, as dotenv 16 (bundled in @next/env) matches it: lib/main.js `LINE`. */
const LINE = /(?:^|^)\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?(?:$|$)/gm;

/** Line numbers that are neither blank, a comment, nor part of an assignment dotenv reads. */
function badLines(text) {
  const covered = new Set();
  const lineOf = (i) => text.slice(0, i).split('\n').length;
  for (const m of text.matchAll(LINE)) for (let l = lineOf(m.index); l <= lineOf(m.index + m[0].length); l++) covered.add(l);
  return text.split('\n').map((line, i) => (line.trim() === '' || line.trim().startsWith('#') || covered.has(i + 1) ? 0 : i + 1)).filter(Boolean);
}

/** Runs `fn` with a fresh @next/env (its one-time snapshot of process.env is then `base`), restoring process.env. */
function withNextEnv(base, fn) {
  const id = require.resolve('@next/env');
  const saved = process.env;
  delete require.cache[id];
  process.env = { ...base };
  try {
    return fn(require(id), { info() {}, error() {} });
  } finally {
    process.env = saved;
    delete require.cache[id];
  }
}

/**
 * What Next loads on top of `base` (the real environment), by @next/env
 * itself. Its rules (15.5): mode `test` when NODE_ENV=test, else development
 * or production; files `.env.$mode.local`, `.env.local` (not in test),
 * `.env.$mode`, `.env`; the first file to set a variable wins, the real
 * environment wins over all, and `$VAR` references are expanded.
 */
export function nextEnv(root, base, production) {
  return withNextEnv(base, (nextEnvModule, quiet) => {
    const { combinedEnv, loadedEnvFiles } = nextEnvModule.loadEnvConfig(root, !production, quiet, true);
    const { __NEXT_PROCESSED_ENV: _, ...env } = combinedEnv;
    return { env, files: loadedEnvFiles.map((f) => f.path) };
  });
}

/** Names whose values are secrets: they must be empty in .env.example and are never printed. */
const SECRET_NAME = /(?:^|_)(?:API_KEY|SECRET|SECRET_KEY|PASSWORD|PRIVATE_KEY|ACCESS_KEY|AUTH_TOKEN)$/;
/** Secrets whose names the pattern cannot tell apart (RATE_LIMIT_TOKEN is a policy); a webhook URL often holds a token in its path. */
const SECRET_NAMES = new Set(['METRICS_TOKEN', 'ALERT_WEBHOOK_URL']);
export const isSensitive = (name, value) => SECRET_NAME.test(name) || SECRET_NAMES.has(name) || (/_URL$/.test(name) && /\/\/[^/]*@/.test(value ?? ''));

/** Bits a token could carry at most: length × log2(distinct characters); a low figure means a pattern, not randomness. */
const estimatedBits = (value) => value.length * Math.log2(Math.max(1, new Set(value).size));

/** METRICS_TOKEN, when set: not a placeholder, not another secret reused, and about 128 random bits (32 hex characters). */
export function metricsTokenProblems(env) {
  const token = env.METRICS_TOKEN?.trim();
  if (!token) return [];
  const problems = [];
  if (PLACEHOLDER.test(token)) problems.push('METRICS_TOKEN is a placeholder');
  for (const other of ['OPENAI_API_KEY', 'JWT_SECRET', 'JWT_SECRET_PREVIOUS', 'CLERK_SECRET_KEY']) {
    if (env[other]?.trim() === token) problems.push(`METRICS_TOKEN repeats ${other}: a scrape credential must not open anything else`);
  }
  if (estimatedBits(token) < 128) problems.push('METRICS_TOKEN looks like a pattern, not random: use openssl rand -hex 32');
  return problems;
}

/** Safe values CI uses for the secrets .env.example leaves empty and a working setup needs. */
export const SAFE_TEST_VALUES = { OPENAI_API_KEY: 'sk-ci-placeholder-not-a-real-key', JWT_SECRET: 'ci-only-jwt-secret-never-used-in-production-0123456789' };
const PLACEHOLDER = /^<.*>$|change[-_ ]?me|your[-_ ]|replace[-_ ]?me|^x{3,}$|\.\.\.|…/i;

/** Variable names a `.env.example` documents: assignments and commented-out assignments (`# KEY=…`). */
function documented(text) {
  return new Set([...text.matchAll(/^[ \t]*(?:#[ \t]*)?(?:export[ \t]+)?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
}

/** Parses one dotenv file with the code Next parses .env files with. */
function parseFile(file) {
  const text = readFileSync(file, 'utf8');
  const [, vars] = withNextEnv({}, (nextEnvModule, quiet) => nextEnvModule.processEnv([{ path: file, contents: text, env: {} }], '/', quiet, true));
  return { vars: vars ?? {}, bad: badLines(text) };
}

/**
 * The environment to validate, a label for it, its mode, and results about reading it.
 * opts: { root, env?, envFile?, exampleEnv?, production? }
 */
export function readEnvironment(opts) {
  const results = [];
  let base;
  let label;
  if (opts.exampleEnv) {
    const file = join(opts.root, '.env.example');
    if (!existsSync(file)) return { env: {}, label: '.env.example', production: Boolean(opts.production), results: [{ check: 'env:file', ok: false, reason: '.env.example does not exist' }] };
    const filled = [];
    base = {};
    for (const [name, value] of Object.entries(parseFile(file).vars)) {
      if (value.trim() !== '' && !PLACEHOLDER.test(value)) base[name] = value;
      else if (SAFE_TEST_VALUES[name]) {
        base[name] = SAFE_TEST_VALUES[name];
        filled.push(name);
      }
    }
    const production = Boolean(opts.production) || base.NODE_ENV?.trim() === 'production';
    return { env: base, production, label: `.env.example${filled.length ? ` (safe test values for ${filled.join(', ')})` : ''}`, results };
  }
  if (opts.envFile) {
    const { vars, bad } = parseFile(opts.envFile);
    base = vars;
    label = `env file ${opts.envFile}`;
    results.push(bad.length ? { check: 'env:file', ok: false, reason: `line(s) ${bad.join(', ')} are not KEY=VALUE` } : { check: 'env:file', ok: true, reason: `${Object.keys(vars).length} variable(s) parsed` });
  } else {
    base = opts.env ?? process.env;
    label = 'process environment';
  }
  const production = Boolean(opts.production) || base.NODE_ENV?.trim() === 'production';
  const { env, files } = nextEnv(opts.root, base, production);
  return { env, production, label: files.length ? `${label} + ${files.join(', ')} (Next's order)` : label, results };
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * The environment checks: lib/config's verdict, then what it does not refuse
 * but would leave the service unusable or weaker than the spec, then
 * production warnings. `testValues`: CI's own fill-ins are expected.
 */
export function checkEnvironment(server, env, { production, testValues = false }) {
  const input = production ? { ...env, NODE_ENV: 'production' } : env;
  let config;
  try {
    config = server.config.loadConfig(input);
  } catch (error) {
    // A ConfigError's message names every bad variable and never a value (lib/config/index.ts).
    return [{ check: 'env:config', ok: false, reason: String(error?.message ?? error).split('\n')[0] }];
  }
  const out = [{ check: 'env:config', ok: true, reason: `lib/config accepts it (${config.nodeEnv})` }];
  const check = (name, problems, okReason) => out.push({ check: `env:${name}`, ok: problems.length === 0, reason: problems.length ? problems.join('; ') : okReason });

  const ready = [];
  if (!config.openai.apiKey) ready.push('OPENAI_API_KEY is not set: every token request would answer 503');
  if (!config.jwt && !config.clerk) ready.push('no authentication method: set JWT_SECRET or both Clerk keys, or every token request answers 503');
  if (production && !testValues) {
    for (const name of ['OPENAI_API_KEY', 'JWT_SECRET', 'CLERK_SECRET_KEY']) {
      const value = input[name]?.trim();
      if (value && (PLACEHOLDER.test(value) || value === SAFE_TEST_VALUES[name])) ready.push(`${name} is a placeholder or test value in production`);
    }
  }
  if (production && config.allowedOrigins.size === 0) ready.push('no allowed origin in production: set ALLOWED_ORIGINS or PRODUCTION_DOMAIN');
  const methods = [config.clerk && 'Clerk', config.jwt && 'JWT'].filter(Boolean).join(' + ');
  check('ready', ready, `server key set; ${methods} configured; ${config.allowedOrigins.size} allowed origin(s)`);

  if (config.metrics.token !== undefined) check('metrics-token', metricsTokenProblems(input), 'METRICS_TOKEN is long and varied enough');

  // An exact N-per-W limiter admits at most N × ceil(S/W) requests in any S seconds.
  const loose = SPEC_POLICIES.filter(({ key, limit, windowSeconds }) => {
    const p = config.rateLimits[key];
    return p.limit * Math.ceil((windowSeconds * 1000) / p.windowMs) > limit;
  }).map(({ variable, limit, windowSeconds }) => `${variable} allows more than the spec's ${limit} per ${windowSeconds} s`);
  check('rate-limits', loose, 'within the spec (token 10/60, api 100/60, auth failures 20/300)');

  if (production) {
    const warn = (name, reason) => out.push({ check: `env:${name}`, ok: true, warning: true, reason });
    const host = new URL(config.openai.baseUrl).hostname;
    if (host !== 'api.openai.com') warn('upstream', `OPENAI_BASE_URL points at ${host}, not api.openai.com: the server key goes there`);
    const origins = [...config.allowedOrigins];
    if (origins.length && origins.every((o) => o.startsWith('http://') || LOOPBACK.has(new URL(o).hostname))) {
      warn('origins', 'every allowed origin is loopback or http://: no browser on the public web can use the service over https');
    }
    if (!config.redis) warn('redis', 'REDIS_URL is not set: limits are kept per process, so several instances must share a Redis (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS) to enforce them');
  }
  return out;
}

/** .env.example documents exactly what lib/config's schema reads (ENV_KEYS), with secrets left empty. */
export function checkEnvExample(server, root) {
  const file = join(root, '.env.example');
  if (!existsSync(file)) return { check: 'env-example', ok: false, reason: '.env.example does not exist' };
  const text = readFileSync(file, 'utf8');
  const keys = server.config.ENV_KEYS;
  const names = documented(text);
  const problems = [];
  const missing = keys.filter((n) => !names.has(n));
  const unknown = [...names].filter((n) => !keys.includes(n));
  if (missing.length) problems.push(`.env.example lacks ${missing.join(', ')} (read by lib/config/schema.ts)`);
  if (unknown.length) problems.push(`.env.example lists ${unknown.join(', ')}, which lib/config/schema.ts does not read`);
  const bad = badLines(text);
  if (bad.length) problems.push(`.env.example line(s) ${bad.join(', ')} are not KEY=VALUE`);
  const { vars } = parseFile(file);
  const filled = Object.entries(vars).filter(([n, v]) => isSensitive(n, v) && v.trim() !== '' && !PLACEHOLDER.test(v)).map(([n]) => n);
  if (filled.length) problems.push(`.env.example holds values for secrets ${filled.join(', ')}: leave them empty`);
  return problems.length ? { check: 'env-example', ok: false, reason: problems.join('; ') } : { check: 'env-example', ok: true, reason: `documents exactly the ${keys.length} variables of ENV_KEYS` };
}
