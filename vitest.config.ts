import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));
const shared = {
  environment: 'node',
  testTimeout: 30_000,
  hookTimeout: 60_000,
  env: { NEXT_TELEMETRY_DISABLED: '1', CLERK_TELEMETRY_DISABLED: '1' },
} as const;
/**
 * Files that start servers: the production build is made once, before they run.
 * tests/dev starts `npm run dev` on a copy of the sources instead.
 */
const SERVERS = ['tests/e2e/**/*.test.ts', 'tests/browser/**/*.test.ts', 'tests/dev/**/*.test.ts'];
const RELIABILITY = ['tests/reliability/**/*.test.ts'];
const BUILD = { globalSetup: ['tests/support/global-build.ts'] };

export default defineConfig({
  plugins: [react()],
  resolve: { alias: { '@': root } },
  test: {
    // Two cores: e2e files start real servers, so keep files from crowding each other.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { ...shared, name: 'suite', include: ['tests/**/*.test.ts'], exclude: [...SERVERS, ...RELIABILITY] },
      },
      {
        extends: true,
        test: { ...shared, ...BUILD, name: 'servers', include: SERVERS },
      },
      {
        // Fault injection, soak and shutdown assert time bounds under load they
        // generate themselves: they run after the rest, one file at a time, so
        // another test file's CPU cannot be mistaken for a slow server.
        extends: true,
        test: {
          ...shared,
          ...BUILD,
          name: 'reliability',
          include: RELIABILITY,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
