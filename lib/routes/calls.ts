import { servesCalls } from '../config/calls';
import { anomalyGuard } from '../guards/anomaly';
import { apiLimitGuard } from '../guards/api-limit';
import { authFailureLimitGuard } from '../guards/auth-failure-limit';
import { authenticateGuard } from '../guards/authenticate';
import { callBudgetGuard } from '../guards/call-budget';
import { callControlGuard } from '../guards/call-control';
import { callValidateGuard } from '../guards/call-validate';
import { callsShapeGuard } from '../guards/calls-shape';
import { configuredGuard } from '../guards/configured';
import { denyIpGuard } from '../guards/deny-ip';
import { denyUserGuard } from '../guards/deny-user';
import { frontDoorGuard } from '../guards/front-door';
import { geoGuard } from '../guards/geo';
import { globalLimitGuard } from '../guards/global-limit';
import { originGuard } from '../guards/origin';
import { placeCallGuard } from '../guards/place-call';
import { quotaCircuitGuard } from '../guards/quota-circuit';
import { tokenDailyGuard } from '../guards/token-daily';
import { tokenLimitGuard } from '../guards/token-limit';
import type { GuardFactory } from '../pipeline/guard';
import type { PipelineOptions } from '../pipeline/run';

/**
 * POST /api/realtime/calls — the server places the call with its own key; the
 * browser never holds a secret. The same guards as the token route, in the
 * same order, then the call's own steps. tests/route/calls.test.ts pins it.
 */
export const CALLS_GUARDS: readonly GuardFactory[] = [
  frontDoorGuard, //         503 not through the front door
  denyIpGuard, //            403 denied network (README "Abuse controls")
  geoGuard, //               403 geo_blocked
  callsShapeGuard, //        415 non-JSON, 413 over the calls cap (64 KiB)
  originGuard, //            403 origin_not_allowed
  apiLimitGuard, //          429 general API limit per client IP
  configuredGuard, //        503 no server key or no auth method
  authFailureLimitGuard, //  429 no verification left for this IP
  authenticateGuard, //      401 (400 malformed header)
  denyUserGuard, //          403 denied user
  tokenLimitGuard, //        429 session starts per user (shared with the token route)
  tokenDailyGuard, //        429 daily quota per user (shared with the token route)
  anomalyGuard, //           429 anomaly_cooloff in block mode
  callValidateGuard, //      400 zod validation, sanitizing, SDP checked as text (sdp_invalid)
  quotaCircuitGuard, //      503 upstream_quota_cooloff while OpenAI reported exhausted quota
  globalLimitGuard, //       503 issuance_paused (shared with the token route)
  callBudgetGuard, //        429 call_limit_reached / minutes_exhausted, with Retry-After (or the plan's minutes)
  placeCallGuard, //         502/503/504 upstream failures, else 201 {sdp, callId, endsAt, traceId}
];

/** GET (status) and DELETE (hang up) /api/realtime/calls/<callId>: the caller's own call only. */
export const CALL_CONTROL_GUARDS: readonly GuardFactory[] = [
  frontDoorGuard,
  originGuard,
  apiLimitGuard,
  configuredGuard,
  authFailureLimitGuard,
  authenticateGuard,
  callControlGuard, //       404 for anyone else's call or an unknown id
];

export const CALLS_METHODS = 'POST, OPTIONS';
export const CALL_METHODS = 'GET, DELETE, OPTIONS';

/** REALTIME_MODE=ephemeral: these routes answer 404, as if they did not exist. */
export const CALLS_SERVED: PipelineOptions = { servedWhen: servesCalls };
