import { callsOf } from '../calls';
import { errorResponse } from '../errors';
import { noteFailure } from '../pipeline/failures';
import type { GuardFactory } from '../pipeline/guard';

const CALL_ID = /^call_[A-Za-z0-9_-]{22}$/;

/**
 * `GET` (status) and `DELETE` (hang up) of `/api/realtime/calls/<callId>`,
 * for the caller's own call only. Anyone else's id and an unknown one get the
 * same 404 (and count towards suspicious activity), so ids cannot be probed.
 */
export const callControlGuard: GuardFactory = () => ({
  name: 'call_control',
  refuses: ['not_found'],
  async run(ctx) {
    const id = new URL(ctx.req.url).pathname.split('/').pop() ?? '';
    const owner = ctx.identity!.userId;
    const calls = callsOf(ctx.rt);
    if (CALL_ID.test(id)) {
      if (ctx.req.method === 'DELETE') {
        if (await calls.hangUp(id, owner, ctx.fields)) return new Response(null, { status: 204 });
      } else {
        const call = await calls.lookup(id, owner);
        if (call) return Response.json({ callId: id, state: call.state, endsAt: Math.floor(call.endsAt / 1000), reason: call.reason ?? null, traceId: ctx.traceId });
      }
    }
    await noteFailure(ctx, 'call_not_found');
    return errorResponse('not_found', ctx.traceId);
  },
});
