/**
 * The run-and-report wrapper of `npm run fuzz` and `npm run soak`: runs a
 * test path through vitest (the same files CI runs) with extra environment
 * and a report file, prints the report the tests wrote, and exits with
 * vitest's status (non-zero when an assertion failed).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;

/**
 * @param {object} options
 * @param {string} options.name what runs, for messages ("fuzz", "soak")
 * @param {string} options.testPath the vitest filter, relative to the checkout
 * @param {string} options.reportVariable the variable that tells the tests where to write their JSON report
 * @param {Record<string, string | undefined>} options.env more variables for the run (undefined: not set)
 * @param {(report: any) => string} options.format the printed summary
 * @returns {never}
 */
export function runAndReport({ name, testPath, reportVariable, env, format }) {
  const dir = mkdtempSync(join(tmpdir(), `${name}-report-`));
  const reportFile = join(dir, 'report.json');
  const extra = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined));
  const result = spawnSync(process.execPath, [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', testPath], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', CLERK_TELEMETRY_DISABLED: '1', ...extra, [reportVariable]: reportFile },
  });
  let report;
  try {
    report = JSON.parse(readFileSync(reportFile, 'utf8'));
  } catch {
    console.error(`${name}: no report was written (the test run did not finish)`);
    process.exit(result.status || 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(format(report));
  process.exit(result.status ?? 1);
}
