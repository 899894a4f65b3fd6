import { cp, mkdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp, type AppServer } from './app-server';
import { PROJECT_ROOT } from './build';

/** What `npm run dev` needs from the checkout (the dev server compiles these on demand). */
const DEV_INPUTS = ['app', 'lib', 'server', 'public', 'middleware.ts', 'instrumentation.ts', 'next.config.ts', 'tsconfig.json', 'package.json', 'scripts'];

/**
 * Starts `npm run dev` (scripts/server.mjs --dev: the front door in front of
 * Next in dev mode) on a private copy of this checkout's sources, because the
 * dev server writes .next and must not touch the checkout or the production
 * build. The copy is this process's own (never shared, never reused: no other
 * checkout can depend on it), links only this checkout's node_modules, and is
 * removed on stop. It cannot live under node_modules: Next's compiler leaves
 * files there untranspiled, as packages.
 */
export async function startDevApp(env: Record<string, string | undefined>): Promise<AppServer> {
  const dir = join(tmpdir(), `rtg-dev-${process.pid}-${Date.now()}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const input of DEV_INPUTS) await cp(join(PROJECT_ROOT, input), join(dir, input), { recursive: true }).catch(() => undefined);
  await symlink(join(PROJECT_ROOT, 'node_modules'), join(dir, 'node_modules'));
  const app = await startApp(env, { dir, args: ['--dev'], startTimeoutMs: 180_000 });
  return {
    ...app,
    async stop(signal) {
      const code = await app.stop(signal);
      await rm(dir, { recursive: true, force: true });
      return code;
    },
  };
}
