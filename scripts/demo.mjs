#!/usr/bin/env node
/**
 * `npm run demo`: the whole flow offline, with no keys at all.
 *
 * Starts the loopback OpenAI stand-in (scripts/mock-openai.mjs), builds the app
 * when the build is missing or older than the sources, starts the production
 * server (scripts/server.mjs) with a throw-away JWT_SECRET, and prints a
 * development JWT, a curl line and the voice page's URL (the JWT travels in
 * the URL fragment, which browsers never send to a server).
 *
 * By default the server runs in calls mode (REALTIME_MODE=calls): Start sends
 * the page's offer to the server, the stand-in's WebRTC peer answers, and the
 * call connects over loopback (there is no audio) and is supervised and ended
 * by the server. DEMO_MODE=ephemeral shows the token route instead, where the
 * page stops at "demo upstream: no audio".
 *
 * `npm run demo -- --check` places one call without a browser (a WebRTC peer
 * in Node plays the page), prints whether it connected, hangs up and exits.
 *
 * Environment: PORT (default 3000), DEMO_MODE (calls | ephemeral). Stop with Ctrl-C.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { startMockOpenAI } from './mock-openai.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const port = Number.parseInt(process.env.PORT || '3000', 10);
const mode = process.env.DEMO_MODE === 'ephemeral' ? 'ephemeral' : 'calls';
const check = process.argv.includes('--check');
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', CLERK_TELEMETRY_DISABLED: '1' };

function newestMtime(path) {
  let info;
  try {
    info = statSync(path);
  } catch {
    return 0;
  }
  if (!info.isDirectory()) return info.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

const sources = ['app', 'lib', 'server', 'public', 'middleware.ts', 'instrumentation.ts', 'next.config.ts', 'package-lock.json'];
// What `npm run build` makes: Next's build, then the front door's bundle (scripts/build-server.mjs).
const built = Math.min(newestMtime(join(root, '.next', 'BUILD_ID')), newestMtime(join(root, '.next', 'rtg-server', 'main.mjs')));
if (built === 0 || Math.max(...sources.map((s) => newestMtime(join(root, s)))) > built) {
  console.log('Building the app (npm run build)…');
  for (const step of [[join(root, 'node_modules/next/dist/bin/next'), 'build'], [join(root, 'scripts/build-server.mjs')]]) {
    const result = spawnSync(process.execPath, step, { cwd: root, env, stdio: 'inherit' });
    if (result.status !== 0) process.exit(result.status ?? 1);
  }
}

const upstream = await startMockOpenAI();
const secret = randomBytes(32).toString('hex');
const subject = 'demo-user';
const jwt = await new SignJWT({})
  .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
  .setSubject(subject)
  .setIssuedAt()
  .setExpirationTime('1h')
  .sign(new TextEncoder().encode(secret));

const origin = `http://localhost:${port}`;
const server = spawn(process.execPath, [join(root, 'scripts/server.mjs')], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: {
    ...env,
    PORT: String(port),
    HOST: '127.0.0.1',
    OPENAI_API_KEY: `sk-demo-${randomBytes(12).toString('hex')}`,
    OPENAI_BASE_URL: upstream.baseUrl,
    JWT_SECRET: secret,
    JWT_MAX_AGE_SECONDS: '3600',
    ALLOWED_ORIGINS: `${origin},http://127.0.0.1:${port}`,
    ALLOWED_VOICES: 'alloy,ash,ballad,coral,echo,sage,shimmer,verse,marin,cedar',
    REALTIME_MODE: mode,
  },
});

const howTo =
  mode === 'calls'
    ? `Place a call (calls mode: the server sends the offer to OpenAI with its own key; the browser never holds one):
  npm run demo -- --check      (a WebRTC peer in Node plays the browser, connects, hangs up)

Open the voice page and press Start: the page sends its offer to this server, the stand-in's WebRTC peer
answers, and the call connects over loopback (no audio). The page shows the time left; Stop hangs up.`
    : `Ask for an ephemeral key:
  curl -i -X POST ${origin}/api/realtime/token -H "Authorization: Bearer ${jwt}" -H "Content-Type: application/json" -d '{"voice":"alloy"}'

Open the voice page and press Start: the page signs you in from the URL fragment (never sent
to the server; the page moves it to this tab's sessionStorage and clears the address bar), gets a
key and shows its expiry countdown and the requests left. The stand-in has no audio, so the page
shows "demo upstream: no audio" where a real deployment starts the WebRTC call.`;

let announced = false;
server.stdout.setEncoding('utf8').on('data', (chunk) => {
  if (!check) process.stdout.write(chunk);
  if (!announced && chunk.includes('"server_started"')) {
    announced = true;
    if (check) {
      checkCall().then((ok) => finish(ok ? 0 : 1), () => finish(1));
      return;
    }
    console.log(`
Demo is running in ${mode} mode (loopback OpenAI stand-in at ${upstream.baseUrl}; no audio, no real keys).

Development JWT for "${subject}" (valid 1 hour, signed with a throw-away secret):
  ${jwt}

${howTo}
  ${origin}/#token=${jwt}
`);
  }
});

/** `--check`: one call through POST /api/realtime/calls, a werift peer playing the page. */
async function checkCall() {
  const { RTCPeerConnection } = await import('werift');
  const pc = new RTCPeerConnection({ iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'], iceInterfaceAddresses: { udp4: '127.0.0.1' } });
  pc.addTransceiver('audio', { direction: 'sendrecv' });
  const channel = pc.createDataChannel('oai-events');
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => setTimeout(resolve, 500));
  const sdp = pc.localDescription.sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:') || / 127\.0\.0\.1 /.test(l)).join('\r\n');
  const headers = { Authorization: `Bearer ${jwt}`, 'Content-Type': 'application/json', Origin: origin };
  const res = await fetch(`${origin}/api/realtime/calls`, { method: 'POST', headers, body: JSON.stringify({ sdp, voice: 'marin' }) });
  const body = await res.json();
  console.log(`POST /api/realtime/calls → ${res.status} ${res.status === 201 ? `callId ${body.callId}, ends at ${new Date(body.endsAt * 1000).toISOString()}` : body.error}`);
  if (res.status !== 201) return false;
  await pc.setRemoteDescription({ type: 'answer', sdp: body.sdp });
  const opened = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 10_000);
    channel.onMessage.subscribe((data) => {
      clearTimeout(timer);
      resolve(String(data));
    });
  });
  console.log(opened ? `connected: ICE/DTLS up, oai-events open, first event ${JSON.parse(opened).type}` : 'not connected within 10 s');
  const ended = await fetch(`${origin}/api/realtime/calls/${body.callId}`, { method: 'DELETE', headers: { Authorization: headers.Authorization, Origin: origin } });
  console.log(`DELETE /api/realtime/calls/${body.callId} → ${ended.status}`);
  await pc.close();
  return Boolean(opened) && ended.status === 204;
}

function finish(code) {
  server.kill('SIGTERM');
  upstream.close().finally(() => process.exit(code));
}

function stop() {
  server.kill('SIGTERM');
  upstream.close().finally(() => process.exit(0));
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
server.on('exit', (code) => {
  upstream.close().finally(() => process.exit(code ?? 0));
});
