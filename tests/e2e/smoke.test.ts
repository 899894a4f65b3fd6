import { afterAll, beforeAll, expect, it } from 'vitest';
import { startMockOpenAI, type MockOpenAI } from '../support/upstream';
import { startApp, type AppServer } from '../support/app-server';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';

let app: AppServer;
let upstream: MockOpenAI;

beforeAll(async () => {
  upstream = await startMockOpenAI();
  app = await startApp({ OPENAI_API_KEY: 'sk-test-e2e-key-123456', OPENAI_BASE_URL: upstream.baseUrl, JWT_SECRET: TEST_JWT_SECRET });
});
afterAll(async () => {
  await app?.stop();
  await upstream?.close();
});

it('issues a token through the production server', async () => {
  const res = await fetch(`${app.url}/api/realtime/token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await signJwt()}`, 'content-type': 'application/json' },
    body: '{}',
  });
  expect(res.status).toBe(200);
  const body = await res.json();
  expect(body.value).toMatch(/^ek_/);
});
