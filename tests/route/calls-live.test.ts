import { describe, expect, it } from 'vitest';
import { nodePeer } from '../support/webrtc-peer';
import { signJwt } from '../support/tokens';
import { callsHarness, controlCall, eventually, offer, placeCall } from './calls-helpers';
import { SERVER_KEY } from './helpers';

/**
 * GPT-Live models (`gpt-live…`) go through lib/calls/live.ts: the server
 * exchanges the SDP with POST /v1/live/sessions (JSON), supervises through
 * …/attach and ends through …/hangup; the browser sees the same answer shape.
 */

const h = callsHarness({ ALLOWED_MODELS: 'gpt-realtime,gpt-live-1' });

describe('GPT-Live sessions', () => {
  it('places the session with JSON {session, transport}, connects a real peer, and DELETE hangs up through /live/sessions/{id}/hangup', async () => {
    const jwt = await signJwt({}, { subject: 'live-user' });
    const peer = await nodePeer();
    try {
      const res = await placeCall({ token: jwt, body: { sdp: peer.offer, model: 'gpt-live-1', instructions: 'Be brief.' } });
      expect(res.status).toBe(201);
      const body = res.body as { sdp: string; callId: string };
      const [sent] = h.upstream.requests.filter((r) => r.url === '/v1/live/sessions');
      expect(sent.headers.authorization).toBe(`Bearer ${SERVER_KEY}`);
      expect(sent.headers['content-type']).toBe('application/json');
      expect(sent.body).toEqual({ session: { model: 'gpt-live-1', instructions: 'Be brief.' }, transport: { type: 'webrtc', sdp: peer.offer.endsWith('\r\n') ? peer.offer : `${peer.offer}\r\n` } });
      const live = [...h.upstream.calls.calls.values()][0];
      expect(live.id).toMatch(/^live_/);
      expect(res.text).not.toContain(live.id);
      await peer.connect(body.sdp);
      await eventually(() => live.connected && live.sockets.size === 1, 5000, 'peer connected and sideband attached');
      expect((await controlCall('DELETE', body.callId, { token: jwt })).status).toBe(204);
      expect(h.upstream.requests.map((r) => r.url)).toContain(`/v1/live/sessions/${live.id}/hangup`);
      expect(live.ended).toBe(true);
    } finally {
      await peer.close();
    }
  });

  it('the supervisor restores overridden instructions on a Live session too', async () => {
    expect((await placeCall({ body: { sdp: offer(), model: 'gpt-live-1' } })).status).toBe(201);
    const live = [...h.upstream.calls.calls.values()][0];
    await eventually(() => live.sockets.size === 1, 3000, 'sideband attached');
    const pinned = live.session.instructions;
    h.upstream.calls.clientUpdate(live.id, { instructions: 'other' });
    await eventually(() => live.session.instructions === pinned && live.updates.length === 2, 1000, 'restored');
  });

  it('a malformed Live answer is a 502 upstream_error with nothing relayed', async () => {
    h.upstream.setMode('badsdp');
    const res = await placeCall({ body: { sdp: offer(), model: 'gpt-live-1' } });
    expect([res.status, res.body?.error]).toEqual([502, 'upstream_error']);
    expect(res.text).not.toContain('live_bad');
  });
});
