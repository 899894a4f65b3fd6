'use client';

import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { startServerCall, watchCallEnd, type EndReason, type ServerCall } from './calls-client';
import { explainCallEnd, explainCallFailure, explainTokenFailure, type Explanation } from './messages';
import { requestToken, type RateLimitInfo, type TokenFailure, type TokenRequestBody } from './token-client';
import { CallError, startRealtimeCall, type CallHandlers, type RealtimeCall } from './webrtc';

/** What the server tells the page, read from lib/config.ts at request time (app/page.tsx). */
export interface VoicePageConfig {
  readonly voices: readonly string[];
  readonly models: readonly string[];
  readonly defaultVoice: string;
  readonly defaultModel: string;
  readonly maxInstructionsChars: number;
  /** OPENAI_BASE_URL is not the OpenAI API: keys come from a stand-in and cannot open a call. */
  readonly demoUpstream: boolean;
  /** REALTIME_MODE: `calls` sends the offer to this server (app/voice/calls-client.ts); otherwise an ephemeral key. */
  readonly mode: 'ephemeral' | 'calls' | 'both';
}

export interface VoiceAppProps {
  readonly config: VoicePageConfig;
  /** The Bearer credential for the token request, or null when there is none. */
  readonly getCredential: () => Promise<string | null>;
  readonly signedIn: boolean;
  /** The sign-in panel (development token or Clerk). */
  readonly account: ReactNode;
}

type Phase = 'idle' | 'requesting' | 'connecting' | 'live' | 'demo' | 'ended' | 'error';

interface Problem extends Explanation {
  readonly code: string;
  readonly traceId: string;
  /** Epoch ms after which Start may be pressed again (Retry-After). */
  readonly retryAt?: number;
  readonly issues?: TokenFailure['issues'];
}

interface SessionInfo {
  readonly expiresAt: number;
  readonly sessionId: string;
  readonly model: string;
  readonly voice: string;
  readonly traceId: string;
}

/** A call the server placed (calls mode). */
interface CallInfo {
  readonly callId: string;
  /** Epoch ms. */
  readonly endsAt: number;
  readonly traceId: string;
}

interface Ending extends Explanation {
  readonly reason: EndReason | 'unknown';
}

const TOKEN_URL = '/api/realtime/token';
/** No trace id exists for failures before any request reached the server. */
const NO_TRACE = 'none (nothing reached the server)';
const BUSY: ReadonlySet<Phase> = new Set(['requesting', 'connecting', 'live', 'demo']);

/** Epoch ms, refreshed every second while `active`. */
function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

function secondsUntil(epochMs: number, now: number): number {
  return Math.max(0, Math.ceil((epochMs - now) / 1000));
}

function statusText(phase: Phase, signedIn: boolean, waiting: boolean): string {
  switch (phase) {
    case 'idle':
      return signedIn ? 'Ready. Press Start to begin a voice session.' : 'Sign in to start a voice session.';
    case 'requesting':
      return 'Requesting a session key…';
    case 'connecting':
      return 'Connecting to OpenAI: microphone, then the call…';
    case 'live':
      return 'Live. Speak now; press Stop to hang up.';
    case 'demo':
      return 'Session key issued. Demo upstream: no audio.';
    case 'ended':
      return 'The call ended. See why below.';
    case 'error':
      return waiting ? 'Start failed. Wait for the countdown below.' : 'Start failed. See the message below.';
  }
}

/**
 * The voice session: settings, Start/Stop, and everything the user should
 * see about the key (expiry), the limiter (requests left) and failures (plain
 * words plus the trace id). The ephemeral key itself never reaches the DOM.
 */
export function VoiceApp({ config, getCredential, signedIn, account }: VoiceAppProps) {
  const ids = useId();
  const [voice, setVoice] = useState(config.defaultVoice);
  const [model, setModel] = useState(config.defaultModel);
  const [instructions, setInstructions] = useState('');
  const [phase, setPhase] = useState<Phase>('idle');
  const [session, setSession] = useState<SessionInfo | null>(null);
  const [rateLimit, setRateLimit] = useState<RateLimitInfo | undefined>();
  const [problem, setProblem] = useState<Problem | null>(null);
  const [lastEvent, setLastEvent] = useState<string | undefined>();
  const [serverCall, setServerCall] = useState<CallInfo | null>(null);
  const [ending, setEnding] = useState<Ending | null>(null);
  const callRef = useRef<RealtimeCall | null>(null);
  const serverCallRef = useRef<ServerCall | null>(null);
  const watchRef = useRef<{ check(): void; stop(): void } | null>(null);
  const audioRef = useRef<HTMLAudioElement>(null);
  // Each Start gets a number; answers for an older one (after Stop) are dropped.
  const runRef = useRef(0);

  const now = useNow(session !== null || serverCall !== null || problem?.retryAt !== undefined);
  const waiting = problem?.retryAt !== undefined && problem.retryAt > now;
  const busy = BUSY.has(phase);

  useEffect(() => () => callRef.current?.hangUp(), []);

  function hangUp() {
    watchRef.current?.stop();
    watchRef.current = null;
    callRef.current?.hangUp();
    callRef.current = null;
    serverCallRef.current = null;
  }

  function fail(problemValue: Problem) {
    hangUp();
    setProblem(problemValue);
    setPhase('error');
  }

  /** The server refused (token or call): its code in plain words, the Retry-After countdown, field issues. */
  function refused({ failure, traceId }: { readonly failure: TokenFailure; readonly traceId: string }) {
    fail({
      ...explainTokenFailure(failure),
      code: failure.code,
      traceId,
      // A call slot frees as soon as the user ends another call; its Retry-After is only the
      // latest it frees by itself, so it does not lock Start.
      retryAt: failure.retryAfterSeconds !== undefined && failure.code !== 'call_limit_reached' ? Date.now() + failure.retryAfterSeconds * 1000 : undefined,
      issues: failure.issues,
    });
  }

  async function start() {
    const run = ++runRef.current;
    const current = () => run === runRef.current;
    setProblem(null);
    setSession(null);
    setServerCall(null);
    setEnding(null);
    setLastEvent(undefined);
    const text = instructions.trim();
    const body: TokenRequestBody = { voice, model, ...(text ? { instructions: text } : {}) };
    if (config.mode === 'calls') return startCall(current, body);
    setPhase('requesting');

    const credential = await safeCredential();
    const result = await requestToken({ url: TOKEN_URL, credential, body });
    if (!current()) return;
    if (result.rateLimit) setRateLimit(result.rateLimit);
    if (!result.ok) return refused(result);

    const { token, traceId } = result;
    setSession({ expiresAt: token.expiresAt * 1000, sessionId: token.sessionId, model: token.model, voice: token.voice, traceId });
    if (config.demoUpstream) {
      setPhase('demo');
      return;
    }
    setPhase('connecting');
    try {
      const call = await startRealtimeCall(token.value, audioRef.current!, {
        onConnectionState(state) {
          if (!current()) return;
          if (state === 'connected') setPhase('live');
          else if (state === 'failed') fail({ ...explainCallFailure('connection_failed'), code: 'connection_failed', traceId });
        },
        onServerEvent(type) {
          if (current()) setLastEvent(type);
        },
      });
      if (!current()) return call.hangUp();
      callRef.current = call;
    } catch (error) {
      if (!current()) return;
      const kind = error instanceof CallError ? error.kind : 'connection_failed';
      fail({ ...explainCallFailure(kind, error instanceof CallError ? error.status : undefined), code: kind, traceId });
    }
  }

  async function safeCredential(): Promise<string | null> {
    try {
      return await getCredential();
    } catch {
      return null;
    }
  }

  /** Calls mode: the server places the call; the page shows its time left and, when the server ends it, why. */
  async function startCall(current: () => boolean, body: TokenRequestBody) {
    setPhase('connecting');
    const handlers: CallHandlers = {
      onConnectionState(state) {
        if (!current()) return;
        if (state === 'connected') setPhase('live');
        else if (state === 'failed' || state === 'closed' || state === 'disconnected') watchRef.current?.check();
      },
      onServerEvent(type) {
        if (current()) setLastEvent(type);
      },
      onChannelClosed() {
        if (current()) watchRef.current?.check();
      },
    };
    let result;
    try {
      result = await startServerCall({ credential: safeCredential, body, audio: audioRef.current!, handlers });
    } catch (error) {
      if (!current()) return;
      const kind = error instanceof CallError ? error.kind : 'connection_failed';
      fail({ ...explainCallFailure(kind, error instanceof CallError ? error.status : undefined), code: kind, traceId: NO_TRACE });
      return;
    }
    if (!current()) {
      if (result.ok) void result.call.end();
      return;
    }
    if (result.rateLimit) setRateLimit(result.rateLimit);
    if (!result.ok) return refused(result);
    const { call } = result;
    callRef.current = call;
    serverCallRef.current = call;
    setServerCall({ callId: call.callId, endsAt: call.endsAt * 1000, traceId: call.traceId });
    watchRef.current = watchCallEnd(call, (status) => {
      if (!current()) return;
      hangUp();
      setEnding({ ...explainCallEnd(status.reason), reason: status.reason ?? 'unknown' });
      setPhase('ended');
    });
  }

  function stop() {
    runRef.current++;
    void serverCallRef.current?.end();
    hangUp();
    setServerCall(null);
    setSession(null);
    setLastEvent(undefined);
    setPhase('idle');
  }

  const keySeconds = session ? secondsUntil(session.expiresAt, now) : 0;
  const callSeconds = serverCall ? secondsUntil(serverCall.endsAt, now) : 0;
  const callsMode = config.mode === 'calls';
  const instructionsId = `${ids}-instructions`;

  return (
    <main className="app">
      <header className="masthead">
        <h1>Realtime voice</h1>
        <p>
          {callsMode
            ? 'Talk to an OpenAI Realtime model. This server places each call for you; your browser never holds a key.'
            : 'Talk to an OpenAI Realtime model. This server mints a short-lived key for each session.'}
        </p>
        {config.demoUpstream && (
          <p className="badge" data-testid="demo-badge">
            {callsMode
              ? 'Demo upstream: a local stand-in for OpenAI answers the call, so it connects but there is no audio.'
              : 'Demo upstream: keys come from a local stand-in for OpenAI, so there is no audio.'}
          </p>
        )}
      </header>

      <section className="card" aria-labelledby={`${ids}-account`}>
        <h2 id={`${ids}-account`}>Sign in</h2>
        {account}
      </section>

      <section className="card" aria-labelledby={`${ids}-settings`}>
        <h2 id={`${ids}-settings`}>Settings</h2>
        <fieldset disabled={busy} className="settings">
          <div className="field">
            <label htmlFor={`${ids}-voice`}>Voice</label>
            <select id={`${ids}-voice`} value={voice} onChange={(e) => setVoice(e.target.value)}>
              {config.voices.map((v) => (
                <option key={v} value={v}>
                  {v}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor={`${ids}-model`}>Model</label>
            <select id={`${ids}-model`} value={model} onChange={(e) => setModel(e.target.value)}>
              {config.models.map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
            </select>
          </div>
          <div className="field wide">
            <label htmlFor={instructionsId}>Instructions (optional)</label>
            <textarea
              id={instructionsId}
              rows={3}
              maxLength={config.maxInstructionsChars}
              value={instructions}
              onChange={(e) => setInstructions(e.target.value)}
              aria-describedby={`${instructionsId}-count`}
              placeholder="For example: answer briefly, in French."
            />
            <p id={`${instructionsId}-count`} className="hint">
              {instructions.length} of {config.maxInstructionsChars} characters
            </p>
          </div>
        </fieldset>
      </section>

      <section className="card" aria-labelledby={`${ids}-session`} data-phase={phase}>
        <h2 id={`${ids}-session`}>Session</h2>
        <div className="controls">
          <button type="button" className="primary" onClick={start} disabled={!signedIn || busy || waiting}>
            Start
          </button>
          <button type="button" onClick={stop} disabled={!busy || phase === 'requesting'}>
            Stop
          </button>
        </div>
        <p role="status" aria-live="polite" className="status">
          {statusText(phase, signedIn, waiting)}
        </p>

        {phase === 'demo' && (
          <div className="notice" data-testid="demo-notice">
            <h3>Demo upstream: no audio</h3>
            <p>
              The key came from the local stand-in for OpenAI (OPENAI_BASE_URL is not api.openai.com), so there is no call
              to connect. With the real API and an OPENAI_API_KEY, Start opens the microphone and connects over WebRTC.
            </p>
          </div>
        )}

        {ending && (
          <div className="notice" data-testid="call-ended" data-reason={ending.reason}>
            <h3>{ending.title}</h3>
            <p>{ending.detail}</p>
          </div>
        )}

        {problem && (
          <div className="problem" data-code={problem.code}>
            <div role="alert">
              <h3>{problem.title}</h3>
              <p>{problem.detail}</p>
            </div>
            {problem.retryAt !== undefined && (
              <p className="countdown" data-testid="retry-countdown">
                {waiting ? (
                  <>
                    You can try again in <strong>{secondsUntil(problem.retryAt, now)}</strong> s.
                  </>
                ) : (
                  'You can try again now.'
                )}
              </p>
            )}
            {problem.issues && problem.issues.length > 0 && (
              <ul className="issues">
                {problem.issues.map((issue, i) => (
                  <li key={i}>
                    <strong>{issue.field}</strong>: {issue.message}
                  </li>
                ))}
              </ul>
            )}
            <p className="trace">
              Trace id <code data-testid="trace-id">{problem.traceId}</code> (quote it when you ask for help)
            </p>
          </div>
        )}

        <dl className="facts">
          {serverCall && (
            <>
              <dt>Call ends</dt>
              <dd data-testid="call-time-left">{phase === 'ended' ? 'ended' : `in ${callSeconds} s`}</dd>
              <dt>Trace id</dt>
              <dd>
                <code data-testid="session-trace-id">{serverCall.traceId}</code>
              </dd>
            </>
          )}
          {session && (
            <>
              <dt>Key expires</dt>
              <dd data-testid="key-expiry">
                {keySeconds > 0 ? `in ${keySeconds} s` : phase === 'live' ? 'expired (the call goes on)' : 'expired'}
              </dd>
              <dt>Model · voice</dt>
              <dd>
                {session.model || model} · {session.voice || voice}
              </dd>
              <dt>Session id</dt>
              <dd>
                <code>{session.sessionId || 'unknown'}</code>
              </dd>
              <dt>Trace id</dt>
              <dd>
                <code data-testid="session-trace-id">{session.traceId}</code>
              </dd>
            </>
          )}
          {lastEvent && (
            <>
              <dt>Last server event</dt>
              <dd>{lastEvent}</dd>
            </>
          )}
          {rateLimit && (
            <>
              <dt>Requests left</dt>
              <dd data-testid="rate-remaining">
                {rateLimit.remaining} of {rateLimit.limit}
              </dd>
            </>
          )}
        </dl>
        <audio ref={audioRef} hidden />
      </section>
    </main>
  );
}
