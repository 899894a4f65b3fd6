import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startMockOpenAI, type MockOpenAI } from '../support/upstream';
import { startApp, type AppServer } from '../support/app-server';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';
import { expectApiHeaders, newTrace, postToken } from './http';

/**
 * SIGTERM (what a container runtime sends on deploy) while a slow upstream
 * call is in flight: that request still gets its mapped answer, new
 * connections are refused, and the process exits 0.
 */

const TIMEOUT_MS = 2000;
let app: AppServer;
let upstream: MockOpenAI;

beforeAll(async () => {
  upstream = await startMockOpenAI({ mode: 'hang' });
  app = await startApp({
    OPENAI_API_KEY: 'sk-shutdown-key-0123456789',
    OPENAI_BASE_URL: upstream.baseUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
  });
});
afterAll(async () => {
  await app?.stop('SIGKILL');
  await upstream?.close();
});

/** Resolves once `predicate` holds, polling every 20 ms (fails after `ms`). */
async function until(predicate: () => boolean, ms = 10_000): Promise<void> {
  for (const start = Date.now(); !predicate(); ) {
    if (Date.now() - start > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
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

it('answers the in-flight request with its mapped 504, refuses new connections, and exits 0', async () => {
  const { traceId, traceparent } = newTrace();
  const inFlight = postToken(app, { authorization: `Bearer ${await signJwt()}`, traceparent }).then(async (res) => ({
    res,
    body: await res.json(),
    at: performance.now(),
  }));
  await until(() => upstream.requests.length === 1);

  const signalledAt = performance.now();
  const exited = app.stop('SIGTERM');
  await app.waitForLog((l) => l.event === 'server_stopping');
  expect(await freshConnection(app.port)).toBe('ECONNREFUSED');

  const { res, body, at } = await inFlight;
  expect(res.status).toBe(504);
  expect(body).toMatchObject({ error: 'upstream_timeout', traceId });
  expect(expectApiHeaders(res)).toBe(traceId);
  // The answer came from the upstream deadline, not from the shutdown.
  expect(at - signalledAt).toBeLessThan(TIMEOUT_MS + 500);

  expect(await exited).toBe(0);
  // No need to wait out the 10 s grace period once the last request is done.
  expect(performance.now() - at).toBeLessThan(5_000);
  const line = await app.waitForLog((l) => l.traceId === traceId && l.event === 'upstream_error', 2_000);
  expect(line).toMatchObject({ metadata: { code: 'upstream_timeout' } });
});
