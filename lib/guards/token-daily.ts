import { planPolicy } from '../plans';
import { limitGuard, userKey } from './limit';

/**
 * The daily quota per user (`RATE_LIMIT_TOKEN_DAILY`, default 200/86400, or the
 * plan's): exact over any 24 hours, like every policy. The calls route lists
 * this guard too, so both routes draw on one daily quota per user.
 */
export const tokenDailyGuard = limitGuard('token_daily', (config) => planPolicy(config, (p) => p.daily, config.wallet.daily), userKey);
