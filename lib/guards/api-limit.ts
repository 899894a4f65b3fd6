import { limitGuard } from './limit';

/** The general API limit per client IP (`RATE_LIMIT_API`, default 100/60). */
export const apiLimitGuard = limitGuard('api_limit', (config) => config.rateLimits.api, (ctx) => ctx.ip);
