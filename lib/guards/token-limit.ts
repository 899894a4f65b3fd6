import { limitGuard } from './limit';

/** Token issuance limit per user (`RATE_LIMIT_TOKEN`, default 10/60); per IP where no user is known. */
export const tokenLimitGuard = limitGuard('token_limit', (config) => config.rateLimits.token, (ctx) => ctx.identity?.userId ?? `ip:${ctx.ip}`);
