'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { SourceFile } = require('./source');
const { CONFIG, SPEC_POLICIES, envSchemaProps } = require('./checks');

/**
 * Environment checks. They mirror lib/config.ts's rules for the settings the
 * spec cares about and report variable names only: no value is ever printed.
 */

const ASSIGNMENT = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/s;

/**
 * Parses a dotenv-style file: `KEY=value`, `export KEY=value`, `#` comments
 * (whole-line, or after whitespace in an unquoted value), single, double or
 * backtick quotes (double-quoted `\n`, `\r`, `\t`, `\"`, `\\` expand; quoted
 * values may span lines), empty value = empty string.
 * @returns {{ vars: Map<string, string>, badLines: number[] }}
 */
function parseDotenv(text) {
  const vars = new Map();
  const badLines = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = ASSIGNMENT.exec(line);
    if (!m) {
      badLines.push(n + 1);
      continue;
    }
    const [, key] = m;
    let rest = m[2];
    const quote = rest[0];
    if (quote === '"' || quote === "'" || quote === '`') {
      let body = rest.slice(1);
      let close = findClosingQuote(body, quote);
      const startLine = n;
      while (close === -1 && n + 1 < lines.length) {
        n++;
        body += `\n${lines[n]}`;
        close = findClosingQuote(body, quote);
      }
      if (close === -1) {
        badLines.push(startLine + 1);
        continue;
      }
      const after = body.slice(close + 1).trim();
      if (after !== '' && !after.startsWith('#')) {
        badLines.push(startLine + 1);
        continue;
      }
      const raw = body.slice(0, close);
      vars.set(key, quote === '"' ? unescapeDouble(raw) : raw);
    } else {
      const hash = rest.search(/\s#/);
      if (hash !== -1) rest = rest.slice(0, hash);
      vars.set(key, rest.trim());
    }
  }
  return { vars, badLines };
}

function findClosingQuote(body, quote) {
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '\\' && quote === '"') i++;
    else if (body[i] === quote) return i;
  }
  return -1;
}

function unescapeDouble(raw) {
  return raw.replace(/\\([nrt"\\])/g, (_, c) => ({ n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\' })[c]);
}

/** Variable names a `.env.example` documents: assignments, and commented-out assignments (`# KEY=…`). */
function exampleNames(text) {
  const names = new Set(parseDotenv(text).vars.keys());
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*#\s*(?:export\s+)?([A-Z][A-Z0-9_]*)=/.exec(line);
    if (m) names.add(m[1]);
  }
  return names;
}

/** Names whose values are secrets: they must be empty in .env.example and are never printed. */
const SECRET_NAME = /(?:^|_)(?:API_KEY|SECRET|SECRET_KEY|PASSWORD|PASSWD|PRIVATE_KEY|ACCESS_KEY|AUTH_TOKEN)$/;

/** Whether a variable's value must never appear in output (secrets, and URLs that may carry credentials). */
function isSensitive(name, value) {
  return SECRET_NAME.test(name) || (/_URL$/.test(name) && /\/\/[^/]*@/.test(value ?? ''));
}

/** Safe values CI uses for the variables .env.example leaves empty and a working setup needs. */
const SAFE_TEST_VALUES = {
  OPENAI_API_KEY: 'sk-ci-placeholder-not-a-real-key',
  JWT_SECRET: 'ci-only-jwt-secret-never-used-in-production-0123456789',
};

const PLACEHOLDER = /^<.*>$|change[-_ ]?me|your[-_ ]|replace[-_ ]?me|^x{3,}$|\.\.\.|…/i;

/**
 * The environment CI validates: `.env.example` as written, with every empty
 * or placeholder value unset, except the ones a working deployment needs,
 * which get safe test values.
 * @returns {{ env: Record<string, string>, filled: string[], error?: string }}
 */
function exampleEnv(root) {
  const file = path.join(root, '.env.example');
  if (!fs.existsSync(file)) return { env: {}, filled: [], error: '.env.example does not exist' };
  const { vars } = parseDotenv(fs.readFileSync(file, 'utf8'));
  const env = {};
  const filled = [];
  for (const [name, value] of vars) {
    const placeholder = value.trim() === '' || PLACEHOLDER.test(value);
    if (!placeholder) env[name] = value;
    else if (SAFE_TEST_VALUES[name]) {
      env[name] = SAFE_TEST_VALUES[name];
      filled.push(name);
    }
  }
  return { env, filled };
}

function read(env, name) {
  const v = env[name];
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Problems with one ALLOWED_ORIGINS entry (by position, never by value).
 * Mirrors normalizeOrigin in lib/config.ts: a bare `scheme://host[:port]`.
 */
function originProblem(entry, production) {
  if (entry.includes('*')) return 'is a wildcard';
  if (entry.toLowerCase() === 'null') return 'is "null"';
  let url;
  try {
    url = new URL(entry);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'is not http(s)';
  if (!/^https?:\/\/[^/?#@\s]+$/i.test(entry)) {
    return /^https?:\/\/[^/?#@\s]+[/?#]/i.test(entry) ? 'has a path, query or fragment' : 'has credentials or spaces';
  }
  if (production && url.protocol !== 'https:' && !LOOPBACK.has(url.hostname)) return 'is not https:// (required in production)';
  return undefined;
}

/**
 * The environment checks. `production` is true when NODE_ENV is production
 * (or --production was passed): then origins must be https, some must be set,
 * and secrets must not be placeholders (`testValues`: CI's own fill-ins are expected).
 */
function checkEnvironment(env, { production, testValues = false }) {
  const out = [];
  const push = (name, problems, okReason) =>
    out.push(problems.length ? { check: `env:${name}`, ok: false, reason: problems.join('; ') } : { check: `env:${name}`, ok: true, reason: okReason });

  // In production a secret must not be a placeholder or the CI test value (unless CI put it there).
  const placeholder = (name) => {
    const v = read(env, name);
    return production && !testValues && v !== undefined && (PLACEHOLDER.test(v) || v === SAFE_TEST_VALUES[name]);
  };

  {
    const key = read(env, 'OPENAI_API_KEY');
    const problems = [];
    if (!key) problems.push('OPENAI_API_KEY is not set: every token request would answer 503');
    else if (placeholder('OPENAI_API_KEY')) problems.push('OPENAI_API_KEY is a placeholder or test value in production');
    push('OPENAI_API_KEY', problems, 'set');
  }

  {
    const problems = [];
    const raw = read(env, 'ALLOWED_ORIGINS');
    const domain = read(env, 'PRODUCTION_DOMAIN');
    const entries = (raw ?? '').split(',').map((s) => s.trim());
    entries.forEach((entry, i) => {
      if (entry === '') return;
      const problem = originProblem(entry, production);
      if (problem) problems.push(`ALLOWED_ORIGINS entry ${i + 1} ${problem}`);
    });
    if (domain !== undefined && !DOMAIN.test(domain)) problems.push('PRODUCTION_DOMAIN is not a bare domain name such as app.example.com');
    const count = entries.filter(Boolean).length + (domain ? 1 : 0);
    if (production && count === 0) problems.push('no allowed origin in production: set ALLOWED_ORIGINS or PRODUCTION_DOMAIN');
    push(
      'ALLOWED_ORIGINS',
      problems,
      raw === undefined && !domain
        ? 'unset (development default http://localhost:3000)'
        : `${count} exact origin(s), no wildcards, null or paths${production ? ', https only' : ''}`,
    );
  }

  {
    const secret = read(env, 'JWT_SECRET');
    const problems = [];
    if (secret !== undefined && Buffer.byteLength(secret, 'utf8') < 32) {
      problems.push(`JWT_SECRET is ${Buffer.byteLength(secret, 'utf8') < 16 ? 'far ' : ''}shorter than 32 bytes`);
    } else if (placeholder('JWT_SECRET')) problems.push('JWT_SECRET is a placeholder or test value in production');
    push('JWT_SECRET', problems, secret === undefined ? 'unset (JWT fallback off)' : 'at least 32 bytes');
  }

  {
    const problems = [];
    const clerkSecret = read(env, 'CLERK_SECRET_KEY');
    const clerkPublishable = read(env, 'NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY');
    const jwtKey = read(env, 'CLERK_JWT_KEY');
    if (Boolean(clerkSecret) !== Boolean(clerkPublishable)) {
      problems.push(`${clerkSecret ? 'NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY' : 'CLERK_SECRET_KEY'} must be set together with the other Clerk key`);
    }
    if (jwtKey && !jwtKey.replace(/\\n/g, '\n').includes('-----BEGIN PUBLIC KEY-----')) problems.push('CLERK_JWT_KEY is not a PEM public key');
    const methods = [clerkSecret && clerkPublishable ? 'Clerk' : undefined, read(env, 'JWT_SECRET') ? 'JWT' : undefined].filter(Boolean);
    if (methods.length === 0) problems.push('no authentication method: set JWT_SECRET or both Clerk keys, or every request answers 503');
    push('auth', problems, `${methods.join(' + ')} configured`);
  }

  {
    const hops = read(env, 'TRUSTED_PROXY_HOPS');
    const ok = hops === undefined || (/^\d+$/.test(hops) && Number(hops) <= 10);
    push(
      'TRUSTED_PROXY_HOPS',
      ok ? [] : ['TRUSTED_PROXY_HOPS must be a whole number from 0 to 10'],
      hops === undefined ? 'unset (0: the server is exposed directly)' : `${Number(hops)} trusted proxy hop(s)`,
    );
  }

  {
    const redis = read(env, 'REDIS_URL');
    let problem;
    if (redis !== undefined) {
      try {
        const url = new URL(redis);
        if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') problem = 'REDIS_URL is not a redis:// or rediss:// URL';
        else if (!url.hostname) problem = 'REDIS_URL has no host';
      } catch {
        problem = 'REDIS_URL does not parse as a URL';
      }
    }
    push('REDIS_URL', problem ? [problem] : [], redis === undefined ? 'unset (in-memory limiter, per process)' : 'parses as a redis URL');
  }

  {
    const problems = [];
    for (const policy of SPEC_POLICIES) {
      const raw = read(env, policy.variable);
      if (raw === undefined) continue;
      const m = /^(\d{1,6})\/(\d{1,7})$/.exec(raw);
      if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) {
        problems.push(`${policy.variable} must look like LIMIT/WINDOW_SECONDS, e.g. ${policy.limit}/${policy.windowSeconds}`);
        continue;
      }
      const [limit, window] = [Number(m[1]), Number(m[2])];
      // An exact N-per-W limiter admits at most N × ceil(S/W) requests in any S seconds.
      if (limit * Math.ceil(policy.windowSeconds / window) > policy.limit) {
        problems.push(`${policy.variable} allows more than the spec's ${policy.limit} per ${policy.windowSeconds} s`);
      }
    }
    const raw = read(env, 'RATE_LIMIT_SUSPICIOUS');
    if (raw !== undefined && !/^\d{1,6}\/\d{1,7}$/.test(raw)) problems.push('RATE_LIMIT_SUSPICIOUS must look like LIMIT/WINDOW_SECONDS');
    const set = [...SPEC_POLICIES.map((p) => p.variable), 'RATE_LIMIT_SUSPICIOUS'].filter((v) => read(env, v) !== undefined);
    push('rate-limit-overrides', problems, set.length ? `${set.join(', ')} within the spec` : 'none (spec defaults)');
  }

  {
    const nodeEnv = read(env, 'NODE_ENV');
    const ok = nodeEnv === undefined || ['development', 'production', 'test'].includes(nodeEnv);
    push('NODE_ENV', ok ? [] : ['NODE_ENV must be development, production or test'], `${production ? 'production' : nodeEnv ?? 'development'} rules`);
  }
  return out;
}

/** The .env.example documents exactly what lib/config.ts's envSchema reads, with secrets left empty. */
function checkEnvExample(root) {
  const problems = [];
  const file = path.join(root, '.env.example');
  const { source, error } = SourceFile.read(root, CONFIG);
  if (error) problems.push(error);
  if (!fs.existsSync(file)) problems.push('.env.example does not exist');
  if (problems.length) return { check: 'env-example', ok: false, reason: problems.join('; ') };

  const schema = envSchemaProps(source);
  if (!schema) return { check: 'env-example', ok: false, reason: `${CONFIG} has no envSchema = z.object({...}) to compare with` };
  const text = fs.readFileSync(file, 'utf8');
  const documented = exampleNames(text);
  const read = [...schema.keys()];
  const missing = read.filter((n) => !documented.has(n));
  const unknown = [...documented].filter((n) => !schema.has(n));
  if (missing.length) problems.push(`.env.example lacks ${missing.join(', ')} (read by lib/config.ts)`);
  if (unknown.length) problems.push(`.env.example lists ${unknown.join(', ')}, which lib/config.ts does not read`);
  const { vars, badLines } = parseDotenv(text);
  if (badLines.length) problems.push(`.env.example line(s) ${badLines.join(', ')} are not KEY=VALUE`);
  const filledSecrets = [...vars].filter(([n, v]) => isSensitive(n, v) && v.trim() !== '' && !PLACEHOLDER.test(v)).map(([n]) => n);
  if (filledSecrets.length) problems.push(`.env.example holds values for secrets ${filledSecrets.join(', ')}: leave them empty`);
  return problems.length
    ? { check: 'env-example', ok: false, reason: problems.join('; ') }
    : { check: 'env-example', ok: true, reason: `documents exactly the ${read.length} variables lib/config.ts reads` };
}

module.exports = { parseDotenv, exampleEnv, exampleNames, checkEnvironment, checkEnvExample, isSensitive, SAFE_TEST_VALUES };
