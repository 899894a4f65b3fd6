/**
 * Runs once when the server starts (`next start`, `next dev`, scripts/server.mjs):
 * parses the configuration so a bad value stops the start with the variable's
 * name, instead of surfacing on the first request. With Redis and calls
 * served, it also starts this instance's call supervisor, whose sweeper hangs
 * up calls that another, dead instance left past their deadline (lib/calls/supervisor.ts).
 */
export async function register(): Promise<void> {
  // The imports stay inside this branch: Next's dev server also compiles this file for
  // the edge runtime, and only a dead `if` branch keeps ioredis (node:stream) out of that.
  if (process.env.NEXT_RUNTIME === 'nodejs') {
    const [{ ConfigError }, { getRuntime }, { servesCalls }] = await Promise.all([import('./lib/config'), import('./lib/runtime'), import('./lib/config/calls')]);
    try {
      const rt = getRuntime();
      if (rt.config.redis !== undefined && servesCalls(rt.config)) (await import('./lib/calls')).callsOf(rt);
    } catch (error) {
      const message = error instanceof ConfigError ? error.message : 'Invalid configuration';
      console.error(
        JSON.stringify({ timestamp: new Date().toISOString(), level: 'critical', event: 'config_error', message }),
      );
      process.exit(1);
    }
  }
}
