import { afterAll, beforeAll, expect, it } from 'vitest';
import { startMockOpenAI } from '../../scripts/mock-openai.mjs';
import { startApp, type AppServer } from '../support/app-server';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';
import { nodePeer } from '../support/webrtc-peer';

/**
 * Without Redis no other instance knows a process's calls, so a graceful
 * shutdown (SIGTERM) hangs them up before the process exits (server/main.ts).
 */

let upstream: Awaited<ReturnType<typeof startMockOpenAI>>;
let app: AppServer;

beforeAll(async () => {
  upstream = await startMockOpenAI();
  app = await startApp({ OPENAI_API_KEY: 'sk-test-e2e-shutdown-123456', OPENAI_BASE_URL: upstream.baseUrl, JWT_SECRET: TEST_JWT_SECRET, REALTIME_MODE: 'calls' });
}, 900_000);

afterAll(async () => {
  await app?.stop();
  await upstream?.close();
});

it('SIGTERM without Redis hangs up the open calls before the process exits', async () => {
  const peer = await nodePeer();
  await peer.close();
  const res = await fetch(`${app.url}/api/realtime/calls`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await signJwt({}, { subject: 'e2e-shutdown' })}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sdp: peer.offer }),
  });
  expect(res.status).toBe(201);
  const { callId } = (await res.json()) as { callId: string };
  const call = [...upstream.calls.calls.values()][0];
  expect(await app.stop('SIGTERM')).toBe(0);
  expect(call.ended).toBe(true);
  expect(upstream.calls.hangups.map((h) => h.id)).toEqual([call.id]);
  expect(app.logs().find((l) => l.event === 'call_ended')?.metadata).toMatchObject({ callId, reason: 'upstream' });
});
