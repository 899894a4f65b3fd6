#!/usr/bin/env node
/**
 * `npm test [-- vitest args]`: checks that the programs the suite runs for
 * real are installed — Debian's Chromium at /usr/bin/chromium (the browser
 * tests), `redis-server` (the Redis limiter tests), `nginx` (the
 * reverse-proxy tests) and `openssl` (their TLS certificate) — then runs
 * `vitest run` with the arguments given.
 *
 * When one is missing: as root, installs the Debian packages with apt-get;
 * otherwise stops before running anything and prints the command to run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = new URL('..', import.meta.url).pathname;

/** Debian package → the program it installs: looked up on the PATH (when named) and at its install path. */
export const NEEDS = [
  { pkg: 'chromium', paths: ['/usr/bin/chromium'] },
  { pkg: 'redis-server', program: 'redis-server', paths: ['/usr/bin/redis-server'] },
  { pkg: 'nginx', program: 'nginx', paths: ['/usr/sbin/nginx'] },
  // tests/support/nginx.ts makes a self-signed certificate with it; slim images may lack it.
  { pkg: 'openssl', program: 'openssl', paths: ['/usr/bin/openssl'] },
];

const executable = (path) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** The packages of `needs` whose program is not installed. */
export function missingPackages(needs = NEEDS, pathVariable = process.env.PATH ?? '') {
  const installed = ({ program, paths }) => {
    const onPath = program ? pathVariable.split(delimiter).filter(Boolean).map((dir) => join(dir, program)) : [];
    return [...onPath, ...paths].some(executable);
  };
  return needs.filter((need) => !installed(need)).map((need) => need.pkg);
}

/** The command that installs `pkgs` on Debian. */
export const installCommand = (pkgs) => `apt-get update && apt-get install -y ${pkgs.join(' ')}`;

/**
 * What to do about missing packages: nothing, install them (root with apt-get),
 * or stop with a message that names the command.
 * @returns {{ action: 'run' } | { action: 'install', pkgs: string[] } | { action: 'stop', message: string }}
 */
export function plan(pkgs, { isRoot, hasApt }) {
  if (pkgs.length === 0) return { action: 'run' };
  if (isRoot && hasApt) return { action: 'install', pkgs };
  const what = `npm test needs ${pkgs.join(', ')}, which ${pkgs.length === 1 ? 'is' : 'are'} not installed. Nothing was run.`;
  const how = hasApt
    ? `Install with:\n  sudo sh -c 'DEBIAN_FRONTEND=noninteractive ${installCommand(pkgs)}'`
    : `Install the Debian packages ${pkgs.join(' ')} (or their equivalents for this system).`;
  return { action: 'stop', message: `${what}\n${how}` };
}

function main() {
  const step = plan(missingPackages(), { isRoot: process.getuid?.() === 0, hasApt: executable('/usr/bin/apt-get') });
  if (step.action === 'stop') {
    console.error(step.message);
    process.exit(1);
  }
  if (step.action === 'install') {
    console.error(`npm test: installing ${step.pkgs.join(', ')}: ${installCommand(step.pkgs)}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [['update'], ['install', '-y', ...step.pkgs]]) {
      const result = spawnSync('apt-get', args, { stdio: 'inherit', env });
      if (result.status !== 0) {
        console.error(`npm test: \`apt-get ${args.join(' ')}\` failed (${result.status ?? result.signal}). Nothing was run.`);
        process.exit(1);
      }
    }
    const still = missingPackages();
    if (still.length > 0) {
      console.error(`npm test: still missing after apt-get: ${still.join(', ')}. Nothing was run.`);
      process.exit(1);
    }
  }
  const vitest = spawn(process.execPath, [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', ...process.argv.slice(2)], { cwd: ROOT, stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => vitest.kill(signal));
  vitest.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
