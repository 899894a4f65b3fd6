import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const PROJECT_ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

// What a production build depends on. Tests build a private copy so a running
// test server never sees its .next rewritten by another build.
const BUILD_INPUTS = ['app', 'lib', 'server', 'public', 'middleware.ts', 'instrumentation.ts', 'next.config.ts', 'tsconfig.json', 'package.json', 'package-lock.json', 'scripts/server.mjs', 'scripts/build-server.mjs'];

async function listFiles(path: string): Promise<string[]> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return [];
  if (info.isFile()) return [path];
  const out: string[] = [];
  for (const name of (await readdir(path)).sort()) out.push(...(await listFiles(join(path, name))));
  return out;
}

async function sourceHash(): Promise<string> {
  const hash = createHash('sha256');
  for (const input of BUILD_INPUTS) {
    for (const file of await listFiles(join(PROJECT_ROOT, input))) {
      hash.update(relative(PROJECT_ROOT, file)).update('\0').update(await readFile(file)).update('\0');
    }
  }
  return hash.digest('hex').slice(0, 16);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

async function acquireLock(lock: string): Promise<void> {
  for (const started = Date.now(); ; ) {
    try {
      await mkdir(lock);
      return;
    } catch {
      const info = await stat(lock).catch(() => undefined);
      // A lock older than 10 minutes belongs to a build that died.
      if (info && Date.now() - info.mtimeMs > 600_000) await rm(lock, { recursive: true, force: true });
      if (Date.now() - started > 900_000) throw new Error(`timed out waiting for build lock ${lock}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * Returns a directory holding a production build of the current sources,
 * building it (once per source hash, serialised by a lock) when missing.
 * Set E2E_APP_DIR to reuse an existing build instead.
 */
export async function ensureBuild(): Promise<string> {
  const dir = join(tmpdir(), 'rtg-e2e-build', await sourceHash());
  // Next writes BUILD_ID midway through a build (before the prerender
  // manifest), so only this marker, written once `next build` exits, says done.
  const done = join(dir, '.next', 'rtg-build-complete');
  if (await exists(done)) return dir;
  const lock = `${dir}.lock`;
  await mkdir(join(tmpdir(), 'rtg-e2e-build'), { recursive: true });
  await acquireLock(lock);
  try {
    if (await exists(done)) return dir;
    await rm(dir, { recursive: true, force: true });
    await mkdir(join(dir, 'scripts'), { recursive: true });
    for (const input of BUILD_INPUTS) {
      if (await exists(join(PROJECT_ROOT, input))) await cp(join(PROJECT_ROOT, input), join(dir, input), { recursive: true });
    }
    await symlink(join(PROJECT_ROOT, 'node_modules'), join(dir, 'node_modules'));
    await writeFile(join(dir, '.eslintrc.json'), '{}');
    await run(process.execPath, [join(PROJECT_ROOT, 'node_modules/next/dist/bin/next'), 'build', '--no-lint'], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NEXT_TELEMETRY_DISABLED: '1', CLERK_TELEMETRY_DISABLED: '1' } as unknown as NodeJS.ProcessEnv,
      maxBuffer: 64 * 1024 * 1024,
      timeout: 600_000,
    });
    // The rest of `npm run build`: the front door bundle scripts/server.mjs runs.
    await run(process.execPath, [join(dir, 'scripts/build-server.mjs')], { cwd: dir, maxBuffer: 16 * 1024 * 1024, timeout: 300_000 });
    await writeFile(done, '');
    return dir;
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}
