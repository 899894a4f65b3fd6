'use client';

import { SignIn, SignOutButton, useAuth } from '@clerk/nextjs';
import { useCallback } from 'react';
import { VoiceApp, type VoicePageConfig } from './VoiceApp';

/**
 * Clerk sign-in, rendered only when the server has Clerk keys (app/page.tsx
 * wraps it in ClerkProvider then). The token request carries a fresh session
 * token from `getToken()` as a Bearer credential; the route verifies it.
 */
export function ClerkSession({ config }: { readonly config: VoicePageConfig }) {
  const { isLoaded, isSignedIn, getToken } = useAuth();
  const getCredential = useCallback(() => getToken(), [getToken]);

  let account;
  if (!isLoaded) {
    account = <p className="hint">Loading sign-in…</p>;
  } else if (isSignedIn) {
    account = (
      <div className="signed-in">
        <p data-testid="signed-in">Signed in with Clerk.</p>
        <SignOutButton>
          <button type="button">Sign out</button>
        </SignOutButton>
      </div>
    );
  } else {
    account = <SignIn routing="hash" />;
  }

  return <VoiceApp config={config} getCredential={getCredential} signedIn={isSignedIn === true} account={account} />;
}
