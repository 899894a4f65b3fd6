import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** `npm run test:dev`: the dev server through the front door, alone (see vitest.config.ts). */
export default defineConfig({
  resolve: { alias: { '@': fileURLToPath(new URL('.', import.meta.url)) } },
  test: {
    environment: 'node',
    include: ['tests/dev/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    env: { NEXT_TELEMETRY_DISABLED: '1', CLERK_TELEMETRY_DISABLED: '1' },
  },
});
