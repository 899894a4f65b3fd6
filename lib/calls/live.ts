import { z } from 'zod';
import { validateSdp } from '../sdp';
import { parseJson, sendUpstream, upstreamFailure, UpstreamError } from '../upstream';
import { socketUrl, UPSTREAM_ID, type CallAdapter, type UpstreamClient } from './adapter';

/**
 * GPT-Live (models named `gpt-live…`): the server exchanges the SDP with
 * `POST {base}/live/sessions`, JSON `{"session":{"model",…},"transport":{"type":"webrtc","sdp"}}`,
 * answered 201 `{"session":{"id":"live_…"},"transport":{"sdp"}}`; control at
 * `…/live/sessions/{id}/hangup`, sideband at `…/live/sessions/{id}/attach`.
 * The shapes come from OpenAI's guide (the SDKs had not shipped them), so
 * this adapter stays apart: the Realtime path does not import it.
 */

export const isLiveModel = (model: string): boolean => model.startsWith('gpt-live');

const answerSchema = z.object({
  session: z.object({ id: z.string().regex(UPSTREAM_ID).startsWith('live_') }),
  transport: z.object({ sdp: z.string().max(64 * 1024) }),
});

const headers = (client: UpstreamClient) => ({ Authorization: `Bearer ${client.apiKey}`, 'Content-Type': 'application/json', Accept: 'application/json' });

export const liveSessions: CallAdapter = {
  kind: 'live',
  async place(offer, request, client) {
    const body = { session: { model: request.model, ...(request.instructions ? { instructions: request.instructions } : {}) }, transport: { type: 'webrtc', sdp: offer } };
    const answer = await sendUpstream(`${client.baseUrl}/live/sessions`, { method: 'POST', headers: headers(client), body: JSON.stringify(body) }, client);
    if (answer.status >= 400) throw upstreamFailure(answer, 'live session');
    const parsed = answer.status === 201 ? answerSchema.safeParse(parseJson(answer.text)) : undefined;
    const sdp = parsed?.success ? validateSdp(parsed.data.transport.sdp) : undefined;
    if (!parsed?.success || !sdp?.ok) throw new UpstreamError('upstream_error', { status: answer.status, reason: 'unexpected live session answer' });
    return { upstreamId: parsed.data.session.id, answer: sdp.sdp };
  },
  async hangUp(upstreamId, client) {
    const answer = await sendUpstream(`${client.baseUrl}/live/sessions/${upstreamId}/hangup`, { method: 'POST', headers: headers(client) }, client);
    if (answer.status !== 200 && answer.status !== 204 && answer.status !== 404) throw upstreamFailure(answer, 'hang-up');
  },
  sidebandUrl: (upstreamId, baseUrl) => socketUrl(baseUrl, `/live/sessions/${upstreamId}/attach`),
};
