/**
 * Loads the app's TypeScript modules (lib/*.ts) into plain Node for the
 * benchmarks, with no separate compile step and no ts loader flag (Node 20
 * has no --experimental-strip-types).
 *
 * Vite (a pinned devDependency, the same transform vitest uses to run the
 * tests) bundles the requested entries as an SSR build: TypeScript and the
 * `@/` alias are compiled away, node_modules packages (ioredis) and Node
 * built-ins stay external imports, and the output is ordinary ESM that reads
 * like the source, so the micro-benchmarks time the code the route runs and
 * not a module-runner wrapper. The output lives under node_modules/.cache
 * (so bare imports resolve from the project) keyed by a hash of lib/, and is
 * reused while lib/ is unchanged.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');

async function libHash(entries) {
  const hash = createHash('sha256').update(entries.join(',')).update(await readFile(new URL(import.meta.url)));
  // lib/ has subdirectories (lib/limits, lib/config, ...): hash every file under it.
  const files = (await readdir(join(ROOT, 'lib'), { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name))
    .sort();
  for (const file of files) hash.update(file).update('\0').update(await readFile(file)).update('\0');
  return hash.digest('hex').slice(0, 16);
}

/** Drops bundles of older sources (untouched for an hour). */
async function pruneStale(cacheDir) {
  for (const name of await readdir(cacheDir).catch(() => [])) {
    const info = await stat(join(cacheDir, name)).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > 3_600_000) await rm(join(cacheDir, name), { recursive: true, force: true });
  }
}

/**
 * Compiles and imports lib modules by name, e.g. `loadLib(['json', 'limits/memory'])`.
 * @returns {Promise<Record<string, any>>} module namespaces keyed by name
 */
export async function loadLib(names) {
  const entries = [...names].sort();
  const cacheDir = join(ROOT, 'node_modules/.cache/rtg-bench-lib');
  const outDir = join(cacheDir, await libHash(entries));
  if (!entries.every((n) => existsSync(join(outDir, `${n}.mjs`)))) {
    await pruneStale(cacheDir);
    // Built aside and renamed into place, so concurrent runs never see half a bundle.
    const tmpDir = `${outDir}.${process.pid}.tmp`;
    const { build } = await import('vite');
    await build({
      root: ROOT,
      configFile: false,
      envFile: false,
      publicDir: false,
      logLevel: 'error',
      resolve: { alias: { '@': ROOT } },
      build: {
        ssr: true,
        outDir: tmpDir,
        emptyOutDir: true,
        minify: false,
        sourcemap: false,
        target: 'node20',
        rollupOptions: {
          input: Object.fromEntries(entries.map((n) => [n, join(ROOT, 'lib', `${n}.ts`)])),
          output: { format: 'es', entryFileNames: '[name].mjs', chunkFileNames: 'chunk-[hash].mjs' },
        },
      },
    });
    await rename(tmpDir, outDir).catch(async () => {
      await rm(tmpDir, { recursive: true, force: true }); // another run got there first
    });
  }
  const modules = {};
  for (const n of entries) modules[n] = await import(pathToFileURL(join(outDir, `${n}.mjs`)).href);
  return modules;
}
