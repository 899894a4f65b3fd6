import type { GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';

/** Denied users (`DENY_USERS`, `DENY_LIST_FILE`; ids as the logs show them): refused right after authentication. */
export const denyUserGuard: GuardFactory = () => ({
  name: 'deny_user',
  refuses: ['denied'],
  async run(ctx) {
    const user = ctx.identity?.userId;
    if (user === undefined || !ctx.rt.deny.current().users.has(user)) return undefined;
    return refuse(ctx, 'denied', { message: 'Request from a denied user', metadata: { list: 'user' } });
  },
});
