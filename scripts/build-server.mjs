#!/usr/bin/env node
/**
 * Bundles the process entry (server/main.ts, the front door and the lib modules
 * it imports) into one ES module that plain Node runs: `.next/rtg-server/main.mjs`.
 * `npm run build` runs it after `next build`; scripts/server.mjs runs the result.
 *
 * Vite (a pinned devDependency, the same compiler scripts/lib-loader.mjs and vitest
 * use) does an SSR build: TypeScript and the `@/` alias are compiled away, and
 * node_modules packages (next, ioredis, zod) and Node built-ins stay external
 * imports, so the bundle uses the installed packages and holds only this
 * project's code.
 *
 * Usage: node scripts/build-server.mjs [outDir]   (default .next/rtg-server)
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const ENTRY = 'server/main.ts';

/**
 * Builds the entry into `outDir` (replaced whole: built aside, then renamed into place).
 * @returns {Promise<string>} the path of main.mjs
 */
export async function buildServer(outDir = join(ROOT, '.next/rtg-server')) {
  const { build } = await import('vite');
  const tmpDir = `${outDir}.${process.pid}.tmp`;
  // Vite sets process.env.NODE_ENV to "production" when it is unset. `npm run dev`
  // builds in the launcher's own process and then starts Next there; left set, it
  // put Next's dev server half in production mode (unparsed CSS, a read of the build's
  // required-server-files.json, every page 500). tests/scripts/build-server.test.ts.
  const nodeEnv = process.env.NODE_ENV;
  try {
    await viteBuild(build, tmpDir);
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  await rm(outDir, { recursive: true, force: true });
  await rename(tmpDir, outDir).catch(async (error) => {
    await rm(tmpDir, { recursive: true, force: true });
    if (!existsSync(join(outDir, 'main.mjs'))) throw error; // another build got there first otherwise
  });
  return join(outDir, 'main.mjs');
}

function viteBuild(build, tmpDir) {
  return build({
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
      sourcemap: true,
      target: 'node20',
      rollupOptions: {
        input: { main: join(ROOT, ENTRY) },
        output: { format: 'es', entryFileNames: '[name].mjs', chunkFileNames: 'chunk-[hash].mjs' },
      },
    },
  });
}

async function filesUnder(dir) {
  const info = await stat(dir).catch(() => undefined);
  if (!info) return [];
  if (info.isFile()) return [dir];
  const out = [];
  for (const name of (await readdir(dir)).sort()) out.push(...(await filesUnder(join(dir, name))));
  return out;
}

/** A hash of everything the bundle is built from (server/, lib/, this script, package.json). */
export async function sourceHash() {
  const hash = createHash('sha256');
  for (const input of ['server', 'lib', 'scripts/build-server.mjs', 'package.json', 'tsconfig.json']) {
    for (const file of await filesUnder(join(ROOT, input))) {
      hash.update(relative(ROOT, file)).update('\0').update(await readFile(file)).update('\0');
    }
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * The development bundle, under node_modules/.cache (so bare imports resolve from
 * the project), rebuilt when the sources change.
 * @returns {Promise<string>} the path of main.mjs
 */
export async function devBundle() {
  const cacheDir = join(ROOT, 'node_modules/.cache/rtg-server-dev');
  const outDir = join(cacheDir, await sourceHash());
  if (existsSync(join(outDir, 'main.mjs'))) return join(outDir, 'main.mjs');
  for (const name of await readdir(cacheDir).catch(() => [])) {
    if (!name.endsWith('.tmp')) await rm(join(cacheDir, name), { recursive: true, force: true });
  }
  return buildServer(outDir);
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  const out = await buildServer(process.argv[2] ? resolve(process.argv[2]) : undefined);
  console.log(`front door bundled: ${relative(process.cwd(), out)}`);
}
