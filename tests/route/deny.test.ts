import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POST } from '@/app/api/realtime/token/route';
import { signJwt } from '../support/tokens';
import { byStatus, call, routeHarness, tokenRequest, type Env, type RequestOptions } from './helpers';

/**
 * Deny lists (lib/guards/deny-ip.ts before anything is read, lib/guards/deny-user.ts
 * right after authentication): exact matches that a client cannot step around
 * with forged headers, neighbouring addresses or look-alike user ids, and a
 * file that is re-read on SIGHUP while requests keep flowing.
 */

const h = routeHarness({ RATE_LIMIT_TOKEN: '1000/60', RATE_LIMIT_API: '10000/60' });

describe('denied addresses, before authentication', () => {
  const cases: Array<[label: string, env: Env, options: RequestOptions, denied: boolean]> = [
    ['the listed address', { DENY_IPS: '203.0.113.7' }, {}, true],
    ['an address in a listed /24', { DENY_IPS: '203.0.113.0/24' }, { forwardedFor: '203.0.113.200' }, true],
    ['the next /24', { DENY_IPS: '203.0.113.0/24' }, { forwardedFor: '203.0.114.1' }, false],
    ['a forged X-Forwarded-For entry before the real one', { DENY_IPS: '203.0.113.7' }, { forwardedFor: '8.8.8.8, 203.0.113.7' }, true],
    ['a forged entry naming a listed address does not deny someone else', { DENY_IPS: '203.0.113.7' }, { forwardedFor: '203.0.113.7, 198.51.100.1' }, false],
    ['the IPv4-mapped form of a listed address', { DENY_IPS: '203.0.113.7' }, { forwardedFor: '::ffff:203.0.113.7' }, true],
    ['a listed IPv6 address', { DENY_IPS: '2001:db8::1' }, { forwardedFor: '2001:db8::1' }, true],
    ['its neighbour, which shares the /64 limiter key, is not denied', { DENY_IPS: '2001:db8::1' }, { forwardedFor: '2001:db8::2' }, false],
    ['an address in a listed /64', { DENY_IPS: '2001:db8::/64' }, { forwardedFor: '2001:db8::ffff:1' }, true],
    ['::/0 holds IPv4 clients too', { DENY_IPS: '::/0' }, { forwardedFor: '8.8.8.8' }, true],
    ['0.0.0.0/0 does not hold IPv6 clients', { DENY_IPS: '0.0.0.0/0' }, { forwardedFor: '2001:db8::1' }, false],
    ['behind a platform: its client header is the address', { DENY_IPS: '198.51.100.9', CLIENT_IP_HEADER: 'cf-connecting-ip' }, { forwardedFor: null, headers: { 'cf-connecting-ip': '198.51.100.9' } }, true],
    ['behind a platform: a list in its header is no address', { DENY_IPS: '198.51.100.9', CLIENT_IP_HEADER: 'cf-connecting-ip' }, { forwardedFor: null, headers: { 'cf-connecting-ip': '198.51.100.9, 1.1.1.1' } }, false],
  ];

  it.each(cases)('%s', async (_label, env, options, denied) => {
    h.configure(env);
    const res = await call(POST, tokenRequest(options));
    if (!denied) {
      expect(res.status).toBe(200);
      return;
    }
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: 'denied' });
    // Refused before the credential (a valid one) was read: no auth line, nothing upstream.
    expect(h.entries().map((e) => [e.event, e.level, (e.metadata as { list?: string }).list])).toEqual([['access_denied', 'warn', 'ip']]);
    expect(h.upstream.requests).toHaveLength(0);
  });
});

describe('denied users, after authentication', () => {
  const cases: Array<[label: string, list: string, subject: string, denied: boolean]> = [
    ['the listed user', 'jwt:mallory', 'mallory', true],
    ['one of several', 'jwt:eve,jwt:mallory', 'mallory', true],
    ['another case is another user', 'jwt:mallory', 'Mallory', false],
    ['a longer id is another user', 'jwt:mallory', 'mallory2', false],
    ['a JWT subject that imitates a Clerk id stays a JWT id', 'clerk:mallory', 'clerk:mallory', false],
    ['a JWT subject "jwt:mallory" is jwt:jwt:mallory', 'jwt:mallory', 'jwt:mallory', false],
  ];

  it.each(cases)('%s', async (_label, list, subject, denied) => {
    h.configure({ DENY_USERS: list });
    const res = await call(POST, tokenRequest({ token: await signJwt({}, { subject }) }));
    expect(res.status).toBe(denied ? 403 : 200);
    if (!denied) return;
    expect(res.body).toMatchObject({ error: 'denied' });
    expect(h.entries().map((e) => e.event)).toEqual(['auth_success', 'access_denied']);
    expect(h.events('access_denied')[0]).toMatchObject({ userId: `jwt:${subject}`, metadata: { list: 'user' } });
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('a denied user spends none of their token quota', async () => {
    h.configure({ DENY_USERS: 'jwt:mallory', RATE_LIMIT_TOKEN: '10/60' });
    const token = await signJwt({}, { subject: 'mallory' });
    for (let i = 0; i < 3; i++) expect((await call(POST, tokenRequest({ token }))).status).toBe(403);
    expect((await h.rt.runtime.store.peek('jwt:mallory', h.rt.runtime.config.rateLimits.token)).remaining).toBe(10);
  });
});

describe('DENY_LIST_FILE', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rtg-deny-route-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('SIGHUP swaps in the new list while 300 requests are in flight: every one answered, none dropped or 500', async () => {
    const file = join(dir, 'deny.txt');
    await writeFile(file, '# initial\njwt:eve\n');
    h.configure({ DENY_LIST_FILE: file });
    try {
      const [eve, alice] = await Promise.all([signJwt({}, { subject: 'eve' }), signJwt({}, { subject: 'alice' })]);
      const requests = await Promise.all(Array.from({ length: 300 }, (_, i) => tokenRequest({ token: i % 2 ? alice : eve, forwardedFor: `198.51.100.${i % 200}` })));
      await writeFile(file, 'jwt:eve\njwt:alice\n');
      const answers = requests.map((req, i) => {
        if (i === 100) process.kill(process.pid, 'SIGHUP');
        return call(POST, req);
      });
      const settled = await Promise.all(answers);
      expect(settled).toHaveLength(300);
      expect(Object.keys(byStatus(settled)).sort()).toEqual(expect.arrayContaining(['403']));
      expect(settled.every((a) => a.status === 200 || a.status === 403)).toBe(true);
      // Eve was denied throughout, under both lists.
      expect(settled.filter((_, i) => i % 2 === 0).every((a) => a.status === 403)).toBe(true);
      await expect.poll(() => h.events('deny_list_reloaded').length, { timeout: 5000 }).toBe(1);
      expect((await call(POST, tokenRequest({ token: alice }))).status).toBe(403);

      // A broken file keeps the list in force, and says why.
      await writeFile(file, 'jwt:eve\nbob\n');
      process.kill(process.pid, 'SIGHUP');
      await expect.poll(() => h.events('config_error').length, { timeout: 5000 }).toBe(1);
      expect(h.events('config_error')[0]).toMatchObject({ level: 'error', metadata: { reason: expect.stringMatching(/^line 2 /) } });
      expect((await call(POST, tokenRequest({ token: alice }))).status).toBe(403);
      expect((await call(POST, tokenRequest({ token: await signJwt({}, { subject: 'bob' }) }))).status).toBe(200);
    } finally {
      h.rt.runtime.deny.close();
    }
  });
});
