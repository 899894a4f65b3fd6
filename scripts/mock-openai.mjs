#!/usr/bin/env node
/**
 * A loopback stand-in for the OpenAI Realtime API: a real HTTP server that
 * speaks `POST /v1/realtime/client_secrets` (GA) the way OpenAI does, for the
 * demo and the tests. It never leaves 127.0.0.1.
 *
 * Behaviour per request can be switched with `server.setMode(mode)`:
 *   ok | error500 | hang | reset | badjson | unauthorized | quota | spendlimit | ratelimit | rejected | redirect | huge
 * and the hostile 200s of a misbehaving upstream or proxy (keys of HOSTILE_SUCCESS):
 *   leak-key | bad-key-chars | long-key | far-expiry | past-expiry | fraction-expiry | string-expiry |
 *   no-session-id | bad-session-id
 * and, for requests asking for one voice only, with `server.setModeFor(voice, mode)`
 * (so one request can hang while the others are served);
 * and every request received is kept in `server.requests` (method, url,
 * headers, parsed body) so tests can assert exactly what reached upstream.
 *
 * The calls endpoints (`/v1/realtime/calls`, `/v1/live/sessions`, their
 * hang-ups and sidebands) live in scripts/mock-openai-calls.mjs, reachable as
 * `server.calls`.
 *
 * Run directly (`node scripts/mock-openai.mjs [port]`) it prints its base URL.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { createCallsStandIn } from './mock-openai-calls.mjs';

const REALTIME_MODELS = new Set(['gpt-realtime', 'gpt-realtime-mini', 'gpt-4o-realtime-preview', 'gpt-4o-mini-realtime-preview']);
const REALTIME_VOICES = new Set(['alloy', 'ash', 'ballad', 'coral', 'echo', 'sage', 'shimmer', 'verse', 'marin', 'cedar']);

/**
 * 200 answers that do not look like an ephemeral key: each rewrites the
 * well-formed body. The server must refuse every one of them with a 502.
 */
export const HOSTILE_SUCCESS = {
  // A proxy that answers with the server's own key, or a project key.
  'leak-key': (b) => ({ ...b, value: `sk-proj-${randomBytes(24).toString('hex')}` }),
  'bad-key-chars': (b) => ({ ...b, value: `ek_${randomBytes(8).toString('hex')}<script>"` }),
  'long-key': (b) => ({ ...b, value: `ek_${'a'.repeat(5000)}` }),
  'far-expiry': (b) => ({ ...b, expires_at: b.expires_at + 86_400 }),
  'past-expiry': (b) => ({ ...b, expires_at: Math.floor(Date.now() / 1000) - 5 }),
  'fraction-expiry': (b) => ({ ...b, expires_at: b.expires_at - 0.5 }),
  'string-expiry': (b) => ({ ...b, expires_at: String(b.expires_at) }),
  'no-session-id': (b) => ({ ...b, session: { ...b.session, id: undefined } }),
  'bad-session-id': (b) => ({ ...b, session: { ...b.session, id: `sk-proj-${randomBytes(8).toString('hex')}` } }),
};

function openaiError(res, status, message, type, code, param = null, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify({ error: { message, type, code, param } }));
}

/**
 * Starts the stand-in.
 * @param {{ port?: number, apiKey?: string, mode?: string }} [options]
 *   apiKey: the only server key accepted (default: any key that starts with "sk-")
 * @returns {Promise<import('node:http').Server & { baseUrl: string, requests: any[], calls: ReturnType<typeof createCallsStandIn>, setMode(m: string): void, setModeFor(voice: string, m: string | undefined): void, close(): Promise<void> }>}
 */
export async function startMockOpenAI(options = {}) {
  let defaultMode = options.mode ?? 'ok';
  /** voice → mode, for requests whose session asks for that voice. */
  const voiceModes = new Map();
  const requests = [];
  const sockets = new Set();
  const keyOk = (req) => {
    const auth = req.headers.authorization ?? '';
    return options.apiKey ? auth === `Bearer ${options.apiKey}` : /^Bearer sk-\S+$/.test(auth);
  };
  const calls = createCallsStandIn({ mode: () => defaultMode, keyOk, json: openaiError });
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = undefined;
      }
      requests.push({ method: req.method, url: req.url, headers: req.headers, body, raw });
      if (!calls.handle(req, res, raw, body)) respond(req, res, body);
    });
  });
  server.on('upgrade', calls.upgrade);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  function respond(req, res, body) {
    if (req.method !== 'POST' || req.url !== '/v1/realtime/client_secrets') {
      return openaiError(res, 404, `Invalid URL (${req.method} ${req.url})`, 'invalid_request_error', null);
    }
    const mode = voiceModes.get(body?.session?.audio?.output?.voice) ?? defaultMode;
    switch (mode) {
      case 'hang':
        return; // never answers; the client's deadline must fire
      case 'reset':
        return req.socket.destroy();
      case 'error500':
        return openaiError(res, 500, 'The server had an error while processing your request. secret-upstream-detail', 'server_error', null);
      case 'badjson':
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end('{"value": "ek_truncated');
      case 'unauthorized':
        return openaiError(res, 401, 'Incorrect API key provided: sk-abc***xyz.', 'invalid_request_error', 'invalid_api_key');
      case 'quota':
        return openaiError(res, 429, 'You exceeded your current quota, please check your plan and billing details.', 'insufficient_quota', 'insufficient_quota');
      case 'spendlimit':
        return openaiError(res, 400, 'Billing hard limit has been reached.', 'invalid_request_error', 'billing_hard_limit_reached');
      case 'ratelimit':
        return openaiError(res, 429, 'Rate limit reached for requests', 'requests', 'rate_limit_exceeded', null, { 'Retry-After': '7' });
      case 'redirect':
        res.writeHead(307, { Location: 'http://127.0.0.1:9/steal' });
        return res.end();
      case 'huge':
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end(JSON.stringify({ value: 'ek_x', expires_at: 1, padding: 'x'.repeat(1024 * 1024) }));
      default:
        break;
    }
    if (!keyOk(req)) return openaiError(res, 401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
    const session = body?.session;
    if (!session || session.type !== 'realtime') {
      return openaiError(res, 400, "Missing required parameter: 'session.type'.", 'invalid_request_error', 'missing_required_parameter', 'session.type');
    }
    if (!REALTIME_MODELS.has(session.model)) {
      return openaiError(res, 400, `Invalid model: ${session.model}`, 'invalid_request_error', 'invalid_value', 'session.model');
    }
    const voice = session.audio?.output?.voice ?? 'alloy';
    if (mode === 'rejected' || !REALTIME_VOICES.has(voice)) {
      return openaiError(res, 400, `Invalid value: '${voice}'. Supported values are: ${[...REALTIME_VOICES].join(', ')}.`, 'invalid_request_error', 'invalid_value', 'session.audio.output.voice');
    }
    const ttl = body.expires_after?.seconds ?? 600;
    const now = Math.floor(Date.now() / 1000);
    const rewrite = HOSTILE_SUCCESS[mode] ?? ((b) => b);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(
      JSON.stringify(rewrite({
        value: `ek_${randomBytes(16).toString('hex')}`,
        expires_at: now + ttl,
        session: {
          type: 'realtime',
          object: 'realtime.session',
          id: `sess_${randomBytes(8).toString('hex')}`,
          model: session.model,
          output_modalities: ['audio'],
          instructions: session.instructions ?? '',
          tools: [],
          tool_choice: 'auto',
          max_output_tokens: 'inf',
          tracing: null,
          truncation: 'auto',
          prompt: null,
          expires_at: 0,
          audio: {
            input: { format: { type: 'audio/pcm', rate: 24000 }, transcription: null, noise_reduction: null, turn_detection: { type: 'server_vad' } },
            output: { format: { type: 'audio/pcm', rate: 24000 }, voice, speed: 1.0 },
          },
          include: null,
        },
      })),
    );
  }

  await new Promise((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address();
  const closeServer = server.close.bind(server);
  return Object.assign(server, {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    calls,
    setMode(next) {
      defaultMode = next;
    },
    setModeFor(voice, next) {
      if (next === undefined) voiceModes.delete(voice);
      else voiceModes.set(voice, next);
    },
    async close() {
      await calls.close();
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => closeServer(() => resolve()));
    },
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const server = await startMockOpenAI({ port: Number(process.argv[2] ?? 0) });
  console.log(`mock OpenAI listening: OPENAI_BASE_URL=${server.baseUrl}`);
}
