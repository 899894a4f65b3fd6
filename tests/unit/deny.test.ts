import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalAddress } from '@/lib/client-ip';
import { ConfigError } from '@/lib/config';
import { compileDenyList, parseDenyEntry, type DenyEntry } from '@/lib/deny';
import { createDenyLists, parseDenyFile } from '@/lib/deny-file';
import { createSecurityLogger, type SecurityLogEntry } from '@/lib/security-logger';

/**
 * The deny-list matcher (lib/deny.ts) and its file (lib/deny-file.ts): exact
 * CIDR matching for both families at every edge, and reloads that never
 * leave a half-read or broken list in force.
 */

const list = (...entries: string[]) => compileDenyList(entries.map((e) => parseDenyEntry(e)!));
// Client addresses reach the matcher canonical, as lib/client-ip.ts makes them.
const denies = (entries: string[], client: string) => list(...entries).hasAddress(canonicalAddress(client));

describe('CIDR matching: exact at every edge, both families', () => {
  const cases: Array<[label: string, entries: string[], client: string, denied: boolean]> = [
    ['IPv4 /32 matches itself', ['203.0.113.7'], '203.0.113.7', true],
    ['IPv4 /32 not its neighbour', ['203.0.113.7/32'], '203.0.113.8', false],
    ['IPv4 /24 first address', ['198.51.100.0/24'], '198.51.100.0', true],
    ['IPv4 /24 last address', ['198.51.100.0/24'], '198.51.100.255', true],
    ['IPv4 /24 one past the end', ['198.51.100.0/24'], '198.51.101.0', false],
    ['IPv4 /24 one before the start', ['198.51.100.0/24'], '198.51.99.255', false],
    ['IPv4 /31 pair', ['192.0.2.6/31'], '192.0.2.7', true],
    ['IPv4 /31 outside the pair', ['192.0.2.6/31'], '192.0.2.8', false],
    ['IPv4 /1 upper half holds 255.255.255.255', ['128.0.0.0/1'], '255.255.255.255', true],
    ['IPv4 /1 upper half not 127.255.255.255', ['128.0.0.0/1'], '127.255.255.255', false],
    ['IPv4 /0 holds everything IPv4', ['0.0.0.0/0'], '8.8.8.8', true],
    ['IPv4 /0 does not hold native IPv6', ['0.0.0.0/0'], '2001:db8::1', false],
    ['host bits in an entry are masked off', ['10.1.2.3/8'], '10.200.0.1', true],
    ['IPv6 /128 matches itself', ['2001:db8::1'], '2001:db8::1', true],
    ['IPv6 /128 not its neighbour in the same /64', ['2001:db8::1/128'], '2001:db8::2', false],
    ['IPv6 /128 written differently still matches', ['2001:0db8:0000:0000:0000:0000:0000:0001'], '2001:DB8::1', true],
    ['IPv6 /64 holds any interface id', ['2001:db8:1:2::/64'], '2001:db8:1:2:ffff:ffff:ffff:ffff', true],
    ['IPv6 /64 not the next /64', ['2001:db8:1:2::/64'], '2001:db8:1:3::', false],
    ['IPv6 /33 boundary inside', ['2001:db8:8000::/33'], '2001:db8:ffff::1', true],
    ['IPv6 /33 boundary outside', ['2001:db8:8000::/33'], '2001:db8:7fff::1', false],
    ['IPv6 /0 holds every IPv6', ['::/0'], 'fe80::1', true],
    ['IPv6 /0 holds IPv4 too (its mapped block)', ['::/0'], '8.8.8.8', true],
    ['IPv4-mapped entry denies the IPv4 address', ['::ffff:203.0.113.7'], '203.0.113.7', true],
    ['IPv4-mapped client matches an IPv4 entry', ['203.0.113.7'], '::ffff:203.0.113.7', true],
    ['IPv4-mapped client in hex form', ['203.0.113.0/24'], '::ffff:cb00:7109', true],
    ['IPv4-mapped /104 is IPv4 /8', ['::ffff:10.0.0.0/104'], '10.9.9.9', true],
    ['IPv4-mapped /104 not outside the /8', ['::ffff:10.0.0.0/104'], '11.0.0.1', false],
    ['the mapped block /96 is all of IPv4', ['::ffff:0:0/96'], '1.2.3.4', true],
    ['an IPv6 /96 elsewhere holds no IPv4', ['2001:db8::/96'], '1.2.3.4', false],
    ['IPv4-compatible ::a.b.c.d is not the IPv4 address', ['203.0.113.7'], '::203.0.113.7', false],
    ['unknown client address is not denied', ['0.0.0.0/0', '::/0'], 'not-an-address', false],
    ['bracketed IPv6 with a port', ['2001:db8::1'], '[2001:db8::1]:443', true],
    ['IPv4 with a port', ['203.0.113.7'], '203.0.113.7:51000', true],
    ['IPv6 zone id dropped', ['fe80::1'], 'fe80::1%eth0', true],
  ];

  it.each(cases)('%s', (_label, entries, client, denied) => {
    expect(denies(entries, client)).toBe(denied);
  });

  it('matches the same with many entries of mixed lengths as with one (no entry shadows another)', () => {
    const many = [...Array.from({ length: 500 }, (_, i) => `100.${64 + (i >> 8)}.${i & 255}.0/24`), ...Array.from({ length: 500 }, (_, i) => `fd00:${i.toString(16)}::/32`)];
    for (const [, entries, client, denied] of cases) {
      if (entries.some((e) => e.includes('/0') || e.endsWith('/96'))) continue;
      expect(list(...many, ...entries).hasAddress(canonicalAddress(client)), client).toBe(denied);
    }
  });
});

describe('entries', () => {
  const bad = ['', 'alice', 'jwt: alice', 'jwt:', '1.2.3.4/33', '2001:db8::/129', '1.2.3.4/-1', '1.2.3.4/', '01.2.3.4', '1.2.3', '::g', 'jwt:a,b', 'JWT:alice', '1.2.3.4/24/8'];
  it.each(bad)('refuses %j', (entry) => {
    expect(parseDenyEntry(entry)).toBeUndefined();
  });

  it.each<[string, DenyEntry['kind']]>([
    ['jwt:alice', 'user'],
    ['clerk:user_2abcDEF', 'user'],
    ['jwks:https://idp.example/sub', 'user'],
    ['203.0.113.7', 'ip4'],
    ['203.0.113.0/24', 'ip4'],
    ['::ffff:203.0.113.7', 'ip4'],
    ['2001:db8::/32', 'ip6'],
  ])('takes %s as %s', (entry, kind) => {
    expect(parseDenyEntry(entry)?.kind).toBe(kind);
  });

  it('user ids match exactly: no prefix, case or trimming games', () => {
    const users = list('jwt:alice').users;
    expect(['jwt:alice', 'jwt:Alice', 'jwt:alice ', 'clerk:alice', 'alice', 'jwt:alic'].map((u) => users.has(u))).toEqual([true, false, false, false, false, false]);
  });
});

describe('DENY_LIST_FILE', () => {
  let dir: string;
  const lines: string[] = [];
  const logger = createSecurityLogger({ sink: (line) => void lines.push(line) });
  const logged = () => lines.map((l) => JSON.parse(l) as SecurityLogEntry);
  const config = (file: string, entries: DenyEntry[] = []) => ({ deny: { entries, file } });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rtg-deny-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('parses entries, comments and blank lines; a bad line names its number, never its content', () => {
    expect(parseDenyFile('# blocked\njwt:mallory\n\n203.0.113.0/24   # abuse report 17\r\n2001:db8::/32\n')).toMatchObject({ entries: [{ kind: 'user' }, { kind: 'ip4' }, { kind: 'ip6' }] });
    const broken = parseDenyFile('jwt:ok\nsecret-value-here\n');
    expect(broken).toEqual({ problem: 'line 2 is neither a user id (clerk:…, jwt:…) nor an IP address or CIDR' });
  });

  it('a bad file at start stops the start, naming the variable and the line only', async () => {
    const file = join(dir, 'bad-start.txt');
    await writeFile(file, '203.0.113.7\nhunter2\n');
    expect(() => createDenyLists(config(file), logger)).toThrow(ConfigError);
    expect(() => createDenyLists(config(file), logger)).toThrow(/DENY_LIST_FILE line 2/);
    expect(() => createDenyLists(config(file), logger)).not.toThrow(/hunter2/);
    expect(() => createDenyLists(config(join(dir, 'missing.txt')), logger)).toThrow(/DENY_LIST_FILE could not be read \(ENOENT\)/);
  });

  it('SIGHUP re-reads the file; a broken or vanished file keeps the previous list and logs why', async () => {
    const file = join(dir, 'deny.txt');
    await writeFile(file, 'jwt:mallory\n');
    const lists = createDenyLists(config(file, [parseDenyEntry('jwt:from-env')!]), logger);
    try {
      expect(process.listenerCount('SIGHUP')).toBeGreaterThan(0);
      const current = () => lists.current();
      expect([...current().users].sort()).toEqual(['jwt:from-env', 'jwt:mallory']);

      await writeFile(file, 'jwt:eve\n198.51.100.0/24\n');
      const before = current();
      // A real signal, delivered by the kernel to this process.
      process.kill(process.pid, 'SIGHUP');
      await expect.poll(() => current() !== before, { timeout: 5000 }).toBe(true);
      expect([...current().users].sort()).toEqual(['jwt:eve', 'jwt:from-env']);
      expect(current().hasAddress('198.51.100.9')).toBe(true);
      expect(logged().filter((e) => e.event === 'deny_list_reloaded')).toHaveLength(1);

      await writeFile(file, 'jwt:eve\nnot an entry\n');
      expect(await lists.reload()).toBe(false);
      await rm(file);
      expect(await lists.reload()).toBe(false);
      expect([...current().users].sort()).toEqual(['jwt:eve', 'jwt:from-env']);
      const errors = logged().filter((e) => e.event === 'config_error');
      expect(errors.map((e) => (e.metadata as { reason: string }).reason)).toEqual(['line 2 is neither a user id (clerk:…, jwt:…) nor an IP address or CIDR', 'could not be read (ENOENT)']);
      expect(errors.every((e) => e.level === 'error')).toBe(true);
    } finally {
      lists.close();
    }
  });

  it('close() removes the one listener it registered', () => {
    const before = process.listenerCount('SIGHUP');
    const file = join(dir, 'listener.txt');
    return writeFile(file, '').then(() => {
      const lists = createDenyLists(config(file), logger);
      expect(process.listenerCount('SIGHUP')).toBe(before + 1);
      lists.close();
      expect(process.listenerCount('SIGHUP')).toBe(before);
    });
  });
});
