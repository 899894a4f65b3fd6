import { anomalyGuard } from '../guards/anomaly';
import { apiLimitGuard } from '../guards/api-limit';
import { authFailureLimitGuard } from '../guards/auth-failure-limit';
import { authenticateGuard } from '../guards/authenticate';
import { configuredGuard } from '../guards/configured';
import { denyIpGuard } from '../guards/deny-ip';
import { denyUserGuard } from '../guards/deny-user';
import { frontDoorGuard } from '../guards/front-door';
import { geoGuard } from '../guards/geo';
import { globalLimitGuard } from '../guards/global-limit';
import { mintGuard } from '../guards/mint';
import { originGuard } from '../guards/origin';
import { quotaCircuitGuard } from '../guards/quota-circuit';
import { shapeGuard } from '../guards/shape';
import { tokenDailyGuard } from '../guards/token-daily';
import { tokenLimitGuard } from '../guards/token-limit';
import { validateGuard } from '../guards/validate';
import type { GuardFactory } from '../pipeline/guard';

/**
 * POST /api/realtime/token — the security story, in order; the first guard
 * that answers wins. To add a control, write `lib/guards/<name>.ts` and add
 * one line here (README "Adding a guard"). tests/route/order.test.ts and
 * `npm run validate:security` pin this order.
 */
export const TOKEN_GUARDS: readonly GuardFactory[] = [
  frontDoorGuard, //         503 not through the front door: no trustworthy client address
  denyIpGuard, //            403 denied: DENY_IPS / DENY_LIST_FILE network, before anything is read
  geoGuard, //               403 geo_blocked: GEO_ALLOW_COUNTRIES / GEO_DENY_COUNTRIES
  shapeGuard, //             415 non-JSON, 413 over the byte cap (read with a cap)
  originGuard, //            403 origin_not_allowed
  apiLimitGuard, //          429 general API limit per client IP
  configuredGuard, //        503 no server key or no auth method: nothing to verify against
  authFailureLimitGuard, //  429 no verification left for this IP (reserved before verifying)
  authenticateGuard, //      401 (400 malformed header): Clerk first, then HS256 JWT
  denyUserGuard, //          403 denied: DENY_USERS / DENY_LIST_FILE user id
  tokenLimitGuard, //        429 token-issuance limit per user (or the plan's)
  tokenDailyGuard, //        429 daily quota per user (or the plan's)
  anomalyGuard, //           429 anomaly_cooloff in block mode; anomaly_detected lines in log mode
  validateGuard, //          400 zod validation and sanitizing
  quotaCircuitGuard, //      503 upstream_quota_cooloff while OpenAI reported exhausted quota
  globalLimitGuard, //       503 issuance_paused: global breaker across all users
  mintGuard, //              502/503/504 upstream failures, else 200 with allow-listed fields
];

/** Methods the token route answers; every other one is a 405 with this `Allow`. */
export const TOKEN_METHODS = 'POST, OPTIONS';
