#!/usr/bin/env node
/**
 * `npm test [-- vitest args]`: checks that the programs the suite runs for
 * real are installed — Debian's Chromium at /usr/bin/chromium (the browser
 * tests), `redis-server` (the Redis limiter tests) and `nginx` (the
 * reverse-proxy tests) — then runs `vitest run` with the arguments given.
 *
 * When one is missing: as root, installs the Debian packages with apt-get;
 * otherwise stops before running anything and prints the command to run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;

/** Debian package → where its program is looked for. */
const NEEDS = [
  { pkg: 'chromium', paths: ['/usr/bin/chromium'] },
  { pkg: 'redis-server', program: 'redis-server', paths: ['/usr/bin/redis-server'] },
  { pkg: 'nginx', program: 'nginx', paths: ['/usr/sbin/nginx'] },
];

const executable = (path) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

function installed({ program, paths }) {
  const onPath = program ? (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, program)) : [];
  return [...onPath, ...paths].some(executable);
}

const missing = () => NEEDS.filter((need) => !installed(need)).map((need) => need.pkg);

let pkgs = missing();
if (pkgs.length > 0) {
  const install = `apt-get update && apt-get install -y ${pkgs.join(' ')}`;
  const isRoot = process.getuid?.() === 0;
  const hasApt = executable('/usr/bin/apt-get');
  if (!isRoot || !hasApt) {
    console.error(`npm test needs ${pkgs.join(', ')}, which ${pkgs.length === 1 ? 'is' : 'are'} not installed. Nothing was run.`);
    console.error(hasApt ? `Install with:\n  sudo sh -c 'DEBIAN_FRONTEND=noninteractive ${install}'` : `Install the Debian packages ${pkgs.join(' ')} (or their equivalents for this system).`);
    process.exit(1);
  }
  console.error(`npm test: installing ${pkgs.join(', ')}: ${install}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', ...pkgs]]) {
    const result = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (result.status !== 0) {
      console.error(`npm test: \`apt-get ${args.join(' ')}\` failed (${result.status ?? result.signal}). Nothing was run.`);
      process.exit(1);
    }
  }
  pkgs = missing();
  if (pkgs.length > 0) {
    console.error(`npm test: still missing after apt-get: ${pkgs.join(', ')}. Nothing was run.`);
    process.exit(1);
  }
}

const vitest = spawn(process.execPath, [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', ...process.argv.slice(2)], { cwd: ROOT, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => vitest.kill(signal));
vitest.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
