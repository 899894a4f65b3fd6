import { planPolicy } from '../plans';
import { limitGuard, userKey } from './limit';

/** Token issuance limit per user (`RATE_LIMIT_TOKEN`, default 10/60, or the plan's); per IP where no user is known. */
export const tokenLimitGuard = limitGuard('token_limit', (config) => planPolicy(config, (p) => p.token, config.rateLimits.token), userKey);
