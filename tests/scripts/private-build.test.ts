import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { CACHE_DIR, ensurePrivateBuild } from '../../scripts/private-build.mjs';
import { PROJECT_ROOT } from '../support/build';

/**
 * scripts/private-build.mjs on throwaway checkouts whose `build` script is a
 * small node program (it records each run and takes a moment), so the cache
 * rules are checked in a second instead of a `next build`: one build per
 * checkout and source state, inside that checkout, linking only its
 * node_modules, shared safely by concurrent callers, and the package.json
 * script run as written.
 */

const run = promisify(execFile);
const BUILDER = join(PROJECT_ROOT, 'scripts/private-build.mjs');
const made: string[] = [];

afterEach(async () => {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A checkout with app/ and lib/ sources, a node_modules folder and a build script that logs its runs. */
async function checkout(buildScript?: string): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'rtg-private-build-test-'));
  made.push(root);
  await mkdir(join(root, 'app'), { recursive: true });
  await mkdir(join(root, 'node_modules', '.bin'), { recursive: true });
  await writeFile(join(root, 'app', 'page.ts'), 'export {};\n');
  // Each run appends its pid to the checkout's runs.log, waits 300 ms, then writes its output.
  const script =
    buildScript ??
    `node -e "require('fs').appendFileSync('${join(root, 'runs.log')}', process.pid + '\\\\n'); setTimeout(() => require('fs').writeFileSync('out.txt', 'built'), 300)"`;
  await writeFile(join(root, 'package.json'), JSON.stringify({ name: 'fixture', private: true, scripts: { build: script } }));
  return root;
}

const runs = async (root: string) => (await readFile(join(root, 'runs.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

/** ensurePrivateBuild in a process of its own. */
async function buildInChild(root: string): Promise<string> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', `import('${BUILDER}').then((m) => m.ensurePrivateBuild({ root: '${root}' })).then((d) => console.log(d))`]);
  return stdout.trim();
}

describe('scripts/private-build.mjs', () => {
  it('builds inside the checkout with its package.json build script, links its node_modules, and reuses the build', async () => {
    const root = await checkout();
    const dir = await ensurePrivateBuild({ root });
    expect(dir.startsWith(join(root, CACHE_DIR, 'rtg-e2e-build') + '/')).toBe(true);
    expect(await readFile(join(dir, 'out.txt'), 'utf8')).toBe('built');
    expect(await readFile(join(dir, 'app', 'page.ts'), 'utf8')).toBe('export {};\n');
    expect(await readlink(join(dir, 'node_modules'))).toBe(join(root, 'node_modules'));
    expect(await ensurePrivateBuild({ root })).toBe(dir);
    expect(await runs(root)).toBe(1);
  });

  it('builds again when an input changes, and not for a file that is no input', async () => {
    const root = await checkout();
    const first = await ensurePrivateBuild({ root });
    await writeFile(join(root, 'README.md'), 'not a build input\n');
    expect(await ensurePrivateBuild({ root })).toBe(first);
    await writeFile(join(root, 'app', 'page.ts'), 'export const changed = 1;\n');
    const second = await ensurePrivateBuild({ root });
    expect(second).not.toBe(first);
    expect(await runs(root)).toBe(2);
  });

  it('keys the build by checkout path: checkouts with the same sources, or a copy of one, build apart, and deleting one leaves the others whole', async () => {
    const [a, b] = [await checkout(), await checkout()];
    await writeFile(join(b, 'package.json'), await readFile(join(a, 'package.json')));
    // Same sources, except the build script logs into a's folder in both: a's log counts both builds.
    const [dirA, dirB] = await Promise.all([ensurePrivateBuild({ root: a }), ensurePrivateBuild({ root: b })]);
    expect(dirA.startsWith(a)).toBe(true);
    expect(dirB.startsWith(b)).toBe(true);
    expect(await runs(a)).toBe(2);
    // A copy of a whole checkout (cp -a, rsync) carries a's build along: the copy must not use it.
    const c = `${a}-copy`;
    made.push(c);
    await run('cp', ['-a', a, c]);
    const dirC = await ensurePrivateBuild({ root: c });
    expect(dirC.startsWith(c)).toBe(true);
    expect(await readlink(join(dirC, 'node_modules'))).toBe(join(c, 'node_modules'));
    expect(await runs(a)).toBe(3);
    await rm(a, { recursive: true, force: true });
    expect(await ensurePrivateBuild({ root: b })).toBe(dirB);
    expect(await readlink(join(dirB, 'node_modules'))).toBe(join(b, 'node_modules'));
    expect(await readFile(join(dirB, 'out.txt'), 'utf8')).toBe('built');
  });

  it('concurrent callers in one checkout (two in this process, two other processes) get one build', async () => {
    const root = await checkout();
    const dirs = await Promise.all([ensurePrivateBuild({ root }), ensurePrivateBuild({ root }), buildInChild(root), buildInChild(root)]);
    expect(new Set(dirs).size).toBe(1);
    expect(await runs(root)).toBe(1);
    expect(await readFile(join(dirs[0], 'out.txt'), 'utf8')).toBe('built');
  });

  it("takes over the lock of a builder that died, and stops with the script's output when the build fails", async () => {
    const root = await checkout();
    const dir = await ensurePrivateBuild({ root });
    // The same source state, its build gone and its lock left by a process that no longer exists.
    await rm(dir, { recursive: true, force: true });
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => dead.on('exit', resolve));
    await mkdir(`${dir}.lock`);
    await writeFile(join(`${dir}.lock`, 'owner'), JSON.stringify({ pid: dead.pid, host: hostname() }));
    const started = Date.now();
    expect(await ensurePrivateBuild({ root })).toBe(dir);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await runs(root)).toBe(2);
    expect(await stat(`${dir}.lock`).catch(() => undefined)).toBeUndefined();

    const failing = await checkout(`node -e "console.error('compile error in app/page.ts'); process.exit(3)"`);
    await expect(ensurePrivateBuild({ root: failing })).rejects.toThrow(/exited 3[\s\S]*compile error in app\/page\.ts/);
    expect(await readdir(join(failing, CACHE_DIR, 'rtg-e2e-build'))).not.toContain(expect.stringMatching(/\.lock$/));
  });
});
