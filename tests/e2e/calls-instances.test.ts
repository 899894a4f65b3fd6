import { afterAll, beforeAll, expect, it } from 'vitest';
import { startMockOpenAI } from '../../scripts/mock-openai.mjs';
import { startApp, type AppServer } from '../support/app-server';
import { startRedis, type RedisServer } from '../support/redis';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';
import { nodePeer } from '../support/webrtc-peer';

/**
 * Calls mode on two production servers (`npm start`) behind one private
 * redis-server: the call budgets are one budget across both, a call can be
 * ended through either, and when the instance that placed a call is killed,
 * the other one's sweeper hangs it up after its deadline.
 */

let redis: RedisServer;
let upstream: Awaited<ReturnType<typeof startMockOpenAI>>;
let offer: string;
const apps: AppServer[] = [];

const env = (extra: Record<string, string> = {}) => ({
  OPENAI_API_KEY: 'sk-test-e2e-calls-123456',
  OPENAI_BASE_URL: upstream.baseUrl,
  JWT_SECRET: TEST_JWT_SECRET,
  REDIS_URL: redis.url,
  RATE_LIMIT_PREFIX: 'e2e-calls:',
  REDIS_TIMEOUT_MS: '2000',
  RATE_LIMIT_API: '1000/60',
  RATE_LIMIT_TOKEN: '1000/60',
  REALTIME_MODE: 'calls',
  CALLS_MAX_CONCURRENT: '2',
  CALL_MAX_SECONDS: '2',
  ...extra,
});

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startMockOpenAI();
  const peer = await nodePeer();
  offer = peer.offer;
  await peer.close();
  apps.push(...(await Promise.all([startApp(env()), startApp(env())])));
}, 900_000);

afterAll(async () => {
  await Promise.all(apps.map((app) => app.stop()));
  await upstream?.close();
  await redis?.close();
});

function place(app: AppServer, jwt: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return fetch(`${app.url}/api/realtime/calls`, {
    method: 'POST',
    headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sdp: offer }),
  }).then(async (res) => ({ status: res.status, body: (await res.json()) as Record<string, unknown> }));
}

it('20 parallel call requests from one user across two instances open exactly CALLS_MAX_CONCURRENT', async () => {
  const [a, b] = apps;
  const jwt = await signJwt({}, { subject: 'e2e-calls-busy' });
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => place(i % 2 ? b : a, jwt)));
  const statuses = answers.map((x) => x.status).sort();
  expect(statuses.filter((s) => s === 201)).toHaveLength(2);
  expect(statuses.filter((s) => s === 429)).toHaveLength(18);
  expect(new Set(answers.filter((x) => x.status === 429).map((x) => x.body.error))).toEqual(new Set(['call_limit_reached']));
  // Both calls end at their 2 s deadline, each hung up exactly once.
  for (let t = Date.now(); upstream.calls.hangups.length < 2 && Date.now() - t < 8000; ) await new Promise((r) => setTimeout(r, 50));
  expect(upstream.calls.hangups).toHaveLength(2);
  await new Promise((r) => setTimeout(r, 500));
  expect(new Set(upstream.calls.hangups.map((h) => h.id)).size).toBe(2);
});

it('when the instance that placed a call is killed, the other instance hangs it up after the deadline', async () => {
  const [a, b] = apps;
  await upstream.calls.reset();
  const res = await place(a, await signJwt({}, { subject: 'e2e-calls-orphan' }));
  expect(res.status).toBe(201);
  await a.stop('SIGKILL');
  const killedAt = Date.now();
  const call = [...upstream.calls.calls.values()][0];
  // Deadline (2 s) + the sweepers' grace (5 s) + one sweep interval (5 s), with slack for a loaded box.
  for (; !call.ended && Date.now() - killedAt < 20_000; ) await new Promise((r) => setTimeout(r, 100));
  expect(call.ended).toBe(true);
  const ended = await b.waitForLog((l) => l.event === 'call_ended' && (l.metadata as { callId?: string }).callId === res.body.callId, 2000);
  expect(ended.metadata).toMatchObject({ reason: 'max_duration', sweptBy: 'sweeper' });
});
