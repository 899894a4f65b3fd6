#!/usr/bin/env node
/**
 * The zero-delay OpenAI stand-in for the end-to-end benchmark, in its own
 * process so it does not share a CPU queue with the load generator. It is
 * scripts/mock-openai.mjs (the stand-in the tests use); the request log it
 * keeps for tests is emptied every second so memory stays flat under load.
 * Prints one JSON line {"baseUrl": ...} when listening; exits on SIGTERM, or
 * when its stdin closes (the benchmark that started it has gone).
 */
import { startMockOpenAI } from '../scripts/mock-openai.mjs';

const server = await startMockOpenAI({ apiKey: process.env.BENCH_OPENAI_KEY });
const forget = setInterval(() => {
  server.requests.length = 0;
}, 1000);
process.stdout.write(`${JSON.stringify({ baseUrl: server.baseUrl })}\n`);
async function stop() {
  clearInterval(forget);
  await server.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.stdin.on('end', stop).on('error', stop).resume();
