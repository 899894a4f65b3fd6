/**
 * The calls half of the loopback OpenAI stand-in (scripts/mock-openai.mjs
 * loads it): `POST /v1/realtime/calls` (multipart, the unified interface) and
 * `POST /v1/live/sessions` (GPT-Live, JSON) answered by a real WebRTC peer
 * in Node (werift), the sideband WebSocket (`ws`) at `/v1/realtime?call_id=…`
 * and `/v1/live/sessions/{id}/attach`, and `/hangup`, which really closes the
 * peer and the sidebands.
 *
 * Each call keeps a session object. The sideband gets `session.created` on
 * connect and `session.updated` after every change; a `session.update` from
 * the sideband or from the browser's `oai-events` data channel is applied to
 * it (as OpenAI applies a client's update), so a test can watch a client's
 * override and the server's restore. Only loopback ICE candidates are used,
 * on both sides, so no packet is addressed beyond 127.0.0.1.
 *
 * Modes (the stand-in's `setMode`): the shared upstream faults (error500,
 * hang, reset, unauthorized, quota, ratelimit, rejected, redirect) plus
 * badsdp (201 with a body that is not SDP) and nolocation (201 with no call
 * id). The sideband has its own switch, `calls.sideband`, so a call can be
 * placed normally and then lose it: 'ok', 'refuse' (upgrades answered 403),
 * 'drop' (cut a moment after it opens, every reconnect too) or 'deaf' (open,
 * but the server's `session.update` is refused with an `error` event, as
 * OpenAI refuses a voice change once audio has played).
 */
import { randomBytes } from 'node:crypto';
import { RTCPeerConnection } from 'werift';
import { WebSocketServer } from 'ws';

const LOOPBACK_CANDIDATE = /^a=candidate:\S+ \d+ udp \d+ (127\.\d+\.\d+\.\d+|::1) /i;

/** Drops every ICE candidate line that is not a loopback UDP one. */
function loopbackOnly(sdp) {
  return sdp
    .split(/\r?\n/)
    .filter((line) => !line.startsWith('a=candidate:') || LOOPBACK_CANDIDATE.test(line))
    .join('\r\n');
}

/** A minimal multipart/form-data reader that keeps each part's headers (for assertions). */
function parseMultipart(raw, contentType) {
  const boundary = /boundary=("?)([^";]+)\1/i.exec(contentType ?? '')?.[2];
  if (!boundary) return undefined;
  const parts = {};
  for (const chunk of raw.split(`--${boundary}`).slice(1)) {
    if (chunk.startsWith('--')) break;
    const [head, ...rest] = chunk.replace(/^\r\n/, '').split('\r\n\r\n');
    const body = rest.join('\r\n\r\n').replace(/\r\n$/, '');
    const name = /name="([^"]+)"/.exec(head)?.[1];
    const type = /content-type:\s*([^\r\n]+)/i.exec(head)?.[1]?.trim();
    if (name) parts[name] = { type, body };
  }
  return parts;
}

function defaultSession(requested = {}) {
  return {
    type: 'realtime',
    object: 'realtime.session',
    id: `sess_${randomBytes(8).toString('hex')}`,
    model: requested.model ?? 'gpt-realtime',
    output_modalities: ['audio'],
    instructions: requested.instructions ?? 'You are a helpful assistant (stand-in default).',
    tools: [],
    tool_choice: 'auto',
    max_output_tokens: 'inf',
    tracing: null,
    audio: { output: { voice: requested.audio?.output?.voice ?? 'alloy' } },
  };
}

/** OpenAI applies an update field by field; `audio.output` merges. */
function applyUpdate(session, update) {
  if (!update || typeof update !== 'object') return;
  for (const [key, value] of Object.entries(update)) {
    if (key === 'type' || key === 'model') continue;
    if (key === 'audio') session.audio = { output: { ...session.audio.output, ...(value?.output ?? {}) } };
    else session[key] = value;
  }
}

/**
 * @param {{ mode: () => string, keyOk: (req: import('node:http').IncomingMessage) => boolean, json: Function }} shared
 */
export function createCallsStandIn(shared) {
  /** Every call by upstream id: { id, kind, session, pc, channel, sockets, ended, hangups, updates, multipart }. */
  const calls = new Map();
  const hangups = [];
  const wss = new WebSocketServer({ noServer: true });

  const broadcast = (call, type) => {
    const event = JSON.stringify({ type, event_id: `event_${randomBytes(6).toString('hex')}`, session: call.session });
    for (const socket of call.sockets) socket.send(event);
  };

  /** A `session.update` from the browser's data channel or the sideband: applied, then `session.updated` to both. */
  function receive(call, from, data) {
    let event;
    try {
      event = JSON.parse(String(data));
    } catch {
      return;
    }
    if (event?.type !== 'session.update') return;
    if (from === 'sideband' && stand.sideband === 'deaf') {
      for (const socket of call.sockets) socket.send(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'secret-upstream-detail' } }));
      return;
    }
    call.updates.push({ from, session: event.session, at: Date.now() });
    applyUpdate(call.session, event.session);
    broadcast(call, 'session.updated');
    if (call.channel?.readyState === 'open') call.channel.send(JSON.stringify({ type: 'session.updated', session: call.session }));
  }

  async function answer(offer, kind, session, extra = {}) {
    const pc = new RTCPeerConnection({ iceUseIpv6: false, iceUseTcp: false, iceAdditionalHostAddresses: ['127.0.0.1'], iceInterfaceAddresses: { udp4: '127.0.0.1' } });
    const id = `${kind === 'live' ? 'live' : 'rtc'}_${randomBytes(12).toString('hex')}`;
    const call = { id, kind, session, pc, channel: undefined, sockets: new Set(), ended: false, updates: [], connected: false, ...extra };
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') call.connected = true;
    });
    pc.ondatachannel = ({ channel }) => {
      call.channel = channel;
      channel.onopen = () => channel.send(JSON.stringify({ type: 'session.created', session: call.session }));
      channel.onmessage = ({ data }) => receive(call, 'client', data);
    };
    await pc.setRemoteDescription({ type: 'offer', sdp: loopbackOnly(offer) });
    await pc.setLocalDescription(await pc.createAnswer());
    // No trickle over one POST: answer with the gathered candidates, as OpenAI does.
    if (pc.iceGatheringState !== 'complete') {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 3000);
        pc.iceGatheringStateChange.subscribe((state) => state === 'complete' && (clearTimeout(timer), resolve()));
      });
    }
    calls.set(id, call);
    return { call, sdp: loopbackOnly(pc.localDescription.sdp) };
  }

  async function end(call) {
    if (call.ended) return;
    call.ended = true;
    for (const socket of call.sockets) socket.close(1000, 'call ended');
    await call.pc.close().catch(() => {});
  }

  /** Faults that apply to every calls endpoint; true when one answered. */
  function fault(req, res) {
    const mode = shared.mode();
    if (mode === 'hang') return true;
    if (mode === 'reset') return req.socket.destroy(), true;
    if (mode === 'error500') return shared.json(res, 500, 'The server had an error. secret-upstream-detail', 'server_error', null), true;
    if (mode === 'unauthorized' || !shared.keyOk(req)) return shared.json(res, 401, 'Incorrect API key provided: sk-abc***xyz.', 'invalid_request_error', 'invalid_api_key'), true;
    if (mode === 'quota') return shared.json(res, 429, 'You exceeded your current quota.', 'insufficient_quota', 'insufficient_quota'), true;
    if (mode === 'ratelimit') return shared.json(res, 429, 'Rate limit reached', 'requests', 'rate_limit_exceeded', null, { 'Retry-After': '7' }), true;
    if (mode === 'rejected') return shared.json(res, 400, "Invalid SDP offer: secret-upstream-detail", 'invalid_request_error', 'invalid_offer'), true;
    if (mode === 'redirect') return res.writeHead(307, { Location: 'http://127.0.0.1:9/steal' }).end(), true;
    return false;
  }

  async function place(req, res, raw) {
    if (fault(req, res)) return;
    const mode = shared.mode();
    const parts = parseMultipart(raw, req.headers['content-type']);
    if (!parts?.sdp) return shared.json(res, 400, "Missing required parameter: 'sdp'.", 'invalid_request_error', 'missing_required_parameter', 'sdp');
    let requested = {};
    try {
      requested = parts.session ? JSON.parse(parts.session.body) : {};
    } catch {
      return shared.json(res, 400, 'Invalid session JSON.', 'invalid_request_error', 'invalid_json', 'session');
    }
    if (mode === 'badsdp') return res.writeHead(201, { 'Content-Type': 'application/sdp', Location: '/v1/realtime/calls/rtc_bad' }).end('<html>secret-upstream-detail</html>');
    let placed;
    try {
      placed = await answer(parts.sdp.body, 'realtime', defaultSession(requested), { multipart: parts });
    } catch {
      return shared.json(res, 400, 'The SDP offer could not be parsed.', 'invalid_request_error', 'invalid_offer', 'sdp');
    }
    const location = mode === 'nolocation' ? {} : { Location: `/v1/realtime/calls/${placed.call.id}` };
    res.writeHead(201, { 'Content-Type': 'application/sdp', ...location });
    res.end(placed.sdp);
  }

  async function placeLive(req, res, body) {
    if (fault(req, res)) return;
    const sdp = body?.transport?.sdp;
    if (body?.transport?.type !== 'webrtc' || typeof sdp !== 'string') return shared.json(res, 400, "Missing 'transport.sdp'.", 'invalid_request_error', 'missing_required_parameter', 'transport.sdp');
    if (shared.mode() === 'badsdp') return res.writeHead(201, { 'Content-Type': 'application/json' }).end(JSON.stringify({ session: { id: 'live_bad' }, transport: { sdp: 'not sdp' } }));
    let placed;
    try {
      placed = await answer(sdp, 'live', defaultSession({ model: body.session?.model, instructions: body.session?.instructions }), { request: body });
    } catch {
      return shared.json(res, 400, 'The SDP offer could not be parsed.', 'invalid_request_error', 'invalid_offer', 'transport.sdp');
    }
    res.writeHead(201, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ session: { id: placed.call.id, model: placed.call.session.model }, transport: { type: 'webrtc', sdp: placed.sdp } }));
  }

  async function hangUp(req, res, id) {
    if (fault(req, res)) return;
    hangups.push({ id, at: Date.now() });
    const call = calls.get(id);
    if (!call) return shared.json(res, 404, `Call ${id} not found`, 'invalid_request_error', 'not_found');
    await end(call);
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
  }

  /** Routes `req` if it is a calls endpoint; false otherwise. */
  function handle(req, res, raw, body) {
    const path = new URL(req.url, 'http://x').pathname;
    if (req.method !== 'POST') return false;
    if (path === '/v1/realtime/calls') return void place(req, res, raw), true;
    if (path === '/v1/live/sessions') return void placeLive(req, res, body), true;
    const hangup = /^\/v1\/(?:realtime\/calls|live\/sessions)\/([A-Za-z0-9_-]+)\/hangup$/.exec(path);
    if (hangup) return void hangUp(req, res, hangup[1]), true;
    return false;
  }

  /** The sideband: `upgrade` events of the HTTP server. */
  function upgrade(req, socket, head) {
    const url = new URL(req.url, 'http://x');
    const id = url.pathname === '/v1/realtime' ? url.searchParams.get('call_id') : /^\/v1\/live\/sessions\/([A-Za-z0-9_-]+)\/attach$/.exec(url.pathname)?.[1];
    const call = id ? calls.get(id) : undefined;
    const refuse = (status) => socket.end(`HTTP/1.1 ${status} Refused\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"error":{"message":"secret-upstream-detail"}}`);
    if (!shared.keyOk(req)) return refuse(401);
    if (stand.sideband === 'refuse') return refuse(403);
    if (!call || call.ended) return refuse(404);
    wss.handleUpgrade(req, socket, head, (ws) => {
      call.sockets.add(ws);
      ws.on('close', () => call.sockets.delete(ws));
      ws.send(JSON.stringify({ type: 'session.created', session: call.session }));
      ws.on('message', (data) => receive(call, 'sideband', data));
      if (stand.sideband === 'drop') setTimeout(() => ws.terminate(), 100);
    });
  }

  const stand = {
    /** 'ok' | 'refuse' | 'drop' | 'deaf' (see the module comment). */
    sideband: 'ok',
    calls,
    hangups,
    handle,
    upgrade,
    /** Sends a client-side `session.update` as if the browser had (for tests without a browser). */
    clientUpdate(id, session) {
      receive(calls.get(id), 'client', JSON.stringify({ type: 'session.update', session }));
    },
    async close() {
      await Promise.all([...calls.values()].map(end));
      wss.close();
    },
    /** Back to a fresh state between tests (the calls are ended). */
    async reset() {
      stand.sideband = 'ok';
      await Promise.all([...calls.values()].map(end));
      calls.clear();
      hangups.length = 0;
    },
  };
  return stand;
}
