import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { setRuntime } from '@/lib/runtime';
import type { SecurityLogEntry } from '@/lib/security-logger';
import { FRONT_DOOR_HEADER } from '@/lib/guards/front-door';
import { startMockOpenAI, type MockOpenAI } from '../support/upstream';
import { baseEnv, FRONT_DOOR_MARKER, testRuntime, type TestRuntime } from '../support/runtime';
import { signJwt } from '../support/tokens';

/**
 * Route tests call the exported handlers in-process with `new Request(...)`.
 * Each test gets a fresh runtime (memory store, capturing logger, injected
 * clock) whose OPENAI_BASE_URL points at a real loopback stand-in for OpenAI;
 * `upstream.requests` is what reached "OpenAI".
 */

export type { MockOpenAI };
export { expectHeaders, HSTS, RATE_LIMIT_ABSENT, RATE_LIMIT_PRESENT, SECURITY_HEADERS, type HeaderTable } from '../support/headers';
export type Env = Record<string, string | undefined>;

export const URL_TOKEN = 'http://localhost:3000/api/realtime/token';
export const ALLOWED_ORIGIN = 'https://app.example.com';
export const SERVER_KEY = baseEnv().OPENAI_API_KEY;
/** The socket peer that scripts/server.mjs would append to X-Forwarded-For. */
export const PEER_IP = '203.0.113.7';
/** The header the front door stamps on what it forwards. */
export const THROUGH_DOOR: Readonly<Record<string, string>> = { [FRONT_DOOR_HEADER]: FRONT_DOOR_MARKER };

export interface Harness {
  readonly upstream: MockOpenAI;
  readonly rt: TestRuntime;
  /** Replaces the runtime with one built from baseEnv + `overrides` (undefined deletes a variable). */
  configure(overrides?: Env): TestRuntime;
  /** Parsed log entries of the current runtime. */
  entries(): SecurityLogEntry[];
  /** Entries for one event. */
  events(event: string): SecurityLogEntry[];
}

/**
 * Registers the hooks: one mock OpenAI per file, a fresh runtime per test,
 * `setRuntime(undefined)` after each.
 */
export function routeHarness(defaults: Env = {}): Harness {
  let upstream: MockOpenAI | undefined;
  let current: TestRuntime | undefined;

  const configure = (overrides: Env = {}): TestRuntime => {
    if (!upstream) throw new Error('upstream not started');
    void current?.runtime.store.close();
    // The real default deadline: a loaded machine must not turn a slow loopback answer into a 504.
    // Timeout cases set UPSTREAM_TIMEOUT_MS themselves.
    const env: Env = { ...baseEnv(upstream.baseUrl), UPSTREAM_TIMEOUT_MS: '10000', ...defaults, ...overrides };
    for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
    current = testRuntime(env);
    setRuntime(current.runtime);
    return current;
  };

  beforeAll(async () => {
    upstream = await startMockOpenAI({ apiKey: SERVER_KEY });
  });
  afterAll(async () => {
    await upstream?.close();
  });
  beforeEach(() => {
    upstream!.requests.length = 0;
    upstream!.setMode('ok');
    configure();
  });
  afterEach(async () => {
    await current?.runtime.store.close();
    current = undefined;
    setRuntime(undefined);
  });

  return {
    get upstream() {
      return upstream!;
    },
    get rt() {
      return current!;
    },
    configure,
    entries: () => current!.entries(),
    events: (event) => current!.entries().filter((e) => e.event === event),
  };
}

export interface RequestOptions {
  method?: string;
  /** A bearer token for the Authorization header; `null` sends none. Default: a fresh valid JWT. */
  token?: string | null;
  /** Origin header; `null` (default) sends none. */
  origin?: string | null;
  /** The request body; objects are JSON-encoded. Default `{}`. `null` sends no body. */
  body?: unknown;
  /** Content-Type; `null` sends none. Default `application/json`. */
  contentType?: string | null;
  /** The X-Forwarded-For the route sees (server.mjs always appends the peer). Default PEER_IP. */
  forwardedFor?: string | null;
  /** Appended to the URL, e.g. `?token=...`. */
  query?: string;
  headers?: Record<string, string>;
}

/** A request as scripts/server.mjs would hand it to the route. */
export async function tokenRequest(options: RequestOptions = {}): Promise<Request> {
  const headers = new Headers();
  const token = options.token === undefined ? await signJwt() : options.token;
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  if (options.origin) headers.set('origin', options.origin);
  const contentType = options.contentType === undefined ? 'application/json' : options.contentType;
  if (contentType !== null) headers.set('content-type', contentType);
  const forwardedFor = options.forwardedFor === undefined ? PEER_IP : options.forwardedFor;
  if (forwardedFor !== null) headers.set('x-forwarded-for', forwardedFor);
  headers.set(FRONT_DOOR_HEADER, FRONT_DOOR_MARKER);
  for (const [name, value] of Object.entries(options.headers ?? {})) headers.set(name, value);
  const method = options.method ?? 'POST';
  let body: BodyInit | undefined;
  if (method !== 'GET' && method !== 'HEAD' && options.body !== null) {
    const raw = options.body === undefined ? {} : options.body;
    body = typeof raw === 'string' || raw instanceof Uint8Array ? (raw as BodyInit) : JSON.stringify(raw);
  }
  return new Request(`${URL_TOKEN}${options.query ?? ''}`, { method, headers, body });
}

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** Parsed JSON body, or undefined. */
  readonly body: Record<string, unknown> | undefined;
}

/** Reads a response completely. */
export async function read(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: Record<string, unknown> | undefined;
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, text, body };
}

/** Calls a handler and reads its answer. */
export async function call(handler: (req: Request) => Promise<Response>, req: Request | Promise<Request>): Promise<Answer> {
  return read(await handler(await req));
}

/** Every header name and value of an answer, as one string (for leak checks). */
export function headerText(headers: Headers): string {
  return [...headers].map(([name, value]) => `${name}: ${value}`).join('\n');
}

/** Sends `n` requests one after another. */
export async function sequential<T>(n: number, send: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(await send(i));
  return out;
}

/** Counts answers by status: `{ 200: 10, 429: 30 }`. */
export function byStatus(answers: readonly Answer[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const a of answers) counts[a.status] = (counts[a.status] ?? 0) + 1;
  return counts;
}
