#!/usr/bin/env node
/**
 * `npm run soak [-- --seconds N] [--rate R]`: 60 s (default) of mixed traffic from
 * autocannon against the production server — valid, over-limit, invalid and
 * attack requests, as fast as the server answers or at R requests/s — sampling
 * the server's RSS and heap every second, then the
 * figures: requests, statuses, errors, log accounting, memory start/end.
 *
 * Runs tests/reliability/soak.test.ts (CI runs it for 10 s) with SOAK_SECONDS
 * and SOAK_REPORT set, so the script and CI share the code and the
 * assertions; exits non-zero when one fails.
 */
import { parseArgs } from 'node:util';
import { runAndReport } from './run-report.mjs';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, rate: { type: 'string' } } });

runAndReport({
  name: 'soak',
  testPath: 'tests/reliability/soak.test.ts',
  reportVariable: 'SOAK_REPORT',
  env: { SOAK_SECONDS: values.seconds, SOAK_RATE: values.rate },
  format: report,
});

/** The printed summary of a soak report. */
function report(r) {
  const m = r.memory;
  const kinds = Object.entries(r.byKind)
    .map(([kind, counts]) => `    ${kind.padEnd(28)} ${JSON.stringify(counts)}`)
    .join('\n');
  return `
Soak results (${r.seconds} s, ${r.connections} connections, ${r.rate ? `${r.rate} requests/s` : 'as fast as the server answers'})
  requests:        ${r.requests} (${r.requestsPerSecond}/s), latency p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms
  errors:          ${r.errors} (timeouts ${r.timeouts}), answers outside the expected statuses: ${Object.keys(r.unexpected).length ? JSON.stringify(r.unexpected) : 'none'}
  statuses:        ${JSON.stringify(r.statuses)}
  by kind:
${kinds}
  logs:            ${r.logs.lines} lines, ${r.logs.invalidJson} not JSON; token_issued ${r.logs.tokenIssued} (200s ${r.statuses['200'] ?? 0} + ${r.logs.tokenIssuedCutOff} cut off at the end), rate_limit_exceeded ${r.logs.rateLimitExceeded}, internal errors ${r.logs.internalErrors}
  token limit:     ${r.tokenLimit.users} users, ${r.tokenLimit.admits} admits, ${r.tokenLimit.refusals} refusals, over-admits ${r.tokenLimit.overAdmits}, refusals without a full window ${r.tokenLimit.falseRefusals}
  memory (RSS):    start ${m.rss.startMB} MB, after the ${m.warmUpSeconds} s warm-up ${m.rss.afterWarmUpMB} MB, end ${m.rss.endMB} MB, max ${m.rss.maxMB} MB, slope ${m.rss.slopeMBPerMin} MB/min
  memory (heap):   retained (after a full GC, every 5 s) ${m.heapRetained.afterWarmUpMB} MB after the warm-up, ${m.heapRetained.endMB} MB at the end, max ${m.heapRetained.maxMB} MB, slope ${m.heapRetained.slopeMBPerMin} MB/min; heapUsed max ${m.heapMaxMB} MB
  samples (s: RSS/heap MB, * after GC): ${m.samples.map((s) => `${s.t}:${s.rss}/${s.heapUsed ?? '?'}${s.retained ? '*' : ''}`).join(' ')}
`;
}
