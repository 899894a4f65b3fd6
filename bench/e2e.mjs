/**
 * Part 1: the end-to-end price of the security layer. One production server
 * (scripts/server.mjs, what `npm start` runs) from the bench build serves both
 * the real token route and a bare baseline route (bench/baseline-route.ts,
 * present only in the bench build), both calling the same zero-delay loopback
 * OpenAI stand-in. autocannon loads each in turn on loopback.
 *
 * Load shape: every request carries a valid HS256 JWT for one of `users`
 * users and arrives from a distinct client IP (X-Forwarded-For behind one
 * trusted proxy hop, as in production behind a load balancer). Users are
 * visited round-robin, so at the default limits (10 tokens/min per user, 100
 * requests/min per IP) nothing is refused below users/6 requests/s; any non-200
 * answer is counted and invalidates the measurement.
 */
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { BASELINE_PATH, ensureBenchBuild, MIDDLEWARE_BASELINE_PATH } from './build.mjs';
import { ROOT } from '../scripts/lib-loader.mjs';
import { median, quantile, round } from './stats.mjs';

const require = createRequire(import.meta.url);
const TOKEN_PATH = '/api/realtime/token';
const ORIGIN = 'https://app.example.com';
const BODY = JSON.stringify({ voice: 'alloy', model: 'gpt-realtime', instructions: 'Be brief.' });

const b64url = (value) => Buffer.from(value).toString('base64url');

/** HS256 JWTs for `count` users (sub bench-user-N), valid for an hour. */
function signTokens(count, secret) {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const iat = Math.floor(Date.now() / 1000) - 5;
  const tokens = new Array(count);
  for (let i = 0; i < count; i++) {
    const payload = b64url(JSON.stringify({ sub: `bench-user-${i}`, iat, exp: iat + 3600 }));
    const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
    tokens[i] = `${header}.${payload}.${signature}`;
  }
  return tokens;
}

/** Spawns a node script and resolves with the first stdout line matching `ready`. */
function spawnReady(args, { cwd, env, ready, name, execArgv = [] }) {
  // stdin stays open as a lifeline: bench/upstream.mjs exits when it closes.
  const child = spawn(process.execPath, [...execArgv, ...args], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c) => (stderr = (stderr + c).slice(-4000)));
  const counters = { lines: 0, tokenIssued: 0 };
  return new Promise((resolve, reject) => {
    let partial = '';
    let found = false;
    const timer = setTimeout(() => fail(new Error(`${name} did not start within 60 s: ${stderr}`)), 60_000);
    function fail(error) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    }
    child.on('exit', (code) => {
      if (!found) fail(new Error(`${name} exited with ${code} before it was ready: ${stderr}`));
    });
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      counters.lines += lines.length;
      for (const line of lines) {
        if (line.includes('"token_issued"')) counters.tokenIssued++;
        if (!found && ready(line)) {
          found = true;
          clearTimeout(timer);
          resolve({ child, line: JSON.parse(line), counters, stderr: () => stderr });
        }
      }
    });
  });
}

/**
 * CPU seconds (user + system) a process has used, from /proc (Linux); undefined
 * elsewhere. Server CPU per request is robust to other load on the machine,
 * where requests/s is not.
 */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
// USER_HZ: 100 on every mainstream Linux build (sysconf(_SC_CLK_TCK)).
const CLOCK_TICKS = 100;

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** One autocannon run; latencies are collected from its events at full (µs) resolution. */
function load({ url, path, connections, durationS, next }) {
  const autocannon = require('autocannon');
  return new Promise((resolve, reject) => {
    const latencies = [];
    const statuses = {};
    const instance = autocannon(
      {
        url,
        connections,
        duration: durationS,
        pipelining: 1,
        timeout: 10,
        requests: [
          {
            method: 'POST',
            path,
            headers: { 'content-type': 'application/json', origin: ORIGIN },
            body: BODY,
            setupRequest(req) {
              const { token, ip } = next();
              req.headers.authorization = `Bearer ${token}`;
              req.headers['x-forwarded-for'] = ip;
              return req;
            },
          },
        ],
      },
      (error, result) => (error ? reject(error) : resolve({ result, latencies, statuses })),
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status === 200) latencies.push(ms);
    });
  });
}

/** Checks one request per route before timing anything: the token route is the real one, the baseline bare. */
async function sanity(url, next) {
  const send = (path) => {
    const { token, ip } = next();
    return fetch(`${url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': ip, 'content-type': 'application/json', origin: ORIGIN },
      body: BODY,
    });
  };
  const token = await send(TOKEN_PATH);
  const tokenBody = await token.json();
  const base = await send(BASELINE_PATH);
  const baseBody = await base.json();
  const withMiddleware = await send(MIDDLEWARE_BASELINE_PATH);
  await withMiddleware.arrayBuffer();
  const problems = [];
  if (token.status !== 200 || typeof tokenBody.value !== 'string') problems.push(`token route answered ${token.status} ${JSON.stringify(tokenBody)}`);
  for (const h of ['x-trace-id', 'x-ratelimit-remaining', 'ratelimit-policy', 'content-security-policy', 'access-control-allow-origin']) {
    if (!token.headers.has(h)) problems.push(`token route response lacks ${h}`);
  }
  if (base.status !== 200 || typeof baseBody.value !== 'string') problems.push(`baseline answered ${base.status}`);
  if (base.headers.has('x-trace-id')) problems.push('the middleware ran on the baseline (X-Trace-Id present)');
  if (withMiddleware.status !== 200 || !withMiddleware.headers.has('x-trace-id')) {
    problems.push(`the middleware did not run on ${MIDDLEWARE_BASELINE_PATH} (${withMiddleware.status})`);
  }
  if (problems.length) throw new Error(`e2e sanity check failed: ${problems.join('; ')}`);
}

/**
 * @param {{ smoke: boolean, say?: (s: string) => void, profileDir?: string }} options
 *   profileDir: run the server with --cpu-prof and write its profile there
 */
export async function e2eBench({ smoke, say = () => {}, profileDir }) {
  const dir = await ensureBenchBuild(say);
  const users = smoke ? 2_000 : 40_000;
  const throughputConnections = 16;
  const plan = smoke
    ? { warmupS: 1, rounds: 1, throughputS: 2, latencyS: 1 }
    : { warmupS: 5, rounds: 3, throughputS: 10, latencyS: 5 };
  const serverKey = `sk-bench-${randomBytes(12).toString('hex')}`;
  const jwtSecret = randomBytes(32).toString('hex');
  const baseEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NEXT_TELEMETRY_DISABLED: '1', CLERK_TELEMETRY_DISABLED: '1' };

  const upstream = await spawnReady([join(ROOT, 'bench/upstream.mjs')], {
    cwd: ROOT,
    env: { ...baseEnv, BENCH_OPENAI_KEY: serverKey },
    ready: (l) => l.startsWith('{"baseUrl"'),
    name: 'OpenAI stand-in',
  });
  let server;
  try {
    server = await spawnReady([join(dir, 'scripts/server.mjs')], {
      cwd: dir,
      env: {
        ...baseEnv,
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: '0',
        OPENAI_API_KEY: serverKey,
        OPENAI_BASE_URL: upstream.line.baseUrl,
        ALLOWED_ORIGINS: ORIGIN,
        JWT_SECRET: jwtSecret,
        // One trusted proxy hop: the client IP is the X-Forwarded-For entry the "proxy" (autocannon) wrote.
        TRUSTED_PROXY_HOPS: '1',
        // The bench measures the checks, not refusals: 40,000 users issue far more than 1,000 keys a minute.
        RATE_LIMIT_GLOBAL: '999999/60',
      },
      ready: (l) => l.includes('"server_started"'),
      name: 'production server',
      execArgv: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, 'e2e-server')}`] : [],
    });
    const url = `http://127.0.0.1:${server.line.port}`;
    const tokens = signTokens(users, jwtSecret);
    const ips = Array.from({ length: users }, (_, i) => `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`);
    let counter = 0;
    const next = () => {
      const i = counter++ % users;
      return { token: tokens[i], ip: ips[i] };
    };

    await sanity(url, next);
    const targets = [
      { id: 'baseline', path: BASELINE_PATH, name: 'baseline: bare route, same upstream (bench build only)' },
      { id: 'baseline+middleware', path: MIDDLEWARE_BASELINE_PATH, name: 'the bare route behind the middleware (splits the overhead)' },
      { id: 'token-route', path: TOKEN_PATH, name: 'token route: middleware + full security pipeline' },
    ];
    say(`e2e: warming up (${plan.warmupS} s per route)`);
    for (const t of targets) await load({ url, path: t.path, connections: throughputConnections, durationS: plan.warmupS, next });

    const shapes = [
      { load: 'throughput', connections: throughputConnections, durationS: plan.throughputS },
      { load: 'latency', connections: 1, durationS: plan.latencyS },
    ];
    const runs = new Map(); // `${shape}:${target}` -> { rps: [], latencies: [], statuses: {}, errors }
    for (const shape of shapes) {
      for (let r = 0; r < plan.rounds; r++) {
        // Alternating order (ABC, CBA, ...), so drift over time favours no route.
        const order = r % 2 === 0 ? targets : [...targets].reverse();
        for (const t of order) {
          say(`e2e: ${shape.load} round ${r + 1}/${plan.rounds}: ${t.id} (${shape.connections} connection(s), ${shape.durationS} s)`);
          const cpuBefore = cpuSeconds(server.child.pid);
          const { result, latencies, statuses } = await load({ url, path: t.path, connections: shape.connections, durationS: shape.durationS, next });
          const cpuAfter = cpuSeconds(server.child.pid);
          const key = `${shape.load}:${t.id}`;
          const acc = runs.get(key) ?? { rps: [], latencies: [], statuses: {}, errors: 0, timeouts: 0, cpuS: 0, cpuRequests: 0 };
          if (cpuBefore !== undefined && cpuAfter !== undefined) {
            acc.cpuS += cpuAfter - cpuBefore;
            acc.cpuRequests += result.requests.total;
          }
          acc.rps.push((statuses[200] ?? 0) / result.duration);
          for (const ms of latencies) acc.latencies.push(ms);
          for (const [s, n] of Object.entries(statuses)) acc.statuses[s] = (acc.statuses[s] ?? 0) + n;
          acc.errors += result.errors;
          acc.timeouts += result.timeouts;
          runs.set(key, acc);
        }
      }
    }

    const rows = [];
    for (const shape of shapes) {
      const summary = (id) => {
        const acc = runs.get(`${shape.load}:${id}`);
        const ok = acc.statuses[200] ?? 0;
        const total = Object.values(acc.statuses).reduce((a, b) => a + b, 0);
        return {
          requestsPerSec: median(acc.rps),
          p50: quantile(acc.latencies, 0.5),
          p99: quantile(acc.latencies, 0.99),
          responses: total,
          non200: total - ok,
          errors: acc.errors + acc.timeouts,
          cpuMs: acc.cpuRequests ? (acc.cpuS * 1000) / acc.cpuRequests : undefined,
        };
      };
      const base = summary('baseline');
      for (const t of targets) {
        const s = summary(t.id);
        rows.push({
          group: 'e2e',
          name: t.name,
          route: t.id,
          path: t.path,
          load: shape.load,
          connections: shape.connections,
          rounds: plan.rounds,
          secondsPerRound: shape.durationS,
          users,
          requestsPerSec: round(s.requestsPerSec),
          latencyP50Ms: round(s.p50, 3),
          latencyP99Ms: round(s.p99, 3),
          responses: s.responses,
          non200: s.non200,
          errors: s.errors,
          valid: s.responses > 0 && s.non200 === 0 && s.errors === 0,
          ratioVsBaseline: round(s.requestsPerSec / base.requestsPerSec, 3),
          addedP50Ms: round(s.p50 - base.p50, 3),
          addedP99Ms: round(s.p99 - base.p99, 3),
          serverCpuMsPerRequest: s.cpuMs === undefined ? null : round(s.cpuMs, 3),
          serverCpuRatioVsBaseline: s.cpuMs === undefined ? null : round(s.cpuMs / base.cpuMs, 3),
        });
      }
    }
    const issued = server.counters.tokenIssued;
    const tokenResponses = rows.filter((r) => r.route === 'token-route').reduce((a, r) => a + r.responses, 0);
    // Every 200 from the token route logged token_issued (warm-up and sanity requests log too).
    if (issued < tokenResponses) throw new Error(`token route logged ${issued} token_issued lines for ${tokenResponses} timed responses`);
    return rows;
  } finally {
    if (server) await stop(server.child);
    await stop(upstream.child);
  }
}
