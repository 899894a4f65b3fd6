import { afterAll, beforeAll, expect, it } from 'vitest';
import { startMockOpenAI, type MockOpenAI } from '../support/upstream';
import { startApp, type AppServer } from '../support/app-server';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';
import {
  flushLogs,
  histogram,
  percentile,
  sleep,
  startLoad,
  startSlowLink,
  UPSTREAM_TEXT,
  warmUp,
  type Exchange,
  type PlannedRequest,
  type SlowLink,
} from './support';

/**
 * Upstream faults injected mid-load against the production server: while
 * clients keep requesting tokens, the upstream turns slow, hangs, resets
 * connections, answers 5xx, bad JSON, 401, 429 quota/rate limit, a redirect,
 * a 1 MiB body, a 400 — one after another, with healthy stretches between.
 *
 * Every exchange is judged by the fault(s) active while it was in flight:
 * the mapped status and code (exactly, when one fault covers it), an answer
 * within the deadline + 500 ms, no upstream text in the answer, and logs that
 * account for every answer. The figures are printed for the README.
 */

const DEADLINE_MS = 1000;
const BOUND_MS = DEADLINE_MS + 500;
const WORKERS = 4;
/**
 * Phase lengths, sized by time so each fault is met by several requests that
 * only it covered: a fault answered at once is met by dozens or more in
 * FAST_FAULT_MS. A fault answered at the deadline gets 3.5 deadlines: each
 * worker's first request there began in the phase before, the next two fit.
 */
const FAST_FAULT_MS = 500;
const SLOW_FAULT_MS = 3.5 * DEADLINE_MS;
const HEALTHY_MS = 300;
/** Requests each fault must be met by alone, however loaded the machine. */
const MET_AT_LEAST = 3;
const PHASE_MAX_MS = 15_000;

let upstream: MockOpenAI;
let link: SlowLink;
let app: AppServer;

interface Outcome {
  readonly status: number;
  readonly code: string | null;
  readonly retryAfter?: string;
}
interface Fault {
  readonly name: string;
  readonly mode?: string;
  readonly delayMs?: number;
  readonly ms: number;
  readonly outcome: Outcome;
}

const OK: Outcome = { status: 200, code: null };
const FAULTS: Fault[] = [
  { name: 'slow link, 1.5 s (beyond the deadline)', delayMs: 1500, ms: SLOW_FAULT_MS, outcome: { status: 504, code: 'upstream_timeout' } },
  { name: 'slow link, 0.4 s (within the deadline)', delayMs: 400, ms: 1500, outcome: OK },
  { name: 'hang (never answers)', mode: 'hang', ms: SLOW_FAULT_MS, outcome: { status: 504, code: 'upstream_timeout' } },
  { name: 'connection reset', mode: 'reset', ms: FAST_FAULT_MS, outcome: { status: 502, code: 'upstream_error' } },
  { name: '500 with detail text', mode: 'error500', ms: FAST_FAULT_MS, outcome: { status: 502, code: 'upstream_error' } },
  { name: 'truncated JSON', mode: 'badjson', ms: FAST_FAULT_MS, outcome: { status: 502, code: 'upstream_error' } },
  { name: '401 bad server key', mode: 'unauthorized', ms: FAST_FAULT_MS, outcome: { status: 502, code: 'upstream_auth' } },
  { name: '429 insufficient_quota', mode: 'quota', ms: FAST_FAULT_MS, outcome: { status: 503, code: 'upstream_rate_limited', retryAfter: '30' } },
  { name: '429 rate limit, Retry-After 7', mode: 'ratelimit', ms: FAST_FAULT_MS, outcome: { status: 503, code: 'upstream_rate_limited', retryAfter: '7' } },
  { name: '307 redirect', mode: 'redirect', ms: FAST_FAULT_MS, outcome: { status: 502, code: 'upstream_error' } },
  { name: '1 MiB body', mode: 'huge', ms: FAST_FAULT_MS, outcome: { status: 502, code: 'upstream_error' } },
  { name: '400 session rejected', mode: 'rejected', ms: FAST_FAULT_MS, outcome: { status: 502, code: 'upstream_rejected' } },
];

interface Phase {
  readonly name: string;
  readonly outcome: Outcome;
  from: number;
  to: number;
}

beforeAll(async () => {
  upstream = await startMockOpenAI();
  link = await startSlowLink(Number(new URL(upstream.baseUrl).port));
  app = await startApp({
    OPENAI_API_KEY: 'sk-faults-key-0123456789',
    OPENAI_BASE_URL: link.baseUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    UPSTREAM_TIMEOUT_MS: String(DEADLINE_MS),
    // Limits out of the way: this file is about the upstream.
    RATE_LIMIT_API: '999999/60',
    RATE_LIMIT_TOKEN: '999999/60',
    // The abuse controls' wallet out of the way too (README "Abuse controls").
    RATE_LIMIT_TOKEN_DAILY: '999999/86400',
    RATE_LIMIT_GLOBAL: '999999/60',
    // Each fault case is judged alone: a quota answer must not open the circuit for the next one.
    UPSTREAM_QUOTA_COOLOFF_SECONDS: '0',
  });
});

afterAll(async () => {
  await app?.stop();
  await link?.close();
  await upstream?.close();
});

/** Phases that overlap an exchange's flight: the faults it may have met. */
function overlapping(phases: readonly Phase[], e: Exchange): Phase[] {
  return phases.filter((p) => p.from <= e.doneAt && p.to >= e.sentAt);
}

it('maps every upstream fault injected mid-load, within the deadline + 500 ms, and recovers', { timeout: 180_000 }, async () => {
  const tokens = await Promise.all(Array.from({ length: WORKERS }, (_, w) => signJwt({}, { subject: `load-${w}`, expiresIn: '30m' })));
  const valid = (w: number): PlannedRequest => ({
    tag: 'valid',
    headers: { authorization: `Bearer ${tokens[w]}`, 'content-type': 'application/json' },
    body: '{"voice":"alloy"}',
  });
  await warmUp(app.url, () => valid(0));
  const load = startLoad(app.url, WORKERS, valid);

  const phases: Phase[] = [];
  /**
   * A phase lasts `ms`, and on a loaded machine (fewer requests fit in `ms`) until
   * `least` requests began and ended inside it, so each fault is still met by
   * requests it alone covered; at most PHASE_MAX_MS more.
   */
  const run = async (name: string, outcome: Outcome, ms: number, apply: () => void, least = 0) => {
    apply();
    const phase: Phase = { name, outcome, from: performance.now(), to: Infinity };
    phases.push(phase);
    await sleep(ms);
    const inside = () => load.exchanges.filter((e) => e.sentAt >= phase.from).length;
    for (const until = performance.now() + PHASE_MAX_MS; inside() < least && performance.now() < until; ) await sleep(20);
    phase.to = performance.now();
  };
  const healthy = () => {
    upstream.setMode('ok');
    link.delayMs = 0;
  };

  await run('ok', OK, HEALTHY_MS, healthy);
  for (const fault of FAULTS) {
    await run(
      fault.name,
      fault.outcome,
      fault.ms,
      () => {
        upstream.setMode(fault.mode ?? 'ok');
        link.delayMs = fault.delayMs ?? 0;
      },
      MET_AT_LEAST,
    );
    // Requests a slow fault still holds finish in the healthy stretch after it, up to a deadline
    // later: the next fault starts once they are done, so its own requests meet it alone.
    await run('ok', OK, fault.ms === SLOW_FAULT_MS ? DEADLINE_MS + HEALTHY_MS : HEALTHY_MS, healthy);
  }
  await run('recovery', OK, 1000, healthy, 1);
  const exchanges = await load.stop();
  phases[phases.length - 1].to = Infinity;

  // Every exchange: answered, in time, mapped, nothing from upstream in it.
  const problems: string[] = [];
  const perFault = new Map<string, Exchange[]>();
  for (const e of exchanges) {
    const met = overlapping(phases, e);
    const latency = e.doneAt - e.sentAt;
    const label = `${met.map((p) => p.name).join(' + ')}: ${e.status ?? e.error} after ${latency.toFixed(0)} ms`;
    if (e.error) {
      problems.push(`no answer (${label})`);
      continue;
    }
    const body = JSON.parse(e.text!) as { error?: string; traceId?: string };
    if (!met.some((p) => p.outcome.status === e.status && p.outcome.code === (body.error ?? null))) problems.push(`unmapped (${label}) ${e.text}`);
    if (latency > BOUND_MS) problems.push(`over ${BOUND_MS} ms (${label})`);
    if (body.traceId !== e.traceId || e.headers!.get('x-trace-id') !== e.traceId) problems.push(`trace id (${label})`);
    if (e.headers!.get('x-content-type-options') !== 'nosniff') problems.push(`security headers (${label})`);
    const seen = `${[...e.headers!].map(([n, v]) => `${n}: ${v}`).join('\n')}\n${e.text}`;
    for (const text of UPSTREAM_TEXT) if (seen.includes(text)) problems.push(`upstream text "${text}" reached the client (${label})`);
    if (met.length === 1) {
      const [phase] = met;
      if (phase.outcome.retryAfter !== undefined && e.headers!.get('retry-after') !== phase.outcome.retryAfter) problems.push(`Retry-After (${label})`);
      if (phase.outcome.code === 'upstream_timeout' && latency < DEADLINE_MS - 50) problems.push(`timed out before the deadline (${label})`);
      perFault.set(phase.name, [...(perFault.get(phase.name) ?? []), e]);
    }
  }
  expect(problems.slice(0, 20), `${problems.length} problems`).toEqual([]);

  // Each fault was really met by requests it alone covered, and the service recovered after each.
  const figures = FAULTS.map((f) => {
    const met = perFault.get(f.name) ?? [];
    const latencies = met.map((e) => e.doneAt - e.sentAt);
    return { fault: f.name, requests: met.length, statuses: histogram(met.map((e) => e.status!)), p50: Math.round(percentile(latencies, 50)), max: Math.round(Math.max(0, ...latencies)) };
  });
  for (const f of figures) expect(f.requests, `requests that met only "${f.fault}"`).toBeGreaterThanOrEqual(MET_AT_LEAST);
  const recovery = perFault.get('recovery') ?? [];
  expect(recovery.length).toBeGreaterThan(0);
  expect(new Set(recovery.map((e) => e.status))).toEqual(new Set([200]));

  // The logs account for every answer: one token_issued per 200, one upstream_error per mapped failure,
  // a critical line per upstream_auth, no internal errors.
  const logs = (await flushLogs(app)).filter((l) => exchanges.some((e) => e.traceId === l.traceId));
  const codes = histogram(exchanges.filter((e) => e.status !== 200).map((e) => (JSON.parse(e.text!) as { error: string }).error));
  expect(logs.filter((l) => l.event === 'token_issued').length).toBe(exchanges.filter((e) => e.status === 200).length);
  expect(histogram(logs.filter((l) => l.event === 'upstream_error').map((l) => (l.metadata as { code: string }).code))).toEqual(codes);
  expect(logs.filter((l) => l.level === 'critical').length).toBe(codes.upstream_auth ?? 0);
  expect(logs.filter((l) => l.event === 'internal_error')).toEqual([]);

  const statuses = histogram(exchanges.map((e) => e.status ?? e.error!));
  const latencies = exchanges.map((e) => e.doneAt - e.sentAt);
  console.log(
    `upstream faults: ${exchanges.length} requests, statuses ${JSON.stringify(statuses)}, ` +
      `max latency ${Math.round(Math.max(...latencies))} ms (bound ${BOUND_MS} ms)\n` +
      figures.map((f) => `  ${f.fault}: ${f.requests} requests ${JSON.stringify(f.statuses)} p50 ${f.p50} ms max ${f.max} ms`).join('\n'),
  );
});
