import type { ErrorCode } from '@/lib/errors';
import type { TokenFailure } from './token-client';

/**
 * Plain-words text for every way Start can fail. The server's error codes
 * (lib/errors.ts) are stable, so the page keys on them, not on message text.
 */

export interface Explanation {
  readonly title: string;
  readonly detail: string;
}

/** Failures the page itself detects, beside the server's codes. */
type ClientFailureCode = 'network_error' | 'bad_response';

// Keyed by every server code (lib/errors.ts): a new code without a text fails `npm run typecheck`.
// Codes the token request can never meet (404, 405) still get a text, so the table stays total.
const BY_CODE: Readonly<Record<ErrorCode | ClientFailureCode, Explanation>> = {
  network_error: {
    title: 'Could not reach the token server',
    detail:
      'The request did not get through: the network is down, the server stopped, or the browser blocked it because this page’s address is not allowed. Check your connection and try again.',
  },
  bad_response: {
    title: 'The token server sent an answer the page could not read',
    detail: 'Try again. If it keeps happening, report it with the trace id.',
  },
  auth_missing: { title: 'You are not signed in', detail: 'Sign in, then press Start again.' },
  auth_invalid: {
    title: 'Your sign-in is invalid or has expired',
    detail: 'Sign in again. In development, open a fresh link from npm run demo.',
  },
  auth_malformed: {
    title: 'Your sign-in token is not in the expected form',
    detail: 'Sign out and sign in again with a complete token.',
  },
  auth_scheme_unsupported: {
    title: 'This kind of sign-in is not accepted',
    detail: 'The request carried credentials of another kind (for example a password prompt’s). Sign in here, then press Start again.',
  },
  auth_unavailable: {
    title: 'Sign-in cannot be checked right now',
    detail: 'The identity provider did not answer the server. Try again in a moment.',
  },
  origin_not_allowed: {
    title: 'This site is not allowed to request voice sessions',
    detail: 'The server does not list this page’s address in ALLOWED_ORIGINS. Contact the operator.',
  },
  rate_limited: {
    title: 'Too many requests',
    detail: 'You have started too many sessions in a short time. Start works again when the countdown ends.',
  },
  body_invalid: { title: 'The server refused these settings', detail: 'Check the settings below and try again.' },
  json_invalid: { title: 'The server could not read the request', detail: 'Reload the page and try again.' },
  body_too_large: { title: 'The instructions are too long', detail: 'Shorten them and try again.' },
  service_unavailable: {
    title: 'The token service is not set up',
    detail: 'The server is missing its OpenAI key or a sign-in method. Contact the operator.',
  },
  upstream_error: {
    title: 'The voice service could not be reached',
    detail: 'OpenAI did not answer properly (bad gateway). Try again in a moment.',
  },
  upstream_auth: {
    title: 'The voice service refused the server’s key',
    detail: 'The operator’s OpenAI key was rejected. Contact the operator.',
  },
  upstream_rejected: {
    title: 'The voice service rejected these settings',
    detail: 'Try another voice or model.',
  },
  upstream_timeout: {
    title: 'The voice service took too long to answer',
    detail: 'OpenAI did not answer in time (gateway timeout). Try again in a moment.',
  },
  upstream_rate_limited: {
    title: 'The voice service is busy or out of quota',
    detail: 'Start works again when the countdown ends.',
  },
  geo_blocked: { title: 'Not available in your region', detail: 'The operator does not offer voice sessions where you are connecting from.' },
  denied: { title: 'Access denied', detail: 'The operator has blocked this account or network. Contact the operator if you think this is a mistake.' },
  anomaly_cooloff: {
    title: 'New sessions are paused for this account',
    detail: 'The server saw unusual activity (for example the same sign-in used from many places). Start works again when the countdown ends.',
  },
  issuance_paused: {
    title: 'The service is very busy',
    detail: 'It is starting too many sessions at once right now. Start works again when the countdown ends.',
  },
  upstream_quota_cooloff: {
    title: 'The voice service is out of quota',
    detail: 'The operator’s OpenAI account has run out of quota or reached its spending limit. Try again later.',
  },
  internal_error: {
    title: 'Something went wrong on the server',
    detail: 'Try again. If it keeps happening, report it with the trace id.',
  },
  unsupported_media_type: {
    title: 'The server could not read the request',
    detail: 'The page sent the request in a form the server does not take. Reload the page and try again.',
  },
  method_not_allowed: {
    title: 'The page called the token server the wrong way',
    detail: 'Reload the page; if it keeps happening, report it with the trace id.',
  },
  sdp_invalid: {
    title: 'The browser’s call offer was refused',
    detail: 'The server could not accept the browser’s WebRTC offer. Reload the page and try again; if it keeps happening, report it with the trace id.',
  },
  call_limit_reached: {
    title: 'You already have the most calls open',
    detail: 'End a call in another tab or window, or wait for the countdown, then press Start again.',
  },
  minutes_exhausted: {
    title: 'No call minutes left for today',
    detail: 'You have used today’s call minutes. Start works again when the countdown ends.',
  },
  not_found: {
    title: 'The token server was not found at this address',
    detail: 'The page and the server do not match. Reload the page; if it keeps happening, contact the operator.',
  },
  // Answered by the front door (server/front-door.ts) before the app runs.
  bad_request: { title: 'The server could not read the request', detail: 'Reload the page and try again.' },
  permanent_redirect: {
    title: 'The token server moved',
    detail: 'The page called an old address. Reload the page; if it keeps happening, contact the operator.',
  },
  request_timeout: {
    title: 'The request took too long to reach the server',
    detail: 'The connection is slow or was interrupted. Try again.',
  },
  headers_too_large: {
    title: 'The request was too large for the server',
    detail: 'Clear this site’s cookies, reload the page and try again.',
  },
  too_many_connections: {
    title: 'Too many connections from your network',
    detail: 'Close other tabs using this site, wait a moment and try again.',
  },
};

const isKnown = (code: string): code is keyof typeof BY_CODE => Object.prototype.hasOwnProperty.call(BY_CODE, code);

const BY_STATUS: Readonly<Record<number, keyof typeof BY_CODE>> = {
  400: 'bad_response',
  401: 'auth_invalid',
  403: 'origin_not_allowed',
  429: 'rate_limited',
  500: 'internal_error',
  502: 'upstream_error',
  503: 'service_unavailable',
  504: 'upstream_timeout',
};

/** What to tell the user about a failed token request. */
export function explainTokenFailure(failure: TokenFailure): Explanation {
  if (isKnown(failure.code)) return BY_CODE[failure.code];
  const byStatus = BY_STATUS[failure.status];
  if (byStatus !== undefined) return BY_CODE[byStatus];
  return {
    title: `The token server answered with an unexpected error (HTTP ${failure.status})`,
    detail: 'Try again. If it keeps happening, report it with the trace id.',
  };
}

/** Failures of the WebRTC step, after the key was issued. */
export type CallFailureKind =
  | 'microphone_denied'
  | 'microphone_missing'
  | 'microphone_failed'
  | 'webrtc_unsupported'
  | 'sdp_network'
  | 'sdp_refused'
  | 'sdp_invalid'
  | 'connection_failed';

export function explainCallFailure(kind: CallFailureKind, status?: number): Explanation {
  switch (kind) {
    case 'microphone_denied':
      return {
        title: 'Microphone access was blocked',
        detail: 'Allow the microphone for this site in the browser’s address bar, then press Start again.',
      };
    case 'microphone_missing':
      return { title: 'No microphone found', detail: 'Connect a microphone, then press Start again.' };
    case 'microphone_failed':
      return { title: 'The microphone could not be opened', detail: 'Another app may be using it. Close it and try again.' };
    case 'webrtc_unsupported':
      return { title: 'This browser cannot make voice calls', detail: 'Use a current version of Chrome, Edge, Firefox or Safari.' };
    case 'sdp_network':
      return {
        title: 'Could not reach OpenAI',
        detail: 'The call setup request to api.openai.com did not get through. Check your connection and try again.',
      };
    case 'sdp_refused':
      return {
        title: `OpenAI refused the call${status ? ` (HTTP ${status})` : ''}`,
        detail: status === 401 ? 'The session key expired before the call started. Press Start again.' : 'Press Start to try again.',
      };
    case 'sdp_invalid':
      return { title: 'OpenAI sent an answer the browser could not use', detail: 'Press Start to try again.' };
    case 'connection_failed':
      return { title: 'The audio connection dropped', detail: 'Press Start to reconnect.' };
  }
}

/** Why the server ended a call (GET /api/realtime/calls/<id>), in plain words. */
export function explainCallEnd(reason: 'client' | 'max_duration' | 'override' | 'budget' | 'upstream' | null): Explanation {
  switch (reason) {
    case 'max_duration':
      return { title: 'The call reached its time limit', detail: 'Calls on this service end after a set time. Press Start to begin a new one.' };
    case 'budget':
      return { title: 'Your call minutes for today ran out', detail: 'The call ended when your remaining minutes were used up. Start works again once minutes free up.' };
    case 'override':
      return {
        title: 'The call was ended because its settings were changed',
        detail: 'Something in this browser tried to change the call’s instructions or tools, which this service does not allow.',
      };
    case 'upstream':
      return { title: 'The voice service ended the call', detail: 'Press Start to begin a new one.' };
    case 'client':
      return { title: 'The call was ended from another tab or device', detail: 'Press Start to begin a new one.' };
    default:
      return { title: 'The call ended', detail: 'Press Start to begin a new one.' };
  }
}
