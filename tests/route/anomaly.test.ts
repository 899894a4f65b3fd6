import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POST } from '@/app/api/realtime/token/route';
import { twoInstances } from '../support/instances';
import { startRedis, type RedisServer } from '../support/redis';
import { signJwt } from '../support/tokens';
import { call, routeHarness, tokenRequest, type Env } from './helpers';

/**
 * Anomaly detection per user (lib/anomaly/detectors.ts, lib/guards/anomaly.ts):
 * credential sharing, issuance spikes against the user's own baseline, and
 * impossible travel, each tried the way someone would try to stay under it.
 * The memory store runs on the harness's injected clock, so hours pass in
 * `advance`; the Redis cases use Redis's own clock.
 */

const h = routeHarness({ RATE_LIMIT_TOKEN: '100000/60', RATE_LIMIT_TOKEN_DAILY: '100000/86400', RATE_LIMIT_API: '100000/60', RATE_LIMIT_AUTH_FAILURES: '100000/300' });
let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.close();
});

const MINUTE = 60_000;
const detections = (detector?: string) => h.events('anomaly_detected').filter((e) => !detector || (e.metadata as { detector: string }).detector === detector);
const asUser = async (subject: string) => {
  const token = await signJwt({}, { subject, expiresIn: '10h' });
  return (forwardedFor = '203.0.113.7') => call(POST, tokenRequest({ token, forwardedFor }));
};
/** Addresses in `n` distinct /24s (documentation and public ranges; no country matters here). */
const networks = (n: number) => Array.from({ length: n }, (_, i) => `198.51.${100 + i}.${10 + i}`);

describe('credential sharing: one user from more than ANOMALY_MAX_NETWORKS networks within an hour', () => {
  const cases: Array<[label: string, addresses: string[], flagged: boolean]> = [
    ['five networks is within the limit', networks(5), false],
    ['a sixth network is flagged', networks(6), true],
    ['250 addresses inside one /24 are one network', Array.from({ length: 250 }, (_, i) => `198.51.100.${i}`), false],
    ['six /64s inside one /48 are one network', Array.from({ length: 6 }, (_, i) => `2001:db8:1:${i}::1`), false],
    ['six /48s are six networks', Array.from({ length: 6 }, (_, i) => `2001:db8:${i}::1`), true],
    ['IPv4-mapped forms are their IPv4 networks', [...networks(3), ...networks(3).map((a) => `::ffff:${a}`)], false],
  ];

  it.each(cases)('%s', async (_label, addresses, flagged) => {
    const send = await asUser(`share-${Math.random()}`);
    for (const address of addresses) expect((await send(address)).status).toBe(200);
    expect(detections('credential_sharing')).toHaveLength(flagged ? 1 : 0);
    if (!flagged) return;
    const [line] = detections();
    expect(line).toMatchObject({ level: 'warn', metadata: { detector: 'credential_sharing', mode: 'log', networks: 6, limit: 5, windowMinutes: 60 } });
    // The evidence is counts: no network or address appears in it.
    expect(JSON.stringify(line.metadata)).not.toMatch(/198\.51|2001:db8|::/);
  });

  it('networks seen more than an hour ago no longer count (the window slides)', async () => {
    const send = await asUser('slider');
    for (const a of networks(5)) await send(a);
    h.rt.advance(61 * MINUTE);
    for (const a of networks(10).slice(5)) await send(a);
    expect(detections()).toEqual([]);
  });

  it('an ongoing anomaly is logged once per cool-off period, not per request', async () => {
    const send = await asUser('loud');
    for (const a of networks(12)) await send(a);
    expect(detections()).toHaveLength(1);
    h.rt.advance(15 * MINUTE + 1000);
    await send(networks(13)[12]);
    expect(detections()).toHaveLength(2);
  });

  it('block mode: the request that crosses the line gets 429 anomaly_cooloff, and so does the user for the cool-off; others do not', async () => {
    h.configure({ ANOMALY_MODE: 'block', ANOMALY_COOLOFF_SECONDS: '600' });
    const send = await asUser('blocked');
    for (const a of networks(5)) expect((await send(a)).status).toBe(200);
    const crossing = await send(networks(6)[5]);
    expect(crossing).toMatchObject({ status: 429, body: { error: 'anomaly_cooloff' } });
    expect(crossing.headers.get('Retry-After')).toBe('600');
    expect(h.upstream.requests).toHaveLength(5);
    h.rt.advance(5 * MINUTE);
    const later = await send(networks(1)[0]);
    expect(later.status).toBe(429);
    expect(later.headers.get('Retry-After')).toBe('300');
    expect((await (await asUser('bystander'))(networks(1)[0])).status).toBe(200);
    expect(h.events('anomaly_cooloff').map((e) => e.userId)).toEqual(['jwt:blocked', 'jwt:blocked']);
    // Once the networks have left their hour, the user is back.
    h.rt.advance(61 * MINUTE);
    expect((await send(networks(1)[0])).status).toBe(200);
  });

  it('ANOMALY_MODE=off: nothing observed, nothing logged', async () => {
    h.configure({ ANOMALY_MODE: 'off' });
    const send = await asUser('unwatched');
    for (const a of networks(8)) expect((await send(a)).status).toBe(200);
    expect(detections()).toEqual([]);
  });
});

describe('issuance spike: last 10 minutes above k × the user’s own baseline, and above the floor', () => {
  async function burst(send: () => Promise<unknown>, n: number) {
    for (let i = 0; i < n; i++) await send();
  }

  it('a new user (no baseline) is held to the floor only: 20 in 10 minutes pass, the 21st is flagged', async () => {
    const send = await asUser('newcomer');
    await burst(send, 20);
    expect(detections('issuance_spike')).toEqual([]);
    await send();
    expect(detections('issuance_spike')).toHaveLength(1);
    expect(detections()[0].metadata).toMatchObject({ detector: 'issuance_spike', recent: 21, baseline: 0, factor: 4, floor: 20, windowMinutes: 10 });
  });

  it('a steady heavy user is judged against their own baseline: 30 after a baseline near 10 pass, 45 are flagged', async () => {
    const send = await asUser('steady');
    const start = h.rt.runtime.now();
    h.rt.advance(10 * MINUTE - (start % (10 * MINUTE)) + 1000);
    for (let bucket = 0; bucket < 30; bucket++) {
      await burst(send, 10);
      h.rt.advance(10 * MINUTE);
    }
    expect(detections()).toEqual([]);
    // After an empty bucket (no overlap with a previous one): 30 stay under 4 × the baseline (about 9).
    h.rt.advance(10 * MINUTE);
    await burst(send, 30);
    expect(detections()).toEqual([]);
    h.rt.advance(20 * MINUTE);
    await burst(send, 45);
    expect(detections('issuance_spike')).toHaveLength(1);
  });

  it('splitting a burst across a bucket boundary does not hide it', async () => {
    const send = await asUser('splitter');
    const start = h.rt.runtime.now();
    // Fifteen in the last minute of one bucket, fifteen in the first minute of the next.
    h.rt.advance(10 * MINUTE - (start % (10 * MINUTE)) - 30_000);
    await burst(send, 15);
    h.rt.advance(45_000);
    await burst(send, 15);
    expect(detections('issuance_spike')).toHaveLength(1);
  });
});

describe('impossible travel: a country change within ANOMALY_TRAVEL_MINUTES (geography on)', () => {
  // A deny list of a country none of these addresses is in turns geography on.
  const GEO: Env = { GEO_DENY_COUNTRIES: 'KP' };

  it.each<[label: string, env: Env, steps: Array<[address: string, minutes: number]>, countries: string[] | undefined]>([
    ['US then NL ten minutes later', GEO, [['8.8.8.8', 0], ['193.0.6.139', 10]], ['NL', 'US']],
    ['US then NL after the travel window', GEO, [['8.8.8.8', 0], ['193.0.6.139', 61]], undefined],
    ['a longer window catches it', { ...GEO, ANOMALY_TRAVEL_MINUTES: '120' }, [['8.8.8.8', 0], ['193.0.6.139', 90]], ['NL', 'US']],
    ['two networks in one country', GEO, [['8.8.8.8', 0], ['8.8.4.4', 1]], undefined],
    ['an unknown country between two visits to one', GEO, [['8.8.8.8', 0], ['10.0.0.1', 1], ['8.8.8.8', 2]], undefined],
    ['geography off: no country, no detection', {}, [['8.8.8.8', 0], ['193.0.6.139', 1]], undefined],
  ])('%s', async (_label, env, steps, countries) => {
    h.configure(env);
    const send = await asUser(`traveller-${Math.random()}`);
    let at = 0;
    for (const [address, minutes] of steps) {
      h.rt.advance((minutes - at) * MINUTE);
      at = minutes;
      expect((await send(address)).status).toBe(200);
    }
    const found = detections('impossible_travel');
    expect(found.map((e) => (e.metadata as { countries: string[] }).countries.slice().sort())).toEqual(countries ? [countries] : []);
  });

  it('behind a trusted platform its country header is the evidence', async () => {
    h.configure({ CLIENT_IP_HEADER: 'cf-connecting-ip', CLIENT_COUNTRY_HEADER: 'cf-ipcountry' });
    const token = await signJwt({}, { subject: 'platform-traveller' });
    for (const country of ['DE', 'BR']) {
      const res = await call(POST, tokenRequest({ token, forwardedFor: null, headers: { 'cf-connecting-ip': '8.8.8.8', 'cf-ipcountry': country } }));
      expect(res.status).toBe(200);
    }
    expect(detections('impossible_travel').map((e) => e.metadata)).toEqual([
      { detector: 'impossible_travel', mode: 'log', countries: ['BR', 'DE'], windowMinutes: 60 },
    ]);
  });
});

describe('across two instances on one Redis', () => {
  it('networks seen by either instance add up, and a cool-off opened by one is enforced by the other', async () => {
    const two = twoInstances(redis.url, h.upstream.baseUrl, {
      RATE_LIMIT_TOKEN: '1000/60',
      RATE_LIMIT_API: '1000/60',
      ANOMALY_MODE: 'block',
      ANOMALY_COOLOFF_SECONDS: '600',
    });
    try {
      const token = await signJwt({}, { subject: 'roaming' });
      const addresses = networks(6);
      const answers = [];
      for (const [i, address] of addresses.entries()) answers.push(await two.send(i % 2, tokenRequest({ token, forwardedFor: address })));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 429]);
      expect(two.events('anomaly_detected')).toHaveLength(1);
      // Instance 1 saw half the networks and did not open the cool-off; it enforces it all the same.
      const other = await two.send(0, tokenRequest({ token, forwardedFor: addresses[0] }));
      expect(other).toMatchObject({ status: 429, body: { error: 'anomaly_cooloff' } });
      expect(Number(other.headers.get('Retry-After'))).toBeGreaterThan(590);
    } finally {
      await two.close();
    }
  });
});
