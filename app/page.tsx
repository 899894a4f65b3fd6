import { ClerkProvider } from '@clerk/nextjs';
import type { AppConfig } from '@/lib/config';
import { getRuntime } from '@/lib/runtime';
import { ClerkSession } from './voice/ClerkSession';
import { DevSession } from './voice/DevSession';
import { voicePageConfig } from './voice/page-config';

// Settings come from the server's configuration at request time (the one
// source, lib/runtime.ts), never from the build or a hand-kept copy.
export const dynamic = 'force-dynamic';

export default function Home() {
  let cfg: AppConfig;
  try {
    cfg = getRuntime().config;
  } catch {
    return (
      <main className="app">
        <h1>Realtime voice</h1>
        <p role="alert">The service is not configured. The operator should check the server log for the setting to fix.</p>
      </main>
    );
  }
  const config = voicePageConfig(cfg);
  if (config.voices.length === 0) {
    return (
      <main className="app">
        <h1>Realtime voice</h1>
        <p role="alert">None of the configured voices works with the Realtime API. The operator should check ALLOWED_VOICES.</p>
      </main>
    );
  }
  if (cfg.clerk) {
    return (
      <ClerkProvider publishableKey={cfg.clerk.publishableKey}>
        <ClerkSession config={config} />
      </ClerkProvider>
    );
  }
  return <DevSession config={config} jwtEnabled={cfg.jwt !== undefined} />;
}
