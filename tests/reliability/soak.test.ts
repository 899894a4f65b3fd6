import { writeFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { runSoak } from './soak';

/**
 * The soak at CI size (10 s; `npm run soak` runs the same code for 60 s with
 * SOAK_SECONDS=60). Mixed valid, over-limit, invalid and attack traffic from
 * autocannon against the production server. Asserted:
 * - every answer is one its request kind may get (no 5xx, no socket errors, no timeouts);
 * - exact accounting, paired by trace id: one `token_issued` line per 200 and none for
 *   any other answer, a `rate_limit_exceeded` line per 429; no user over 5 admits (the
 *   soak's RATE_LIMIT_TOKEN) in any 60 s window and no refusal without a full window;
 * - memory flat after the warm-up: RSS at the end within 48 MB of RSS after the
 *   warm-up, RSS never above that + 64 MB, and heapUsed at the end within 32 MB of
 *   the heap after warm-up.
 */

const SECONDS = Number(process.env.SOAK_SECONDS ?? 10);
/** Memory bounds after the warm-up (the first quarter of the run, at least 5 s). */
const RSS_GROWTH_MB = 64;
const RETAINED_GROWTH_MB = 16;

it(`soak: ${SECONDS} s of mixed traffic`, { timeout: 900_000 + SECONDS * 3000 }, async () => {
  const report = await runSoak({ seconds: SECONDS, rate: process.env.SOAK_RATE ? Number(process.env.SOAK_RATE) : undefined });
  if (process.env.SOAK_REPORT) writeFileSync(process.env.SOAK_REPORT, `${JSON.stringify(report, null, 2)}\n`);
  const { memory, logs, tokenLimit } = report;
  console.log(
    `soak: ${report.requests} requests (${report.requestsPerSecond}/s), statuses ${JSON.stringify(report.statuses)}, ` +
      `errors ${report.errors}, timeouts ${report.timeouts}, unexpected ${JSON.stringify(report.unexpected)}; ` +
      `token_issued ${logs.tokenIssued}, rate_limit_exceeded ${logs.rateLimitExceeded}; ` +
      `RSS ${memory.rss.startMB} → ${memory.rss.afterWarmUpMB} (after ${memory.warmUpSeconds} s) → ${memory.rss.endMB} MB ` +
      `(max ${memory.rss.maxMB}, slope ${memory.rss.slopeMBPerMin} MB/min); retained heap ${memory.heapRetained.afterWarmUpMB} → ` +
      `${memory.heapRetained.endMB} MB (max ${memory.heapRetained.maxMB}, slope ${memory.heapRetained.slopeMBPerMin} MB/min), heap max ${memory.heapMaxMB} MB`,
  );

  expect(report.requests).toBeGreaterThan(SECONDS * 5);
  expect({ errors: report.errors, timeouts: report.timeouts, unexpected: report.unexpected }).toEqual({ errors: 0, timeouts: 0, unexpected: {} });
  expect(Object.keys(report.statuses).filter((s) => Number(s) >= 500)).toEqual([]);
  // Every kind of traffic was really sent and answered.
  expect(Object.keys(report.byKind).length).toBe(14);

  expect(logs.invalidJson).toBe(0);
  expect(logs.internalErrors).toBe(0);
  // Exact accounting, request by request: a 200 has its token_issued line and no other answer has one;
  // the only token_issued lines without a 200 belong to requests cut off when autocannon stopped.
  expect(report.traceMismatches).toBe(0);
  expect(report.pairing).toMatchObject({ answered200WithoutTokenIssued: 0, tokenIssuedWithoutAnswer200: 0, answered429WithoutLog: 0 });
  expect(logs.tokenIssued).toBe((report.statuses['200'] ?? 0) + logs.tokenIssuedCutOff);
  // The front door closes a connection after a 413 (the rest of the body is never
  // read), so the request a client had already queued on it is never answered.
  expect(report.pairing.cutOff).toBeLessThanOrEqual(report.connections + (report.statuses['413'] ?? 0));
  expect(logs.rateLimitExceeded).toBeGreaterThanOrEqual(report.statuses['429'] ?? 0);
  expect(logs.rateLimitExceeded).toBeLessThanOrEqual((report.statuses['429'] ?? 0) + report.pairing.cutOff);
  expect(tokenLimit.admits).toBeGreaterThan(0);
  expect(tokenLimit.refusals).toBeGreaterThan(0);
  expect({ overAdmits: tokenLimit.overAdmits, falseRefusals: tokenLimit.falseRefusals }).toEqual({ overAdmits: 0, falseRefusals: 0 });

  expect(memory.samples.length).toBeGreaterThanOrEqual(SECONDS - 2);
  expect(memory.rss.endMB - memory.rss.afterWarmUpMB).toBeLessThan(RSS_GROWTH_MB);
  expect(memory.rss.maxMB - memory.rss.afterWarmUpMB).toBeLessThan(RSS_GROWTH_MB);
  expect(memory.heapRetained.endMB - memory.heapRetained.afterWarmUpMB).toBeLessThan(RETAINED_GROWTH_MB);
  expect(memory.heapRetained.maxMB - memory.heapRetained.afterWarmUpMB).toBeLessThan(RETAINED_GROWTH_MB);
});
