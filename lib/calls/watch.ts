import type { OverridePolicy } from '../config/calls';
import { overriddenFields, restoreEvent, type PinnedSession, type WatchedField } from './policy';
import { openSideband, type Sideband } from './sideband';

/**
 * Watches one call over its sideband: every `session.created` /
 * `session.updated` is compared with the server's settings
 * (lib/calls/policy.ts). A difference is put back with `session.update`, or
 * ends the call: under `CALL_OVERRIDE_POLICY=hangup`, when the model changed
 * (it cannot be put back), or when a client keeps overriding after
 * {@link MAX_RESTORES} restores, or a restore that no `session.updated`
 * confirms within {@link RESTORE_DEADLINE_MS} (OpenAI refuses a voice change
 * once audio has played, for one). A sideband that drops is opened again with
 * backoff; the call's deadline does not depend on it (lib/calls/supervisor.ts).
 */

export const MAX_RESTORES = 3;
/** How long a restore may take to show in a `session.updated` before the call is hung up instead. */
export const RESTORE_DEADLINE_MS = 2000;
const RECONNECT_MS = [250, 500, 1000, 2000, 4000, 8000];

export interface WatchOptions {
  readonly url: string;
  readonly apiKey: string;
  readonly handshakeTimeoutMs: number;
  readonly pinned: PinnedSession;
  readonly policy: OverridePolicy;
}

export interface WatchEvents {
  /** Fields differed; `action` is what the watch did about it. */
  onOverride(fields: WatchedField[], action: 'restore' | 'hangup'): void;
  /** OpenAI closed the sideband cleanly: the call is over upstream. */
  onEnded(): void;
  /** The sideband could not open or dropped; another attempt follows. */
  onLost(reason: string, attempt: number): void;
}

export interface Watch {
  stop(): void;
}

export function watchCall(options: WatchOptions, events: WatchEvents): Watch {
  let stopped = false;
  let restores = 0;
  let failures = 0;
  let socket: Sideband | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let unconfirmed: ReturnType<typeof setTimeout> | undefined;

  const onSession = (session: unknown) => {
    failures = 0;
    const fields = overriddenFields(session, options.pinned);
    if (stopped) return;
    if (fields.length === 0) return clearTimeout(unconfirmed);
    const hangup = options.policy === 'hangup' || fields.includes('model') || ++restores > MAX_RESTORES;
    if (!hangup && socket?.send(restoreEvent(options.pinned))) {
      clearTimeout(unconfirmed);
      unconfirmed = setTimeout(() => !stopped && events.onOverride(fields, 'hangup'), RESTORE_DEADLINE_MS);
      unconfirmed.unref?.();
      return events.onOverride(fields, 'restore');
    }
    events.onOverride(fields, 'hangup');
  };

  const connect = () => {
    socket = openSideband(
      options.url,
      { apiKey: options.apiKey, handshakeTimeoutMs: options.handshakeTimeoutMs },
      {
        onSession,
        onClose(byUpstream, reason) {
          if (stopped) return;
          if (byUpstream) return events.onEnded();
          events.onLost(reason, ++failures);
          retry = setTimeout(connect, RECONNECT_MS[Math.min(failures, RECONNECT_MS.length) - 1]);
          retry.unref?.();
        },
      },
    );
  };
  connect();

  return {
    stop() {
      stopped = true;
      clearTimeout(retry);
      clearTimeout(unconfirmed);
      socket?.close();
    },
  };
}
