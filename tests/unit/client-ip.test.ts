import { describe, expect, it } from 'vitest';
import { clientIp, ipKey } from '@/lib/client-ip';

/**
 * scripts/server.mjs appends the socket peer to X-Forwarded-For, so the header
 * the route sees is `<whatever the client sent>, <peer>`. These helpers build
 * exactly that, so the tables read as "attacker sends X, the socket is Y".
 */
function seenByRoute(clientSent: string | null, ...appended: string[]): string {
  return [clientSent, ...appended].filter((v) => v !== null).join(', ');
}

describe('X-Forwarded-For spoofing, no proxy in front (TRUSTED_PROXY_HOPS=0)', () => {
  const peer = '203.0.113.7';
  it.each([
    ['no header from the client', null],
    ['a forged single address', '1.1.1.1'],
    ['a forged chain', '1.1.1.1, 2.2.2.2, 3.3.3.3'],
    ['the victim address', '198.51.100.23'],
    ['a loopback address', '127.0.0.1'],
    ['garbage', 'not-an-ip'],
    ['an empty entry', ''],
    ['a trailing comma', '9.9.9.9,'],
    ['many entries', Array.from({ length: 500 }, (_, i) => `10.0.${i % 256}.${i % 200}`).join(',')],
    ['IPv6', '2001:db8::1'],
    ['a bracketed port', '[2001:db8::1]:443'],
    ['unknown token', 'unknown'],
  ])('the socket peer wins over %s', (_label, sent) => {
    expect(clientIp(seenByRoute(sent, peer), 0)).toBe(peer);
  });

  it('distinct forged headers from one socket share one key', () => {
    const keys = new Set(['1.1.1.1', '2.2.2.2', '1.1.1.1, 2.2.2.2', 'x'].map((sent) => clientIp(seenByRoute(sent, peer), 0)));
    expect([...keys]).toEqual([peer]);
  });
});

describe('behind trusted proxies', () => {
  // Client 198.51.100.5 → proxy A (appends client) → server (appends proxy A's address).
  it.each([
    ['honest client', null, '198.51.100.5'],
    ['client forging one entry', '1.1.1.1', '198.51.100.5'],
    ['client forging a chain', '1.1.1.1, 2.2.2.2', '198.51.100.5'],
    ['client forging garbage', 'evil', '198.51.100.5'],
  ])('one hop: %s → the address proxy A saw', (_label, sent, expected) => {
    expect(clientIp(seenByRoute(sent, '198.51.100.5', '10.0.0.2'), 1)).toBe(expected);
  });

  it.each([
    ['honest client', null],
    ['client forging a chain', '1.1.1.1, 2.2.2.2, 3.3.3.3'],
  ])('two hops: %s → the address the outer proxy saw', (_label, sent) => {
    // client → CDN (appends client) → load balancer (appends CDN) → server (appends LB)
    expect(clientIp(seenByRoute(sent, '198.51.100.5', '192.0.2.10', '10.0.0.2'), 2)).toBe('198.51.100.5');
  });

  it.each([
    ['hops=1, one entry', '10.0.0.2', 1, '10.0.0.2'],
    ['hops=2, two entries', '198.51.100.5, 10.0.0.2', 2, '198.51.100.5'],
    ['hops=5, two entries', '198.51.100.5, 10.0.0.2', 5, '198.51.100.5'],
  ])('a chain shorter than the hops falls back to its leftmost entry: %s', (_label, header, hops, expected) => {
    expect(clientIp(header, hops)).toBe(expected);
  });

  it('a misconfigured hop count cannot read past the left edge', () => {
    expect(() => clientIp('1.2.3.4', 10)).not.toThrow();
  });
});

describe('missing and garbage entries', () => {
  it.each([
    [null, 'unknown'],
    ['', 'unknown'],
  ])('%j → %s', (header, expected) => {
    expect(clientIp(header)).toBe(expected);
  });

  it.each([
    'not-an-ip',
    'unknown',
    ' ',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '01.2.3.4',
    '1.2.3.4:99999:1',
    '2001:db8:::1',
    '::ffff:999.1.1.1',
    'gggg::1',
    '1.2.3.4/24',
    '1.2.3.4 5.6.7.8',
    '<script>',
    'x'.repeat(10_000),
  ])('the entry %j becomes "invalid"', (entry) => {
    expect(clientIp(`1.1.1.1, ${entry}`, 0)).toBe('invalid');
  });

  it('all garbage entries share one key (they cannot mint fresh keys)', () => {
    const keys = new Set(['a', 'b', 'zzz', '999.1.1.1', ':::'].map((g) => clientIp(g)));
    expect([...keys]).toEqual(['invalid']);
  });
});

describe('ipKey normalisation', () => {
  it.each([
    ['plain IPv4', '203.0.113.7', '203.0.113.7'],
    ['IPv4 with port', '203.0.113.7:52311', '203.0.113.7'],
    ['bracketed IPv6 with port', '[2001:db8:1:2::5]:443', '2001:db8:1:2::/64'],
    ['bracketed IPv6 without port', '[2001:db8:1:2::5]', '2001:db8:1:2::/64'],
    ['IPv6 zone id', 'fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['bracketed IPv6 zone id and port', '[fe80::1%25eth0]:8080', 'fe80:0:0:0::/64'],
    ['IPv4-mapped IPv6', '::ffff:203.0.113.7', '203.0.113.7'],
    ['IPv4-mapped IPv6, upper case', '::FFFF:203.0.113.7', '203.0.113.7'],
    ['IPv4-mapped IPv6 in hex', '::ffff:cb00:7107', '203.0.113.7'],
    ['IPv4-mapped IPv6, fully written', '0:0:0:0:0:ffff:203.0.113.7', '203.0.113.7'],
    ['IPv4-mapped IPv6, bracketed with port', '[::ffff:203.0.113.7]:443', '203.0.113.7'],
    ['IPv6 loopback', '::1', '0:0:0:0::/64'],
    ['IPv6 with embedded IPv4 (not mapped)', '64:ff9b::203.0.113.7', '64:ff9b:0:0::/64'],
    ['IPv6 with embedded IPv4, no ::', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4::/64'],
  ])('%s: %s → %s', (_label, raw, expected) => {
    expect(ipKey(raw)).toBe(expected);
  });

  it('an IPv4 client and its IPv4-mapped form share one key', () => {
    expect(clientIp('::ffff:198.51.100.9')).toBe(clientIp('198.51.100.9'));
  });

  it('two addresses in the same /64 share a key, whatever their spelling', () => {
    const spellings = [
      '2001:db8:aa:bb::1',
      '2001:db8:aa:bb:ffff:ffff:ffff:ffff',
      '2001:0DB8:00aa:00BB:0:0:0:2',
      '[2001:db8:aa:bb::dead:beef]:1234',
      '2001:db8:aa:bb:1:2:3.4.5.6',
    ];
    const keys = new Set(spellings.map((ip) => clientIp(ip)));
    expect([...keys]).toEqual(['2001:db8:aa:bb::/64']);
  });

  it.each([
    ['2001:db8:aa:bb::1', '2001:db8:aa:bc::1'],
    ['2001:db8:aa:bb::1', '2001:db8:ab:bb::1'],
    ['2001:db8::1', '2001:db9::1'],
    ['2001:db8:aa:bb::1', '::ffff:203.0.113.7'],
  ])('different /64s get different keys: %s vs %s', (a, b) => {
    expect(clientIp(a)).not.toBe(clientIp(b));
  });

  it('an IPv6 attacker cannot rotate keys inside one /64', () => {
    const keys = new Set(Array.from({ length: 1000 }, (_, i) => clientIp(`2001:db8:1:2:${i.toString(16)}::${(i * 7).toString(16)}`)));
    expect(keys.size).toBe(1);
  });
});
