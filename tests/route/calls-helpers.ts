import { afterEach, beforeAll } from 'vitest';
import { DELETE as DELETE_CALL, GET as GET_CALL } from '@/app/api/realtime/calls/[callId]/route';
import { POST as POST_CALL } from '@/app/api/realtime/calls/route';
import { callsOf } from '@/lib/calls';
import { getRuntime } from '@/lib/runtime';
import { nodePeer } from '../support/webrtc-peer';
import { call, routeHarness, tokenRequest, type Answer, type Env, type Harness, type RequestOptions } from './helpers';

/**
 * Route-test helpers for the calls routes: requests shaped like
 * tests/route/helpers.ts builds them, a real offer from a werift peer, and
 * polling for what the supervisor does in the background.
 */

export const CALLS_URL = 'http://localhost:3000/api/realtime/calls';

let cachedOffer: string | undefined;

/** A real browser-like SDP offer (one per file: gathering takes a moment). */
export function offer(): string {
  if (!cachedOffer) throw new Error('callsHarness() not registered');
  return cachedOffer;
}

/** The route harness plus: one werift offer per file, every supervisor closed after each test, the stand-in reset. */
export function callsHarness(defaults: Env = {}): Harness {
  const h = routeHarness(defaults);
  beforeAll(async () => {
    const peer = await nodePeer();
    cachedOffer = peer.offer;
    await peer.close();
  });
  afterEach(async () => {
    await callsOf(getRuntime()).close();
    await h.upstream.calls.reset();
  });
  return h;
}

async function rebuilt(url: string, options: RequestOptions): Promise<Request> {
  const base = await tokenRequest(options);
  const body = options.method === 'GET' || options.method === 'DELETE' || options.body === null ? undefined : await base.arrayBuffer();
  return new Request(url, { method: base.method, headers: base.headers, body });
}

/** POST /api/realtime/calls; `body` defaults to `{ sdp: offer() }`. */
export function placeCall(options: RequestOptions = {}): Promise<Answer> {
  return call(POST_CALL, rebuilt(CALLS_URL, { body: { sdp: offer() }, ...options }));
}

/** GET or DELETE /api/realtime/calls/<id>. */
export function controlCall(method: 'GET' | 'DELETE', id: string, options: RequestOptions = {}): Promise<Answer> {
  return call(method === 'GET' ? GET_CALL : DELETE_CALL, rebuilt(`${CALLS_URL}/${id}`, { ...options, method, body: null, contentType: null }));
}

/** Polls `probe` until it returns a value other than undefined/false. */
export async function eventually<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000, label = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${label} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
