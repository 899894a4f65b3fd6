import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MockOpenAI } from '../support/upstream';
import { startApp, startAppWithUpstream, type AppServer, type AppWithUpstream } from '../support/app-server';
import { ensureBuild } from '../support/build';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';
import { expectApiHeaders, logsFor, newTrace, postToken } from './http';

/** The launcher a server runs (its spawn arguments may start with wrappers: setpriv, prlimit). */
const serverScript = (app: AppServer): string => app.process.spawnargs.find((arg) => arg.endsWith('/scripts/server.mjs')) ?? '(no scripts/server.mjs)';

/**
 * Configuration is read when the server starts, never baked into the build:
 * one build, started with different environments, behaves differently.
 */

let buildDir: string;
let buildIdBefore: string;
let buildIdMtime: number;
let upstream: MockOpenAI;
let first: AppServer;
let second: AppServer;
let firstWithUpstream: AppWithUpstream;

const FIRST_KEY = 'sk-first-server-key-0123456789';

beforeAll(async () => {
  firstWithUpstream = await startAppWithUpstream({ OPENAI_API_KEY: FIRST_KEY, ALLOWED_ORIGINS: 'https://first.example.com', TRUSTED_PROXY_HOPS: '0' });
  ({ app: first, upstream } = firstWithUpstream);
  // The build the first server runs, as it was before the second one started.
  buildDir = dirname(dirname(serverScript(first)));
  buildIdBefore = await readFile(join(buildDir, '.next/BUILD_ID'), 'utf8');
  buildIdMtime = (await stat(join(buildDir, '.next/BUILD_ID'))).mtimeMs;
  second = await startApp({
    OPENAI_BASE_URL: upstream.baseUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    ALLOWED_ORIGINS: 'https://second.example.com',
    TRUSTED_PROXY_HOPS: '1',
  });
});

afterAll(async () => {
  await second?.stop();
  await firstWithUpstream?.close();
});

describe('one build, two environments', () => {
  it('runs both servers from the same, untouched build', async () => {
    for (const app of [first, second]) expect(serverScript(app)).toBe(join(buildDir, 'scripts/server.mjs'));
    expect(await ensureBuild()).toBe(buildDir);
    expect(await readFile(join(buildDir, '.next/BUILD_ID'), 'utf8')).toBe(buildIdBefore);
    expect((await stat(join(buildDir, '.next/BUILD_ID'))).mtimeMs).toBe(buildIdMtime);
  });

  it('reads ALLOWED_ORIGINS at start', async () => {
    const cases: Array<[AppServer, string, number]> = [
      [first, 'https://first.example.com', 200],
      [first, 'https://second.example.com', 403],
      [second, 'https://second.example.com', 503], // allowed, but this server has no OPENAI_API_KEY
      [second, 'https://first.example.com', 403],
    ];
    for (const [app, origin, status] of cases) {
      const res = await postToken(app, { origin, authorization: `Bearer ${await signJwt()}` });
      expect(res.status, `${origin} on ${app === first ? 'first' : 'second'}`).toBe(status);
      expect(res.headers.get('access-control-allow-origin')).toBe(status === 403 ? null : origin);
    }
  });

  it('reads OPENAI_API_KEY at start: the key reaches upstream on one server, the other answers 503', async () => {
    const before = upstream.requests.length;
    const ok = await postToken(first, { authorization: `Bearer ${await signJwt()}` });
    expect(ok.status).toBe(200);
    expect(upstream.requests.at(-1)?.headers.authorization).toBe(`Bearer ${FIRST_KEY}`);

    const off = await postToken(second, { authorization: `Bearer ${await signJwt()}` });
    expect(off.status).toBe(503);
    expect((await off.json()).error).toBe('service_unavailable');
    expect(upstream.requests.length).toBe(before + 1);
  });

  it('reads TRUSTED_PROXY_HOPS at start: the same forwarded header keys a different client', async () => {
    const forwarded = '203.0.113.50';
    const keyed: Record<string, string | undefined> = {};
    for (const [name, app] of [['first', first], ['second', second]] as const) {
      const { traceId, traceparent } = newTrace();
      // No credentials: 401 on the first server, 503 on the unconfigured second; both log the client.
      const res = await postToken(app, { 'x-forwarded-for': forwarded, traceparent });
      expect(res.status).toBe(name === 'first' ? 401 : 503);
      const [line] = await logsFor(app, traceId);
      keyed[name] = line?.ip as string | undefined;
    }
    // No proxy trusted: the socket peer. One trusted hop: the entry that hop appended.
    expect(keyed).toEqual({ first: '127.0.0.1', second: forwarded });
  });
});

describe('no environment at all', () => {
  let bare: AppServer;
  beforeAll(async () => {
    bare = await startApp({});
  });
  afterAll(async () => {
    await bare?.stop();
  });

  it('starts, serves the page, and answers a token request with a clear 503', async () => {
    const page = await fetch(`${bare.url}/`);
    expect(page.status).toBe(200);
    await page.arrayBuffer();

    const { traceId, traceparent } = newTrace();
    const res = await postToken(bare, { authorization: `Bearer ${await signJwt()}`, traceparent });
    expect(res.status).toBe(503);
    expect(expectApiHeaders(res)).toBe(traceId);
    expect(await res.json()).toEqual({
      error: 'service_unavailable',
      message: 'The token service is not configured. Contact the operator.',
      traceId,
    });
    const [line] = (await logsFor(bare, traceId)).filter((l) => l.event === 'config_error');
    expect(line).toMatchObject({ level: 'error', metadata: { missing: ['OPENAI_API_KEY', 'JWT_SECRET, JWT_JWKS_URL or Clerk keys'] } });
  });
});

/** Runs the production entry point until it exits (or 30 s pass). */
async function runToExit(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [join(buildDir, 'scripts/server.mjs')], {
    cwd: buildDir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', PORT: '0', NEXT_TELEMETRY_DISABLED: '1', ...env } as unknown as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, output };
}

describe('a weak JWT_SECRET', () => {
  it('stops the start with a message naming the variable, never its value', async () => {
    const value = 'only-31-bytes-of-secret-value!!';
    expect(Buffer.byteLength(value)).toBe(31);
    const { code, output } = await runToExit({ JWT_SECRET: value, OPENAI_API_KEY: 'sk-weak-case-0123456789' });
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(output).toContain('JWT_SECRET');
    expect(output).not.toContain(value);
    expect(output).not.toContain('only-31-bytes');
    expect(output).not.toContain('sk-weak-case');
    expect(output).not.toContain('server_started');
  });
});
