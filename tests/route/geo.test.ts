import { describe, expect, it } from 'vitest';
import { POST } from '@/app/api/realtime/token/route';
import { call, routeHarness, tokenRequest, type Env, type RequestOptions } from './helpers';

/**
 * Geography (lib/guards/geo.ts): the client's country from the packaged
 * offline database, or from the platform's header where a trusted platform
 * is in front (CLIENT_COUNTRY_HEADER, only with CLIENT_IP_HEADER). Countries
 * below come from that database: 203.0.113.7 (the default peer) → AU,
 * 8.8.8.8 → US, 193.0.6.139 → NL, 2001:db8::/32 → JP, 10.0.0.1 → none.
 */

const h = routeHarness({ RATE_LIMIT_TOKEN: '1000/60' });

const DENY_AU = { GEO_DENY_COUNTRIES: 'AU' };
const ALLOW_US_NL = { GEO_ALLOW_COUNTRIES: 'us,nl' };
const PLATFORM = { CLIENT_IP_HEADER: 'cf-connecting-ip', CLIENT_COUNTRY_HEADER: 'cf-ipcountry', GEO_ALLOW_COUNTRIES: 'DE' };
const platform = (country: string | undefined, ip = '8.8.8.8'): RequestOptions => ({
  forwardedFor: null,
  headers: { 'cf-connecting-ip': ip, ...(country === undefined ? {} : { 'cf-ipcountry': country }) },
});

describe('attempts to get around the country check', () => {
  const cases: Array<[label: string, env: Env, options: RequestOptions, status: number, country?: string]> = [
    ['deny list: a listed country is refused', DENY_AU, {}, 403, 'AU'],
    ['deny list: another country passes', DENY_AU, { forwardedFor: '8.8.8.8' }, 200],
    ['deny list: prepending an unlisted address to X-Forwarded-For changes nothing', DENY_AU, { forwardedFor: '8.8.8.8, 203.0.113.7' }, 403, 'AU'],
    ['deny list: a client-sent cf-ipcountry is ignored without a trusted platform', DENY_AU, { headers: { 'cf-ipcountry': 'US' } }, 403, 'AU'],
    ['deny list: a client-sent x-vercel-ip-country is ignored', DENY_AU, { headers: { 'x-vercel-ip-country': 'US' } }, 403, 'AU'],
    ['deny list: the IPv4-mapped IPv6 form of a listed address', DENY_AU, { forwardedFor: '::ffff:203.0.113.7' }, 403, 'AU'],
    ['deny list: an IPv6 client, looked up by its full address (not the /64 key)', { GEO_DENY_COUNTRIES: 'JP' }, { forwardedFor: '2001:db8:1:2::5' }, 403, 'JP'],
    ['deny list: a bracketed IPv6 with a port', { GEO_DENY_COUNTRIES: 'JP' }, { forwardedFor: '[2001:db8::7]:4711' }, 403, 'JP'],
    ['allow list: listed countries pass (US)', ALLOW_US_NL, { forwardedFor: '8.8.8.8' }, 200],
    ['allow list: listed countries pass (NL)', ALLOW_US_NL, { forwardedFor: '193.0.6.139' }, 200],
    ['allow list: every other country is refused', ALLOW_US_NL, {}, 403, 'AU'],
    ['allow list: an unknown country passes by default (GEO_UNKNOWN=allow)', ALLOW_US_NL, { forwardedFor: '10.0.0.1' }, 200],
    ['allow list: an unknown country is refused with GEO_UNKNOWN=deny', { ...ALLOW_US_NL, GEO_UNKNOWN: 'deny' }, { forwardedFor: '10.0.0.1' }, 403, 'unknown'],
    ['allow list: a request with no client address at all, GEO_UNKNOWN=deny', { ...ALLOW_US_NL, GEO_UNKNOWN: 'deny' }, { forwardedFor: null }, 403, 'unknown'],
    ['allow list: a garbage client address, GEO_UNKNOWN=deny', { ...ALLOW_US_NL, GEO_UNKNOWN: 'deny' }, { forwardedFor: '8.8.8.8.8' }, 403, 'unknown'],
    ['platform: its header decides over the database', PLATFORM, platform('DE'), 200],
    ['platform: lower case is the same country', PLATFORM, platform('de'), 200],
    ['platform: another country in the header is refused', PLATFORM, platform('US'), 403, 'US'],
    ['platform: XX (the platform does not know) falls back to the database', PLATFORM, platform('XX', '193.0.6.139'), 403, 'NL'],
    ['platform: two values in the header fall back to the database', PLATFORM, platform('DE, US'), 403, 'US'],
    ['platform: a three-letter code falls back to the database', PLATFORM, platform('DEU'), 403, 'US'],
    ['platform: an empty header falls back to the database', PLATFORM, platform(''), 403, 'US'],
    ['platform: no header falls back to the database', PLATFORM, platform(undefined), 403, 'US'],
  ];

  it.each(cases)('%s', async (_label, env, options, status, country) => {
    h.configure(env);
    const res = await call(POST, tokenRequest(options));
    expect(res.status).toBe(status);
    if (status === 200) {
      expect(h.events('geo_blocked')).toEqual([]);
      return;
    }
    expect(res.body).toMatchObject({ error: 'geo_blocked' });
    expect(h.upstream.requests).toHaveLength(0);
    // One line, with the country only (never the database's other fields), and nothing verified before it.
    const lines = h.entries();
    expect(lines.map((e) => e.event)).toEqual(['geo_blocked']);
    expect(lines[0]).toMatchObject({ level: 'warn', metadata: { code: 'geo_blocked', country } });
    expect(Object.keys(lines[0].metadata as object).sort()).toEqual(['code', 'country']);
  });
});

describe('geography off', () => {
  it('without a country list every country passes and no database lookup is made', async () => {
    h.configure();
    expect(h.rt.runtime.geo).toBeUndefined();
    expect((await call(POST, tokenRequest())).status).toBe(200);
    expect((await call(POST, tokenRequest({ headers: { 'cf-ipcountry': 'KP' } }))).status).toBe(200);
  });
});

describe('order', () => {
  it('a blocked country is refused before the body is read or any credential verified: no auth line, no auth-failure unit used', async () => {
    h.configure(DENY_AU);
    const forged = await call(POST, tokenRequest({ token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', body: '{oops', contentType: 'text/plain' }));
    expect(forged.status).toBe(403);
    expect(h.entries().map((e) => e.event)).toEqual(['geo_blocked']);
    const peek = await h.rt.runtime.store.peek('203.0.113.7', h.rt.runtime.config.rateLimits.authFailures);
    expect(peek.remaining).toBe(20);
  });
});
