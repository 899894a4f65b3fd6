import { expect } from 'vitest';
import { startMockOpenAI } from '../../scripts/mock-openai.mjs';

/** The loopback OpenAI stand-in (scripts/mock-openai.mjs), for tests. */
export { startMockOpenAI };

/** A running stand-in: `baseUrl`, the `requests` it received, `setMode()`, `close()`. */
export type MockOpenAI = Awaited<ReturnType<typeof startMockOpenAI>>;

/** What the mock recorded of one request (scripts/mock-openai.mjs). */
type Recorded = MockOpenAI['requests'][number];

/**
 * `sent` is the GA client_secrets request (POST /v1/realtime/client_secrets)
 * with the server's key and exactly this session: nothing the client sent
 * beyond the validated fields reaches OpenAI.
 */
export function expectClientSecretsRequest(
  sent: Recorded,
  serverKey: string,
  session: { seconds: number; model: string; instructions: string; voice: string },
): void {
  expect(sent.method).toBe('POST');
  expect(sent.url).toBe('/v1/realtime/client_secrets');
  expect(sent.headers.authorization).toBe(`Bearer ${serverKey}`);
  expect(sent.headers['content-type']).toBe('application/json');
  expect(sent.body).toEqual({
    expires_after: { anchor: 'created_at', seconds: session.seconds },
    session: { type: 'realtime', model: session.model, instructions: session.instructions, audio: { output: { voice: session.voice } } },
  });
}
