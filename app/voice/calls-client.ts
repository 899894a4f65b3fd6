import { failureOf, sendJson, type RateLimitInfo, type TokenFailure, type TokenRequestBody } from './token-client';
import { CallError, openPeer, type CallHandlers, type RealtimeCall } from './webrtc';

/**
 * Calls mode (REALTIME_MODE=calls): the page sends its SDP offer to this
 * server, which places the call with its own key and answers with OpenAI's
 * SDP answer; media then flows straight between the browser and OpenAI. The
 * page never holds a key. It learns why a call ended by asking the server
 * (`GET /api/realtime/calls/<id>`) when the data channel closes, the
 * connection fails, or the call's end time passes.
 */

export const CALLS_URL = '/api/realtime/calls';

export type EndReason = 'client' | 'max_duration' | 'override' | 'budget' | 'upstream';

export interface CallStatus {
  readonly state: 'active' | 'ended';
  readonly reason: EndReason | null;
}

export interface ServerCall extends RealtimeCall {
  readonly callId: string;
  /** Unix seconds: the server hangs up then at the latest. */
  readonly endsAt: number;
  readonly traceId: string;
  /** Whether and why the call ended, from the server; undefined when it cannot be read. */
  status(): Promise<CallStatus | undefined>;
  /** Hangs up here and asks the server to end the call. */
  end(): Promise<void>;
}

export type ServerCallResult =
  | { readonly ok: true; readonly call: ServerCall; readonly rateLimit?: RateLimitInfo }
  | { readonly ok: false; readonly failure: TokenFailure; readonly traceId: string; readonly rateLimit?: RateLimitInfo };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const REASONS: ReadonlySet<string> = new Set(['client', 'max_duration', 'override', 'budget', 'upstream']);

/**
 * Opens the microphone and the peer, exchanges the offer through the server
 * and applies the answer.
 * @throws {CallError} for microphone and WebRTC problems (everything opened is released first)
 */
export async function startServerCall(options: {
  readonly credential: () => Promise<string | null>;
  readonly body: TokenRequestBody;
  readonly audio: HTMLAudioElement;
  readonly handlers: CallHandlers;
}): Promise<ServerCallResult> {
  const peer = await openPeer(options.audio, options.handlers);
  try {
    const sdp = await peer.offer(true);
    const answer = await sendJson(CALLS_URL, { method: 'POST', credential: await options.credential(), body: { ...options.body, sdp } });
    if (!answer.ok) {
      peer.hangUp();
      return answer;
    }
    const { res, body, traceId, rateLimit } = answer;
    const placed = isRecord(body) && typeof body.sdp === 'string' && typeof body.callId === 'string' && typeof body.endsAt === 'number' ? body : undefined;
    if (res.status !== 201 || placed === undefined) {
      peer.hangUp();
      return { ok: false, traceId, rateLimit, failure: res.status === 201 ? { status: 201, code: 'bad_response' } : failureOf(res, body) };
    }
    const url = `${CALLS_URL}/${encodeURIComponent(String(placed.callId))}`;
    const call: ServerCall = {
      callId: String(placed.callId),
      endsAt: Number(placed.endsAt),
      traceId,
      hangUp: peer.hangUp,
      async status() {
        const seen = await sendJson(url, { method: 'GET', credential: await options.credential() });
        if (!seen.ok || seen.res.status !== 200 || !isRecord(seen.body)) return undefined;
        const reason = typeof seen.body.reason === 'string' && REASONS.has(seen.body.reason) ? (seen.body.reason as EndReason) : null;
        return { state: seen.body.state === 'ended' ? 'ended' : 'active', reason };
      },
      async end() {
        peer.hangUp();
        await sendJson(url, { method: 'DELETE', credential: await options.credential(), keepalive: true });
      },
    };
    try {
      await peer.accept(String(placed.sdp));
    } catch (error) {
      await call.end();
      throw error;
    }
    return { ok: true, call, rateLimit };
  } catch (error) {
    peer.hangUp();
    throw error instanceof CallError ? error : new CallError('connection_failed');
  }
}

/**
 * Tells the page when the server has ended `call`: `check()` asks at once
 * (data channel closed, connection failed); the call's end time starts a
 * few checks a second apart, since the server hangs up then.
 */
export function watchCallEnd(call: ServerCall, onEnded: (status: CallStatus) => void): { check(): void; stop(): void } {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const check = async (retries: number) => {
    if (stopped) return;
    const status = await call.status();
    if (stopped) return;
    if (status?.state === 'ended') {
      stopped = true;
      onEnded(status);
    } else if (retries > 0) timer = setTimeout(() => void check(retries - 1), 1000);
  };
  timer = setTimeout(() => void check(10), Math.max(0, call.endsAt * 1000 - Date.now()) + 750);
  return {
    check: () => void check(2),
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
