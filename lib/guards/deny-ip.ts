import type { GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';

/**
 * Denied networks (`DENY_IPS`, `DENY_LIST_FILE`; lib/deny.ts): refused before
 * any credential is read. Matched against the full client address, not the
 * /64 key, so one listed IPv6 address does not deny its neighbours.
 */
export const denyIpGuard: GuardFactory = () => ({
  name: 'deny_ip',
  refuses: ['denied'],
  async run(ctx) {
    if (!ctx.rt.deny.current().hasAddress(ctx.address)) return undefined;
    return refuse(ctx, 'denied', { message: 'Request from a denied address', metadata: { list: 'ip' } });
  },
});
