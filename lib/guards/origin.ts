import { checkOrigin } from '../origin';
import { noteFailure } from '../pipeline/failures';
import type { GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';

/** Origin: a browser origin must be listed exactly (lib/origin.ts). */
export const originGuard: GuardFactory = (config) => ({
  name: 'origin',
  refuses: ['origin_not_allowed'],
  async run(ctx) {
    const result = checkOrigin(ctx.req.headers, config.allowedOrigins);
    if (result.ok) return undefined;
    const answer = refuse(ctx, 'origin_not_allowed', { message: 'Request origin not allowed', metadata: { reason: result.reason } });
    await noteFailure(ctx, 'origin');
    return answer;
  },
});
