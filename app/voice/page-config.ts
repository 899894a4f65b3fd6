import type { AppConfig } from '@/lib/config';
import { isRealtimeVoice } from '@/lib/config/warnings';
import { MAX_INSTRUCTIONS_CHARS } from '@/lib/validation';
import type { VoicePageConfig } from './VoiceApp';

/** Anything else is a stand-in (the demo, tests): its keys cannot open a real call. */
const OPENAI_API_BASE_URL = 'https://api.openai.com/v1';

/**
 * What the voice page offers, from the server's configuration. The API keeps
 * accepting every voice in ALLOWED_VOICES (the contract), but the page offers
 * only those the Realtime API accepts: a TTS-only voice (fable, onyx, nova)
 * could only ever end in an upstream refusal. `voices` is empty when none can work.
 */
export function voicePageConfig(cfg: AppConfig): VoicePageConfig {
  const voices = cfg.voices.filter(isRealtimeVoice);
  return {
    voices,
    models: [...cfg.models],
    defaultVoice: voices.includes(cfg.defaultVoice) ? cfg.defaultVoice : (voices[0] ?? ''),
    defaultModel: cfg.defaultModel,
    maxInstructionsChars: MAX_INSTRUCTIONS_CHARS,
    demoUpstream: cfg.openai.baseUrl !== OPENAI_API_BASE_URL,
    mode: cfg.calls.mode,
  };
}
