import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GET as METRICS } from '@/app/api/metrics/route';
import { POST as TOKEN } from '@/app/api/realtime/token/route';
import { getRuntime } from '@/lib/runtime';
import { value } from '../support/metrics';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';
import { startReceiver, type Receiver } from '../support/webhook';
import { call, PEER_IP, routeHarness, SERVER_KEY, THROUGH_DOOR, tokenRequest } from './helpers';

/**
 * ALERT_WEBHOOK_URL through the routes: a critical event raised by a request
 * reaches a real loopback receiver, the request never waits for it, and the
 * payload carries nothing of the request's secrets or identity.
 */

const METRICS_TOKEN = 'metrics-scrape-token-0123456789abcdef0123456789';
let slow: Receiver;
let ok: Receiver;
const h = routeHarness({ METRICS_TOKEN, ALERT_TIMEOUT_MS: '1000' });

beforeAll(async () => {
  [slow, ok] = await Promise.all([startReceiver({ mode: 'slow' }), startReceiver()]);
});
afterAll(async () => {
  await Promise.all([slow?.close(), ok?.close()]);
});
beforeEach(() => {
  for (const r of [slow, ok]) {
    r.bodies.length = 0;
    r.raw.length = 0;
  }
});

const scrape = async (): Promise<string> =>
  (await call(METRICS, new Request('http://localhost:3000/api/metrics', { headers: { ...THROUGH_DOOR, 'x-forwarded-for': '192.0.2.50', authorization: `Bearer ${METRICS_TOKEN}` } }))).text;

describe('alert webhook from the routes', () => {
  it('a refused server key alerts; the 502 is answered while the slow receiver still holds the POST', async () => {
    h.configure({ ALERT_WEBHOOK_URL: slow.url });
    h.upstream.setMode('unauthorized');
    const jwt = await signJwt({}, { subject: 'user-alert-secret-id' });
    const res = await call(TOKEN, tokenRequest({ token: jwt }));
    expect(res.status).toBe(502);
    await slow.received(1);
    // The answer came back first: the alert POST is open and unanswered (the receiver waits 10 s).
    expect(slow.open).toBe(1);
    expect(slow.bodies[0]).toMatchObject({ event: 'upstream_error', level: 'critical', detail: { code: 'upstream_auth', status: 401 } });
    for (const secret of [SERVER_KEY, TEST_JWT_SECRET, jwt, METRICS_TOKEN, 'user-alert-secret-id', PEER_IP, 'sk-abc']) {
      expect(slow.raw[0]).not.toContain(secret);
    }
    await getRuntime().alerts!.idle();
    expect(value(await scrape(), 'rtg_alerts_total', { outcome: 'timeout' })).toBe(1);
  });

  it('a burst of critical events of one kind sends one POST; the next interval reports the rest', async () => {
    h.configure({ ALERT_WEBHOOK_URL: ok.url, ALERT_MIN_INTERVAL_MS: '60000' });
    h.upstream.setMode('unauthorized');
    for (let i = 0; i < 10; i++) expect((await call(TOKEN, tokenRequest())).status).toBe(502);
    await getRuntime().alerts!.idle();
    expect(ok.bodies).toHaveLength(1);
    const text = await scrape();
    expect(value(text, 'rtg_alerts_total', { outcome: 'sent' })).toBe(1);
    expect(value(text, 'rtg_alerts_total', { outcome: 'suppressed' })).toBe(9);
  });

  it('suspicious activity alerts without the IP its log line names', async () => {
    h.configure({ ALERT_WEBHOOK_URL: ok.url, RATE_LIMIT_SUSPICIOUS: '3/60' });
    for (let i = 0; i < 3; i++) expect((await call(TOKEN, tokenRequest({ origin: 'https://evil.example' }))).status).toBe(403);
    await getRuntime().alerts!.idle();
    expect(h.events('suspicious_activity')[0].message).toContain(PEER_IP);
    expect(ok.bodies).toEqual([expect.objectContaining({ event: 'suspicious_activity', detail: { threshold: 3, windowSeconds: 60 } })]);
    expect(ok.raw[0]).not.toContain(PEER_IP);
    expect(ok.raw[0]).not.toContain('evil.example');
  });

  it('sends nothing for events below critical, and nothing without ALERT_WEBHOOK_URL', async () => {
    h.configure({ ALERT_WEBHOOK_URL: ok.url });
    expect((await call(TOKEN, tokenRequest())).status).toBe(200);
    expect((await call(TOKEN, tokenRequest({ origin: 'https://evil.example' }))).status).toBe(403);
    await getRuntime().alerts!.idle();
    expect(ok.bodies).toHaveLength(0);
    h.configure();
    expect(getRuntime().alerts).toBeUndefined();
  });
});
