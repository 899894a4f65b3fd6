import { timingSafeEqual } from 'node:crypto';
import { errorResponse } from '../errors';
import type { GuardFactory } from '../pipeline/guard';

/** The header the front door (server/front-door.ts) stamps on every request it forwards. */
export const FRONT_DOOR_HEADER = 'x-rtg-front-door';

/**
 * Refuses requests that did not come through the front door. Only the door
 * records the socket peer, so behind bare `next start` or `next dev` every
 * client-IP key would be the client's own choice of X-Forwarded-For. The
 * door's marker is a random value made at each start, so a client cannot
 * forge it. The exception is `CLIENT_IP_HEADER`: a platform in front
 * (Vercel, Cloudflare, Fly) sets that header itself.
 *
 * One `critical` line per process, not per request: the fix is in deployment.
 */
export const frontDoorGuard: GuardFactory = (config) => {
  const expected = config.frontDoorMarker === undefined ? undefined : Buffer.from(config.frontDoorMarker);
  let reported = false;
  return {
    name: 'front_door',
    refuses: ['service_unavailable'],
    async run(ctx) {
      if (config.clientIpHeader !== undefined) return undefined;
      const sent = Buffer.from(ctx.req.headers.get(FRONT_DOOR_HEADER) ?? '');
      if (expected !== undefined && sent.length === expected.length && timingSafeEqual(sent, expected)) return undefined;
      if (!reported) {
        reported = true;
        ctx.log('critical', 'config_error', 'Request did not come through the front door; client addresses cannot be trusted', {
          fix: 'start with npm start / npm run dev, or set CLIENT_IP_HEADER behind a trusted platform',
        });
      }
      ctx.rt.metrics.refusal('service_unavailable');
      return errorResponse('service_unavailable', ctx.traceId);
    },
  };
};
