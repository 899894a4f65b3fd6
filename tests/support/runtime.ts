import { loadConfig } from '@/lib/config';
import { createRuntime, type Runtime } from '@/lib/runtime';
import { createSecurityLogger, type SecurityLogEntry } from '@/lib/security-logger';
import { TEST_JWT_SECRET } from './tokens';

/**
 * The marker the front door (server/front-door.ts) would stamp on each request
 * it forwards; in-process route tests play the door's part.
 */
export const FRONT_DOOR_MARKER = '0123456789abcdef0123456789abcdef';

/** A complete, valid environment for in-process tests. */
export function baseEnv(openaiBaseUrl = 'http://127.0.0.1:9/v1'): Record<string, string> {
  return {
    NODE_ENV: 'production',
    OPENAI_API_KEY: 'sk-test-server-key-0123456789',
    OPENAI_BASE_URL: openaiBaseUrl,
    ALLOWED_ORIGINS: 'https://app.example.com,http://localhost:3000',
    JWT_SECRET: TEST_JWT_SECRET,
    UPSTREAM_TIMEOUT_MS: '1000',
    RTG_FRONT_DOOR_MARKER: FRONT_DOOR_MARKER,
  };
}

export interface TestRuntime {
  readonly runtime: Runtime;
  /** Raw JSON lines written by the logger after the runtime was created. */
  readonly lines: string[];
  /** Entries logged while the runtime was created (configuration warnings). */
  readonly startup: SecurityLogEntry[];
  /** Parsed log entries. */
  entries(): SecurityLogEntry[];
  /** Moves the injected clock forward. */
  advance(ms: number): void;
}

/** A runtime with a capturing logger, an injected clock and a fresh memory store. */
export function testRuntime(env: Record<string, string | undefined>, start = Date.now()): TestRuntime {
  let now = start;
  const startup: string[] = [];
  const lines: string[] = [];
  let sink = startup;
  const clock = () => now;
  const runtime = createRuntime({
    config: loadConfig(env),
    logger: createSecurityLogger({ sink: (line) => void sink.push(line), now: clock }),
    now: clock,
  });
  // Start-up lines are kept apart, so a test's log assertions see only its requests.
  sink = lines;
  return {
    runtime,
    lines,
    startup: startup.map((l) => JSON.parse(l) as SecurityLogEntry),
    entries: () => lines.map((l) => JSON.parse(l) as SecurityLogEntry),
    advance: (ms) => {
      now += ms;
    },
  };
}
