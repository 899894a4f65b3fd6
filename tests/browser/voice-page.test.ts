import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TokenResult } from '../../app/voice/token-client';
import { startMockOpenAI, type MockOpenAI } from '../support/upstream';
import { startApp, type AppServer } from '../support/app-server';
import {
  browserModule,
  freePort,
  launchChromium,
  screenshot,
  startStaticSite,
  textOf,
  waitForText,
  type StaticSite,
} from '../support/browser';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';

/**
 * The voice page and the browser half of CORS, in real Chromium against the
 * production server and the loopback OpenAI stand-in. Every origin here is
 * 127.0.0.1 (localhost would be a different origin).
 */

let upstream: MockOpenAI;
let app: AppServer;
let appOrigin: string;
let allowedSite: StaticSite;
let unlistedSite: StaticSite;
let browser: Browser;
const contexts: BrowserContext[] = [];

/** A page on another origin that loads the app's own token client (the same code the voice page runs). */
async function otherOriginSite(): Promise<StaticSite> {
  return startStaticSite({
    '/': {
      type: 'text/html; charset=utf-8',
      body: `<!doctype html><meta charset="utf-8"><title>other origin</title>
<script type="module">import * as tokenClient from '/token-client.js'; window.tokenClient = tokenClient;</script>`,
    },
    '/token-client.js': { type: 'text/javascript; charset=utf-8', body: await browserModule('app/voice/token-client.ts') },
  });
}

beforeAll(async () => {
  upstream = await startMockOpenAI();
  [allowedSite, unlistedSite] = await Promise.all([otherOriginSite(), otherOriginSite()]);
  const port = await freePort();
  appOrigin = `http://127.0.0.1:${port}`;
  [app, browser] = await Promise.all([
    startApp({
      PORT: String(port),
      OPENAI_API_KEY: 'sk-test-browser-key-123456',
      OPENAI_BASE_URL: upstream.baseUrl,
      JWT_SECRET: TEST_JWT_SECRET,
      ALLOWED_ORIGINS: `${appOrigin},${allowedSite.origin}`,
      RATE_LIMIT_TOKEN: '2/60',
      UPSTREAM_TIMEOUT_MS: '1000',
      // Each error state is shown on its own: the quota circuit would answer every request after
      // the out-of-quota case itself (tests/route/wallet.test.ts covers it).
      UPSTREAM_QUOTA_COOLOFF_SECONDS: '0',
    }),
    launchChromium(),
  ]);
});

afterEach(async () => {
  upstream.setMode('ok');
  await Promise.all(contexts.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await Promise.all([upstream?.close(), allowedSite?.close(), unlistedSite?.close()]);
});

/** Runs the app's own token client (loaded by the other-origin page) against the app, in the page. */
function requestTokenFrom(page: Page, jwt: string): Promise<TokenResult> {
  return page.evaluate(
    ([api, credential]) =>
      (window as unknown as { tokenClient: typeof import('../../app/voice/token-client') }).tokenClient.requestToken({
        url: `${api}/api/realtime/token`,
        credential,
        body: { voice: 'alloy', model: 'gpt-realtime' },
      }),
    [appOrigin, jwt] as const,
  );
}

async function newPage(): Promise<{ page: Page; consoleText: string[] }> {
  const context = await browser.newContext({ viewport: { width: 960, height: 900 } });
  contexts.push(context);
  const page = await context.newPage();
  const consoleText: string[] = [];
  page.on('console', (message) => consoleText.push(message.text()));
  return { page, consoleText };
}

/** Opens the voice page the way `npm run demo`'s link does, and waits for the sign-in. */
async function openSignedIn(page: Page, subject: string, origin = appOrigin): Promise<string> {
  const jwt = await signJwt({}, { subject });
  await page.goto(`${origin}/#token=${jwt}`);
  await waitForText(page.getByTestId('signed-in'), new RegExp(subject));
  return jwt;
}

const startButton = (page: Page) => page.getByRole('button', { name: 'Start', exact: true });
const stopButton = (page: Page) => page.getByRole('button', { name: 'Stop', exact: true });
const status = (page: Page) => page.getByRole('status');

function secondsIn(text: string): number {
  const match = /(\d+) s/.exec(text);
  if (!match) throw new Error(`no seconds in ${JSON.stringify(text)}`);
  return Number(match[1]);
}

describe('same origin', () => {
  it('signs in from the URL fragment, gets a key from the loopback upstream and shows its expiry', async () => {
    const { page, consoleText } = await newPage();
    const jwt = await openSignedIn(page, 'browser-same-origin');

    // The token left the address bar and stays in this tab only; it is not in the DOM.
    expect(page.url()).toBe(`${appOrigin}/`);
    expect(await page.evaluate(() => sessionStorage.getItem('rtg.devToken'))).toBe(jwt);
    expect(await page.content()).not.toContain(jwt);
    // The settings are the server's allowlists (ALLOWED_VOICES default: the spec's list).
    const voices = await page.getByLabel('Voice').locator('option').allTextContents();
    // The spec's allowlist minus the TTS-only voices the Realtime API rejects (app/voice/page-config.ts).
    expect(voices).toEqual(['alloy', 'echo', 'shimmer']);
    expect(await page.getByTestId('demo-badge').isVisible()).toBe(true);
    await screenshot(page, '1-signed-in');

    await page.getByLabel('Voice').selectOption('echo');
    await page.getByLabel('Model').selectOption('gpt-realtime-mini');
    await page.getByLabel('Instructions (optional)').fill('Answer briefly.');
    const answer = page.waitForResponse((r) => r.url() === `${appOrigin}/api/realtime/token`);
    await startButton(page).click();
    const response = await answer;
    expect(response.status()).toBe(200);
    const body = (await response.json()) as { value: string; traceId: string };

    await waitForText(status(page), /Session key issued\. Demo upstream: no audio\./);
    const expiry = await textOf(page.getByTestId('key-expiry'));
    expect(expiry).toMatch(/^in \d+ s$/);
    expect(secondsIn(expiry)).toBeGreaterThan(50);
    expect(secondsIn(expiry)).toBeLessThanOrEqual(60);
    expect(await textOf(page.getByTestId('rate-remaining'))).toBe('1 of 2');
    expect(await textOf(page.getByTestId('session-trace-id'))).toBe(body.traceId);
    expect(await page.getByTestId('demo-notice').isVisible()).toBe(true);

    // What reached the stand-in is what the user chose.
    const sent = upstream.requests.at(-1)!.body.session;
    expect(sent).toMatchObject({ model: 'gpt-realtime-mini', instructions: 'Answer briefly.', audio: { output: { voice: 'echo' } } });
    // The ephemeral key is neither rendered nor logged.
    expect(body.value).toMatch(/^ek_/);
    expect(await page.content()).not.toContain(body.value);
    expect(consoleText.join('\n')).not.toContain(body.value);
    await screenshot(page, '2-token-issued');

    await stopButton(page).click();
    await waitForText(status(page), /^Ready\./);
    expect(await page.getByTestId('key-expiry').count()).toBe(0);
  });
});

describe('CORS in the browser', () => {
  it('lets an allowed second origin fetch a token: the real preflight passes and the key arrives', async () => {
    const { page } = await newPage();
    const preflights: Array<{ method: string; status?: number; requestId: string }> = [];
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    cdp.on('Network.requestWillBeSent', (e) => {
      if (e.request.method === 'OPTIONS') preflights.push({ method: e.request.method, requestId: e.requestId });
    });
    cdp.on('Network.responseReceived', (e) => {
      const p = preflights.find((x) => x.requestId === e.requestId);
      if (p) p.status = e.response.status;
    });
    await page.goto(`${allowedSite.origin}/`);
    await page.waitForFunction(() => 'tokenClient' in window);
    const jwt = await signJwt({}, { subject: 'browser-cors-allowed' });

    const result = await requestTokenFrom(page, jwt);

    expect(result.ok).toBe(true);
    const ok = result as Extract<TokenResult, { ok: true }>;
    expect(ok.token.value).toMatch(/^ek_/);
    // Readable cross-origin only because the middleware exposes these headers.
    expect(ok.rateLimit).toMatchObject({ limit: 2, remaining: 1 });
    expect(ok.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(preflights.map((p) => p.status)).toEqual([204]);
    await app.waitForLog((l) => l.event === 'token_issued' && l.traceId === ok.traceId && l.origin === allowedSite.origin);
  });

  it('blocks the same code on an unlisted origin: the fetch rejects and the server logs origin_validation_failed', async () => {
    const { page } = await newPage();
    await page.goto(`${unlistedSite.origin}/`);
    await page.waitForFunction(() => 'tokenClient' in window);
    const jwt = await signJwt({}, { subject: 'browser-cors-unlisted' });
    const upstreamCalls = upstream.requests.length;

    const result = await requestTokenFrom(page, jwt);
    const rawFetch = await page.evaluate(
      (api) =>
        fetch(`${api}/api/realtime/token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }).then(
          () => 'resolved',
          (error: Error) => error.name,
        ),
      appOrigin,
    );

    expect(result).toMatchObject({ ok: false, failure: { status: 0, code: 'network_error', errorName: 'TypeError' } });
    expect(rawFetch).toBe('TypeError');
    const logged = await app.waitForLog((l) => l.event === 'origin_validation_failed' && l.origin === unlistedSite.origin);
    expect(logged.level).toBe('warn');
    expect(upstream.requests.length).toBe(upstreamCalls);
  });
});

describe('rate limit in the UI', () => {
  it('shows the 429 state with a Retry-After countdown on the third Start (RATE_LIMIT_TOKEN=2/60)', async () => {
    const { page } = await newPage();
    await openSignedIn(page, 'browser-rate-limit');
    await page.clock.install();

    for (const left of ['1 of 2', '0 of 2']) {
      await startButton(page).click();
      await waitForText(status(page), /Session key issued/);
      expect(await textOf(page.getByTestId('rate-remaining'))).toBe(left);
      await stopButton(page).click();
    }
    const answer = page.waitForResponse((r) => r.url().endsWith('/api/realtime/token'));
    await startButton(page).click();
    const response = await answer;
    expect(response.status()).toBe(429);

    await waitForText(page.getByRole('alert'), /Too many requests/);
    const before = secondsIn(await waitForText(page.getByTestId('retry-countdown'), /try again in \d+ s/));
    expect(before).toBeGreaterThan(50);
    expect(before).toBeLessThanOrEqual(Number(await response.headerValue('retry-after')));
    expect(await startButton(page).isDisabled()).toBe(true);
    expect(await textOf(page.getByTestId('trace-id'))).toBe(await response.headerValue('x-trace-id'));
    expect(await textOf(page.getByTestId('rate-remaining'))).toBe('0 of 2');
    await screenshot(page, '3-rate-limited');

    await page.clock.runFor(5_000);
    const after = secondsIn(await textOf(page.getByTestId('retry-countdown')));
    expect(before - after).toBeGreaterThanOrEqual(4);
    expect(before - after).toBeLessThanOrEqual(6);
  });
});

describe('error states in plain words, with the trace id', () => {
  type Case = {
    label: string;
    /** Puts the failure in place; returns the page origin to use. */
    arrange: (page: Page) => Promise<string> | string;
    jwt?: () => Promise<string>;
    status: number | 'network';
    title: RegExp;
  };
  const cases: Case[] = [
    {
      label: '401 token signed with another secret',
      arrange: () => appOrigin,
      jwt: () => signJwt({}, { subject: 'browser-bad-secret', secret: 'another-secret-0123456789abcdef0123456789' }),
      status: 401,
      title: /Your sign-in is invalid or has expired/,
    },
    {
      // Same server, but localhost is a different origin from 127.0.0.1 and is not listed.
      label: '403 page opened from an unlisted origin',
      arrange: () => appOrigin.replace('127.0.0.1', 'localhost'),
      status: 403,
      title: /This site is not allowed to request voice sessions/,
    },
    { label: '502 upstream 500', arrange: () => (upstream.setMode('error500'), appOrigin), status: 502, title: /could not be reached/ },
    { label: '503 upstream out of quota', arrange: () => (upstream.setMode('quota'), appOrigin), status: 503, title: /busy or out of quota/ },
    { label: '504 upstream too slow', arrange: () => (upstream.setMode('hang'), appOrigin), status: 504, title: /took too long/ },
    {
      label: 'network failure',
      arrange: async (page) => {
        await page.route('**/api/realtime/token', (route) => route.abort('connectionfailed'));
        return appOrigin;
      },
      status: 'network',
      title: /Could not reach the token server/,
    },
  ];

  it.each(cases)('$label', async ({ label, arrange, jwt, status: expected, title }) => {
    const { page } = await newPage();
    const origin = await arrange(page);
    const subject = `browser-${label.replace(/\W+/g, '-')}`;
    await page.goto(`${origin}/#token=${jwt ? await jwt() : await signJwt({}, { subject })}`);
    await page.getByTestId('signed-in').waitFor();
    const answer = expected === 'network' ? undefined : page.waitForResponse((r) => r.url().endsWith('/api/realtime/token'));
    await startButton(page).click();

    await waitForText(page.getByRole('alert'), title);
    const traceId = await textOf(page.getByTestId('trace-id'));
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    if (answer) {
      const response = await answer;
      expect(response.status()).toBe(expected);
      expect(traceId).toBe(await response.headerValue('x-trace-id'));
    }
    if (expected === 503) expect(await textOf(page.getByTestId('retry-countdown'))).toMatch(/try again in \d+ s/);
    expect(await startButton(page).isDisabled()).toBe(expected === 503);
    if (expected === 502) await screenshot(page, '4-upstream-error');
  });
});

describe('page headers', () => {
  it('limits connect-src to the API and OpenAI and allows only the microphone, and Chromium enforces both', async () => {
    const { page } = await newPage();
    const response = (await page.goto(`${appOrigin}/`))!;
    const headers = response.headers();
    const csp = new Map(
      headers['content-security-policy'].split(';').map((d) => {
        const [name, ...values] = d.trim().split(/\s+/);
        return [name, values.join(' ')] as const;
      }),
    );
    expect(csp.get('connect-src')).toBe("'self' https://api.openai.com");
    expect(csp.get('frame-ancestors')).toBe("'none'");
    expect(csp.get('object-src')).toBe("'none'");
    const policy = headers['permissions-policy'];
    expect(policy).toContain('microphone=(self)');
    for (const denied of ['camera=()', 'geolocation=()', 'display-capture=()', 'usb=()']) expect(policy).toContain(denied);
    expect(headers['x-frame-options']).toBe('DENY');
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(headers['x-powered-by']).toBeUndefined();

    const features = await page.evaluate(() => {
      const fp = (document as unknown as { featurePolicy?: { allowsFeature(f: string): boolean } }).featurePolicy;
      return fp ? { microphone: fp.allowsFeature('microphone'), camera: fp.allowsFeature('camera') } : null;
    });
    expect(features).toEqual({ microphone: true, camera: false });

    // The page cannot talk to anything else, e.g. the upstream stand-in directly.
    const before = upstream.requests.length;
    const blocked = await page.evaluate(async (url) => {
      const violation = new Promise<string>((resolve) =>
        document.addEventListener('securitypolicyviolation', (e) => resolve(e.effectiveDirective), { once: true }),
      );
      const outcome = await fetch(url, { method: 'POST', body: '{}' }).then(
        () => 'resolved',
        (error: Error) => error.name,
      );
      return { outcome, directive: await violation };
    }, `${upstream.baseUrl}/realtime/client_secrets`);
    expect(blocked).toEqual({ outcome: 'TypeError', directive: 'connect-src' });
    expect(upstream.requests.length).toBe(before);
  });
});
