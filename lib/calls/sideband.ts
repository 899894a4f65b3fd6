import WebSocket from 'ws';

/**
 * One sideband connection to a call: a second WebSocket to the same session,
 * opened with the server key, over which the server sees `session.created` /
 * `session.updated` and can send `session.update` (OpenAI's Realtime
 * server-side controls guide). Only those events are read; everything else is
 * ignored, and nothing OpenAI sends is logged.
 */

export interface SidebandHandlers {
  /** The `session` object of a `session.created` or `session.updated` event. */
  onSession(session: unknown): void;
  /**
   * The connection ended. `byUpstream`: OpenAI closed it cleanly (code 1000),
   * which this server takes as the call having ended; otherwise it failed to
   * open or dropped (`reason` is a short, fixed description).
   */
  onClose(byUpstream: boolean, reason: string): void;
}

export interface Sideband {
  /** Sends one event; false when the socket is not open. */
  send(event: unknown): boolean;
  close(): void;
}

export interface SidebandOptions {
  readonly apiKey: string;
  readonly handshakeTimeoutMs: number;
}

/** Largest event read; session events are a few KB. */
const MAX_EVENT_BYTES = 1024 * 1024;

export function openSideband(url: string, options: SidebandOptions, handlers: SidebandHandlers): Sideband {
  const socket = new WebSocket(url, {
    headers: { Authorization: `Bearer ${options.apiKey}` },
    handshakeTimeout: options.handshakeTimeoutMs,
    maxPayload: MAX_EVENT_BYTES,
    followRedirects: false,
    perMessageDeflate: false,
  });
  let ended = false;
  const end = (byUpstream: boolean, reason: string) => {
    if (ended) return;
    ended = true;
    handlers.onClose(byUpstream, reason);
  };
  // A refused upgrade (401, 404, 5xx) or a redirect: the status is the only thing kept.
  socket.on('unexpected-response', (_req, res) => {
    res.resume();
    socket.terminate();
    end(false, `upgrade refused (HTTP ${res.statusCode ?? 0})`);
  });
  socket.on('error', () => end(false, 'connection error'));
  socket.on('close', (code) => end(code === 1000, code === 1000 ? 'closed by upstream' : `dropped (code ${code})`));
  socket.on('message', (data, isBinary) => {
    if (isBinary) return;
    let event: unknown;
    try {
      event = JSON.parse(data.toString());
    } catch {
      return;
    }
    const type = (event as { type?: unknown } | null)?.type;
    if (type === 'session.created' || type === 'session.updated') handlers.onSession((event as { session?: unknown }).session);
  });
  return {
    send(event) {
      if (socket.readyState !== WebSocket.OPEN) return false;
      try {
        socket.send(JSON.stringify(event));
        return true;
      } catch {
        // A frame that cannot be sent is a restore that did not happen: the watch hangs up instead.
        return false;
      }
    },
    close() {
      ended = true;
      if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
      else socket.close(1000);
    },
  };
}
