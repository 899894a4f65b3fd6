#!/usr/bin/env node
'use strict';

/**
 * Validates that the token service's security controls are present, wired in
 * the right order and configured safely (spec "Testing & Validation →
 * Validation Script"). Plain Node, no build step, no dependencies beyond
 * `next` (for its own matcher parser).
 *
 * CI runs exactly:
 *
 *     node scripts/validate-security.js --example-env
 *
 * which checks the code and validates .env.example with its empty secrets
 * filled by safe test values.
 *
 * Usage: node scripts/validate-security.js [options]   (npm run validate:security -- [options])
 *   --env-file PATH  validate a deployment's env file (dotenv syntax) instead of process.env
 *   --example-env    validate .env.example, empty secrets filled with safe test values (CI)
 *   --production     apply production rules whatever NODE_ENV says
 *   --root DIR       project to validate (default: this script's project)
 *   --json           print a JSON array of { check, ok, reason } instead of lines
 *
 * Each check prints `✓` or `✗`, its name and a one-line reason; the exit code
 * is 1 when any check fails, 2 on a usage error. Output names variables, never
 * their values. (Node 20 itself vets any `--env-file` path on its command
 * line, so a missing file stops it with exit 9 before this script runs.)
 *
 * What the code checks read: the TypeScript sources, tokenized with comments
 * removed (a commented-out control does not count), independent of formatting.
 *   security-files    every security module, SECURITY.md and .env.example exist
 *   route-pipeline    TOKEN_PIPELINE in the route lists the nine steps in order, each
 *                     imported from lib/token-pipeline.ts and still calling its control
 *   rate-limits       lib/config.ts defaults are the spec's (token 10/60, api 100/60,
 *                     auth failures 20/300) and loadConfig maps each to its limiter
 *   middleware        config.matcher covers /api/*, the preflight is answered before
 *                     Clerk runs, CORS and security headers are applied
 *   security-headers  applySecurityHeaders sets the spec's five exact values, CSP, CORP,
 *                     Permissions-Policy and HSTS; route answers use it; poweredByHeader: false
 *   env:*             OPENAI_API_KEY, ALLOWED_ORIGINS, JWT_SECRET, auth method,
 *                     TRUSTED_PROXY_HOPS, REDIS_URL, rate-limit overrides, NODE_ENV
 *   env-example       .env.example lists exactly the variables lib/config.ts reads
 */

const fs = require('node:fs');
const path = require('node:path');
const checks = require('./validate-security/checks');
const { parseDotenv, exampleEnv, checkEnvironment, checkEnvExample, isSensitive } = require('./validate-security/env');

const USAGE = 'usage: node scripts/validate-security.js [--env-file PATH | --example-env] [--production] [--root DIR] [--json]';

class UsageError extends Error {}

function parseArgs(argv) {
  const opts = { root: path.resolve(__dirname, '..'), envFile: undefined, exampleEnv: false, production: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].startsWith('--') && argv[i].includes('=') ? argv[i].split(/=(.*)/s) : [argv[i], undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (flag === '--root') opts.root = path.resolve(value());
    else if (flag === '--env-file') opts.envFile = path.resolve(value());
    else if (flag === '--example-env') opts.exampleEnv = true;
    else if (flag === '--production') opts.production = true;
    else if (flag === '--json') opts.json = true;
    else if (flag === '--help' || flag === '-h') opts.help = true;
    else throw new UsageError(`unknown option ${flag}`);
  }
  if (opts.envFile && opts.exampleEnv) throw new UsageError('use --env-file or --example-env, not both');
  if (!fs.existsSync(opts.root)) throw new UsageError(`--root ${opts.root} does not exist`);
  return opts;
}

/** The environment to validate, a label for it, and checks about the source itself. */
function loadEnvironment(opts) {
  if (opts.exampleEnv) {
    const { env, filled, error } = exampleEnv(opts.root);
    return {
      env,
      label: `.env.example${filled.length ? ` (safe test values for ${filled.join(', ')})` : ''}`,
      results: error ? [{ check: 'env:file', ok: false, reason: error }] : [],
    };
  }
  if (opts.envFile) {
    let text;
    try {
      text = fs.readFileSync(opts.envFile, 'utf8');
    } catch {
      throw new UsageError(`cannot read --env-file ${opts.envFile}`);
    }
    const { vars, badLines } = parseDotenv(text);
    return {
      env: Object.fromEntries(vars),
      label: `env file ${opts.envFile}`,
      results: [
        badLines.length
          ? { check: 'env:file', ok: false, reason: `line(s) ${badLines.join(', ')} are not KEY=VALUE` }
          : { check: 'env:file', ok: true, reason: `${vars.size} variable(s) parsed` },
      ],
    };
  }
  return { env: process.env, label: 'process environment', results: [] };
}

/** Runs every check; returns the results in report order. */
function validate(opts) {
  const { env, label, results: envFileResults } = loadEnvironment(opts);
  const production = opts.production || (env.NODE_ENV ?? '').trim() === 'production';
  const results = [
    checks.checkFiles(opts.root),
    checks.checkRoutePipeline(opts.root),
    checks.checkRateLimits(opts.root),
    checks.checkMiddleware(opts.root),
    checks.checkSecurityHeaders(opts.root),
    ...envFileResults,
    ...checkEnvironment(env, { production, testValues: opts.exampleEnv }),
    checkEnvExample(opts.root),
  ];
  return { results: results.map((r) => ({ ...r, reason: redact(r.reason, env) })), label, production };
}

/** Belt and braces: no check prints values, but any sensitive value that slipped into a reason is masked. */
function redact(text, env) {
  let out = text;
  for (const [name, value] of Object.entries(env)) {
    if (typeof value === 'string' && value.trim().length >= 4 && isSensitive(name, value)) {
      out = out.split(value.trim()).join(`[${name}]`);
    }
  }
  return out;
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
    if (opts.help) {
      console.log(USAGE);
      return 0;
    }
    const { results, label, production } = validate(opts);
    const failed = results.filter((r) => !r.ok);
    if (opts.json) {
      console.log(JSON.stringify(results, null, 2));
    } else {
      console.log(`Security validation of ${opts.root}`);
      console.log(`Environment: ${label}; ${production ? 'production' : 'non-production'} rules`);
      for (const r of results) console.log(`${r.ok ? '✓' : '✗'} ${r.check} — ${r.reason}`);
      console.log(failed.length ? `✗ ${failed.length} of ${results.length} checks failed` : `✓ all ${results.length} checks passed`);
    }
    return failed.length ? 1 : 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`validate-security: ${error.message}\n${USAGE}`);
      return 2;
    }
    throw error;
  }
}

process.exitCode = main();
