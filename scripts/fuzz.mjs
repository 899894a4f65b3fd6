#!/usr/bin/env node
/**
 * `npm run fuzz [-- --runs N] [--seed S]`: the fast-check properties of
 * tests/fuzz at full size (50,000 cases by default; CI runs 400 after the
 * regression seeds of tests/fuzz/regression-seeds.ts), then the
 * counts: cases, requests, statuses, error codes and findings.
 *
 * Runs the same test file CI runs, through vitest, with FUZZ_RUNS and
 * FUZZ_REPORT set; exits non-zero when a property fails.
 */
import { parseArgs } from 'node:util';
import { runAndReport } from './run-report.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '50000' }, seed: { type: 'string' } } });

const rows = (counts) => Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `    ${k.padEnd(24)} ${v}`).join('\n');
runAndReport({
  name: 'fuzz',
  testPath: 'tests/fuzz/',
  reportVariable: 'FUZZ_REPORT',
  env: { FUZZ_RUNS: values.runs, FUZZ_SEED: values.seed },
  format: (summary) => `
Fuzz results (${(summary.durationMs / 1000).toFixed(1)} s, seeds ${JSON.stringify(summary.seeds)})
  cases:          ${summary.cases} (${Object.entries(summary.casesByProperty).map(([k, v]) => `${k} ${v}`).join(', ')})
  requests:       ${summary.requests}
  upstream calls: ${summary.upstreamCalls}${summary.foreignUpstream ? ` (plus ${summary.foreignUpstream} foreign requests on the stand-in's port, ignored)` : ''}
  statuses:
${rows(summary.statuses)}
  codes:
${rows(summary.codes)}
  findings:       ${summary.findings.length}${summary.findings.map((f) => `\n    [${f.property}] seed ${f.seed}: ${f.error.split('\n')[0]}\n      ${f.counterexample.slice(0, 400)}`).join('')}
`,
});
