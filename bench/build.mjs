/**
 * The production build the end-to-end benchmark runs: a private copy of the
 * project plus a bare baseline route (bench/baseline-route.ts, at two paths), built with
 * `next build` in $TMPDIR. The baseline exists only in that copy, so it can
 * never ship. Built once per source hash and reused (like tests/support/build.ts).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');

// What a production build depends on (the same list as tests/support/build.ts).
const BUILD_INPUTS = ['app', 'lib', 'server', 'public', 'middleware.ts', 'instrumentation.ts', 'next.config.ts', 'tsconfig.json', 'package.json', 'package-lock.json', 'scripts/server.mjs', 'scripts/build-server.mjs'];
const BENCH_INPUTS = ['bench/baseline-route.ts', 'bench/build.mjs'];

/** Where the baseline answers in the bench build. Outside /api, and kept out of the middleware below. */
export const BASELINE_PATH = '/bench-baseline';
/**
 * The same bare route under /api, where the middleware runs (CORS, security
 * headers, trace id): splits the token route's overhead into the middleware's
 * share and the route pipeline's share.
 */
export const MIDDLEWARE_BASELINE_PATH = '/api/bench-baseline';

// The middleware runs on every path but static assets. The bench copy adds the
// baseline to that exclusion, so the baseline pays for none of the security
// layer; the token route's middleware is untouched.
const MATCHER_FROM = "'/((?!_next/static|";
const MATCHER_TO = "'/((?!bench-baseline|_next/static|";

async function listFiles(path) {
  const info = await stat(path).catch(() => undefined);
  if (!info) return [];
  if (info.isFile()) return [path];
  const out = [];
  for (const name of (await readdir(path)).sort()) out.push(...(await listFiles(join(path, name))));
  return out;
}

async function sourceHash() {
  const hash = createHash('sha256');
  for (const input of [...BUILD_INPUTS, ...BENCH_INPUTS]) {
    for (const file of await listFiles(join(ROOT, input))) {
      hash.update(relative(ROOT, file)).update('\0').update(await readFile(file)).update('\0');
    }
  }
  return hash.digest('hex').slice(0, 16);
}

const exists = (path) => stat(path).then(() => true, () => false);

async function acquireLock(lock) {
  for (const started = Date.now(); ; ) {
    try {
      await mkdir(lock);
      return;
    } catch {
      const info = await stat(lock).catch(() => undefined);
      if (info && Date.now() - info.mtimeMs > 600_000) await rm(lock, { recursive: true, force: true });
      if (Date.now() - started > 900_000) throw new Error(`timed out waiting for build lock ${lock}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * Returns the directory of the bench build, building it when missing.
 * @param {(line: string) => void} [say] progress messages
 */
export async function ensureBenchBuild(say = () => {}) {
  const base = join(tmpdir(), 'rtg-bench-build');
  const dir = join(base, await sourceHash());
  // The front door bundle is written last (`npm run build` order), so it says the build is complete.
  const done = join(dir, '.next', 'rtg-server', 'main.mjs');
  if (await exists(done)) return dir;
  await mkdir(base, { recursive: true });
  const lock = `${dir}.lock`;
  await acquireLock(lock);
  try {
    if (await exists(done)) return dir;
    say(`building the bench copy (production build + baseline route) in ${dir} ...`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(join(dir, 'scripts'), { recursive: true });
    for (const input of BUILD_INPUTS) {
      if (await exists(join(ROOT, input))) await cp(join(ROOT, input), join(dir, input), { recursive: true });
    }
    for (const path of [BASELINE_PATH, MIDDLEWARE_BASELINE_PATH]) {
      await mkdir(join(dir, 'app', path.slice(1)), { recursive: true });
      await cp(join(ROOT, 'bench/baseline-route.ts'), join(dir, 'app', path.slice(1), 'route.ts'));
    }
    const middleware = await readFile(join(dir, 'middleware.ts'), 'utf8');
    if (middleware.split(MATCHER_FROM).length !== 2) {
      throw new Error(`bench/build.mjs: middleware.ts matcher changed; update MATCHER_FROM so the baseline stays outside the middleware`);
    }
    await writeFile(join(dir, 'middleware.ts'), middleware.replace(MATCHER_FROM, MATCHER_TO));
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    await writeFile(join(dir, '.eslintrc.json'), '{}');
    await run(process.execPath, [join(ROOT, 'node_modules/next/dist/bin/next'), 'build', '--no-lint'], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NEXT_TELEMETRY_DISABLED: '1', CLERK_TELEMETRY_DISABLED: '1' },
      maxBuffer: 64 * 1024 * 1024,
      timeout: 900_000,
    });
    await run(process.execPath, [join(dir, 'scripts/build-server.mjs')], { cwd: dir, maxBuffer: 16 * 1024 * 1024, timeout: 300_000 });
    return dir;
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}
