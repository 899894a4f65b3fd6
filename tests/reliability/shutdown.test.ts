import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockOpenAI, type MockOpenAI } from '../support/upstream';
import { startApp, type AppServer, type LogLine } from '../support/app-server';
import { startRedis, type RedisServer } from '../support/redis';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';
import { expectApiHeaders } from '../e2e/http';
import { histogram, newTrace, sleep, startLoad, startSlowLink, TOKEN_PATH, until, warmUp, type Exchange, type PlannedRequest, type SlowLink } from './support';

/**
 * SIGTERM (what a container runtime sends on deploy) under load. Keep-alive
 * clients keep sending while every token request spends ~600 ms upstream;
 * more requests on fresh connections are mid-flight when the signal arrives,
 * one of them held by an upstream that never answers. Every request the
 * server had started on gets its complete, normal answer (no 5xx, no reset),
 * the held one its mapped 504 when the upstream deadline fires; new
 * connections are refused; connections close after their last answer instead
 * of idling until the hard grace exit; the process exits 0 well before that
 * grace period, and with REDIS_URL the limiter's Redis connection is closed
 * with QUIT, after the last request.
 */

const UPSTREAM_DELAY_MS = 600;
/** The upstream deadline of the memory-limiter run, which holds one request upstream until it fires. */
const DEADLINE_MS = 1500;
/** The voice the stand-in never answers for (the held request). */
const HELD_VOICE = 'shimmer';
const WORKERS = 6;
const PROBES = 8;
/** scripts/server.mjs exits after this grace period whatever is still open. */
const GRACE_MS = 10_000;
/** Socket-level outcomes a request the server never started on may see. */
const REFUSED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'socket hang up']);

let upstream: MockOpenAI;
let link: SlowLink;
let redis: RedisServer;
let tokens: string[];

beforeAll(async () => {
  upstream = await startMockOpenAI();
  link = await startSlowLink(Number(new URL(upstream.baseUrl).port));
  link.delayMs = UPSTREAM_DELAY_MS;
  redis = await startRedis();
  tokens = await Promise.all(Array.from({ length: WORKERS + PROBES + 1 }, (_, i) => signJwt({}, { subject: `drain-${i}`, expiresIn: '30m' })));
});

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

const TAGS: Record<string, string> = { alloy: 'keep-alive', echo: 'probe', [HELD_VOICE]: 'held' };
const planned = (i: number, voice = 'alloy'): PlannedRequest => ({
  tag: TAGS[voice],
  headers: { authorization: `Bearer ${tokens[i]}`, 'content-type': 'application/json' },
  body: JSON.stringify({ voice }),
});

/** A token request on its own connection (no pooled socket), recorded like the load's (with its headers). */
function onFreshConnection(app: AppServer, p: PlannedRequest): Promise<Exchange> {
  const { traceId, traceparent } = newTrace();
  const sentAt = performance.now();
  return new Promise((resolve) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: app.port, path: TOKEN_PATH, method: 'POST', agent: false, headers: { ...p.headers, traceparent } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') headers.set(name, value);
          resolve({ sentAt, doneAt: performance.now(), status: res.statusCode, headers, text, traceId, tag: p.tag, connection: res.headers.connection });
        });
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

/** A request on a new connection (no pooled keep-alive socket): resolves with the status or the socket error code. */
function freshConnection(port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end();
  });
}

/**
 * Load, probes in flight (and with `held`, one request the upstream never
 * answers), then SIGTERM; a new connection is tried once the server says it
 * is stopping.
 */
async function drainUnderLoad(app: AppServer, { held = false } = {}) {
  await warmUp(app.url, () => planned(0), 5);
  const load = startLoad(app.url, WORKERS, (w) => planned(w), { stopOnError: 1 });
  await sleep(1000);

  // Probes on their own connections, all held upstream when the signal arrives.
  const voices = (voice: string) => upstream.requests.filter((r) => r.body?.session?.audio?.output?.voice === voice).length;
  const before = { echo: voices('echo'), held: voices(HELD_VOICE) };
  const probes = Array.from({ length: PROBES }, (_, i) => onFreshConnection(app, planned(WORKERS + i, 'echo')));
  if (held) probes.push(onFreshConnection(app, planned(WORKERS + PROBES, HELD_VOICE)));
  await until(() => voices('echo') >= before.echo + PROBES && voices(HELD_VOICE) >= before.held + (held ? 1 : 0), 10_000, 'probes in flight upstream');

  const signalledAt = performance.now();
  const exiting = app.stop('SIGTERM');
  await app.waitForLog((l) => l.event === 'server_stopping');
  // The listening socket closes on the server's next loop turn: a connection that reaches its
  // backlog first is reset, never served. Try until one is refused, recording every outcome.
  const newConnections: Array<number | string> = [];
  do newConnections.push(await freshConnection(app.port));
  while (newConnections.at(-1) !== 'ECONNREFUSED' && typeof newConnections.at(-1) === 'string' && newConnections.length < 50);
  const exitCode = await exiting;
  const exitedAt = performance.now();
  const exchanges = [...(await load.stop()), ...(await Promise.all(probes))];
  const logs = await finalLogs(app);
  return { exchanges, logs, exitCode, signalledAt, exitedAt, newConnections };
}

/** Every exchange but the held one (judged on its own): complete, normal answers only. */
function judge(run: Awaited<ReturnType<typeof drainUnderLoad>>) {
  const { logs, signalledAt } = run;
  const exchanges = run.exchanges.filter((e) => e.tag !== 'held');
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
    upstream.setModeFor(HELD_VOICE, 'hang');
    const app = await startApp(env({ UPSTREAM_TIMEOUT_MS: String(DEADLINE_MS) }));
    try {
      const run = await drainUnderLoad(app, { held: true });
      const { problems, figures } = judge(run);
      console.log(`shutdown (memory limiter): ${JSON.stringify(figures)}`);
      expect(problems).toEqual([]);
      expect(run.exitCode).toBe(0);
      // Stopping means no new connections, while the accepted ones finish.
      expect(run.newConnections.filter((c) => typeof c === 'number'), 'new connections served').toEqual([]);
      expect(run.newConnections.at(-1)).toBe('ECONNREFUSED');

      // The request the upstream never answers gets its mapped 504 with the API headers, from the
      // upstream deadline, not from the shutdown; the exit follows it without waiting out the grace period.
      const [held] = run.exchanges.filter((e) => e.tag === 'held');
      expect(held.status).toBe(504);
      expect(JSON.parse(held.text!)).toMatchObject({ error: 'upstream_timeout', traceId: held.traceId });
      expect(expectApiHeaders(new Response(null, { headers: held.headers }))).toBe(held.traceId);
      expect(held.doneAt - run.signalledAt).toBeLessThan(DEADLINE_MS + 500);
      expect(run.exitedAt - held.doneAt).toBeLessThan(5_000);
      expect(run.logs.find((l) => l.traceId === held.traceId && l.event === 'upstream_error')).toMatchObject({ metadata: { code: 'upstream_timeout' } });

      const probes = run.exchanges.filter((e) => e.tag === 'probe');
      expect(probes.map((e) => e.status)).toEqual(Array(PROBES).fill(200));
      // In-flight answers tell the client the connection is going away.
      expect(probes.map((e) => e.connection)).toEqual(Array(PROBES).fill('close'));
      expect(figures.inFlightAtSigterm).toBeGreaterThanOrEqual(PROBES);
      // Done when the last in-flight request is, not when the hard grace timer fires.
      expect(figures.exitMs).toBeLessThan(GRACE_MS / 2);
    } finally {
      upstream.setModeFor(HELD_VOICE, undefined);
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
