import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { pageCsp } from '@/lib/page-csp';
import { startMockOpenAI, type MockOpenAI } from '../support/upstream';
import type { AppServer } from '../support/app-server';
import { freePort, launchChromium, waitForText } from '../support/browser';
import { startDevApp } from '../support/dev-server';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';

/**
 * `npm run dev`: the same front door with Next in dev mode. The voice page
 * must work there (Next's dev runtime needs `eval`, which the production CSP
 * forbids), and the door must still be the only source of the client address.
 */

const SERVER_KEY = 'sk-test-dev-server-key-123456';
let upstream: MockOpenAI;
let app: AppServer;
let browser: Browser;

beforeAll(async () => {
  upstream = await startMockOpenAI({ apiKey: SERVER_KEY });
  const port = await freePort();
  const env = { PORT: String(port), OPENAI_API_KEY: SERVER_KEY, OPENAI_BASE_URL: upstream.baseUrl, JWT_SECRET: TEST_JWT_SECRET, ALLOWED_ORIGINS: `http://127.0.0.1:${port}` };
  [app, browser] = await Promise.all([
    startDevApp(env),
    launchChromium(),
  ]);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await upstream?.close();
});

describe('the dev server', () => {
  // A failure here is usually the dev server's own (a compile error, a crash): show what it printed.
  beforeEach(() => onTestFailed(() => {
    process.stderr.write(`dev server stderr (tail):\n${app?.stderr().slice(-4000)}\ndev server stdout (tail):\n${app?.stdout.slice(-30).join('\n')}\n`);
  }));

  it('serves the voice page and it works: signed in from the fragment, a key issued, no CSP violation', async () => {
    const page = await (await browser.newContext()).newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    const response = await page.goto(`${app.url}/#token=${await signJwt({}, { subject: 'dev-user' })}`, { timeout: 180_000 });
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("'unsafe-eval'");
    // The dev server compiles the page's client bundles on this first visit: minutes on a loaded machine.
    await waitForText(page.getByTestId('signed-in'), /dev-user/, 150_000);
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForText(page.getByRole('status'), /Session key issued/, 30_000);
    expect(violations).toEqual([]);
  }, 360_000);

  it('the production page CSP is unchanged: no eval, no WebSocket sources', () => {
    expect(pageCsp()).not.toContain('unsafe-eval');
    expect(pageCsp()).not.toMatch(/\bws:|\bwss:/);
  });

  it('forged X-Forwarded-For values share one auth-failure limit (the door keys the socket peer)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      const res = await fetch(`${app.url}/api/realtime/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer bad.token.here', 'x-forwarded-for': `198.51.100.${i + 1}` },
        body: '{}',
      });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    // RATE_LIMIT_AUTH_FAILURES default: 20 per 5 minutes, per client IP.
    expect(statuses).toEqual([...Array(20).fill(401), ...Array(5).fill(429)]);
  });

  it('every stdout line is one JSON object with timestamp, level, event and message', () => {
    expect(app.stdout.length).toBeGreaterThan(0);
    for (const line of app.stdout) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      for (const field of ['timestamp', 'level', 'event', 'message']) expect(entry, line).toHaveProperty(field);
    }
    expect(app.logs().find((l) => l.event === 'server_started')).toMatchObject({ mode: 'development' });
  });

  it('compiled the page and the routes without an error or a warning about our code', () => {
    // Next prints compile errors with ⨯ (an unparsed CSS file, a missing build manifest)
    // and webpack's warnings (an expression require) to stderr.
    expect(app.stderr()).not.toMatch(/⨯|Module parse failed|Critical dependency|required-server-files/);
  });
});
