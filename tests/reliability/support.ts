import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AppServer, LogLine } from '../support/app-server';

/**
 * Shared parts of the reliability tests: a load generator that records every
 * exchange with its timing, a slow network link to put in front of the
 * upstream, log flushing, and the strings upstream answers carry that must
 * never reach a client.
 */

export const TOKEN_PATH = '/api/realtime/token';

/** Text from the stand-in's error bodies and headers: none of it may reach a client. */
export const UPSTREAM_TEXT = [
  'secret-upstream-detail', 'The server had an error', 'Incorrect API key', 'sk-abc', 'invalid_api_key', 'exceeded your current quota',
  'insufficient_quota', 'billing', 'Rate limit reached', 'rate_limit_exceeded', 'ek_truncated', 'server_error', 'invalid_request_error',
  'Supported values', '127.0.0.1:9', '/steal', 'padding', 'realtime.session',
];

export interface Exchange {
  /** performance.now() when the request was sent and when its answer (or error) was complete. */
  readonly sentAt: number;
  readonly doneAt: number;
  readonly status?: number;
  readonly headers?: Headers;
  readonly text?: string;
  /** Socket-level failure (no HTTP answer): the error code. */
  readonly error?: string;
  readonly traceId: string;
  readonly tag: string;
  /** Who sent it, where the plan said. */
  readonly user?: string;
  /** The answer's Connection header, where recorded. */
  readonly connection?: string;
}

/** A token request to send: POST unless `method` says otherwise. */
export interface PlannedRequest {
  readonly tag: string;
  /** Who sends it (copied to the exchange). */
  readonly user?: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly method?: string;
}

/** A fresh W3C traceparent and the trace id it carries. */
export function newTrace(): { traceId: string; traceparent: string } {
  const traceId = randomBytes(16).toString('hex');
  return { traceId, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` };
}

function errorCode(error: unknown): string {
  const e = error as { cause?: { code?: string }; code?: string; name?: string };
  return e?.cause?.code ?? e?.code ?? e?.name ?? 'unknown';
}

/** Sends one request (with a fresh traceparent) and records the exchange; never throws. */
export async function send(baseUrl: string, planned: PlannedRequest): Promise<Exchange> {
  const { traceId, traceparent } = newTrace();
  const who = { tag: planned.tag, user: planned.user };
  const sentAt = performance.now();
  try {
    const res = await fetch(`${baseUrl}${TOKEN_PATH}`, {
      method: planned.method ?? 'POST',
      headers: { ...planned.headers, traceparent },
      body: planned.body,
    });
    const text = await res.text();
    return { sentAt, doneAt: performance.now(), status: res.status, headers: res.headers, text, traceId, ...who };
  } catch (error) {
    return { sentAt, doneAt: performance.now(), error: errorCode(error), traceId, ...who };
  }
}

/**
 * Closed-loop load: `workers` clients, each sending `next()` back to back
 * until `stop()` is called (or a worker sees `stopOnError` errors in a row).
 * `baseUrl` may pick a server per worker and request (instances behind a
 * load balancer).
 */
export function startLoad(
  baseUrl: string | ((worker: number, i: number) => string),
  workers: number,
  next: (worker: number) => PlannedRequest | Promise<PlannedRequest>,
  options: { stopOnError?: number } = {},
): { exchanges: Exchange[]; stop(): Promise<Exchange[]> } {
  const exchanges: Exchange[] = [];
  let running = true;
  const url = typeof baseUrl === 'string' ? () => baseUrl : baseUrl;
  const loops = Array.from({ length: workers }, async (_, w) => {
    let errors = 0;
    for (let i = 0; running; i++) {
      const exchange = await send(url(w, i), await next(w));
      exchanges.push(exchange);
      errors = exchange.error ? errors + 1 : 0;
      if (options.stopOnError && errors >= options.stopOnError) return;
    }
  });
  return {
    exchanges,
    async stop() {
      running = false;
      await Promise.all(loops);
      return exchanges;
    },
  };
}

/**
 * Sends `count` requests one by one and expects `status` for each: a fresh
 * Next server loads route code on its first requests, which would otherwise
 * count against the time bounds of the first exchanges under test.
 */
export async function warmUp(baseUrl: string, planned: () => PlannedRequest, count = 20, status = 200): Promise<void> {
  for (let i = 0; i < count; i++) {
    const e = await send(baseUrl, planned());
    if (e.status !== status) throw new Error(`warm-up request answered ${e.status ?? e.error}: ${e.text ?? ''}`);
  }
}

/** Resolves once `predicate` holds, polling every 10 ms. */
export async function until(predicate: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  for (const start = Date.now(); !predicate(); ) {
    if (Date.now() - start > ms) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until every log line written so far has reached the test: a refused
 * preflight always logs, and stdout keeps its order. Touches no limiter.
 */
export async function flushLogs(app: AppServer): Promise<LogLine[]> {
  const { traceId, traceparent } = newTrace();
  const res = await fetch(`${app.url}${TOKEN_PATH}`, {
    method: 'OPTIONS',
    headers: { origin: 'https://log-flush.invalid', 'access-control-request-method': 'POST', traceparent },
  });
  await res.arrayBuffer();
  await app.waitForLog((l) => l.traceId === traceId, 30_000);
  return app.logs();
}

/** Counts values: `{ 200: 10, 502: 3 }`. */
export function histogram<T extends string | number>(values: Iterable<T>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[String(v)] = (out[String(v)] ?? 0) + 1;
  return out;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * A TCP link that delays everything the upstream sends by `delayMs` (read
 * when each chunk arrives), and forwards resets and closes after the same
 * delay: a slow network path in front of the real upstream.
 */
export interface SlowLink {
  readonly baseUrl: string;
  delayMs: number;
  close(): Promise<void>;
}

export async function startSlowLink(targetPort: number, path = '/v1'): Promise<SlowLink> {
  const sockets = new Set<Socket>();
  const link = { delayMs: 0 } as { delayMs: number };
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    // One queue per connection: bytes keep their order even when the delay changes.
    let queue = Promise.resolve();
    const later = (fn: () => void) => {
      const at = Date.now() + link.delayMs;
      queue = queue.then(() => sleep(at - Date.now())).then(fn);
    };
    client.on('data', (chunk) => upstream.write(chunk));
    client.on('end', () => upstream.end());
    client.on('error', () => upstream.destroy());
    client.on('close', () => {
      sockets.delete(client);
      upstream.destroy();
    });
    upstream.on('data', (chunk) => later(() => client.writable && client.write(chunk)));
    upstream.on('end', () => later(() => client.end()));
    upstream.on('error', () => later(() => client.resetAndDestroy()));
    upstream.on('close', () => sockets.delete(upstream));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return Object.assign(link, {
    baseUrl: `http://127.0.0.1:${port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
}

/**
 * Resident set size of a process in bytes, from /proc/<pid>/status (VmRSS);
 * undefined once the process is gone.
 */
export async function rssOf(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    return kb ? Number(kb[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
