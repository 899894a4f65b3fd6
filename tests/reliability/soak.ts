import autocannon, { type AutocannonRequest } from 'autocannon';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMockOpenAI } from '../support/upstream';
import { startApp, type LogLine } from '../support/app-server';
import { b64url, signJwt, TEST_JWT_SECRET } from '../support/tokens';
import { flushLogs, newTrace, rssOf, sleep, TOKEN_PATH, warmUp } from './support';

/**
 * The soak, shared by `npm run soak` (60 s) and tests/reliability/soak.test.ts
 * (10 s in CI): mixed traffic from autocannon against the production server
 * — valid requests, requests over the limits, invalid ones and attacks — while
 * the server's RSS (from /proc) and heap (from a preloaded probe) are sampled
 * every second. Returns the figures; the caller judges them.
 */

export interface SoakOptions {
  readonly seconds: number;
  readonly connections?: number;
  /** Requests per second across all connections; unset: as fast as the server answers. */
  readonly rate?: number;
}

interface Kind {
  readonly name: string;
  readonly weight: number;
  /** Statuses this kind may get; anything else is a failure. */
  readonly expected: readonly number[];
  build(): AutocannonRequest;
}

export interface MemorySample {
  /** Seconds since the load started. */
  readonly t: number;
  /** MB. */
  readonly rss: number;
  /** MB, from the probe sample nearest in time. */
  readonly heapUsed?: number;
  /** The heap sample was taken right after a full GC. */
  readonly retained?: boolean;
}

/** A memory figure over the run, in MB: after the warm-up, at the end, its maximum and its trend. */
export interface MemorySeries {
  readonly afterWarmUpMB: number;
  readonly endMB: number;
  readonly maxMB: number;
  /** Least-squares slope after the warm-up, MB per minute. */
  readonly slopeMBPerMin: number;
}

export interface SoakReport {
  readonly seconds: number;
  readonly connections: number;
  readonly rate: number | null;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly statuses: Record<string, number>;
  readonly byKind: Record<string, Record<string, number>>;
  /** Answers outside their kind's expected statuses, by kind and status. */
  readonly unexpected: Record<string, number>;
  readonly latencyMs: { p50: number; p99: number; max: number };
  /** Answers whose X-Trace-Id was not the request's traceparent trace id. */
  readonly traceMismatches: number;
  /** Answers paired with their log lines by trace id; `cutOff`: sent, unanswered when the time was up. */
  readonly pairing: {
    readonly answered200WithoutTokenIssued: number;
    readonly tokenIssuedWithoutAnswer200: number;
    readonly answered429WithoutLog: number;
    readonly cutOff: number;
    readonly cutOffIssued: number;
  };
  readonly logs: {
    readonly lines: number;
    readonly invalidJson: number;
    readonly tokenIssued: number;
    readonly tokenIssuedCutOff: number;
    readonly rateLimitExceeded: number;
    readonly critical: number;
    readonly internalErrors: number;
  };
  /** Per-user token limit checked against the log: admits in any window, refusals with a full window. */
  readonly tokenLimit: { readonly users: number; readonly admits: number; readonly refusals: number; readonly overAdmits: number; readonly falseRefusals: number };
  readonly memory: {
    readonly warmUpSeconds: number;
    /** From /proc/<pid>/status, sampled every second. */
    readonly rss: MemorySeries & { readonly startMB: number };
    /** heapUsed right after a forced full GC (every 5 s): what the server really keeps. */
    readonly heapRetained: MemorySeries;
    /** The highest heapUsed seen, garbage included. */
    readonly heapMaxMB: number;
    readonly samples: MemorySample[];
  };
}

const TOKEN_LIMIT = 5;
const TOKEN_WINDOW_MS = 60_000;
const USERS = 300;
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)];
const ipPool = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}.${i >> 8}.${i & 255}`);
const MB = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** The traffic mix: what autocannon sends, with what each kind may answer. */
async function trafficMix(): Promise<Kind[]> {
  const users = await Promise.all(Array.from({ length: USERS }, (_, i) => signJwt({}, { subject: `soak-${i}`, expiresIn: '2h' })));
  const hotUsers = users.slice(0, 1);
  const now = Math.floor(Date.now() / 1000);
  const badTokens = [
    await signJwt({}, { secret: 'not-the-secret-0123456789abcdef0123456789', expiresIn: '2h' }),
    await signJwt({}, { issuedAt: now - 600, expiresIn: now - 300 }),
    `${b64url('{"alg":"none","typ":"JWT"}')}.${b64url(JSON.stringify({ sub: 'admin', iat: now, exp: now + 600 }))}.`,
    `eyJ${randomBytes(30).toString('base64url')}.${randomBytes(30).toString('base64url')}.${randomBytes(30).toString('base64url')}`,
  ];
  const honestIps = ipPool('10.1', 400);
  const hotIps = ipPool('10.2', 1);
  const attackerIps = ipPool('10.3', 60);
  const json = { 'content-type': 'application/json' };
  const post = (ip: string, headers: Record<string, string>, body: string): AutocannonRequest => ({
    method: 'POST',
    path: TOKEN_PATH,
    // TRUSTED_PROXY_HOPS=1: this entry is what a trusted proxy would have recorded.
    headers: { 'x-forwarded-for': ip, ...headers },
    body,
  });
  const validBody = () =>
    JSON.stringify({
      voice: pick(['alloy', 'echo', 'shimmer']),
      model: pick(['gpt-realtime', 'gpt-realtime-mini']),
      ...(Math.random() < 0.3 ? { instructions: pick(['Be brief.', '<script>alert(1)</script> Speak\u202e slowly\u200b.', 'x'.repeat(1500)]) } : {}),
    });
  const valid = (token: string, ip: string) => post(ip, { ...json, authorization: `Bearer ${token}`, origin: 'https://app.example.com' }, validBody());

  return [
    { name: 'valid', weight: 40, expected: [200, 429], build: () => valid(pick(users.slice(1)), pick(honestIps)) },
    { name: 'over user limit', weight: 8, expected: [200, 429], build: () => valid(pick(hotUsers), pick(honestIps)) },
    { name: 'over IP limit', weight: 6, expected: [200, 429], build: () => valid(pick(users.slice(1)), pick(hotIps)) },
    { name: 'bad JSON', weight: 4, expected: [400, 429], build: () => post(pick(attackerIps), { ...json, authorization: `Bearer ${pick(users)}` }, '{"voice":') },
    {
      name: 'body outside allowlists',
      weight: 4,
      expected: [400, 429],
      build: () => post(pick(attackerIps), { ...json, authorization: `Bearer ${pick(users)}` }, pick(['{"voice":"ash"}', '{"__proto__":{"admin":true}}', '{"model":"gpt-4o"}', '{"expires_after":{"seconds":7200}}'])),
    },
    { name: 'no credentials', weight: 4, expected: [401, 429], build: () => post(pick(attackerIps), json, '{}') },
    { name: 'forged JWT', weight: 5, expected: [401, 429], build: () => post(pick(attackerIps), { ...json, authorization: `Bearer ${pick(badTokens)}` }, '{}') },
    { name: 'malformed Authorization', weight: 3, expected: [400, 401, 429], build: () => post(pick(attackerIps), { ...json, authorization: pick(['Basic YTpi', `Bearer ${'a'.repeat(9000)}`, 'Bearer a b']) }, '{}') },
    { name: 'foreign origin', weight: 4, expected: [403], build: () => post(pick(attackerIps), { ...json, origin: 'https://evil.example', authorization: `Bearer ${pick(users)}` }, '{}') },
    { name: 'text/plain (CSRF shape)', weight: 3, expected: [415], build: () => post(pick(attackerIps), { 'content-type': 'text/plain', authorization: `Bearer ${pick(users)}` }, '{}') },
    { name: 'body over 16 KiB', weight: 2, expected: [413], build: () => post(pick(attackerIps), json, JSON.stringify({ instructions: 'x'.repeat(20_000) })) },
    {
      name: 'X-Forwarded-For spoofing',
      weight: 3,
      expected: [401, 429],
      build: () => post(`127.0.0.1, ${pick(honestIps)}, ${pick(attackerIps)}`, { ...json, authorization: `Bearer ${badTokens[2]}` }, '{}'),
    },
    {
      name: 'refused preflight',
      weight: 2,
      expected: [403],
      build: () => ({ method: 'OPTIONS', path: TOKEN_PATH, headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } }),
    },
    { name: 'GET', weight: 2, expected: [405], build: () => ({ method: 'GET', path: TOKEN_PATH, headers: { 'x-forwarded-for': pick(attackerIps) } }) },
  ];
}

function weighted(kinds: readonly Kind[]): () => Kind {
  const total = kinds.reduce((sum, k) => sum + k.weight, 0);
  return () => {
    let r = Math.random() * total;
    for (const k of kinds) if ((r -= k.weight) < 0) return k;
    return kinds[kinds.length - 1];
  };
}

/** Least-squares slope of y over x. */
function slope(points: ReadonlyArray<[number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

/** Figures of a [seconds, MB] series after the warm-up. */
function series(points: ReadonlyArray<[number, number]>, warmUpSeconds: number): MemorySeries {
  const after = points.filter(([t]) => t >= warmUpSeconds);
  const first = after[0] ?? points[points.length - 1] ?? [0, 0];
  const last = points[points.length - 1] ?? [0, 0];
  return {
    afterWarmUpMB: first[1],
    endMB: last[1],
    maxMB: Math.max(0, ...after.map(([, v]) => v)),
    slopeMBPerMin: Math.round(slope(after.map(([t, v]) => [t / 60, v])) * 10) / 10,
  };
}

/**
 * Checks the per-user token limit against the log: a request's admit time is
 * its `auth_success` line (the limiter runs right after it). No user may have
 * more than TOKEN_LIMIT admits in any window, and every refusal must come with
 * a full window. `toleranceMs` absorbs the millisecond between log and check.
 */
function checkTokenLimit(lines: readonly LogLine[], toleranceMs = 5) {
  const byTrace = new Map<string, LogLine[]>();
  for (const l of lines) if (l.traceId) byTrace.set(l.traceId, [...(byTrace.get(l.traceId) ?? []), l]);
  const admits = new Map<string, number[]>();
  const refusals = new Map<string, number[]>();
  for (const entries of byTrace.values()) {
    const auth = entries.find((l) => l.event === 'auth_success');
    if (!auth) continue;
    const user = String(auth.userId);
    const t = Date.parse(String(auth.timestamp));
    const refused = entries.some((l) => l.event === 'rate_limit_exceeded' && (l.metadata as { policy?: string })?.policy === 'token');
    const into = refused ? refusals : admits;
    into.set(user, [...(into.get(user) ?? []), t]);
  }
  let overAdmits = 0;
  let falseRefusals = 0;
  let admitted = 0;
  let refused = 0;
  for (const [user, times] of admits) {
    times.sort((a, b) => a - b);
    admitted += times.length;
    for (let i = TOKEN_LIMIT; i < times.length; i++) if (times[i] - times[i - TOKEN_LIMIT] < TOKEN_WINDOW_MS - toleranceMs) overAdmits++;
    for (const r of refusals.get(user) ?? []) {
      refused++;
      const inWindow = times.filter((t) => t > r - TOKEN_WINDOW_MS - toleranceMs && t <= r + toleranceMs).length;
      if (inWindow < TOKEN_LIMIT) falseRefusals++;
    }
  }
  for (const [user, times] of refusals) {
    if (admits.has(user)) continue;
    refused += times.length;
    falseRefusals += times.length;
  }
  return { users: admits.size, admits: admitted, refusals: refused, overAdmits, falseRefusals };
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const seconds = options.seconds;
  const connections = options.connections ?? 16;
  const warmUpSeconds = Math.max(5, Math.round(seconds * 0.25));
  const dir = await mkdtemp(join(tmpdir(), 'soak-'));
  const probeFile = join(dir, 'memory.jsonl');
  const upstream = await startMockOpenAI();
  const app = await startApp({
    OPENAI_API_KEY: 'sk-soak-key-0123456789',
    OPENAI_BASE_URL: upstream.baseUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    ALLOWED_ORIGINS: 'https://app.example.com',
    TRUSTED_PROXY_HOPS: '1',
    // Tighter than the defaults (10/min, 100/min) so the limits bite even on a slow CI box.
    RATE_LIMIT_TOKEN: `${TOKEN_LIMIT}/${TOKEN_WINDOW_MS / 1000}`,
    RATE_LIMIT_API: '60/60',
    // The soak checks the token limit's exactness: the daily quota and the global breaker must not answer first.
    RATE_LIMIT_TOKEN_DAILY: '999999/86400',
    RATE_LIMIT_GLOBAL: '999999/60',
    NODE_OPTIONS: `--import=${new URL('./memory-probe.mjs', import.meta.url).href}`,
    MEMORY_PROBE_FILE: probeFile,
    // A retained-heap sample (after a full GC) every 5 s, every 2 s on short runs.
    MEMORY_PROBE_GC_EVERY: seconds >= 30 ? '5' : '2',
  });
  try {
    const kinds = await trafficMix();
    const next = weighted(kinds);
    // Route code loads on first use; keep that out of the figures.
    await warmUp(app.url, () => ({ tag: 'warm-up', headers: { 'x-forwarded-for': '10.9.9.9' }, method: 'GET' }), 10, 405);

    const pid = app.process.pid!;
    const samples: Array<{ at: number; rss: number }> = [];
    const started = Date.now();
    const rssStart = (await rssOf(pid)) ?? 0;
    const sampler = setInterval(() => void rssOf(pid).then((rss) => rss !== undefined && samples.push({ at: Date.now(), rss })), 1000);

    const byKind: Record<string, Record<string, number>> = {};
    const unexpected: Record<string, number> = {};
    // Each request carries its own trace id, so answers and log lines pair up exactly.
    const sent = new Set<string>();
    const answered = new Map<string, number>();
    let traceMismatches = 0;
    const result = await autocannon({
      url: app.url,
      connections,
      duration: seconds,
      ...(options.rate ? { overallRate: options.rate } : {}),
      timeout: 10,
      requests: [
        {
          setupRequest: (_req, context) => {
            const kind = next();
            const { traceId, traceparent } = newTrace();
            context.kind = kind;
            context.traceId = traceId;
            sent.add(traceId);
            const request = kind.build();
            return { ...request, headers: { ...request.headers, traceparent } };
          },
          onResponse: (status, _body, context, headers) => {
            const kind = context.kind as Kind;
            answered.set(context.traceId as string, status);
            const echoed = Object.entries(headers).find(([name]) => name.toLowerCase() === 'x-trace-id')?.[1];
            if (echoed !== context.traceId) traceMismatches++;
            const counts = (byKind[kind.name] ??= {});
            counts[status] = (counts[status] ?? 0) + 1;
            if (!kind.expected.includes(status)) unexpected[`${kind.name} → ${status}`] = (unexpected[`${kind.name} → ${status}`] ?? 0) + 1;
          },
        },
      ],
    });
    clearInterval(sampler);

    // Requests autocannon cut off when the time was up may still finish on the server.
    await sleep(1000);
    const lines = await flushLogs(app);
    const statuses = Object.fromEntries(Object.entries(result.statusCodeStats).map(([s, v]) => [s, Number(v.count)]));
    const byTrace = new Map<string, LogLine[]>();
    for (const l of lines) if (l.traceId) byTrace.set(l.traceId, [...(byTrace.get(l.traceId) ?? []), l]);
    const has = (traceId: string, event: string) => (byTrace.get(traceId) ?? []).some((l) => l.event === event);
    const pairing = { answered200WithoutTokenIssued: 0, tokenIssuedWithoutAnswer200: 0, answered429WithoutLog: 0, cutOff: 0, cutOffIssued: 0 };
    for (const traceId of sent) {
      const status = answered.get(traceId);
      const issued = has(traceId, 'token_issued');
      if (status === undefined) {
        pairing.cutOff++;
        if (issued) pairing.cutOffIssued++;
        continue;
      }
      if (status === 200 && !issued) pairing.answered200WithoutTokenIssued++;
      if (status !== 200 && issued) pairing.tokenIssuedWithoutAnswer200++;
      if (status === 429 && !has(traceId, 'rate_limit_exceeded')) pairing.answered429WithoutLog++;
    }
    const logs = {
      lines: app.stdout.length,
      // Every stdout line is a JSON log entry; a line that does not parse is a broken log.
      invalidJson: app.stdout.length - lines.length,
      tokenIssued: lines.filter((l) => l.event === 'token_issued').length,
      /** token_issued lines of requests whose answer was cut off when autocannon stopped. */
      tokenIssuedCutOff: pairing.cutOffIssued,
      rateLimitExceeded: lines.filter((l) => l.event === 'rate_limit_exceeded').length,
      critical: lines.filter((l) => l.level === 'critical').length,
      internalErrors: lines.filter((l) => l.event === 'internal_error').length,
    };

    const probe = (await readFile(probeFile, 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { t: number; heapUsed: number; retained: boolean })
      .filter((h) => h.t >= started && h.t <= started + seconds * 1000 + 500)
      .map((h) => ({ t: (h.t - started) / 1000, heapUsed: MB(h.heapUsed), retained: h.retained }));
    const nearest = (t: number) => probe.reduce<(typeof probe)[number] | undefined>((best, h) => (!best || Math.abs(h.t - t) < Math.abs(best.t - t) ? h : best), undefined);
    const memorySamples: MemorySample[] = samples.map((s) => {
      const t = Math.round((s.at - started) / 100) / 10;
      const h = nearest(t);
      return { t, rss: MB(s.rss), heapUsed: h?.heapUsed, retained: h?.retained };
    });
    const rss = series(memorySamples.map((s) => [s.t, s.rss]), warmUpSeconds);
    const heapRetained = series(probe.filter((h) => h.retained).map((h) => [h.t, h.heapUsed]), warmUpSeconds);

    return {
      seconds,
      connections,
      rate: options.rate ?? null,
      requests: result.requests.total,
      requestsPerSecond: Math.round(result.requests.total / seconds),
      errors: result.errors,
      timeouts: result.timeouts,
      statuses,
      byKind,
      unexpected,
      latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
      traceMismatches,
      pairing,
      logs,
      tokenLimit: checkTokenLimit(lines),
      memory: {
        warmUpSeconds,
        rss: { startMB: MB(rssStart), ...rss },
        heapRetained,
        heapMaxMB: Math.max(0, ...probe.map((h) => h.heapUsed)),
        samples: memorySamples,
      },
    };
  } finally {
    await app.stop();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  }
}
