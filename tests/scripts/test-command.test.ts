import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installCommand, missingPackages, NEEDS, plan } from '../../scripts/test.mjs';
import { PROJECT_ROOT } from '../support/build';

/**
 * `npm test` (scripts/test.mjs): the program check that runs before vitest,
 * and the hand-over of its arguments to `vitest run`.
 */

const run = promisify(execFile);
let bin: string;

beforeAll(async () => {
  bin = await mkdtemp(join(tmpdir(), 'rtg-test-command-'));
  await writeFile(join(bin, 'fake-program'), '#!/bin/sh\n');
  await chmod(join(bin, 'fake-program'), 0o755);
});
afterAll(async () => {
  await rm(bin, { recursive: true, force: true });
});

describe('scripts/test.mjs', () => {
  it('needs Chromium at /usr/bin/chromium, redis-server, nginx and openssl', () => {
    expect(NEEDS.map((n) => n.pkg)).toEqual(['chromium', 'redis-server', 'nginx', 'openssl']);
    expect(NEEDS.find((n) => n.pkg === 'chromium')?.paths).toEqual(['/usr/bin/chromium']);
  });

  it('finds a program on the PATH or at its install path, and names the package of one that is neither', () => {
    const needs = [
      { pkg: 'on-path', program: 'fake-program', paths: [] },
      { pkg: 'at-path', paths: [join(bin, 'fake-program')] },
      { pkg: 'absent', program: 'no-such-program', paths: [join(bin, 'no-such-program')] },
    ];
    expect(missingPackages(needs, bin)).toEqual(['absent']);
    expect(missingPackages(needs, '')).toEqual(['on-path', 'absent']);
  });

  it('runs when nothing is missing, installs as root with apt-get, and otherwise stops with the exact command', () => {
    expect(plan([], { isRoot: false, hasApt: true })).toEqual({ action: 'run' });
    expect(plan(['chromium', 'nginx'], { isRoot: true, hasApt: true })).toEqual({ action: 'install', pkgs: ['chromium', 'nginx'] });
    expect(installCommand(['chromium', 'nginx'])).toBe('apt-get update && apt-get install -y chromium nginx');
    const stop = plan(['chromium', 'nginx'], { isRoot: false, hasApt: true });
    expect(stop.action).toBe('stop');
    expect(stop.action === 'stop' && stop.message).toContain(
      "sudo sh -c 'DEBIAN_FRONTEND=noninteractive apt-get update && apt-get install -y chromium nginx'",
    );
    expect(plan(['nginx'], { isRoot: true, hasApt: false }).action).toBe('stop');
  });

  it('passes its arguments to vitest run', async () => {
    // A filter that matches no file, and the flag that makes that a pass: both must reach vitest.
    // (Were the arguments dropped, vitest would run the whole suite: the timeout stops that.)
    const { stdout, stderr } = await run(process.execPath, [join(PROJECT_ROOT, 'scripts/test.mjs'), 'tests/no-such-folder/', '--passWithNoTests'], {
      cwd: PROJECT_ROOT,
      timeout: 25_000,
    });
    expect(`${stdout}${stderr}`).toMatch(/No test files found/);
  });
});
