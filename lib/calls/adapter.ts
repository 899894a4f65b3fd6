import type { TokenRequest } from '../validation';

/**
 * The upstream side of a call: how to place it, how to end it and where its
 * sideband is. Two implementations: the Realtime unified interface
 * (lib/calls/realtime.ts) and GPT-Live (lib/calls/live.ts); the supervisor
 * (lib/calls/supervisor.ts) depends on this shape only.
 */

export interface UpstreamClient {
  readonly apiKey: string;
  /** `OPENAI_BASE_URL`, no trailing slash. */
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly fetch?: typeof fetch;
}

export interface PlacedCall {
  /** OpenAI's id (`rtc_…`, `live_…`): server-side only, never sent to the browser. */
  readonly upstreamId: string;
  /** The validated SDP answer, CRLF lines (lib/sdp.ts). */
  readonly answer: string;
}

export type CallKind = 'realtime' | 'live';

export interface CallAdapter {
  readonly kind: CallKind;
  /** @throws {UpstreamError} for every failure, with no upstream text */
  place(offer: string, request: TokenRequest, client: UpstreamClient): Promise<PlacedCall>;
  /** Ends the call upstream. @throws {UpstreamError} */
  hangUp(upstreamId: string, client: UpstreamClient): Promise<void>;
  /** The sideband WebSocket URL: wss:// for an https base, ws:// for http. */
  sidebandUrl(upstreamId: string, baseUrl: string): string;
}

/** The WebSocket URL for `path` under the base URL (scheme swapped, base path kept). */
export function socketUrl(baseUrl: string, path: string, query?: Record<string, string>): string {
  const url = new URL(`${baseUrl}${path}`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  for (const [name, value] of Object.entries(query ?? {})) url.searchParams.set(name, value);
  return url.toString();
}

/** `rtc_…`/`live_…` ids as they go into paths: a conservative alphabet and length. */
export const UPSTREAM_ID = /^(rtc|live)_[A-Za-z0-9_-]{1,128}$/;
