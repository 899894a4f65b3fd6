import { startMockOpenAI } from '../../scripts/mock-openai.mjs';

/** The loopback OpenAI stand-in (scripts/mock-openai.mjs), for tests. */
export { startMockOpenAI };

/** A running stand-in: `baseUrl`, the `requests` it received, `setMode()`, `close()`. */
export type MockOpenAI = Awaited<ReturnType<typeof startMockOpenAI>>;
