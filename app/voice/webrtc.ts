import type { CallFailureKind } from './messages';

/**
 * A Realtime session over WebRTC, as OpenAI documents it for browsers
 * (https://platform.openai.com/docs/guides/realtime-webrtc): microphone track,
 * the `oai-events` data channel, an SDP offer exchanged for an answer, remote
 * audio played. Who exchanges the offer differs: with an ephemeral key the
 * page POSTs it to OpenAI ({@link startRealtimeCall}); in calls mode the
 * server does (app/voice/calls-client.ts). Both use {@link openPeer}.
 */

/** GA endpoint; the session settings are bound to the ephemeral key, not sent here. */
export const REALTIME_CALLS_URL = 'https://api.openai.com/v1/realtime/calls';

export class CallError extends Error {
  override readonly name = 'CallError';
  constructor(
    readonly kind: CallFailureKind,
    readonly status?: number,
  ) {
    super(kind);
  }
}

export interface RealtimeCall {
  /** Closes the data channel and the peer connection and releases the microphone. Idempotent. */
  hangUp(): void;
}

export interface CallHandlers {
  /** `connected`, `disconnected`, `failed`, … from RTCPeerConnection.connectionState. */
  onConnectionState(state: RTCPeerConnectionState): void;
  /** The `type` of each server event on the data channel (payloads stay in memory). */
  onServerEvent(type: string, event: Record<string, unknown>): void;
  /** The data channel closed before the page hung up (the call may have been ended remotely). */
  onChannelClosed?(): void;
}

/** An open microphone, peer connection and `oai-events` channel, before the offer/answer exchange. */
export interface Peer extends RealtimeCall {
  /** The local offer; with `gather`, after ICE gathering (no trickle over one POST), at most 3 s. */
  offer(gather: boolean): Promise<string>;
  /** Applies an SDP answer. @throws {CallError} `sdp_invalid` */
  accept(answer: string): Promise<void>;
}

function micFailure(error: unknown): CallError {
  const name = error instanceof Error ? error.name : '';
  if (name === 'NotAllowedError' || name === 'SecurityError') return new CallError('microphone_denied');
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return new CallError('microphone_missing');
  return new CallError('microphone_failed');
}

/**
 * Opens the microphone and the peer connection.
 * @throws {CallError} when WebRTC or the microphone is unavailable
 */
export async function openPeer(audio: HTMLAudioElement, handlers: CallHandlers): Promise<Peer> {
  if (typeof RTCPeerConnection === 'undefined' || !navigator.mediaDevices?.getUserMedia) {
    throw new CallError('webrtc_unsupported');
  }
  let mic: MediaStream;
  try {
    mic = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    throw micFailure(error);
  }

  const pc = new RTCPeerConnection();
  const events = pc.createDataChannel('oai-events');
  let closed = false;
  const hangUp = () => {
    if (closed) return;
    closed = true;
    events.close();
    pc.close();
    for (const track of mic.getTracks()) track.stop();
    audio.pause();
    audio.srcObject = null;
  };

  pc.ontrack = (event) => {
    audio.srcObject = event.streams[0] ?? new MediaStream([event.track]);
    // Start was a click, so autoplay is allowed; a refusal leaves the controls to the user.
    audio.play().catch(() => undefined);
  };
  pc.onconnectionstatechange = () => {
    if (!closed) handlers.onConnectionState(pc.connectionState);
  };
  events.onclose = () => {
    if (!closed) handlers.onChannelClosed?.();
  };
  events.onmessage = (message) => {
    try {
      const event: unknown = JSON.parse(String(message.data));
      if (typeof event === 'object' && event !== null && typeof (event as { type?: unknown }).type === 'string') {
        handlers.onServerEvent((event as { type: string }).type, event as Record<string, unknown>);
      }
    } catch {
      // Not JSON: nothing the page can show.
    }
  };
  for (const track of mic.getAudioTracks()) pc.addTrack(track, mic);

  return {
    hangUp,
    async offer(gather) {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      if (gather && pc.iceGatheringState !== 'complete') {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 3000);
          pc.addEventListener('icegatheringstatechange', () => {
            if (pc.iceGatheringState === 'complete') {
              clearTimeout(timer);
              resolve();
            }
          });
        });
      }
      return pc.localDescription?.sdp ?? offer.sdp ?? '';
    },
    async accept(answer) {
      if (!answer.startsWith('v=')) throw new CallError('sdp_invalid');
      try {
        await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      } catch {
        throw new CallError('sdp_invalid');
      }
    },
  };
}

/**
 * Opens the call with an ephemeral key. The key is used once, for the SDP
 * exchange, and is not kept: it is never logged, stored or put in the DOM.
 * @throws {CallError} with what went wrong; everything opened so far is released first
 */
export async function startRealtimeCall(ephemeralKey: string, audio: HTMLAudioElement, handlers: CallHandlers): Promise<RealtimeCall> {
  const peer = await openPeer(audio, handlers);
  try {
    const offer = await peer.offer(false);
    let res: Response;
    try {
      res = await fetch(REALTIME_CALLS_URL, {
        method: 'POST',
        body: offer,
        headers: { Authorization: `Bearer ${ephemeralKey}`, 'Content-Type': 'application/sdp' },
        credentials: 'omit',
        cache: 'no-store',
        redirect: 'error',
      });
    } catch {
      throw new CallError('sdp_network');
    }
    if (!res.ok) throw new CallError('sdp_refused', res.status);
    await peer.accept(await res.text().catch(() => ''));
    return { hangUp: peer.hangUp };
  } catch (error) {
    peer.hangUp();
    throw error instanceof CallError ? error : new CallError('connection_failed');
  }
}
