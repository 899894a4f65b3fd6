import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppWithUpstream, type AppWithUpstream } from '../support/app-server';
import { value } from '../support/metrics';
import { exchange } from '../support/raw-http';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';
import { startReceiver, type Receiver } from '../support/webhook';
import { expectApiHeaders, postToken } from './http';

/**
 * GET /api/metrics and the alert webhook in the real server (`npm start`):
 * through the front door and Next's bundles, the series count what the front
 * door and the routes did, and a critical event reaches the webhook.
 */

const SERVER_KEY = 'sk-metrics-e2e-server-key-0123456789';
const METRICS_TOKEN = 'e2e-metrics-token-5b1f0c9e8d7a6b5c4d3e2f1a0b9c8d7e';
let server: AppWithUpstream;
let receiver: Receiver;

const scrape = (authorization = `Bearer ${METRICS_TOKEN}`) => fetch(`${server.app.url}/api/metrics`, { headers: { authorization } });

beforeAll(async () => {
  receiver = await startReceiver();
  server = await startAppWithUpstream({ OPENAI_API_KEY: SERVER_KEY, METRICS_TOKEN, ALERT_WEBHOOK_URL: receiver.url });
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

describe('metrics and alerts in the production server', () => {
  it('serves the series through the front door to the token only', async () => {
    const wrong = await scrape('Bearer not-the-token');
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).not.toContain('rtg_');
    const res = await scrape();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expectApiHeaders(res);
    expect(await res.text()).toContain('rtg_limiter_store_degraded 0');
  });

  it('counts a minted key, a front-door refusal and a refused server key, and alerts on the last one', async () => {
    expect((await postToken(server.app, { authorization: `Bearer ${await signJwt()}` })).status).toBe(200);
    const { responses } = await exchange(server.app.port, ['GET http://elsewhere/api/health HTTP/1.1\r\nHost: x\r\n\r\n']);
    expect(responses[0].status).toBe(400);
    server.upstream.setMode('unauthorized');
    const jwt = await signJwt({}, { subject: 'e2e-alert-user' });
    expect((await postToken(server.app, { authorization: `Bearer ${jwt}` })).status).toBe(502);

    const text = await (await scrape()).text();
    expect(value(text, 'rtg_security_events_total', { event: 'token_issued', level: 'info' })).toBe(1);
    expect(value(text, 'rtg_refusals_total', { code: 'bad_request' })).toBe(1);
    expect(value(text, 'rtg_refusals_total', { code: 'upstream_auth' })).toBe(1);
    expect(value(text, 'rtg_upstream_duration_seconds_count', { endpoint: 'client_secrets', outcome: '2xx' })).toBe(1);

    await receiver.received(1);
    expect(receiver.bodies[0]).toMatchObject({ event: 'upstream_error', level: 'critical', detail: { code: 'upstream_auth' } });
    for (const secret of [SERVER_KEY, TEST_JWT_SECRET, jwt, METRICS_TOKEN, 'e2e-alert-user', '127.0.0.1']) expect(receiver.raw[0]).not.toContain(secret);
    expect(server.app.stdout.join('\n')).not.toContain(METRICS_TOKEN);
  });
});
