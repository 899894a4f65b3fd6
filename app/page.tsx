import { ClerkProvider } from '@clerk/nextjs';
import type { AppConfig } from '@/lib/config';
import { getRuntime } from '@/lib/runtime';
import { MAX_INSTRUCTIONS_CHARS } from '@/lib/validation';
import { ClerkSession } from './voice/ClerkSession';
import { DevSession } from './voice/DevSession';
import type { VoicePageConfig } from './voice/VoiceApp';

// Settings come from the server's configuration at request time (the one
// source, lib/runtime.ts), never from the build or a hand-kept copy.
export const dynamic = 'force-dynamic';

/** Anything else is a stand-in (the demo, tests): its keys cannot open a real call. */
const OPENAI_API_BASE_URL = 'https://api.openai.com/v1';

function pageConfig(cfg: AppConfig): VoicePageConfig {
  return {
    voices: [...cfg.voices],
    models: [...cfg.models],
    defaultVoice: cfg.defaultVoice,
    defaultModel: cfg.defaultModel,
    maxInstructionsChars: MAX_INSTRUCTIONS_CHARS,
    demoUpstream: cfg.openai.baseUrl !== OPENAI_API_BASE_URL,
  };
}

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
  const config = pageConfig(cfg);
  if (cfg.clerk) {
    return (
      <ClerkProvider publishableKey={cfg.clerk.publishableKey}>
        <ClerkSession config={config} />
      </ClerkProvider>
    );
  }
  return <DevSession config={config} jwtEnabled={cfg.jwt !== undefined} />;
}
