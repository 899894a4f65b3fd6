import { randomBytes } from 'node:crypto';
import { sessionConfig } from '../openai';
import { validateSdp } from '../sdp';
import { sendUpstream, upstreamFailure, UpstreamError } from '../upstream';
import { socketUrl, UPSTREAM_ID, type CallAdapter, type UpstreamClient } from './adapter';

/**
 * The Realtime unified interface (openai-openapi `openapi.yaml`,
 * `POST /realtime/calls`): the server sends the browser's offer with its own
 * key as multipart/form-data, an `sdp` part (application/sdp) and a `session`
 * part (application/json, the same settings the token route binds to a key).
 * OpenAI answers 201 with the SDP answer and `Location: /v1/realtime/calls/rtc_…`.
 */

/** A multipart body with exact part headers; the boundary is random and the SDP lines cannot start with `--` (lib/sdp.ts). */
function multipart(parts: ReadonlyArray<{ name: string; type: string; body: string }>): { body: string; type: string } {
  const boundary = `rtg-${randomBytes(16).toString('hex')}`;
  const body = parts.map((p) => `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"\r\nContent-Type: ${p.type}\r\n\r\n${p.body}\r\n`).join('');
  return { body: `${body}--${boundary}--\r\n`, type: `multipart/form-data; boundary=${boundary}` };
}

const auth = (client: UpstreamClient) => ({ Authorization: `Bearer ${client.apiKey}` });

/** The call id of an exact `Location`: the base URL's path plus `/realtime/calls/rtc_…`, relative or on the same origin. */
function callIdOf(location: string | null, baseUrl: string): string | undefined {
  if (location === null) return undefined;
  let url: URL;
  try {
    url = new URL(location, baseUrl);
  } catch {
    return undefined;
  }
  const base = new URL(baseUrl);
  const prefix = `${base.pathname.replace(/\/+$/, '')}/realtime/calls/`;
  if (url.origin !== base.origin || url.search !== '' || !url.pathname.startsWith(prefix)) return undefined;
  const id = url.pathname.slice(prefix.length);
  return id.startsWith('rtc_') && UPSTREAM_ID.test(id) ? id : undefined;
}

export const realtimeCalls: CallAdapter = {
  kind: 'realtime',
  async place(offer, request, client) {
    const form = multipart([
      { name: 'sdp', type: 'application/sdp', body: offer },
      { name: 'session', type: 'application/json', body: JSON.stringify(sessionConfig(request)) },
    ]);
    const answer = await sendUpstream(
      `${client.baseUrl}/realtime/calls`,
      { method: 'POST', headers: { ...auth(client), 'Content-Type': form.type, Accept: 'application/sdp' }, body: form.body },
      { ...client, maxBytes: 64 * 1024 },
    );
    if (answer.status !== 201) {
      if (answer.status >= 400) throw upstreamFailure(answer, 'call offer');
      throw new UpstreamError('upstream_error', { status: answer.status, reason: `unexpected upstream status ${answer.status}` });
    }
    const type = answer.headers.get('content-type') ?? '';
    const upstreamId = callIdOf(answer.headers.get('location'), client.baseUrl);
    const sdp = /^application\/sdp\s*(;|$)/i.test(type) && answer.text !== undefined ? validateSdp(answer.text) : undefined;
    if (upstreamId === undefined) throw new UpstreamError('upstream_error', { status: 201, reason: 'no call id in Location' });
    if (sdp === undefined) throw new UpstreamError('upstream_error', { status: 201, reason: 'answer is not application/sdp' });
    if (!sdp.ok) throw new UpstreamError('upstream_error', { status: 201, reason: `answer SDP refused: ${sdp.problem}` });
    return { upstreamId, answer: sdp.sdp };
  },
  async hangUp(upstreamId, client) {
    const answer = await sendUpstream(`${client.baseUrl}/realtime/calls/${upstreamId}/hangup`, { method: 'POST', headers: auth(client) }, client);
    // 404: the call had already ended upstream, which is what a hang-up wants.
    if (answer.status !== 200 && answer.status !== 204 && answer.status !== 404) throw upstreamFailure(answer, 'hang-up');
  },
  sidebandUrl: (upstreamId, baseUrl) => socketUrl(baseUrl, '/realtime', { call_id: upstreamId }),
};
