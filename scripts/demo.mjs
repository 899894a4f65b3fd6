#!/usr/bin/env node
/**
 * `npm run demo`: the whole flow offline, with no keys at all.
 *
 * Starts the loopback OpenAI stand-in (scripts/mock-openai.mjs), builds the app
 * when the build is missing or older than the sources, starts the production
 * server (scripts/server.mjs) with a throw-away JWT_SECRET, and prints a
 * development JWT, a curl line and the voice page's URL (the JWT travels in
 * the URL fragment, which browsers never send to a server). Because the
 * upstream is not https://api.openai.com/v1, the page shows a "demo upstream:
 * no audio" state after Start instead of opening a WebRTC call.
 *
 * Environment: PORT (default 3000). Stop with Ctrl-C.
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

const sources = ['app', 'lib', 'public', 'middleware.ts', 'instrumentation.ts', 'next.config.ts', 'package-lock.json'];
const built = newestMtime(join(root, '.next', 'BUILD_ID'));
if (built === 0 || Math.max(...sources.map((s) => newestMtime(join(root, s)))) > built) {
  console.log('Building the app (next build)…');
  const result = spawnSync(process.execPath, [join(root, 'node_modules/next/dist/bin/next'), 'build'], { cwd: root, env, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
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
  },
});

let announced = false;
server.stdout.setEncoding('utf8').on('data', (chunk) => {
  process.stdout.write(chunk);
  if (!announced && chunk.includes('"server_started"')) {
    announced = true;
    console.log(`
Demo is running (loopback OpenAI stand-in at ${upstream.baseUrl}; no audio, no real keys).

Development JWT for "${subject}" (valid 1 hour, signed with a throw-away secret):
  ${jwt}

Ask for an ephemeral key:
  curl -i -X POST ${origin}/api/realtime/token -H "Authorization: Bearer ${jwt}" -H "Content-Type: application/json" -d '{"voice":"alloy"}'

Open the voice page and press Start: the page signs you in from the URL fragment (never sent
to the server; the page moves it to this tab's sessionStorage and clears the address bar), gets a
key and shows its expiry countdown and the requests left. The stand-in has no audio, so the page
shows "demo upstream: no audio" where a real deployment starts the WebRTC call.
  ${origin}/#token=${jwt}
`);
  }
});

function stop() {
  server.kill('SIGTERM');
  upstream.close().finally(() => process.exit(0));
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
server.on('exit', (code) => {
  upstream.close().finally(() => process.exit(code ?? 0));
});
