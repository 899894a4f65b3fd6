import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../support/build';

/**
 * scripts/build-server.mjs bundles the front door in the process that then
 * starts Next (`npm run dev`, scripts/server.mjs). Vite sets NODE_ENV while it
 * builds; left behind, Next's dev server ran half in production mode and
 * answered every page 500. The build runs in a child process here, as in the
 * launcher, so this runner's environment is not the one under test.
 */

const run = promisify(execFile);
const out = await mkdtemp(join(tmpdir(), 'rtg-build-server-test-'));
afterAll(() => rm(out, { recursive: true, force: true }));

async function nodeEnvAfterBuild(nodeEnv: string | undefined, name: string): Promise<string> {
  const builder = pathToFileURL(join(PROJECT_ROOT, 'scripts/build-server.mjs')).href;
  const program = `const { buildServer } = await import(${JSON.stringify(builder)});
await buildServer(${JSON.stringify(join(out, name))});
process.stdout.write(String(process.env.NODE_ENV));`;
  const env: Record<string, string | undefined> = { PATH: process.env.PATH, HOME: process.env.HOME };
  if (nodeEnv !== undefined) env.NODE_ENV = nodeEnv;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', program], { cwd: PROJECT_ROOT, env: env as NodeJS.ProcessEnv });
  return stdout;
}

describe('buildServer', () => {
  it('leaves NODE_ENV unset when it was unset (the dev launcher sets it after)', async () => {
    expect(await nodeEnvAfterBuild(undefined, 'unset')).toBe('undefined');
  }, 60_000);

  it('leaves a NODE_ENV that was set as it was', async () => {
    expect(await nodeEnvAfterBuild('development', 'dev')).toBe('development');
  }, 60_000);
});
