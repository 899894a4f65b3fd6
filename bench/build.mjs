/**
 * The production build the end-to-end benchmark runs: a private copy of the
 * project plus a bare baseline route (bench/baseline-route.ts),
 * built by scripts/private-build.mjs (the builder the tests use) under its own
 * name. The baseline exists only in that copy, so it can never ship.
 */
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CHECKOUT, ensurePrivateBuild } from '../scripts/private-build.mjs';

/** Where the baseline answers in the bench build. Outside /api, and kept out of the middleware below. */
export const BASELINE_PATH = '/bench-baseline';

// The middleware's page matcher is one negative lookahead ('/((?!…).*)'). The
// bench copy adds the baseline to its exclusions, so the baseline pays for none
// of the security layer; the token route's middleware is untouched.
const MATCHER_FROM = "'/((?!";
const MATCHER_TO = "'/((?!bench-baseline|";

/**
 * Adds the baseline route and keeps it outside the middleware. (A "bare route
 * behind the middleware" variant is gone: the middleware no longer runs on API
 * requests with bodies, so it costs the token route nothing.)
 */
async function addBaseline(dir) {
  await mkdir(join(dir, 'app', BASELINE_PATH.slice(1)), { recursive: true });
  await cp(join(CHECKOUT, 'bench/baseline-route.ts'), join(dir, 'app', BASELINE_PATH.slice(1), 'route.ts'));
  const middleware = await readFile(join(dir, 'middleware.ts'), 'utf8');
  if (middleware.split(MATCHER_FROM).length !== 2) {
    throw new Error(`bench/build.mjs: middleware.ts matcher changed; update MATCHER_FROM so the baseline stays outside the middleware`);
  }
  await writeFile(join(dir, 'middleware.ts'), middleware.replace(MATCHER_FROM, MATCHER_TO));
}

/**
 * Returns the directory of the bench build, building it when missing.
 * @param {(line: string) => void} [say] progress messages
 */
export function ensureBenchBuild(say = () => {}) {
  return ensurePrivateBuild({
    name: 'rtg-bench-build',
    extraInputs: ['bench/baseline-route.ts', 'bench/build.mjs'],
    prepare: addBaseline,
    say,
  });
}
