#!/usr/bin/env node
/**
 * The launcher `npm start` and `npm run dev` run: loads the process entry
 * (server/main.ts: Next behind the front door, server/front-door.ts) and starts it.
 *
 *   node scripts/server.mjs         production: runs .next/rtg-server/main.mjs,
 *                                   built by `npm run build`
 *   node scripts/server.mjs --dev   development: bundles server/main.ts first
 *                                   (cached in node_modules/.cache), Next in dev mode
 *
 * Every line it writes to stdout is one JSON object. `npm start` adds npm's own
 * banner to stdout; run `node scripts/server.mjs` (or `npm start --silent`) where
 * stdout goes to a log pipeline.
 *
 * Environment: PORT (default 3000), HOST (default 0.0.0.0), plus the app's
 * variables, read by lib/config when the server starts.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dir = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const dev = process.argv.includes('--dev');

let entry;
if (dev) {
  const { devBundle } = await import('./build-server.mjs');
  entry = await devBundle();
} else {
  entry = join(dir, '.next/rtg-server/main.mjs');
  if (!existsSync(entry)) {
    console.error(
      JSON.stringify({
        timestamp: new Date().toISOString(),
        level: 'critical',
        event: 'config_error',
        message: 'No production build: .next/rtg-server/main.mjs is missing. Run `npm run build` first.',
      }),
    );
    process.exit(1);
  }
}

const { main } = await import(pathToFileURL(entry).href);
await main({ dev, dir });
