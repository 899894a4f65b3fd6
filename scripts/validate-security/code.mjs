import { createRequire } from 'node:module';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadModules, ROOT } from '../lib-loader.mjs';

/**
 * The code checks. They import the server's own modules (compiled on the fly
 * by scripts/lib-loader.mjs) and keep only what is stricter than the code
 * itself: the route's guard list must hold the required controls in the
 * required order, and each control must still refuse what it exists to
 * refuse, shown by running requests through the route's real POST handler in
 * process (a loopback-free runtime with a capturing logger and a stand-in
 * upstream). Each check answers { check, ok, reason }.
 */

export const MODULES = {
  config: 'lib/config/index',
  routes: 'lib/routes/token',
  callRoutes: 'lib/routes/calls',
  metricsRoutes: 'lib/routes/metrics',
  runtime: 'lib/runtime',
  logger: 'lib/security-logger',
  errors: 'lib/errors',
  run: 'lib/pipeline/run',
  route: 'app/api/realtime/token/route',
  middleware: 'middleware',
  nextConfig: 'next.config',
};

/**
 * The token route's controls in the order they must run, with the codes each must be able to refuse with.
 * @type {Array<[name: string, codes: string[]]>}
 */
export const REQUIRED_GUARDS = [
  ['front_door', ['service_unavailable']],
  // Abuse controls (README "Abuse controls"): cheap address checks before anything is read.
  ['deny_ip', ['denied']],
  ['geo', ['geo_blocked']],
  ['shape', ['unsupported_media_type', 'body_too_large']],
  ['origin', ['origin_not_allowed']],
  ['api_limit', ['rate_limited']],
  // Before the reservation: a server that cannot mint counts nothing against its clients.
  ['configured', ['service_unavailable']],
  ['auth_failure_limit', ['rate_limited']],
  ['authenticate', ['auth_missing', 'auth_invalid', 'auth_malformed']],
  ['deny_user', ['denied']],
  ['token_limit', ['rate_limited']],
  ['token_daily', ['rate_limited']],
  ['anomaly', ['anomaly_cooloff']],
  ['validate', ['json_invalid', 'body_invalid']],
  // Nothing reaches OpenAI while it reports exhausted quota, or past the global breaker.
  ['quota_circuit', ['upstream_quota_cooloff']],
  ['global_limit', ['issuance_paused']],
  ['mint', ['upstream_error', 'upstream_timeout', 'upstream_auth', 'upstream_rejected', 'upstream_rate_limited']],
];

/** The spec's default policies (README.md "Configuration"), as lib/config names them. */
export const SPEC_POLICIES = [
  { key: 'token', variable: 'RATE_LIMIT_TOKEN', limit: 10, windowSeconds: 60 },
  { key: 'api', variable: 'RATE_LIMIT_API', limit: 100, windowSeconds: 60 },
  { key: 'authFailures', variable: 'RATE_LIMIT_AUTH_FAILURES', limit: 20, windowSeconds: 300 },
];

/** The spec's five headers with their exact values (SECURITY.md "Response headers"). */
const SPEC_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'x-xss-protection': '1; mode=block',
  'referrer-policy': 'strict-origin-when-cross-origin',
  'cache-control': 'no-store, no-cache, must-revalidate',
};

const ORIGIN = 'https://app.example.test';
const MARKER = '0123456789abcdef0123456789abcdef';
const SECRET = 'validate-security-probe-secret-0123456789';
/** A production deployment for the probes: spec defaults, one origin, the front door's marker. */
const PROBE_ENV = { NODE_ENV: 'production', OPENAI_API_KEY: 'sk-validate-probe', JWT_SECRET: SECRET, ALLOWED_ORIGINS: ORIGIN, RTG_FRONT_DOOR_MARKER: MARKER };

const pass = (check, reason) => ({ check, ok: true, reason });
const fail = (check, problems) => ({ check, ok: false, reason: problems.join('; ') });
const verdict = (check, problems, okReason) => (problems.length ? fail(check, problems) : pass(check, okReason));

/** Compiles and loads the server's modules from `root`; throws with the compiler's message. */
export async function loadServer(root) {
  const loaded = await loadModules(Object.values(MODULES), { root });
  return Object.fromEntries(Object.entries(MODULES).map(([k, path]) => [k, loaded[path]]));
}

/** SECURITY.md and .env.example exist and are not empty. */
export function checkFiles(root) {
  const missing = ['SECURITY.md', '.env.example'].filter((f) => !existsSync(join(root, f)) || statSync(join(root, f)).size === 0);
  return verdict('security-files', missing.length ? [`missing or empty: ${missing.join(', ')}`] : [], 'SECURITY.md and .env.example present');
}

/**
 * The calls route (server-side calls, README "Two modes") runs the same
 * controls in the same order, with its own shape and validation steps, and
 * budgets the call before placing it.
 * @type {Array<[name: string, codes: string[]]>}
 */
export const REQUIRED_CALL_GUARDS = REQUIRED_GUARDS.flatMap(([name, codes]) => {
  if (name === 'shape') return [['calls_shape', codes]];
  if (name === 'validate') return [['call_validate', [...codes, 'sdp_invalid']]];
  if (name === 'mint') return [['call_budget', ['call_limit_reached', 'minutes_exhausted']], ['place_call', codes]];
  return [[name, codes]];
});

/**
 * GET and DELETE /api/realtime/calls/<id>: the caller is known before any call is looked up.
 * @type {Array<[name: string, codes: string[]]>}
 */
export const REQUIRED_CALL_CONTROL_GUARDS = [
  ...REQUIRED_GUARDS.filter(([name]) => ['front_door', 'origin', 'api_limit', 'configured', 'auth_failure_limit', 'authenticate'].includes(name)),
  ['call_control', ['not_found']],
];

/**
 * GET /api/metrics: the scrape token is checked only through the door and
 * under the auth-failure limit, so guessing it is bounded per client IP.
 * @type {Array<[name: string, codes: string[]]>}
 */
export const REQUIRED_METRICS_GUARDS = [
  ...REQUIRED_GUARDS.filter(([name]) => ['front_door', 'auth_failure_limit'].includes(name)),
  ['metrics_token', ['auth_missing', 'auth_invalid']],
  ['metrics', []],
];

/**
 * Every route's guard list holds its required controls, in order, nothing
 * else, each declaring its refusal codes: TOKEN_GUARDS, CALLS_GUARDS,
 * CALL_CONTROL_GUARDS and METRICS_GUARDS.
 */
export function checkGuardList(server) {
  const config = server.config.loadConfig(PROBE_ENV);
  const lists = [
    ['TOKEN_GUARDS', 'lib/routes/token.ts', server.routes.TOKEN_GUARDS, REQUIRED_GUARDS],
    ['CALLS_GUARDS', 'lib/routes/calls.ts', server.callRoutes?.CALLS_GUARDS, REQUIRED_CALL_GUARDS],
    ['CALL_CONTROL_GUARDS', 'lib/routes/calls.ts', server.callRoutes?.CALL_CONTROL_GUARDS, REQUIRED_CALL_CONTROL_GUARDS],
    ['METRICS_GUARDS', 'lib/routes/metrics.ts', server.metricsRoutes?.METRICS_GUARDS, REQUIRED_METRICS_GUARDS],
  ];
  const problems = lists.flatMap(([list, file, factories, required]) => listProblems(server, config, list, file, factories, required));
  const expected = REQUIRED_GUARDS.map(([name]) => name);
  return verdict('route-guards', problems, `${expected.length} guards in order: ${expected.join(' → ')}; the calls routes' ${REQUIRED_CALL_GUARDS.length} and ${REQUIRED_CALL_CONTROL_GUARDS.length} and the metrics route's ${REQUIRED_METRICS_GUARDS.length} likewise`);
}

function listProblems(server, config, list, file, factories, required) {
  if (!Array.isArray(factories)) return [`${list} is not exported from ${file}`];
  const guards = factories.map((make) => make(config));
  const names = guards.map((g) => g.name);
  const expected = required.map(([name]) => name);
  const problems = [];
  for (const name of expected) if (!names.includes(name)) problems.push(`${name} is missing from ${list} (${file})`);
  // Any other guard could answer before the controls do (a bypass), so it must be added here deliberately.
  const unknown = names.filter((n) => !expected.includes(n));
  if (unknown.length) problems.push(`${list} has unknown guard(s) ${unknown.join(', ')}: if intended, add them to the required list in scripts/validate-security/code.mjs`);
  const present = expected.filter((n) => names.includes(n));
  for (let i = 1; i < present.length; i++) {
    if (names.indexOf(present[i]) < names.indexOf(present[i - 1])) problems.push(`${list}: ${present[i]} runs before ${present[i - 1]} (required order: ${expected.join(' → ')})`);
  }
  for (const [name, codes] of required) {
    const guard = guards.find((g) => g.name === name);
    const lacking = guard ? codes.filter((c) => !guard.refuses.includes(c)) : [];
    if (lacking.length) problems.push(`${list}: ${name} no longer declares ${lacking.join(', ')}`);
    const uncatalogued = guard ? guard.refuses.filter((c) => !(c in server.errors.ERRORS)) : [];
    if (uncatalogued.length) problems.push(`${list}: ${name} refuses with ${uncatalogued.join(', ')}, not in lib/errors.ts`);
  }
  return problems;
}

/** The defaults in lib/config are the spec's policies. */
export function checkRateLimitDefaults(server) {
  const limits = server.config.loadConfig({}).rateLimits;
  const problems = SPEC_POLICIES.filter(({ key, limit, windowSeconds }) => limits[key]?.limit !== limit || limits[key]?.windowMs !== windowSeconds * 1000).map(
    ({ key, variable, limit, windowSeconds }) =>
      `${variable} defaults to ${limits[key]?.limit}/${(limits[key]?.windowMs ?? 0) / 1000} s, the spec says ${limit}/${windowSeconds} s`,
  );
  return verdict('rate-limits', problems, SPEC_POLICIES.map((p) => `${p.variable} ${p.limit}/${p.windowSeconds} s`).join(', '));
}

/** A probe runtime: the probe config (or `env` over it), a capturing logger, a stand-in upstream. */
function probe(server, env = {}, upstream = mintedKey) {
  const lines = [];
  const calls = [];
  const config = server.config.loadConfig({ ...PROBE_ENV, ...env });
  const rt = server.runtime.createRuntime({
    config,
    logger: server.logger.createSecurityLogger({ sink: (line) => lines.push(JSON.parse(line)) }),
    fetch: async (url, init) => {
      calls.push({ url: String(url), authorization: new Headers(init?.headers).get('authorization') });
      return upstream();
    },
  });
  return { rt, config, lines, calls, events: (event) => lines.filter((l) => l.event === event).length };
}

function mintedKey() {
  const expires = Math.floor(Date.now() / 1000) + 60;
  return Response.json({ value: 'ek_validateprobe0123456789', expires_at: expires, session: { id: 'sess_validateprobe', model: 'gpt-realtime', audio: { output: { voice: 'alloy' } } } });
}

/** A token request as the front door forwards it; `over` replaces or (with undefined) drops headers. */
function tokenRequest(over = {}, body = '{}') {
  const headers = new Headers();
  const wanted = { 'x-forwarded-for': '203.0.113.10', 'x-rtg-front-door': MARKER, origin: ORIGIN, 'content-type': 'application/json', ...over };
  for (const [name, value] of Object.entries(wanted)) if (value !== undefined) headers.set(name, value);
  return new Request('http://localhost/api/realtime/token', { method: 'POST', headers, body });
}

async function signToken(sub, secret = SECRET) {
  const { SignJWT } = createRequire(join(ROOT, 'package.json'))('jose');
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(secret));
}

/** Status, error code and a header of an answer, for messages. */
async function describe(res) {
  const body = await res.clone().json().catch(() => ({}));
  return { status: res.status, code: body.error, body, headers: res.headers, text: `${res.status}${body.error ? ` ${body.error}` : ''}` };
}

/**
 * Probes for each guard: [guard, what it must do, run(send) → problem or undefined].
 * `send(request, probe?)` posts through the route's POST handler and describes the answer.
 */
const PROBES = [
  ['front_door', '503 without the front door’s marker', async ({ send, p, bearer }) => {
    const a = await send(tokenRequest({ 'x-rtg-front-door': undefined, authorization: await bearer('u-door') }));
    const b = await send(tokenRequest({ 'x-rtg-front-door': 'f'.repeat(32), authorization: await bearer('u-door') }));
    if (a.status !== 503 || b.status !== 503) return `a request without (or with a wrong) marker got ${a.text} / ${b.text}, not 503`;
    if (p.calls.length) return 'a request without the marker reached the upstream';
  }],
  ['deny_ip', '403 for a denied address, before its credentials are read', async ({ send, p, bearer }) => {
    const denied = await send(tokenRequest({ 'x-forwarded-for': '198.51.100.66', authorization: await bearer('u-deny-ip') }));
    const other = await send(tokenRequest({ 'x-forwarded-for': '198.51.100.67', authorization: await bearer('u-deny-ip') }));
    if (denied.status !== 403 || denied.code !== 'denied') return `a request from a DENY_IPS network got ${denied.text}, not 403 denied`;
    if (other.status !== 200) return `a request from an address next to it got ${other.text}, not 200`;
    if (p.events('auth_success') !== 1) return 'the denied address had its credentials verified';
  }, { DENY_IPS: '198.51.100.66/32' }],
  ['geo', '403 for a country on GEO_DENY_COUNTRIES', async ({ send, bearer }) => {
    // In the packaged database 203.0.113.0/24 is AU and 8.8.8.8 is US (README "Geography").
    const blocked = await send(tokenRequest({ 'x-forwarded-for': '203.0.113.77', authorization: await bearer('u-geo') }));
    const other = await send(tokenRequest({ 'x-forwarded-for': '8.8.8.8', authorization: await bearer('u-geo') }));
    if (blocked.status !== 403 || blocked.code !== 'geo_blocked') return `a request from a denied country got ${blocked.text}, not 403 geo_blocked`;
    if (other.status !== 200) return `a request from another country got ${other.text}, not 200`;
  }, { GEO_DENY_COUNTRIES: 'AU' }],
  ['shape', '415 for non-JSON, 413 over MAX_BODY_BYTES', async ({ send, p }) => {
    const a = await send(tokenRequest({ 'content-type': 'text/plain' }, 'voice=alloy'));
    const b = await send(tokenRequest({}, JSON.stringify({ instructions: 'x'.repeat(p.config.maxBodyBytes) })));
    if (a.code !== 'unsupported_media_type' || a.status !== 415) return `a text/plain body got ${a.text}, not 415 unsupported_media_type`;
    if (b.code !== 'body_too_large' || b.status !== 413) return `a body over ${p.config.maxBodyBytes} bytes got ${b.text}, not 413 body_too_large`;
  }],
  ['origin', '403 for an unlisted origin, before any auth work', async ({ send, p }) => {
    const a = await send(tokenRequest({ origin: 'https://evil.example', authorization: `Bearer ${await signToken('u-origin', 'w'.repeat(40))}` }));
    if (a.status !== 403 || a.code !== 'origin_not_allowed') return `an unlisted origin got ${a.text}, not 403 origin_not_allowed`;
    if (p.events('auth_failure')) return 'the credentials of an unlisted origin were verified before it was refused';
    if (a.headers.has('access-control-allow-origin')) return 'the refusal carries a CORS grant';
  }],
  // Without a server key every request stops at `configured`, right after this limit: no credentials needed.
  ['api_limit', '429 on the 101st request from one IP', async ({ send }) => {
    const answers = [];
    for (let i = 0; i <= 100; i++) answers.push(await send(tokenRequest({ 'x-forwarded-for': '203.0.113.20' })));
    const last = answers.pop();
    if (answers.some((a) => a.status !== 503)) return 'requests within the limit were refused by something else than the unconfigured server';
    if (last.status !== 429 || !last.headers.get('retry-after')) return `the 101st request from one IP got ${last.text}, not 429 with Retry-After`;
  }, { OPENAI_API_KEY: '' }],
  ['configured', '503 without OPENAI_API_KEY, before credentials are verified or counted', async ({ send, p }) => {
    const wrong = `Bearer ${await signToken('u-conf', 'w'.repeat(40))}`;
    const answers = [];
    for (let i = 0; i < 21; i++) answers.push(await send(tokenRequest({ 'x-forwarded-for': '203.0.113.35', authorization: wrong })));
    const odd = answers.find((a) => a.status !== 503 || a.code !== 'service_unavailable');
    if (odd) return `a request to a server without OPENAI_API_KEY got ${odd.text}, not 503`;
    if (p.events('auth_failure')) return 'credentials were verified although the service cannot mint';
  }, { OPENAI_API_KEY: '' }],
  ['auth_failure_limit', '429 on the 21st failed authentication, credentials unread', async ({ send, p }) => {
    const wrong = `Bearer ${await signToken('u-fail', 'w'.repeat(40))}`;
    const answers = [];
    for (let i = 0; i < 21; i++) answers.push(await send(tokenRequest({ 'x-forwarded-for': '203.0.113.30', authorization: wrong })));
    const last = answers.pop();
    if (answers.some((a) => a.status !== 401)) return 'failed authentications before the limit did not all get 401';
    if (last.status !== 429 || !last.headers.get('retry-after')) return `the 21st failed authentication got ${last.text}, not 429 with Retry-After`;
    if (p.events('auth_failure') !== 20) return `the limited request's credentials were still verified (${p.events('auth_failure')} auth_failure lines)`;
  }],
  ['authenticate', '401 without or with a bad token, 400 for a malformed header', async ({ send, p }) => {
    const none = await send(tokenRequest());
    const bad = await send(tokenRequest({ authorization: `Bearer ${await signToken('u-auth', 'w'.repeat(40))}` }));
    const malformed = await send(tokenRequest({ authorization: 'Bearer not a token' }));
    if (none.status !== 401 || !/^Bearer /.test(none.headers.get('www-authenticate') ?? '')) return `no credentials got ${none.text}, not 401 with a Bearer challenge`;
    if (bad.status !== 401 || bad.code !== 'auth_invalid') return `a token signed with another key got ${bad.text}, not 401 auth_invalid`;
    if (malformed.status !== 400 || malformed.code !== 'auth_malformed') return `a malformed Bearer header got ${malformed.text}, not 400 auth_malformed`;
    if (p.calls.length) return 'an unauthenticated request reached the upstream';
  }],
  ['deny_user', '403 for a denied user, after authentication', async ({ send, bearer }) => {
    const denied = await send(tokenRequest({ authorization: await bearer('u-denied') }));
    const other = await send(tokenRequest({ authorization: await bearer('u-allowed') }));
    if (denied.status !== 403 || denied.code !== 'denied') return `a DENY_USERS user got ${denied.text}, not 403 denied`;
    if (other.status !== 200) return `another user got ${other.text}, not 200`;
  }, { DENY_USERS: 'jwt:u-denied' }],
  ['token_limit', '429 on the 11th token for one user', async ({ send, bearer }) => {
    const answers = [];
    for (let i = 0; i < 11; i++) answers.push(await send(tokenRequest({ 'x-forwarded-for': `203.0.113.${40 + i}`, authorization: await bearer('u-tokens') })));
    const last = answers.pop();
    if (answers.some((a) => a.status !== 200)) return `tokens within the limit were refused (${answers.map((a) => a.status).join(', ')})`;
    if (last.status !== 429 || !last.headers.get('retry-after')) return `the 11th token for one user got ${last.text}, not 429 with Retry-After`;
  }],
  ['token_daily', '429 past the daily quota of one user', async ({ send, bearer }) => {
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await send(tokenRequest({ 'x-forwarded-for': `203.0.113.${60 + i}`, authorization: await bearer('u-daily') })));
    if (answers.map((a) => a.status).join() !== '200,200,429') return `three tokens against a daily quota of 2 got ${answers.map((a) => a.text).join(', ')}`;
  }, { RATE_LIMIT_TOKEN_DAILY: '2/86400' }],
  ['anomaly', '429 anomaly_cooloff in block mode for one user from too many networks', async ({ send, bearer }) => {
    const first = await send(tokenRequest({ 'x-forwarded-for': '198.51.100.10', authorization: await bearer('u-shared') }));
    const second = await send(tokenRequest({ 'x-forwarded-for': '192.0.2.10', authorization: await bearer('u-shared') }));
    if (first.status !== 200) return `the first network got ${first.text}, not 200`;
    if (second.status !== 429 || second.code !== 'anomaly_cooloff') return `a second network over ANOMALY_MAX_NETWORKS=1 got ${second.text}, not 429 anomaly_cooloff`;
  }, { ANOMALY_MODE: 'block', ANOMALY_MAX_NETWORKS: '1' }],
  ['validate', '400 for invalid JSON or a value off the allowlist', async ({ send, p, bearer }) => {
    const a = await send(tokenRequest({ authorization: await bearer('u-valid') }, '{"voice":'));
    const b = await send(tokenRequest({ authorization: await bearer('u-valid') }, '{"voice":"not-a-voice"}'));
    const c = await send(tokenRequest({ authorization: await bearer('u-valid') }, '{"voice":"alloy","extra":1}'));
    if (a.status !== 400 || a.code !== 'json_invalid') return `a broken JSON body got ${a.text}, not 400 json_invalid`;
    if (b.status !== 400 || b.code !== 'body_invalid') return `a voice off the allowlist got ${b.text}, not 400 body_invalid`;
    if (c.status !== 400 || c.code !== 'body_invalid') return `an unknown field got ${c.text}, not 400 body_invalid`;
    if (p.calls.length) return 'an invalid body reached the upstream';
  }],
  ['quota_circuit', '503 at once, upstream not called, after OpenAI reported exhausted quota', async ({ send, p, bearer }) => {
    p.upstream = () => Response.json({ error: { message: 'quota', type: 'insufficient_quota', code: 'insufficient_quota' } }, { status: 429 });
    const first = await send(tokenRequest({ authorization: await bearer('u-quota') }));
    p.upstream = mintedKey;
    const next = await send(tokenRequest({ authorization: await bearer('u-quota2') }));
    if (first.status !== 503) return `an exhausted quota got ${first.text}, not 503`;
    if (next.code !== 'upstream_quota_cooloff' || !next.headers.get('retry-after')) return `the next request got ${next.text}, not 503 upstream_quota_cooloff with Retry-After`;
    if (p.calls.length !== 1) return 'the upstream was called again during the cool-off';
  }],
  ['global_limit', '503 issuance_paused past the global breaker', async ({ send, bearer }) => {
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await send(tokenRequest({ 'x-forwarded-for': `203.0.113.${80 + i}`, authorization: await bearer(`u-global-${i}`) })));
    if (answers.map((a) => a.status).join() !== '200,200,503' || answers[2].code !== 'issuance_paused') return `three users against RATE_LIMIT_GLOBAL=2/60 got ${answers.map((a) => a.text).join(', ')}`;
  }, { RATE_LIMIT_GLOBAL: '2/60' }],
  ['mint', '200 with allow-listed fields; upstream failures mapped, never relayed', async ({ send, p, bearer }) => {
    const ok = await send(tokenRequest({ authorization: await bearer('u-mint') }));
    if (ok.status !== 200 || ok.body.value !== 'ek_validateprobe0123456789') return `a valid request got ${ok.text}, not 200 with the minted key`;
    const extra = Object.keys(ok.body).filter((k) => !['value', 'expires_at', 'session', 'traceId'].includes(k));
    if (extra.length) return `the answer relays field(s) ${extra.join(', ')}`;
    if (p.calls.length !== 1 || p.calls[0].authorization !== 'Bearer sk-validate-probe' || !p.calls[0].url.endsWith('/realtime/client_secrets')) {
      return 'the upstream was not called once at /realtime/client_secrets with the server key';
    }
    p.upstream = () => new Response('{"error":{"message":"internal detail sk-upstream-secret"}}', { status: 500 });
    const failed = await send(tokenRequest({ authorization: await bearer('u-mint2') }));
    if (failed.status !== 502 || failed.code !== 'upstream_error') return `an upstream 500 got ${failed.text}, not 502 upstream_error`;
    if (JSON.stringify(failed.body).includes('sk-upstream-secret')) return 'upstream text was relayed to the client';
  }],
];

/**
 * Runs the probes through the route's POST; answers one check per guard, the
 * headers check over every answer seen, and the middleware and next.config
 * checks. `only` (guard names) runs just those guards' probes.
 * @param {any} server
 * @param {string[] | undefined} [only]
 */
export async function checkBehaviour(server, only = undefined) {
  const { route, runtime } = server;
  const answers = [];
  const results = [];
  const previous = runtime.setRuntime(undefined);
  try {
    for (const [name, what, run, env] of PROBES.filter(([name]) => !only || only.includes(name))) {
      const p = probe(server, env, () => p.upstream());
      p.upstream = mintedKey;
      const tokens = new Map();
      const bearer = async (sub) => `Bearer ${tokens.get(sub) ?? tokens.set(sub, await signToken(sub)).get(sub)}`;
      const send = async (req) => {
        runtime.setRuntime(p.rt);
        const res = await route.POST(req);
        answers.push({ res, req });
        return describe(res);
      };
      let problem;
      try {
        problem = await run({ send, p, bearer });
      } catch (error) {
        problem = `the probe threw ${error?.name ?? 'an error'}: ${String(error?.message ?? error).split('\n')[0]}`;
      }
      results.push(problem ? fail(`guard:${name}`, [problem]) : pass(`guard:${name}`, what));
    }
    if (!only) results.push(await checkAnswerHeaders(server, answers), await checkMiddleware(server), await checkNextConfig(server));
  } finally {
    runtime.setRuntime(previous);
  }
  return results;
}

/** Problems with one answer's headers: the spec's five, the API's CSP/CORP/Permissions-Policy, HSTS, the trace id. */
function headerProblems(headers) {
  const problems = Object.entries(SPEC_HEADERS).filter(([n, v]) => headers.get(n) !== v).map(([n, v]) => `${n} is not "${v}"`);
  const csp = headers.get('content-security-policy') ?? '';
  if (!/default-src 'none'/.test(csp) || !/frame-ancestors 'none'/.test(csp)) problems.push("Content-Security-Policy lacks default-src 'none' or frame-ancestors 'none'");
  if (headers.get('cross-origin-resource-policy') !== 'same-origin') problems.push('Cross-Origin-Resource-Policy is not same-origin');
  const pp = headers.get('permissions-policy') ?? '';
  const open = ['camera', 'microphone', 'geolocation'].filter((f) => !new RegExp(`(^|[ ,])${f}=\\(\\)`).test(pp));
  if (open.length) problems.push(`Permissions-Policy does not deny ${open.join(', ')}`);
  const hsts = headers.get('strict-transport-security') ?? '';
  if (Number(/max-age=(\d+)/.exec(hsts)?.[1] ?? 0) < 31_536_000 || !/includeSubDomains/i.test(hsts)) problems.push('Strict-Transport-Security is not max-age ≥ 1 year with includeSubDomains');
  if (!/^[0-9a-f]{32}$/.test(headers.get('x-trace-id') ?? '')) problems.push('X-Trace-Id is not a 32-hex trace id');
  if (headers.has('x-powered-by')) problems.push('X-Powered-By is sent');
  return problems;
}

async function checkAnswerHeaders(server, answers) {
  const problems = new Set();
  for (const { res, req } of answers) {
    for (const p of headerProblems(res.headers)) problems.add(`${res.status} answers: ${p}`);
    const origin = req.headers.get('origin');
    const grant = res.headers.get('access-control-allow-origin');
    if (origin === ORIGIN && grant !== ORIGIN) problems.add(`${res.status} answers to a listed origin lack its CORS grant`);
    if (origin !== ORIGIN && grant !== null) problems.add(`${res.status} answers to an unlisted origin carry a CORS grant`);
  }
  // The trace id comes from a valid traceparent, never from a client-sent X-Trace-Id.
  const p = probe(server);
  server.runtime.setRuntime(p.rt);
  const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const traced = await server.route.POST(tokenRequest({ traceparent: `00-${trace}-00f067aa0ba902b7-01` }));
  const forged = await server.route.POST(tokenRequest({ 'x-trace-id': 'f'.repeat(32) }));
  if (traced.headers.get('x-trace-id') !== trace) problems.add('X-Trace-Id does not carry the traceparent trace id');
  if (forged.headers.get('x-trace-id') === 'f'.repeat(32)) problems.add('a client-sent X-Trace-Id is echoed');
  return verdict('answer-headers', [...problems], `${answers.length + 2} answers: spec headers, API CSP, CORP, Permissions-Policy, HSTS, X-Trace-Id, CORS grant only for listed origins`);
}

/** Next's own matcher code (the pinned version's), so the verdict is what Next will do. */
function nextMatcher(matcher) {
  const require = createRequire(join(ROOT, 'package.json'));
  const { MiddlewareConfigInputSchema } = require('next/dist/build/segment-config/middleware/middleware-config');
  const parsed = MiddlewareConfigInputSchema.safeParse({ matcher });
  if (!parsed.success) return undefined;
  const { getMiddlewareMatchers } = require('next/dist/build/analysis/get-page-static-info');
  const { getMiddlewareRouteMatcher } = require('next/dist/shared/lib/router/utils/middleware-route-matcher');
  const matches = getMiddlewareRouteMatcher(getMiddlewareMatchers(parsed.data.matcher, { basePath: '', i18n: undefined }));
  return (path, headers = {}) => matches(path, { headers, cookies: {} }, {});
}

/** middleware.ts runs only for CORS preflights on /api and for pages, and answers preflights itself. */
export async function checkMiddleware(server) {
  const { config: mwConfig, default: middleware } = server.middleware;
  if (!mwConfig?.matcher) return fail('middleware', ['middleware.ts exports no config.matcher, so it would run on every path']);
  const matches = nextMatcher(mwConfig.matcher);
  if (!matches) return fail('middleware', ['config.matcher is not a matcher Next accepts']);
  const preflight = { 'access-control-request-method': 'POST' };
  const problems = [
    ...['/api/realtime/token', '/api/health', '/api/unknown/a'].filter((p) => !matches(p, preflight)).map((p) => `a CORS preflight to ${p} does not reach it`),
    ...['/api/realtime/token', '/api/health', '/api'].filter((p) => matches(p)).map((p) => `requests to ${p} without Access-Control-Request-Method pass through it (Next copies their bodies for it)`),
    ...['/', '/voice'].filter((p) => !matches(p)).map((p) => `the page ${p} does not get it (Clerk's handshake)`),
  ];
  const { NextRequest } = createRequire(join(ROOT, 'package.json'))('next/server');
  const p = probe(server);
  server.runtime.setRuntime(p.rt);
  const ask = (origin) =>
    middleware(new NextRequest('http://localhost/api/realtime/token', { method: 'OPTIONS', headers: { origin, ...preflight, 'access-control-request-headers': 'authorization, content-type' } }), undefined);
  const granted = await ask(ORIGIN);
  const refused = await ask('https://evil.example');
  if (granted?.status !== 204 || granted.headers.get('access-control-allow-origin') !== ORIGIN) problems.push(`a preflight from a listed origin got ${granted?.status ?? 'no answer'}, not 204 with its grant`);
  if (refused?.status !== 403 || refused.headers.has('access-control-allow-origin')) problems.push(`a preflight from an unlisted origin got ${refused?.status ?? 'no answer'}, not 403 without a grant`);
  for (const res of [granted, refused].filter(Boolean)) for (const h of headerProblems(res.headers)) problems.push(`preflight ${res.status}: ${h}`);
  return verdict('middleware', [...new Set(problems)], 'runs for /api preflights and pages only; answers preflights itself (204 with grant / 403 without)');
}

/**
 * next.config.ts hides Next and sends the spec's headers on pages, and none of
 * its rules replaces an API answer's stricter CSP or Permissions-Policy (Next's
 * configured headers override a route's own). Rules are matched with Next's
 * own route compiler.
 */
export async function checkNextConfig(server) {
  const make = server.nextConfig.default;
  const config = typeof make === 'function' ? await make('phase-production-server', { defaultConfig: {} }) : make;
  const problems = [];
  if (config?.poweredByHeader !== false) problems.push('next.config.ts does not set poweredByHeader: false');
  const rules = typeof config?.headers === 'function' ? await config.headers() : [];
  const { buildCustomRoute } = createRequire(join(ROOT, 'package.json'))('next/dist/lib/build-custom-route');
  const sent = (path) =>
    new Map(rules.filter((r) => new RegExp(buildCustomRoute('header', r).regex).test(path)).flatMap((r) => r.headers.map((h) => [h.key.toLowerCase(), h.value])));
  for (const page of ['/', '/voice']) {
    const lacking = Object.entries(SPEC_HEADERS).filter(([n, v]) => sent(page).get(n) !== v).map(([n]) => n);
    if (lacking.length) problems.push(`the page ${page} does not get ${lacking.join(', ')} with the spec's value`);
  }
  const overridden = ['content-security-policy', 'permissions-policy'].filter((n) => sent('/api/realtime/token').has(n));
  if (overridden.length) problems.push(`its headers() replaces the API answers' ${overridden.join(', ')}`);
  return verdict('next-config', problems, "poweredByHeader: false; pages get the spec's five headers; API answers keep their own CSP");
}
