#!/usr/bin/env node
/**
 * `npm run fuzz [-- --runs N] [--seed S]`: the fast-check properties of
 * tests/fuzz at full size (50,000 cases by default; CI runs 2,000), then the
 * counts: cases, requests, statuses, error codes and findings.
 *
 * Runs the same test file CI runs, through vitest, with FUZZ_RUNS and
 * FUZZ_REPORT set; exits non-zero when a property fails.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '50000' }, seed: { type: 'string' } } });
const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'fuzz-'));
const report = join(dir, 'report.json');

const result = spawnSync(process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', 'tests/fuzz/'], {
  cwd: root,
  stdio: 'inherit',
  env: {
    ...process.env,
    NEXT_TELEMETRY_DISABLED: '1',
    CLERK_TELEMETRY_DISABLED: '1',
    FUZZ_RUNS: values.runs,
    FUZZ_REPORT: report,
    ...(values.seed ? { FUZZ_SEED: values.seed } : {}),
  },
});

let summary;
try {
  summary = JSON.parse(readFileSync(report, 'utf8'));
} catch {
  console.error('fuzz: no report was written (the test run did not finish)');
  process.exit(result.status || 1);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const rows = (counts) => Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `    ${k.padEnd(24)} ${v}`).join('\n');
console.log(`
Fuzz results (${(summary.durationMs / 1000).toFixed(1)} s, seeds ${JSON.stringify(summary.seeds)})
  cases:          ${summary.cases} (${Object.entries(summary.casesByProperty).map(([k, v]) => `${k} ${v}`).join(', ')})
  requests:       ${summary.requests}
  upstream calls: ${summary.upstreamCalls}${summary.foreignUpstream ? ` (plus ${summary.foreignUpstream} foreign requests on the stand-in's port, ignored)` : ''}
  statuses:
${rows(summary.statuses)}
  codes:
${rows(summary.codes)}
  findings:       ${summary.findings.length}${summary.findings.map((f) => `\n    [${f.property}] seed ${f.seed}: ${f.error.split('\n')[0]}\n      ${f.counterexample.slice(0, 400)}`).join('')}
`);
process.exit(result.status ?? 1);
