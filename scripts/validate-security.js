#!/usr/bin/env node
'use strict';

/**
 * Validates that the token service's security controls are present, wired in
 * the right order and configured safely (SECURITY.md "Deployment" runs it
 * before each deploy; CI runs it on every change). It imports the server's
 * own code rather than reading its text: lib/config's schema and rules judge
 * the environment, and the route's guard list (lib/routes/token.ts) is
 * checked by name and by running requests through the route in process.
 * scripts/lib-loader.mjs compiles the TypeScript on the fly (cached under
 * node_modules/.cache).
 *
 * CI runs exactly:
 *
 *     node scripts/validate-security.js --example-env
 *
 * which checks the code and validates .env.example with its empty secrets
 * filled by safe test values.
 *
 * Usage: node scripts/validate-security.js [options]   (npm run validate:security -- [options])
 *   --env-file PATH  validate a deployment's env file (dotenv syntax) in place of the real environment
 *   --example-env    validate .env.example, empty secrets filled with safe test values (CI)
 *   --production     apply production rules whatever NODE_ENV says (and read .env.production*)
 *   --root DIR       project to validate (default: this script's project)
 *   --json           print a JSON array of { check, ok, reason, warning? } instead of lines
 *
 * Without --example-env the environment is what `npm start` would run with:
 * the real environment (or --env-file) over the project's .env* files, which
 * @next/env reads in Next's order.
 *
 * Each check prints ✓ or ✗ (⚠ for a production warning, which does not
 * fail), its name and a one-line reason; the exit code is 1 when any check
 * fails, 2 on a usage error. Output names variables, never their values.
 *
 *   security-files       SECURITY.md and .env.example exist
 *   route-guards         TOKEN_GUARDS: front_door → shape → origin → api_limit → configured →
 *                        auth_failure_limit → authenticate → token_limit → validate → mint, nothing else,
 *                        each declaring the codes it refuses with
 *   rate-limits          lib/config's default policies are the spec's (10/60, 100/60, 20/300)
 *   guard:<name>         that guard still refuses as it must, shown through the route's POST
 *   answer-headers       every answer carries the security headers, HSTS, X-Trace-Id; CORS grant
 *                        only for listed origins
 *   middleware           config.matcher (read with Next's own matcher code) covers /api preflights
 *                        and pages only; preflights answered 204 / 403 without a grant
 *   next-config          poweredByHeader: false; the spec's headers on pages, none replacing the API's CSP
 *   env:file, env:config the env file parses; lib/config's loadConfig accepts the environment
 *   env:ready            server key and an auth method set; no placeholders or origins missing in production
 *   env:rate-limits      overrides no looser than the spec
 *   env:upstream, env:origins, env:redis   production warnings (⚠)
 *   env-example          .env.example lists exactly lib/config's ENV_KEYS, secrets empty
 */

import('./validate-security/cli.mjs')
  .then(({ main }) => main(process.argv.slice(2)))
  .then((code) => {
    process.exitCode = code;
  })
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
