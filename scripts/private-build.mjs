/**
 * A private production build of this checkout, for the tests
 * (tests/support/build.ts) and the end-to-end benchmark (bench/build.mjs).
 *
 * The copy lives inside the checkout, in `<checkout>/.next-test/<name>/<key>`
 * (git-ignored), where the key hashes the checkout's path and every build
 * input. It links only this checkout's node_modules, so deleting another
 * checkout never breaks it, and two checkouts never share a folder. Not under
 * node_modules/.cache: Next compiles no source whose path contains
 * `node_modules` with its SWC loader (next/dist/build/webpack-config.js,
 * `shouldExclude`), so a copy there fails to build. In one checkout, concurrent callers (two
 * vitest workers, `npm test` and `npm run bench`) take a lock per key: the
 * first builds, the others wait and reuse.
 *
 * The build runs the `build` npm script exactly as package.json defines it,
 * with node_modules/.bin on the PATH as `npm run` puts it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The checkout this module belongs to. */
export const CHECKOUT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');

/** What a production build depends on; missing entries are skipped. */
export const BUILD_INPUTS = [
  'app',
  'lib',
  'public',
  'server',
  'scripts',
  'middleware.ts',
  'instrumentation.ts',
  'next.config.ts',
  'tsconfig.json',
  'package.json',
  'package-lock.json',
];

/** The checkout-relative folder that holds every private build (git-, lint- and tsc-ignored). */
export const CACHE_DIR = '.next-test';
/** Written once the build script has exited 0: Next writes BUILD_ID midway, so only this says done. */
const DONE = '.rtg-build-complete';
/** Builds of other keys (older sources, another checkout's copy) unused for this long are removed. */
const KEEP_UNUSED_MS = 30 * 60_000;
const BUILD_TIMEOUT_MS = 15 * 60_000;

async function listFiles(path) {
  const info = await stat(path).catch(() => undefined);
  if (!info) return [];
  if (info.isFile()) return [path];
  if (!info.isDirectory()) return [];
  const out = [];
  for (const name of (await readdir(path)).sort()) out.push(...(await listFiles(join(path, name))));
  return out;
}

/** Hash of the checkout's path, the build's name and the content of every input. */
async function buildKey(root, name, inputs) {
  const hash = createHash('sha256').update(root).update('\0').update(name).update('\0');
  for (const input of inputs) {
    for (const file of await listFiles(join(root, input))) {
      hash.update(relative(root, file)).update('\0').update(await readFile(file)).update('\0');
    }
  }
  return hash.digest('hex').slice(0, 16);
}

const exists = (path) => stat(path).then(() => true, () => false);

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/**
 * mkdir is atomic: whoever creates the lock folder builds. A lock whose owner
 * process is gone (same host) is taken over; so is one that never got an
 * owner file within a minute.
 */
async function acquireLock(lock) {
  const owner = join(lock, 'owner');
  for (const started = Date.now(); ; ) {
    try {
      await mkdir(lock);
      await writeFile(owner, JSON.stringify({ pid: process.pid, host: hostname() }));
      return;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
    const info = await readFile(owner, 'utf8').then(JSON.parse, () => undefined);
    const since = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
    const stale = info ? info.host === hostname() && !alive(info.pid) : since > 60_000;
    if (stale || since > BUILD_TIMEOUT_MS + 60_000) await rm(lock, { recursive: true, force: true });
    else if (Date.now() - started > BUILD_TIMEOUT_MS + 120_000) throw new Error(`timed out waiting for build lock ${lock}`);
    else await new Promise((r) => setTimeout(r, 250));
  }
}

/** Removes builds of other keys unused for KEEP_UNUSED_MS (a run still using one touches it at each start). */
async function prune(base, keep) {
  for (const entry of await readdir(base).catch(() => [])) {
    if (entry === keep || entry.endsWith('.lock')) continue;
    const dir = join(base, entry);
    if (await exists(`${dir}.lock`)) continue;
    const used = await stat(join(dir, DONE)).then((s) => s.mtimeMs, () => stat(dir).then((s) => s.mtimeMs, () => 0));
    if (Date.now() - used > KEEP_UNUSED_MS) await rm(dir, { recursive: true, force: true });
  }
}

/** The `build` npm script of `root`'s package.json. */
export async function buildScript(root = CHECKOUT) {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  const script = pkg.scripts?.build;
  if (typeof script !== 'string' || script.trim() === '') throw new Error(`${join(root, 'package.json')} has no "build" script`);
  return script;
}

/**
 * Returns the folder of a finished private build, building it when missing.
 *
 * @param {object} [options]
 * @param {string} [options.name] cache folder name (one per kind of build)
 * @param {string[]} [options.extraInputs] more checkout paths that change this build
 * @param {(dir: string) => Promise<void>} [options.prepare] edits the copy before the build
 * @param {(line: string) => void} [options.say] progress messages
 * @param {string} [options.root] the checkout (default: this module's)
 * @returns {Promise<string>}
 */
export async function ensurePrivateBuild({ name = 'rtg-e2e-build', extraInputs = [], prepare, say = () => {}, root = CHECKOUT } = {}) {
  const base = join(root, CACHE_DIR, name);
  const key = await buildKey(root, name, [...BUILD_INPUTS, ...extraInputs]);
  const dir = join(base, key);
  const done = join(dir, DONE);
  const touch = async () => {
    const now = new Date();
    await utimes(done, now, now).catch(() => {});
  };
  if (await exists(done)) {
    await touch();
    return dir;
  }
  await mkdir(base, { recursive: true });
  const lock = `${dir}.lock`;
  await acquireLock(lock);
  try {
    if (await exists(done)) return dir;
    say(`building ${relative(root, dir)} (npm run build of a private copy) ...`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    for (const input of [...BUILD_INPUTS, ...extraInputs]) {
      if (await exists(join(root, input))) await cp(join(root, input), join(dir, input), { recursive: true });
    }
    await symlink(join(root, 'node_modules'), join(dir, 'node_modules'));
    // No ESLint config in the copy: an empty one keeps `next build` from looking for one (lint is `npm run lint`).
    await writeFile(join(dir, '.eslintrc.json'), '{}');
    if (prepare) await prepare(dir);
    const script = await buildScript(dir);
    try {
      await run('/bin/sh', ['-c', script], {
        cwd: dir,
        env: {
          PATH: [join(dir, 'node_modules', '.bin'), process.env.PATH].filter(Boolean).join(delimiter),
          HOME: process.env.HOME,
          NEXT_TELEMETRY_DISABLED: '1',
          CLERK_TELEMETRY_DISABLED: '1',
        },
        maxBuffer: 64 * 1024 * 1024,
        timeout: BUILD_TIMEOUT_MS,
      });
    } catch (error) {
      const output = `${error.stdout ?? ''}${error.stderr ?? ''}`.slice(-4000);
      throw new Error(`private build failed in ${dir}: \`${script}\` exited ${error.code ?? error.signal}\n${output}`);
    }
    // Next's compile cache (about 125 MB) only speeds up a rebuild of the same folder, which never happens.
    await rm(join(dir, '.next', 'cache'), { recursive: true, force: true });
    await writeFile(done, '');
    await prune(base, key);
    return dir;
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}
