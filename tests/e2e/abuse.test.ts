import { request as httpRequest } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockOpenAI, type MockOpenAI } from '../support/upstream';
import { startApp, type AppServer } from '../support/app-server';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';

/**
 * The abuse controls in the production server (`npm start`: the front door in
 * front of Next's production build): the offline geo database loads and
 * answers inside Next's server bundle, a denied address is refused by the
 * socket peer the front door saw, and SIGHUP re-reads the deny-list file in
 * the running process without dropping a request or stopping the server.
 */

let upstream: MockOpenAI;
let dir: string;
const base = () => ({ OPENAI_API_KEY: 'sk-test-e2e-abuse-0123', OPENAI_BASE_URL: upstream.baseUrl, JWT_SECRET: TEST_JWT_SECRET, RATE_LIMIT_API: '10000/60' });

beforeAll(async () => {
  upstream = await startMockOpenAI();
  dir = await mkdtemp(join(tmpdir(), 'rtg-e2e-abuse-'));
}, 60_000);
afterAll(async () => {
  await upstream?.close();
  await rm(dir, { recursive: true, force: true });
});

/** POST a token request from a chosen loopback address (every 127/8 address is this machine). */
function post(app: AppServer, token: string, options: { localAddress?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: { error?: string } }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: app.port, path: '/api/realtime/token', method: 'POST', localAddress: options.localAddress, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...options.headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || '{}') as { error?: string } }));
      },
    );
    req.on('error', reject);
    req.end('{}');
  });
}

describe('deny lists in the production server', () => {
  let app: AppServer;
  let file: string;

  beforeAll(async () => {
    file = join(dir, 'deny.txt');
    await writeFile(file, 'jwt:eve\n');
    app = await startApp({ ...base(), DENY_IPS: '127.0.0.66', DENY_LIST_FILE: file });
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('a denied socket peer is refused whatever X-Forwarded-For it sends; its neighbour is served', async () => {
    const token = await signJwt({}, { subject: 'peer' });
    expect((await post(app, token, { localAddress: '127.0.0.66', headers: { 'x-forwarded-for': '8.8.8.8' } })).body.error).toBe('denied');
    expect((await post(app, token, { localAddress: '127.0.0.67' })).status).toBe(200);
  });

  it('SIGHUP re-reads the file in the running server: no request dropped, the server keeps running', async () => {
    const [eve, alice] = await Promise.all([signJwt({}, { subject: 'eve' }), signJwt({}, { subject: 'alice' })]);
    expect((await post(app, eve)).body.error).toBe('denied');
    expect((await post(app, alice)).status).toBe(200);

    await writeFile(file, 'jwt:eve\njwt:alice\n');
    const inFlight = Array.from({ length: 60 }, (_, i) => post(app, i % 2 ? alice : eve, { localAddress: `127.0.1.${i + 1}` }));
    app.process.kill('SIGHUP');
    const answers = await Promise.all(inFlight);
    // Every request is answered by the pipeline: 200, 403 once the new list is in, or
    // 429 for alice's requests past the per-user token limit (10/min) while the old list stands.
    expect(answers.map((a) => a.status).filter((s) => s !== 200 && s !== 403 && s !== 429)).toEqual([]);
    await app.waitForLog((l) => l.event === 'deny_list_reloaded');
    expect((await post(app, alice)).body.error).toBe('denied');
    expect(app.process.exitCode).toBeNull();
    expect(app.process.signalCode).toBeNull();
  });
});

describe('geography in the production server', () => {
  let app: AppServer;

  beforeAll(async () => {
    // A platform in front names the client: the offline database answers for the address it sends.
    app = await startApp({ ...base(), CLIENT_IP_HEADER: 'x-platform-client-ip', GEO_DENY_COUNTRIES: 'US' });
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('the packaged database loads in the server bundle and decides: US refused, NL served', async () => {
    const token = await signJwt({}, { subject: 'geo' });
    const us = await post(app, token, { headers: { 'x-platform-client-ip': '8.8.8.8' } });
    const nl = await post(app, token, { headers: { 'x-platform-client-ip': '193.0.6.139' } });
    expect([us.status, us.body.error, nl.status]).toEqual([403, 'geo_blocked', 200]);
    const line = await app.waitForLog((l) => l.event === 'geo_blocked');
    expect(line.metadata).toEqual({ code: 'geo_blocked', country: 'US' });
  });
});
