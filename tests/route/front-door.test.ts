import { describe, expect, it } from 'vitest';
import { POST } from '@/app/api/realtime/token/route';
import { FRONT_DOOR_HEADER } from '@/lib/guards/front-door';
import { call, routeHarness, tokenRequest } from './helpers';

/**
 * The route trusts a client address only from a request the front door
 * forwarded (it records the socket peer), or from the one platform header
 * named by CLIENT_IP_HEADER. Anything else — bare `next start`, `next dev`,
 * a misconfigured host — would let a client choose its own rate-limit key.
 */
const h = routeHarness();

describe('front_door guard', () => {
  it('a request without the front door\'s marker gets 503 and one critical line per process', async () => {
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const req = await tokenRequest({ forwardedFor: `198.51.100.${i}` });
      req.headers.delete(FRONT_DOOR_HEADER);
      answers.push(await call(POST, req));
    }
    for (const a of answers) expect(a.body).toMatchObject({ error: 'service_unavailable', traceId: a.headers.get('x-trace-id') });
    expect(answers.map((a) => a.status)).toEqual([503, 503, 503]);
    const critical = h.entries().filter((e) => e.level === 'critical');
    expect(critical).toHaveLength(1);
    expect(critical[0]).toMatchObject({ event: 'config_error' });
    expect(h.upstream.requests).toHaveLength(0);
    // Nothing was counted against any forged address.
    expect(h.events('auth_failure')).toHaveLength(0);
  });

  it.each([
    ['a guessed marker', '0'.repeat(32)],
    ['a marker of the wrong length', 'abc'],
    ['a non-ASCII marker', 'é'.repeat(32)],
  ])('%s is refused like a missing one', async (_label, marker) => {
    const answer = await call(POST, tokenRequest({ headers: { [FRONT_DOOR_HEADER]: marker } }));
    expect(answer.status).toBe(503);
  });

  it('with no marker configured at all (bare next start), nothing passes', async () => {
    h.configure({ RTG_FRONT_DOOR_MARKER: undefined });
    expect((await call(POST, tokenRequest())).status).toBe(503);
  });

  it('CLIENT_IP_HEADER: the platform header keys the client and X-Forwarded-For is ignored', async () => {
    h.configure({ CLIENT_IP_HEADER: 'cf-connecting-ip', RTG_FRONT_DOOR_MARKER: undefined, RATE_LIMIT_API: '2/60' });
    const from = (ip: string, forged: string) => call(POST, tokenRequest({ forwardedFor: forged, headers: { 'cf-connecting-ip': ip } }));
    expect((await from('192.0.2.10', '10.0.0.1')).status).toBe(200);
    expect((await from('192.0.2.10', '10.0.0.2')).status).toBe(200);
    // A new forged X-Forwarded-For does not buy a new window.
    expect((await from('192.0.2.10', '10.0.0.3')).status).toBe(429);
    expect((await from('192.0.2.11', '10.0.0.3')).status).toBe(200);
    expect(h.events('token_issued').map((e) => e.ip)).toEqual(['192.0.2.10', '192.0.2.10', '192.0.2.11']);
  });

  it('CLIENT_IP_HEADER with a list in it is no address at all ("unknown"), never its first entry', async () => {
    h.configure({ CLIENT_IP_HEADER: 'cf-connecting-ip', RTG_FRONT_DOOR_MARKER: undefined });
    await call(POST, tokenRequest({ headers: { 'cf-connecting-ip': '192.0.2.99, 192.0.2.10' } }));
    expect(h.events('token_issued')[0].ip).toBe('unknown');
  });
});
