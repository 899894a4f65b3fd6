import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockOpenAI } from '../../scripts/mock-openai.mjs';
import { startApp, type AppServer, type LogLine } from '../support/app-server';
import { ensureBuild } from '../support/build';
import { startRedis, type RedisServer } from '../support/redis';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';
import { histogram, newTrace, sleep, startLoad, startSlowLink, TOKEN_PATH, until, warmUp, type Exchange, type PlannedRequest, type SlowLink } from './support';

/**
 * SIGTERM under load. Keep-alive clients keep sending while every token
 * request spends ~600 ms upstream; more requests on fresh connections are
 * mid-flight when the signal arrives. Every request the server had started
 * on gets its complete, normal answer (no 5xx, no reset), connections close
 * after their last answer instead of idling until the hard grace exit, the
 * process exits 0 well before that grace period, and with REDIS_URL the
 * limiter's Redis connection is closed with QUIT, after the last request.
 */

const UPSTREAM_DELAY_MS = 600;
const WORKERS = 6;
const PROBES = 8;
/** scripts/server.mjs exits after this grace period whatever is still open. */
const GRACE_MS = 10_000;
/** Socket-level outcomes a request the server never started on may see. */
const REFUSED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'socket hang up']);

type MockOpenAI = Awaited<ReturnType<typeof startMockOpenAI>>;
let upstream: MockOpenAI;
let link: SlowLink;
let redis: RedisServer;
let tokens: string[];

beforeAll(async () => {
  await ensureBuild(); // each test starts its own server; build once, outside their timeouts
  upstream = await startMockOpenAI();
  link = await startSlowLink(Number(new URL(upstream.baseUrl).port));
  link.delayMs = UPSTREAM_DELAY_MS;
  redis = await startRedis();
  tokens = await Promise.all(Array.from({ length: WORKERS + PROBES }, (_, i) => signJwt({}, { subject: `drain-${i}`, expiresIn: '30m' })));
}, 900_000);

afterAll(async () => {
  await link?.close();
  await upstream?.close();
  await redis?.close();
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    OPENAI_API_KEY: 'sk-drain-key-0123456789',
    OPENAI_BASE_URL: link.baseUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    UPSTREAM_TIMEOUT_MS: '5000',
    RATE_LIMIT_API: '999999/60',
    RATE_LIMIT_TOKEN: '999999/60',
    // The abuse controls' wallet out of the way too (README "Abuse controls").
    RATE_LIMIT_TOKEN_DAILY: '999999/86400',
    RATE_LIMIT_GLOBAL: '999999/60',
    ...extra,
  };
}

const planned = (i: number, voice = 'alloy'): PlannedRequest => ({
  tag: voice === 'alloy' ? 'keep-alive' : 'probe',
  headers: { authorization: `Bearer ${tokens[i]}`, 'content-type': 'application/json' },
  body: JSON.stringify({ voice }),
});

/** A token request on its own connection (no pooled socket), recorded like the load's. */
function onFreshConnection(app: AppServer, p: PlannedRequest): Promise<Exchange> {
  const { traceId, traceparent } = newTrace();
  const sentAt = performance.now();
  return new Promise((resolve) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: app.port, path: TOKEN_PATH, method: 'POST', agent: false, headers: { ...p.headers, traceparent } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ sentAt, doneAt: performance.now(), status: res.statusCode, text, traceId, tag: p.tag, connection: res.headers.connection }));
        res.on('error', (error: NodeJS.ErrnoException) => resolve({ sentAt, doneAt: performance.now(), error: error.code ?? error.message, traceId, tag: p.tag }));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ sentAt, doneAt: performance.now(), error: error.code ?? error.message, traceId, tag: p.tag }));
    req.end(p.body);
  });
}

/** Every stdout line, once the exited server's pipe is drained. */
async function finalLogs(app: AppServer): Promise<LogLine[]> {
  const stdout = app.process.stdout!;
  if (!stdout.readableEnded && !stdout.destroyed) await once(stdout, 'close');
  return app.logs();
}

async function quitCalls(): Promise<number> {
  const client = redis.client();
  const stats = await client.info('commandstats');
  client.disconnect();
  return Number(/cmdstat_quit:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

async function drainUnderLoad(app: AppServer) {
  await warmUp(app.url, () => planned(0), 5);
  const load = startLoad(app.url, WORKERS, (w) => planned(w), { stopOnError: 1 });
  await sleep(1500);

  // Probes on their own connections, all held upstream when the signal arrives.
  const echoes = () => upstream.requests.filter((r) => r.body?.session?.audio?.output?.voice === 'echo').length;
  const before = echoes();
  const probes = Array.from({ length: PROBES }, (_, i) => onFreshConnection(app, planned(WORKERS + i, 'echo')));
  await until(() => echoes() >= before + PROBES, 10_000, 'probes in flight upstream');

  const signalledAt = performance.now();
  const exitCode = await app.stop('SIGTERM');
  const exitedAt = performance.now();
  const exchanges = [...(await load.stop()), ...(await Promise.all(probes))];
  const logs = await finalLogs(app);
  return { exchanges, logs, exitCode, signalledAt, exitedAt };
}

function judge(run: Awaited<ReturnType<typeof drainUnderLoad>>) {
  const { exchanges, logs, signalledAt } = run;
  const byTrace = new Map<string, LogLine[]>();
  for (const line of logs) if (line.traceId) byTrace.set(line.traceId, [...(byTrace.get(line.traceId) ?? []), line]);
  const problems: string[] = [];
  for (const e of exchanges) {
    const started = byTrace.has(e.traceId); // the server logged something for it: it was accepted
    const when = `${e.tag} sent ${(e.sentAt - signalledAt).toFixed(0)} ms from SIGTERM`;
    if (e.status !== undefined && e.status >= 500) problems.push(`${e.status} (${when}): ${e.text}`);
    if (started && e.error) problems.push(`accepted but dropped: ${e.error} (${when})`);
    if (e.error && !REFUSED.has(e.error)) problems.push(`unexpected error ${e.error} (${when})`);
    const issued = (byTrace.get(e.traceId) ?? []).some((l) => l.event === 'token_issued');
    if (e.status !== undefined && issued !== (e.status === 200)) problems.push(`token_issued logged ${issued} for a ${e.status} (${when})`);
  }
  const inFlight = exchanges.filter((e) => e.sentAt < signalledAt && e.doneAt > signalledAt);
  return {
    problems,
    figures: {
      requests: exchanges.length,
      outcomes: histogram(exchanges.map((e) => e.status ?? e.error!)),
      inFlightAtSigterm: inFlight.length,
      answeredAfterSigterm: exchanges.filter((e) => e.status !== undefined && e.doneAt > signalledAt).length,
      exitMs: Math.round(run.exitedAt - signalledAt),
    },
  };
}

describe('SIGTERM under load', () => {
  it('finishes every accepted request, closes connections after their last answer, exits 0 before the grace period', { timeout: 120_000 }, async () => {
    const app = await startApp(env());
    try {
      const run = await drainUnderLoad(app);
      const { problems, figures } = judge(run);
      console.log(`shutdown (memory limiter): ${JSON.stringify(figures)}`);
      expect(problems).toEqual([]);
      expect(run.exitCode).toBe(0);
      const probes = run.exchanges.filter((e) => e.tag === 'probe');
      expect(probes.map((e) => e.status)).toEqual(Array(PROBES).fill(200));
      // In-flight answers tell the client the connection is going away.
      expect(probes.map((e) => e.connection)).toEqual(Array(PROBES).fill('close'));
      expect(figures.inFlightAtSigterm).toBeGreaterThanOrEqual(PROBES);
      // Done when the last in-flight request is, not when the hard grace timer fires.
      expect(figures.exitMs).toBeLessThan(GRACE_MS / 2);
    } finally {
      await app.stop('SIGKILL');
    }
  });

  it('with REDIS_URL: closes the Redis connection (QUIT) after the last request, with no limiter degradation', { timeout: 120_000 }, async () => {
    // A generous command deadline: on a loaded 2-core box 50 ms is not always enough, and this test is not about outages.
    const app = await startApp(env({ REDIS_URL: redis.url, RATE_LIMIT_PREFIX: 'drain:', REDIS_TIMEOUT_MS: '1000' }));
    try {
      const quitsBefore = await quitCalls();
      const run = await drainUnderLoad(app);
      const { problems, figures } = judge(run);
      console.log(`shutdown (Redis limiter): ${JSON.stringify(figures)}`);
      expect(problems).toEqual([]);
      expect(run.exitCode).toBe(0);
      expect(figures.exitMs).toBeLessThan(GRACE_MS / 2);
      expect(await quitCalls()).toBe(quitsBefore + 1);
      // The store was closed after the drain: no request fell back to memory on the way out.
      expect(run.logs.filter((l) => l.event === 'rate_limit_store_degraded' || l.level === 'critical')).toEqual([]);
    } finally {
      await app.stop('SIGKILL');
    }
  });
});
