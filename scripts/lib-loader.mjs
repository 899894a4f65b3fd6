/**
 * Loads the app's TypeScript modules (lib/**, and files such as middleware.ts
 * or a route) into plain Node, with no separate compile step and no ts loader
 * flag (Node 20 has no --experimental-strip-types). The benchmarks (bench/)
 * and scripts/validate-security.js both load the server's code through here.
 *
 * Vite (a pinned devDependency, the same transform vitest uses to run the
 * tests) bundles the requested entries as an SSR build: TypeScript and the
 * `@/` alias are compiled away, and every bare import (zod, jose, ioredis,
 * next, @clerk/nextjs) and Node built-in stays an external `require`. The
 * output is CommonJS because @clerk/nextjs's ESM build uses extensionless
 * relative imports that Node's ESM resolver refuses; its `require` export
 * condition loads fine, and jose (ESM only) loads through Node's require(esm).
 *
 * The output lives under node_modules/.cache/rtg-lib/<hash> of the project
 * (or of the nearest folder above `root` that has node_modules, so a copy of
 * the sources resolves the same packages), keyed by a hash of lib/, the
 * entries and this file: it is reused while they are unchanged, and two
 * copies with the same sources share one build.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const SELF = fileURLToPath(import.meta.url);
const EXTENSIONS = ['.ts', '.tsx', '.mts'];

function listFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full));
    else out.push(full);
  }
  return out;
}

function entryFile(root, entry) {
  const file = EXTENSIONS.map((ext) => join(root, entry + ext)).find((f) => existsSync(f));
  if (!file) throw new Error(`${entry}.ts does not exist in ${root}`);
  return file;
}

function sourceHash(root, entries, files) {
  const hash = createHash('sha256').update(readFileSync(SELF)).update(entries.join(','));
  const lib = join(root, 'lib');
  for (const file of [...new Set([...(existsSync(lib) ? listFiles(lib) : []), ...files])]) {
    hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

/** node_modules/.cache of the nearest folder at or above `root` with node_modules, else of this project. */
function cacheBase(root) {
  for (let dir = resolve(root); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules/.cache/rtg-lib');
    if (dirname(dir) === dir) return join(ROOT, 'node_modules/.cache/rtg-lib');
  }
}

/** Drops bundles of older sources (untouched for an hour). */
async function pruneStale(cacheDir) {
  for (const name of await readdir(cacheDir).catch(() => [])) {
    const info = await stat(join(cacheDir, name)).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > 3_600_000) await rm(join(cacheDir, name), { recursive: true, force: true });
  }
}

/**
 * Compiles and loads modules by path relative to `root`, without extension,
 * e.g. `loadModules(['lib/routes/token', 'middleware'])`.
 * @returns {Promise<Record<string, any>>} module exports keyed by the given paths
 */
export async function loadModules(entries, { root = ROOT } = {}) {
  const sorted = [...new Set(entries)].sort();
  const files = sorted.map((e) => entryFile(root, e));
  const cacheDir = cacheBase(root);
  const outDir = join(cacheDir, sourceHash(root, sorted, files));
  if (!sorted.every((e) => existsSync(join(outDir, `${e}.cjs`)))) {
    await pruneStale(cacheDir);
    // Built aside and renamed into place, so concurrent runs never see half a bundle.
    const tmpDir = `${outDir}.${process.pid}.${Date.now()}.tmp`;
    const { build } = await import('vite');
    const built = build({
      root,
      configFile: false,
      envFile: false,
      publicDir: false,
      logLevel: 'silent',
      resolve: { alias: { '@': root } },
      build: {
        ssr: true,
        outDir: tmpDir,
        emptyOutDir: true,
        minify: false,
        sourcemap: false,
        target: 'node20',
        rollupOptions: {
          input: Object.fromEntries(sorted.map((e, i) => [e, files[i]])),
          external: (id) => !/^(\.|\/|@\/|\0)/.test(id),
          output: { format: 'cjs', exports: 'named', entryFileNames: '[name].cjs', chunkFileNames: 'chunk-[hash].cjs' },
        },
      },
    });
    await built.catch(async (error) => {
      await rm(tmpDir, { recursive: true, force: true });
      throw error;
    });
    await rename(tmpDir, outDir).catch(async () => {
      await rm(tmpDir, { recursive: true, force: true }); // another run got there first
    });
  }
  const load = createRequire(join(outDir, 'index.cjs'));
  return Object.fromEntries(sorted.map((e) => [e, load(join(outDir, `${e}.cjs`))]));
}

/**
 * Compiles and loads lib modules by name, e.g. `loadLib(['limits/memory'])`.
 * @returns {Promise<Record<string, any>>} module exports keyed by name
 */
export async function loadLib(names, options = {}) {
  const modules = await loadModules(names.map((n) => `lib/${n}`), options);
  return Object.fromEntries(names.map((n) => [n, modules[`lib/${n}`]]));
}
