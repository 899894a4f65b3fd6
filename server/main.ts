import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import next from 'next';
import { callsOf } from '@/lib/calls';
import { ConfigError, type AppConfig } from '@/lib/config';
import { ERRORS, type ErrorCode } from '@/lib/errors';
import { getRuntime, type Runtime } from '@/lib/runtime';
import type { SecurityEvent } from '@/lib/security-logger';
import { createFrontDoor, MARKER_HEADER } from './front-door';
import { connectionCaps, raiseFdLimit } from './limits';
import { createLifecycleLog, guardStdout } from './log';

/**
 * The process entry of `npm start` (production) and `npm run dev` (`dev: true`):
 * Next's request handler behind the front door (server/front-door.ts).
 * scripts/server.mjs loads this module, built into .next/rtg-server/main.mjs by
 * `npm run build` (scripts/build-server.mjs), or bundled on the fly for dev.
 *
 * Every stdout line is one JSON object with timestamp, level, event and message.
 *
 * Environment: PORT (default 3000), HOST (default 0.0.0.0), plus the app's
 * variables, read once here through lib/config before Next is prepared.
 */

export interface MainOptions {
  /** Next in development mode (`next({ dev: true })`). */
  readonly dev: boolean;
  /** The project directory (holds .next and node_modules). */
  readonly dir: string;
}

const SHUTDOWN_GRACE_MS = 10_000;

export async function main(options: MainOptions): Promise<Server> {
  guardStdout();
  const log = createLifecycleLog();
  // What Next's router server would set during prepare (server/lib/router-server.js);
  // set first so the configuration below sees the same mode the app will run in.
  const env = process.env as Record<string, string | undefined>;
  env.NODE_ENV ??= options.dev ? 'development' : 'production';
  env.NEXT_TELEMETRY_DISABLED ??= '1';
  env.CLERK_TELEMETRY_DISABLED ??= '1';
  // Published before anything reads the configuration, so lib/config and the route's
  // front_door guard (in Next's own bundles, same process) see the same value.
  const marker = randomBytes(16).toString('hex');
  env.RTG_FRONT_DOOR_MARKER = marker;

  const port = Number.parseInt(env.PORT || '3000', 10);
  const host = env.HOST || '0.0.0.0';
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    log('critical', 'config_error', 'PORT must be a whole number between 0 and 65535');
    process.exit(1);
  }

  let runtime: Runtime;
  try {
    runtime = getRuntime();
  } catch (error) {
    log('critical', 'config_error', error instanceof ConfigError ? error.message : 'Invalid configuration');
    process.exit(1);
  }
  const config: AppConfig = runtime.config;

  const fd = raiseFdLimit();
  const caps = connectionCaps({
    maxConnections: config.maxConnections === 0 ? undefined : config.maxConnections,
    maxConnectionsPerIp: config.maxConnectionsPerIp,
    fdLimit: fd.after,
    trustedProxyHops: config.trustedProxyHops,
    clientIpHeader: config.clientIpHeader,
  });

  // Next attaches its WebSocket upgrade listener (dev HMR) to `httpServer`; handing it
  // this emitter instead of the real server keeps upgrades behind the door's checks
  // (node_modules/next/dist/server/next.js setupWebSocketHandler).
  const upgrades = new EventEmitter();
  const app = next({ dev: options.dev, dir: options.dir, hostname: host, port, httpServer: upgrades as unknown as Server });
  const handle = app.getRequestHandler();
  await app.prepare();

  const requireFromApp = createRequire(join(options.dir, 'package.json'));
  const { parseAndValidateFlightRouterState } = requireFromApp(
    'next/dist/server/app-render/parse-and-validate-flight-router-state',
  ) as { parseAndValidateFlightRouterState: (value: string) => unknown };

  // Responses still being produced, so a shutdown can end their keep-alive connections.
  const inFlight = new Set<ServerResponse>();
  let stopping = false;

  const server = createFrontDoor({
    handler(req, res) {
      inFlight.add(res);
      res.on('close', () => inFlight.delete(res));
      if (stopping) res.setHeader('Connection', 'close');
      return handle(req, res);
    },
    marker,
    maxBodyBytes: config.maxBodyBytes,
    // The calls route's own cap (SDP offers are larger than token requests), the one its shape guard applies.
    bodyCaps: [['/api/realtime/calls', config.calls.maxBodyBytes]],
    maxConnections: caps.maxConnections,
    maxConnectionsPerIp: caps.maxConnectionsPerIp,
    trustedProxyHops: config.trustedProxyHops,
    clientIpHeader: config.clientIpHeader,
    production: config.isProduction,
    allowedOrigins: config.allowedOrigins,
    validateRouterState: parseAndValidateFlightRouterState,
    upgrade: options.dev ? (req, socket, head) => upgrades.emit('upgrade', req, socket, head) : undefined,
    logger: {
      log(level, event, message, { traceId, ip, userAgent, endpoint, method, ...metadata }) {
        runtime.logger.log(
          level,
          event as SecurityEvent,
          message,
          {
            traceId: String(traceId),
            ip: ip as string | undefined,
            userAgent: userAgent as string | null | undefined,
            endpoint: endpoint as string | undefined,
            method: method as string | undefined,
          },
          metadata,
        );
        // The door's refusals (logRefusal in server/front-door.ts) count like the routes' (lib/metrics.ts).
        if (typeof metadata.code === 'string' && Object.hasOwn(ERRORS, metadata.code)) runtime.metrics.refusal(metadata.code as ErrorCode);
      },
    },
  });

  log(fd.problem === undefined ? 'info' : 'warn', 'front_door_limits', 'connection and body caps in force', {
    maxConnections: caps.maxConnections,
    maxConnectionsPerIp: caps.maxConnectionsPerIp,
    ...(caps.perIpOff ? { perIpCapOff: caps.perIpOff } : {}),
    ...(caps.lowered ? { maxConnectionsConfigured: caps.lowered } : {}),
    openFiles: fd.after ? { soft: fd.after.soft, hard: fd.after.hard, before: fd.before?.soft } : 'unknown',
    ...(fd.problem ? { openFilesProblem: fd.problem } : {}),
    maxBodyBytes: config.maxBodyBytes,
    markerHeader: MARKER_HEADER,
    mode: options.dev ? 'development' : 'production',
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const shown = typeof address === 'object' && address ? address.port : port;
  log('info', 'server_started', `listening on http://${host}:${shown}`, { port: shown, mode: options.dev ? 'development' : 'production' });

  /** Ends the limiter store once the last request is done: with Redis, QUIT instead of a dropped connection. */
  async function closeLimiterStore(): Promise<void> {
    try {
      // Without Redis no other instance knows this process's calls: hang them up now rather
      // than leave them to OpenAI's 60-minute limit. With Redis their deadlines are recorded
      // and the other instances' sweepers end them (lib/calls/supervisor.ts).
      if (runtime.config.redis === undefined) await callsOf(runtime).close('upstream');
      await runtime.store.close();
      // An alert still on its way (a store that degraded while stopping) gets its own deadline, no more (lib/alerts.ts).
      await runtime.alerts?.idle();
    } catch {
      // Exiting anyway; the grace timer below bounds a store that hangs.
    }
  }

  // SIGTERM: stop accepting, let in-flight requests finish, then exit.
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log('info', 'server_stopping', `${signal} received`, { inFlight: inFlight.size });
    // Keep-alive connections would otherwise hold the process (and keep taking
    // requests) until the grace period ends: answers still to come close theirs.
    for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
    server.close(() => void closeLimiterStore().finally(() => process.exit(0)));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return server;
}
