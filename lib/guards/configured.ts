import { authConfigured } from '../auth';
import type { GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';

/**
 * Without a server key or any auth method the service cannot work: 503 before
 * any credential is verified, rather than checking credentials it could not use.
 */
export const configuredGuard: GuardFactory = (config) => {
  const missing = [...(config.openai.apiKey ? [] : ['OPENAI_API_KEY']), ...(authConfigured(config) ? [] : ['JWT_SECRET, JWT_JWKS_URL or Clerk keys'])];
  return {
    name: 'configured',
    refuses: ['service_unavailable'],
    async run(ctx) {
      if (missing.length === 0) return undefined;
      return refuse(ctx, 'service_unavailable', { message: 'Token service is not configured', metadata: { missing } });
    },
  };
};
