'use client';

import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import { VoiceApp, type VoicePageConfig } from './VoiceApp';

/**
 * Development sign-in, for servers without Clerk: an HS256 JWT signed with the
 * server's JWT_SECRET. `npm run demo` hands it over in the URL fragment
 * (`#token=…`), which browsers never send to a server or in a Referer; the page
 * moves it to sessionStorage (this tab only) and removes it from the address
 * bar and history entry at once. The token is sent only as `Authorization:
 * Bearer` and is never rendered.
 */

const STORAGE_KEY = 'rtg.devToken';
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Token held in memory when sessionStorage is unavailable (private modes, disabled storage). */
let memoryToken: string | null = null;

function readStored(): string | null {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return memoryToken;
  }
}

function store(token: string | null): void {
  memoryToken = token;
  try {
    if (token === null) sessionStorage.removeItem(STORAGE_KEY);
    else sessionStorage.setItem(STORAGE_KEY, token);
  } catch {
    // Memory only, then.
  }
}

/** Takes `token` out of the fragment (keeping any other fragment parameters) without a new history entry. */
function takeFragmentToken(): string | null {
  if (!window.location.hash) return null;
  const params = new URLSearchParams(window.location.hash.slice(1));
  const token = params.get('token');
  if (token === null) return null;
  params.delete('token');
  const rest = params.toString();
  const { pathname, search } = window.location;
  window.history.replaceState(window.history.state, '', `${pathname}${search}${rest ? `#${rest}` : ''}`);
  return token.trim() || null;
}

interface Claims {
  readonly subject: string | undefined;
  /** Epoch ms. */
  readonly expiresAt: number | undefined;
}

/** Reads `sub` and `exp` for display only; the server verifies the token. */
function readClaims(token: string): Claims {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json: unknown = JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, '=')));
    const claims = typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : {};
    return {
      subject: typeof claims.sub === 'string' ? claims.sub.slice(0, 64) : undefined,
      expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : undefined,
    };
  } catch {
    return { subject: undefined, expiresAt: undefined };
  }
}

export interface DevSessionProps {
  readonly config: VoicePageConfig;
  /** JWT_SECRET is set on the server, so development tokens can work. */
  readonly jwtEnabled: boolean;
}

export function DevSession({ config, jwtEnabled }: DevSessionProps) {
  const ids = useId();
  const [token, setToken] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [draft, setDraft] = useState('');
  const [draftError, setDraftError] = useState<string | null>(null);

  useEffect(() => {
    const adopt = () => {
      const fromFragment = takeFragmentToken();
      if (fromFragment !== null) store(fromFragment);
      setToken(readStored());
      setLoaded(true);
    };
    adopt();
    window.addEventListener('hashchange', adopt);
    return () => window.removeEventListener('hashchange', adopt);
  }, []);

  const getCredential = useCallback(async () => token, [token]);

  function signIn(event: FormEvent) {
    event.preventDefault();
    const value = draft.trim();
    if (!JWT_SHAPE.test(value)) {
      setDraftError('That does not look like a JWT (three parts separated by dots).');
      return;
    }
    store(value);
    setToken(value);
    setDraft('');
    setDraftError(null);
  }

  function signOut() {
    store(null);
    setToken(null);
  }

  const claims = token ? readClaims(token) : null;
  let account;
  if (!loaded) {
    account = <p className="hint">Checking for a development token…</p>;
  } else if (token && claims) {
    account = (
      <div className="signed-in">
        <p data-testid="signed-in">
          Signed in with a development token as <strong>{claims.subject ?? 'an unnamed user'}</strong>
          {claims.expiresAt !== undefined && <>, valid until {new Date(claims.expiresAt).toLocaleTimeString()}</>}.
        </p>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </div>
    );
  } else {
    account = (
      <form onSubmit={signIn} className="dev-signin">
        <p className="hint">
          Development mode (Clerk is not configured). Run <code>npm run demo</code> and open the link it prints, or paste a
          token signed with the server’s JWT_SECRET. It stays in this tab and is sent only in the Authorization header.
        </p>
        {!jwtEnabled && (
          <p className="warning">This server has no sign-in method configured (no Clerk keys, no JWT_SECRET): Start will be refused.</p>
        )}
        <div className="field">
          <label htmlFor={`${ids}-jwt`}>Development token (JWT)</label>
          <input
            id={`${ids}-jwt`}
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            aria-invalid={draftError !== null}
            aria-describedby={draftError ? `${ids}-jwt-error` : undefined}
          />
        </div>
        {draftError && (
          <p id={`${ids}-jwt-error`} className="warning">
            {draftError}
          </p>
        )}
        <button type="submit">Sign in</button>
      </form>
    );
  }

  return <VoiceApp config={config} getCredential={getCredential} signedIn={token !== null} account={account} />;
}
