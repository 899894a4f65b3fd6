#!/usr/bin/env node
/**
 * Production entry point (`npm start`): Next's request handler behind a plain
 * Node HTTP server that records the socket peer in X-Forwarded-For.
 *
 * `next start` passes a client-sent X-Forwarded-For through unchanged, so the
 * route could not tell a forged entry from a real one. Here the peer address
 * this process saw is always appended, so the last entry is never the
 * client's choice; with TRUSTED_PROXY_HOPS=N the route reads the entry N
 * places further left (see lib/client-ip.ts and README "Production setups").
 *
 * Environment: PORT (default 3000), HOST (default 0.0.0.0), plus the app's
 * variables, read by lib/config.ts when the server starts.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import next from 'next';

process.env.NEXT_TELEMETRY_DISABLED ??= '1';
process.env.CLERK_TELEMETRY_DISABLED ??= '1';

const port = Number.parseInt(process.env.PORT || '3000', 10);
const host = process.env.HOST || '0.0.0.0';
const shutdownGraceMs = 10_000;

if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error('PORT must be a whole number between 0 and 65535');
  process.exit(1);
}

// The route refuses requests without this process's marker (lib/guards/front-door.ts):
// only requests that passed through here had their client address recorded.
const marker = randomBytes(16).toString('hex');
process.env.RTG_FRONT_DOOR_MARKER = marker;

const app = next({ dev: false, dir: new URL('..', import.meta.url).pathname, hostname: host, port });
const handle = app.getRequestHandler();
await app.prepare();

// Responses still being produced, so a shutdown can end their keep-alive connections.
const inFlight = new Set();
let stopping = false;

const server = createServer((req, res) => {
  inFlight.add(res);
  res.on('close', () => inFlight.delete(res));
  if (stopping) res.setHeader('Connection', 'close');
  const peer = req.socket.remoteAddress ?? 'unknown';
  const sent = req.headers['x-forwarded-for'];
  const chain = Array.isArray(sent) ? sent.join(', ') : sent;
  req.headers['x-forwarded-for'] = chain ? `${chain}, ${peer}` : peer;
  req.headers['x-rtg-front-door'] = marker;
  handle(req, res).catch(() => {
    if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
    res.end('{"error":"internal_error","message":"Something went wrong."}');
  });
});
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.requestTimeout = 30_000;

server.listen(port, host, () => {
  const address = server.address();
  const shown = typeof address === 'object' && address ? address.port : port;
  console.log(JSON.stringify({ level: 'info', event: 'server_started', message: `listening on http://${host}:${shown}`, port: shown }));
});

/**
 * Closes the limiter store once the last request is done: with REDIS_URL this
 * ends the Redis connection with QUIT instead of dropping it. The runtime is
 * the one lib/runtime.ts keeps on globalThis (absent if no request came).
 */
async function closeLimiterStore() {
  try {
    await globalThis[Symbol.for('realtime-token-guard.runtime')]?.store?.close();
  } catch {
    // Exiting anyway; the grace timer below bounds a store that hangs.
  }
}

// SIGTERM: stop accepting, let in-flight requests finish, then exit.
function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(JSON.stringify({ level: 'info', event: 'server_stopping', message: `${signal} received` }));
  // Keep-alive connections would otherwise hold the process (and keep taking
  // requests) until the grace period ends: answers still to come close theirs.
  for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
  server.close(() => void closeLimiterStore().finally(() => process.exit(0)));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), shutdownGraceMs).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
