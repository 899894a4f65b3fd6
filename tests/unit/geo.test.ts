import { describe, expect, it } from 'vitest';
import { canonicalAddress, requestClient } from '@/lib/client-ip';
import { loadGeoDatabase } from '@/lib/geo';

/**
 * The offline IP-to-country database (@ip-location-db/geo-whois-asn-country-mmdb
 * through mmdb-lib), read as lib/geo.ts reads it. The data is the RIRs'
 * registrations, so documentation ranges have countries too (they are
 * registered to someone): tests must not take them for "unknown".
 */

const geo = loadGeoDatabase();
const country = (raw: string) => {
  const address = canonicalAddress(raw);
  return address === undefined ? undefined : geo.country(address);
};

describe('the packaged database', () => {
  it.each([
    ['8.8.8.8', 'US'],
    ['2001:4860:4860::8888', 'US'],
    ['193.0.6.139', 'NL'],
    ['198.51.100.7', 'AU'],
    ['203.0.113.7', 'AU'],
    ['2001:db8::1', 'JP'],
    // lib/client-ip.ts unwraps mapped addresses first; the database itself has no country for ::ffff:8.8.8.8.
    ['::ffff:8.8.8.8', 'US'],
    ['[2001:4860:4860::8888]:443', 'US'],
  ])('%s → %s', (address, code) => {
    expect(country(address)).toBe(code);
  });

  it.each(['10.0.0.1', '127.0.0.1', '100.64.0.1', '169.254.1.1', '::1', 'fd00::1', '0.0.0.0', '255.255.255.255', 'fe80::1'])('%s has no country (private or special)', (address) => {
    expect(country(address)).toBeUndefined();
  });

  // A fact of this data set (README "Geography"): not every private range is unknown.
  it.each([['192.168.1.1', 'AU'], ['172.16.0.1', 'AU']])('%s → %s in this data, although private', (address, code) => {
    expect(country(address)).toBe(code);
  });

  it('looks up IPv6 clients by their full address, which the context carries beside the /64 key', () => {
    const headers = new Headers({ 'x-forwarded-for': '2001:4860:4860::8888' });
    const client = requestClient(headers, { clientIpHeader: undefined, trustedProxyHops: 0 });
    expect(client).toEqual({ ip: '2001:4860:4860:0::/64', address: '2001:4860:4860::8888' });
    expect(geo.country(client.address!)).toBe('US');
    // The /64 network address looks up the same country as any address in it.
    expect(geo.country('2001:4860:4860::')).toBe('US');
  });

  it('loads once per process: every runtime shares one reader', () => {
    expect(loadGeoDatabase()).toBe(geo);
    expect(geo.builtAt.getTime()).toBeGreaterThan(Date.UTC(2024, 0, 1));
  });

  it('answers undefined, never throws, for what is not an address, and only ISO codes otherwise', () => {
    for (const junk of ['', 'x', '1.2.3.4.5', ':::', '2001:db8::/64x']) expect(geo.country(junk)).toBeUndefined();
    for (let i = 0; i < 256; i++) {
      const code = geo.country(`${i}.${(i * 7) & 255}.1.1`);
      if (code !== undefined) expect(code).toMatch(/^[A-Z]{2}$/);
    }
  });
});
