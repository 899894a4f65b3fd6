import { randomBytes } from 'node:crypto';
import type { UpstreamClient } from '../calls/adapter';
import { callsOf } from '../calls';
import { isLiveModel, liveSessions } from '../calls/live';
import { pinnedRequest, pinnedSession } from '../calls/policy';
import { realtimeCalls } from '../calls/realtime';
import { refuseUpstream } from '../pipeline/failures';
import type { GuardFactory } from '../pipeline/guard';
import { UpstreamError } from '../upstream';

/** Our own call handle: 128 random bits, unrelated to OpenAI's id. */
export const newCallId = (): string => `call_${randomBytes(16).toString('base64url')}`;

/**
 * Places the call with the server key (lib/calls/realtime.ts, or
 * lib/calls/live.ts for `gpt-live…` models), hands it to the supervisor and
 * answers 201 `{sdp, callId, endsAt, traceId}`. Upstream failures map to the
 * catalog's codes exactly as the token route's, with no upstream text, and
 * give the budget back.
 */
export const placeCallGuard: GuardFactory = (config) => {
  const client: Omit<UpstreamClient, 'fetch'> = { apiKey: config.openai.apiKey ?? '', baseUrl: config.openai.baseUrl, timeoutMs: config.openai.timeoutMs };
  return {
    name: 'place_call',
    refuses: ['upstream_error', 'upstream_timeout', 'upstream_auth', 'upstream_rejected', 'upstream_rate_limited'],
    async run(ctx) {
      const budget = ctx.callBudget!;
      const request = pinnedRequest(ctx.body!);
      const adapter = isLiveModel(request.model) ? liveSessions : realtimeCalls;
      let placed;
      try {
        placed = await adapter.place(ctx.offer!, request, { ...client, fetch: ctx.rt.fetch });
      } catch (error) {
        await Promise.all([budget.slot.release(), budget.seconds.refund(budget.seconds.granted)]);
        if (!(error instanceof UpstreamError)) throw error;
        return refuseUpstream(ctx, error, `OpenAI ${adapter.kind} call setup failed`);
      }
      // The call's clock starts when it exists upstream.
      const startedAt = ctx.rt.now();
      const endsAt = startedAt + budget.seconds.granted * 1000;
      const record = { id: newCallId(), owner: ctx.identity!.userId, kind: adapter.kind, upstreamId: placed.upstreamId, startedAt, endsAt, limitedBy: budget.limitedBy, state: 'active' } as const;
      const calls = callsOf(ctx.rt);
      try {
        await calls.watch(record, pinnedSession(request), budget, ctx.fields);
      } catch (error) {
        // The browser will never get this call's answer: end it now rather than at its deadline.
        await calls.end(record.id, 'upstream');
        throw error;
      }
      return Response.json({ sdp: placed.answer, callId: record.id, endsAt: Math.floor(endsAt / 1000), traceId: ctx.traceId }, { status: 201 });
    },
  };
};
