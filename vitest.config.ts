import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  plugins: [react()],
  resolve: { alias: { '@': root } },
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
    // Two cores: e2e files start real servers, so keep files from crowding each other.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 240_000,
    env: { NEXT_TELEMETRY_DISABLED: '1', CLERK_TELEMETRY_DISABLED: '1' },
  },
});
