'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { createRequire } = require('node:module');
const { SourceFile, UNKNOWN, moduleBase } = require('./source');

/**
 * The code checks: each reads the project's TypeScript sources structurally
 * (comments stripped, formatting ignored) and answers { check, ok, reason }.
 * Each names the control it found missing, misplaced or weakened.
 */

const ROUTE = 'app/api/realtime/token/route.ts';
const PIPELINE = 'lib/token-pipeline.ts';
const CONFIG = 'lib/config.ts';
const MIDDLEWARE = 'middleware.ts';
const HEADERS = 'lib/security-headers.ts';
const NEXT_CONFIG = 'next.config.ts';

const SECURITY_FILES = [
  ROUTE,
  'lib/auth.ts',
  'lib/rate-limit.ts',
  'lib/security-logger.ts',
  MIDDLEWARE,
  CONFIG,
  'lib/origin.ts',
  'lib/validation.ts',
  HEADERS,
  'lib/client-ip.ts',
  'lib/openai.ts',
  'SECURITY.md',
  '.env.example',
];

/**
 * The token route's steps in the order DESIGN.md "Request flow" fixes, each
 * with what it must do in lib/token-pipeline.ts to count: a call imported from
 * the module that implements the control (`module#name`), a store method, or
 * a configuration member it must use.
 */
const TOKEN_STEPS = [
  { step: 'checkRequestShape', what: 'content type and capped body read (415/413)', calls: ['body#readCapped'], members: ['config.maxBodyBytes'] },
  { step: 'checkRequestOrigin', what: 'origin check (403)', calls: ['origin#checkOrigin'] },
  { step: 'limitApiPerIp', what: 'API limit per IP (429)', methods: ['hit'], members: ['rateLimits.api'] },
  { step: 'limitAuthFailures', what: 'auth-failure limit per IP (429)', members: ['rateLimits.authFailures'] },
  { step: 'requireConfigured', what: 'configuration guard (503)', calls: ['auth#authConfigured'], members: ['openai.apiKey'] },
  { step: 'authenticateUser', what: 'authentication (401)', calls: ['auth#authenticate'], members: ['rateLimits.authFailures'] },
  { step: 'limitTokensPerUser', what: 'token limit per user (429)', methods: ['hit'], members: ['rateLimits.token'] },
  { step: 'validateBody', what: 'body validation (400)', calls: ['validation#validateTokenRequest'] },
  { step: 'mintToken', what: 'OpenAI call with allow-listed answer', calls: ['openai#createEphemeralKey'] },
];

/** The spec's policies ("Rate Limiting → Configuration"). */
const SPEC_POLICIES = [
  { key: 'token', variable: 'RATE_LIMIT_TOKEN', limit: 10, windowSeconds: 60, label: 'token issuance' },
  { key: 'api', variable: 'RATE_LIMIT_API', limit: 100, windowSeconds: 60, label: 'general API' },
  { key: 'authFailures', variable: 'RATE_LIMIT_AUTH_FAILURES', limit: 20, windowSeconds: 300, label: 'auth failures' },
];

/** The spec's five headers, exact values ("Security Headers"). */
const SPEC_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'X-XSS-Protection': '1; mode=block',
  'Referrer-Policy': 'strict-origin-when-cross-origin',
  'Cache-Control': 'no-store, no-cache, must-revalidate',
};

/** Paths the middleware must run for (CORS preflight and headers on every API answer). */
const API_PATHS = ['/api/realtime/token', '/api/realtime/token/', '/api/unknown', '/api/a/b/c'];

const ONE_YEAR_SECONDS = 31_536_000;

function result(check, problems, okReason) {
  return problems.length === 0 ? { check, ok: true, reason: okReason } : { check, ok: false, reason: problems.join('; ') };
}

function load(root, file, problems) {
  const { source, error } = SourceFile.read(root, file);
  if (error) problems.push(error);
  return source;
}

/** 1. Every security file exists and is not empty. */
function checkFiles(root) {
  const missing = SECURITY_FILES.filter((file) => {
    try {
      return !fs.statSync(path.join(root, file)).isFile() || fs.statSync(path.join(root, file)).size === 0;
    } catch {
      return true;
    }
  });
  return result(
    'security-files',
    missing.length ? [`missing or empty: ${missing.join(', ')}`] : [],
    `all ${SECURITY_FILES.length} present (${SECURITY_FILES.length - 2} modules, SECURITY.md, .env.example)`,
  );
}

/** Elements of the array literal at `open`, as step names (or a description of what is not a name). */
function arrayNames(src, open) {
  const names = [];
  const close = src.match[open];
  let j = open + 1;
  while (j < close) {
    const end = src.statementEnd(j, [',']);
    const first = src.tokens[j];
    const plainName = first.type === 'ident' && (end === j + 1 || src.is(j + 1, 'as') || src.is(j + 1, 'satisfies'));
    names.push(plainName ? first.value : `<expression on line ${first.line}>`);
    j = end + 1;
  }
  return names;
}

/** 2. TOKEN_PIPELINE lists every step, in order, each the real step from lib/token-pipeline.ts doing its job. */
function checkRoutePipeline(root) {
  const problems = [];
  const route = load(root, ROUTE, problems);
  const pipeline = load(root, PIPELINE, problems);
  if (!route || !pipeline) return result('route-pipeline', problems);

  const decl = route.decls.get('TOKEN_PIPELINE');
  let open = decl && decl.init !== -1 ? decl.init : -1;
  while (open !== -1 && open < decl.end && !route.is(open, '[')) open++;
  if (open === -1 || open >= decl.end) {
    return result('route-pipeline', [`${ROUTE} has no TOKEN_PIPELINE array literal`]);
  }
  const listed = arrayNames(route, open);
  const expected = TOKEN_STEPS.map((s) => s.step);

  for (const { step, what } of TOKEN_STEPS) {
    if (!listed.includes(step)) problems.push(`${step} (${what}) is missing from TOKEN_PIPELINE`);
  }
  // Any other step could answer before the controls do (a bypass), so it must be added here deliberately.
  const unknown = listed.filter((name) => !expected.includes(name));
  if (unknown.length) {
    problems.push(`TOKEN_PIPELINE has unknown step(s) ${unknown.join(', ')}: if intended, add them to TOKEN_STEPS in scripts/validate-security/checks.js`);
  }
  const present = expected.filter((s) => listed.includes(s));
  for (let k = 1; k < present.length; k++) {
    const before = present[k - 1];
    const after = present[k];
    if (listed.indexOf(after) < listed.indexOf(before)) {
      problems.push(`${after} runs before ${before} in TOKEN_PIPELINE (expected order: ${expected.join(' → ')})`);
    }
  }
  for (const step of present) {
    if (!route.importedFrom(step, 'token-pipeline')) {
      problems.push(`${step} in TOKEN_PIPELINE is not the step imported from lib/token-pipeline`);
    }
  }

  const post = route.exported('POST');
  const postReach = post && route.reach(post.start, post.end);
  if (!postReach) problems.push(`${ROUTE} does not export POST`);
  else if (!postReach.calls.has('token-pipeline#runPipeline') || !postReach.names.has('TOKEN_PIPELINE')) {
    problems.push('POST does not run TOKEN_PIPELINE through runPipeline');
  }

  if (!runsEveryStep(pipeline)) problems.push('runPipeline in lib/token-pipeline.ts no longer loops over every step it is given (for (const step of steps))');

  for (const spec of TOKEN_STEPS) {
    if (!listed.includes(spec.step)) continue;
    const stepDecl = pipeline.exported(spec.step);
    if (!stepDecl) {
      problems.push(`${spec.step} is not exported by ${PIPELINE}`);
      continue;
    }
    const reach = pipeline.reach(stepDecl.start, stepDecl.end);
    const lacking = [
      ...(spec.calls ?? []).filter((c) => !reach.calls.has(c)).map((c) => `${c.split('#')[1]}() from lib/${c.split('#')[0]}`),
      // The store call must be the step's own, not one in a helper it shares with others.
      ...(spec.methods ?? []).filter((m) => !pipeline.callsIn(stepDecl.start, stepDecl.end, m)).map((m) => `store.${m}()`),
      ...(spec.members ?? []).filter((m) => !pipeline.rangesHaveMember(reach.ranges, m)),
    ];
    if (lacking.length) problems.push(`${spec.step} (${spec.what}) no longer uses ${lacking.join(', ')}`);
  }
  return result('route-pipeline', problems, `${expected.length} steps in order: ${expected.join(' → ')}`);
}

/** 3. The default policies in lib/config.ts are the spec's, and loadConfig maps each to its limiter. */
function checkRateLimits(root) {
  const problems = [];
  const config = load(root, CONFIG, problems);
  if (!config) return result('rate-limits', problems);
  const schema = envSchemaProps(config);
  if (!schema) return result('rate-limits', [`${CONFIG} has no envSchema = z.object({...})`]);

  for (const policy of SPEC_POLICIES) {
    const prop = schema.get(policy.variable);
    if (!prop) {
      problems.push(`${policy.variable} (${policy.label} policy) is not read by envSchema`);
      continue;
    }
    const found = policyDefault(config, prop);
    if (typeof found === 'string') problems.push(`${policy.variable}: ${found}`);
    else if (found.limit !== policy.limit || found.windowSeconds !== policy.windowSeconds) {
      problems.push(
        `${policy.label} default is ${found.limit}/${found.windowSeconds} s, the spec says ${policy.limit}/${policy.windowSeconds} s (${policy.variable})`,
      );
    }
  }

  const loader = config.exported('loadConfig');
  const mapping = loader && findProperty(config, 'rateLimits', loader.start, loader.end);
  if (mapping === undefined) problems.push('loadConfig builds no rateLimits object');
  else {
    const props = config.objectProps(mapping);
    for (const policy of SPEC_POLICIES) {
      const prop = props.get(policy.key);
      const uses = prop && config.tokens.slice(prop.start, prop.end).some((t) => t.type === 'ident' && t.value === policy.variable);
      if (!uses) problems.push(`rateLimits.${policy.key} is not built from ${policy.variable}`);
    }
  }
  return result(
    'rate-limits',
    problems,
    SPEC_POLICIES.map((p) => `${p.label} ${p.limit}/${p.windowSeconds} s`).join(', '),
  );
}

/** Properties of `envSchema = z.object({...})` in lib/config.ts, or undefined. */
/** Whether runPipeline has a `for (const x of <its steps parameter>)` loop, i.e. runs each step in turn. */
function runsEveryStep(pipeline) {
  const decl = pipeline.exported('runPipeline');
  const params = decl && pipeline.paramNames('runPipeline');
  const steps = params?.find((p) => /steps/i.test(p));
  if (!steps) return false;
  for (let i = decl.start; i < decl.end - 5; i++) {
    if (
      pipeline.is(i, 'for') &&
      pipeline.is(i + 1, '(') &&
      (pipeline.is(i + 2, 'const') || pipeline.is(i + 2, 'let')) &&
      pipeline.isIdent(i + 3) &&
      pipeline.is(i + 4, 'of') &&
      pipeline.is(i + 5, steps) &&
      pipeline.is(i + 6, ')')
    ) {
      return true;
    }
  }
  return false;
}

function envSchemaProps(config) {
  const decl = config.decls.get('envSchema');
  if (!decl || decl.init === -1) return undefined;
  const props = new Map();
  for (const method of ['object', 'extend', 'strictObject', 'looseObject']) {
    let from = decl.init;
    for (;;) {
      const open = config.findCall(from, decl.end, method);
      if (open === -1) break;
      if (config.is(open + 1, '{')) for (const [k, v] of config.objectProps(open + 1)) props.set(k, v);
      from = open + 1;
    }
  }
  return props.size ? props : undefined;
}

/**
 * The default limit/window of a schema entry written as `policy('name', LIMIT, WINDOW)`:
 * the helper's parameter names say which argument is the limit and which the window.
 */
function policyDefault(config, prop) {
  const callee = config.tokens[prop.start];
  const open = prop.start + 1;
  if (callee.type !== 'ident' || !config.is(open, '(')) return 'is not written as a policy(...) call';
  const params = config.paramNames(callee.value);
  if (!params) return `its helper ${callee.value}() is not defined in ${CONFIG}`;
  const limitAt = params.findIndex((p) => /limit/i.test(p) && !/window/i.test(p));
  const windowAt = params.findIndex((p) => /window/i.test(p));
  if (limitAt === -1 || windowAt === -1) return `cannot tell the limit and window parameters of ${callee.value}()`;
  const args = argumentValues(config, open);
  const limit = args[limitAt];
  let windowSeconds = args[windowAt];
  if (typeof limit !== 'number' || typeof windowSeconds !== 'number') return 'its default limit or window is not a constant';
  if (/ms$/i.test(params[windowAt])) windowSeconds /= 1000;
  return { limit, windowSeconds };
}

function argumentValues(src, open) {
  const out = [];
  let j = open + 1;
  while (j < src.match[open]) {
    out.push(src.evaluate(j));
    j = src.statementEnd(j, [',']) + 1;
  }
  return out;
}

/** Index of the `{` of the first `name: {` property in [from, to). */
function findProperty(src, name, from, to) {
  for (let i = from; i < to - 2; i++) {
    if (src.tokens[i].type === 'ident' && src.tokens[i].value === name && src.is(i + 1, ':') && src.is(i + 2, '{')) return i + 2;
  }
  return undefined;
}

/** Requires a module from the checked project, falling back to the one running this script. */
function requireFrom(root, id) {
  for (const base of [path.join(root, 'package.json'), __filename]) {
    try {
      return createRequire(base)(id);
    } catch {
      // try the next location
    }
  }
  return undefined;
}

/** 4. The middleware runs for every /api path and answers the CORS preflight before Clerk runs. */
function checkMiddleware(root) {
  const problems = [];
  const mw = load(root, MIDDLEWARE, problems);
  if (!mw) return result('middleware', problems);

  const configDecl = mw.exported('config');
  const config = configDecl ? mw.evaluateConst('config') : undefined;
  if (!config || config === UNKNOWN || typeof config !== 'object') {
    problems.push(`${MIDDLEWARE} exports no static config (Next needs a literal config.matcher)`);
  } else {
    problems.push(...matcherProblems(root, config.matcher));
  }

  const def = mw.defaultExport;
  if (!def) {
    problems.push(`${MIDDLEWARE} has no default export`);
    return result('middleware', problems);
  }
  const target = def.decl ?? (def.name ? mw.decls.get(def.name) : undefined);
  // The handler's body (or initializer, or the default-exported expression), in source order.
  const from = target ? (target.body !== -1 ? target.body : target.init) : def.start;
  const to = target ? target.end : def.end;
  const whole = mw.reach(from, to);

  const self = target?.name;
  const preflightAt = firstReaching(mw, from, to, (name) => name === 'origin#checkPreflight', false, self);
  const clerkAt = firstReaching(mw, from, to, (name) => name.startsWith('@clerk/'), true, self);
  if (preflightAt === -1) problems.push('the middleware never answers the CORS preflight (no path reaches checkPreflight from lib/origin)');
  else if (clerkAt !== -1 && clerkAt < preflightAt) problems.push('Clerk runs before the CORS preflight is answered');
  if (preflightAt !== -1 && !whole.strings.has('OPTIONS')) problems.push('the preflight answer is not limited to OPTIONS requests');
  if (!whole.calls.has('origin#applyCorsHeaders')) problems.push('the middleware never adds CORS headers for allowed origins (applyCorsHeaders)');
  if (!whole.calls.has('security-headers#applySecurityHeaders')) problems.push('the middleware never applies the security headers (applySecurityHeaders)');

  return result('middleware', problems, 'matcher covers /api/*; CORS preflight answered before Clerk; CORS and security headers applied');
}

/** First token in [from, to) whose identifier leads (directly or through local declarations) to an import matching `test`. */
function firstReaching(src, from, to, test, byModule = false, self = undefined) {
  const memo = new Map(self ? [[self, false]] : []);
  const leads = (name) => {
    if (!memo.has(name)) {
      memo.set(name, false);
      const imp = src.decls.has(name) ? undefined : src.imports.get(name);
      let hit = false;
      if (imp) hit = byModule ? test(`${imp.module}#${imp.imported}`) : test(`${moduleBase(imp.module)}#${imp.imported}`);
      else {
        const decl = src.decls.get(name);
        if (decl) hit = [...src.refsIn(decl.start, decl.end).names].some((n) => n !== name && leads(n));
      }
      memo.set(name, hit);
    }
    return memo.get(name);
  };
  for (let i = from; i < to; i++) {
    const t = src.tokens[i];
    if (t.type === 'ident' && !src.isPropertyName(i) && leads(t.value)) return i;
  }
  return -1;
}

function matcherProblems(root, matcher) {
  if (matcher === undefined) return ['config.matcher is missing, so the middleware would run on every path or not as designed'];
  const list = Array.isArray(matcher) ? matcher : [matcher];
  const ptr = requireFrom(root, 'next/dist/compiled/path-to-regexp');
  if (!ptr) return ['cannot load next/dist/compiled/path-to-regexp to read the matcher (is next installed?)'];
  const regexps = [];
  for (const entry of list) {
    const m = typeof entry === 'string' ? { source: entry } : entry;
    if (!m || m === UNKNOWN || typeof m.source !== 'string') return ['config.matcher is not a static string or { source } list'];
    if (m.has !== undefined || m.missing !== undefined) continue; // conditional: cannot be relied on to cover /api
    try {
      regexps.push(ptr.pathToRegexp(m.source));
    } catch {
      return ['config.matcher has a source that Next cannot parse'];
    }
  }
  const uncovered = API_PATHS.filter((p) => !regexps.some((re) => re.test(p)));
  return uncovered.length ? [`config.matcher does not cover /api/* (misses ${uncovered.join(', ')})`] : [];
}

/** 5. applySecurityHeaders sets every required header, the route and middleware use it, Next hides itself. */
function checkSecurityHeaders(root) {
  const problems = [];
  const sh = load(root, HEADERS, problems);
  if (sh) {
    const fn = sh.exported('applySecurityHeaders');
    if (!fn) problems.push(`${HEADERS} does not export applySecurityHeaders`);
    else problems.push(...headerProblems(headersSetBy(sh, fn)));
  }

  const pipeline = load(root, PIPELINE, problems);
  const finalize = pipeline?.exported('finalize');
  if (pipeline && (!finalize || !pipeline.reach(finalize.start, finalize.end).calls.has('security-headers#applySecurityHeaders'))) {
    problems.push('finalize in lib/token-pipeline.ts no longer applies the security headers to route answers');
  }

  const next = load(root, NEXT_CONFIG, problems);
  if (next) {
    const def = next.defaultExport;
    const value = def?.name ? next.evaluateConst(def.name) : def ? next.evaluate(def.start) : undefined;
    const powered = value && typeof value === 'object' ? value.poweredByHeader : UNKNOWN;
    const literal = next.tokens.some((t, i) => t.value === 'poweredByHeader' && next.is(i + 1, ':') && next.is(i + 2, 'false'));
    if (powered !== false && !(powered === UNKNOWN && literal)) problems.push(`${NEXT_CONFIG} does not set poweredByHeader: false`);
    const exported = def?.name ? next.reachDecl(def.name) : def ? next.reach(def.start, def.end) : undefined;
    const usesSpec = exported?.names.has('security-headers#SPEC_SECURITY_HEADERS');
    if (!usesSpec && !Object.keys(SPEC_HEADERS).every((h) => exported?.strings.has(h))) {
      problems.push(`${NEXT_CONFIG} headers() does not send the spec's headers on pages`);
    }
  }
  return result(
    'security-headers',
    problems,
    "spec's five with exact values + CSP, CORP, Permissions-Policy, HSTS (production); poweredByHeader: false",
  );
}

/** Header name (lower-case) → value, for every header applySecurityHeaders sets with a constant value. */
function headersSetBy(src, fn) {
  const set = new Map();
  const add = (name, value) => {
    if (typeof name === 'string' && typeof value === 'string') set.set(name.toLowerCase(), value);
  };
  const addPairs = (value) => {
    if (Array.isArray(value)) value.forEach((e) => Array.isArray(e) && add(e[0], e[1]));
    else if (value && value !== UNKNOWN && typeof value === 'object') Object.entries(value).forEach(([k, v]) => add(k, v));
  };
  for (let i = fn.start; i < fn.end; i++) {
    const t = src.tokens[i];
    if (t.type !== 'ident') continue;
    if (src.isPropertyName(i)) {
      // headers.set('Name', VALUE) / headers.append('Name', VALUE)
      if ((t.value === 'set' || t.value === 'append') && src.is(i + 1, '(')) {
        const [name, value] = argumentValues(src, i + 1);
        add(name, value);
      }
    } else {
      // A constant table of headers the function iterates over.
      const decl = src.decls.get(t.value);
      if (decl && decl.kind === 'const' && decl !== fn) addPairs(src.evaluateConst(t.value));
    }
  }
  return set;
}

function headerProblems(set) {
  const problems = [];
  for (const [name, value] of Object.entries(SPEC_HEADERS)) {
    const got = set.get(name.toLowerCase());
    if (got === undefined) problems.push(`${name} is not set`);
    else if (got !== value) problems.push(`${name} is not "${value}"`);
  }
  const csp = directives(set.get('content-security-policy'));
  if (!csp) problems.push('Content-Security-Policy is not set');
  else {
    if (csp.get('default-src') !== "'none'") problems.push("Content-Security-Policy lacks default-src 'none'");
    if (csp.get('frame-ancestors') !== "'none'") problems.push("Content-Security-Policy lacks frame-ancestors 'none'");
  }
  const corp = set.get('cross-origin-resource-policy');
  if (corp !== 'same-origin') problems.push(corp === undefined ? 'Cross-Origin-Resource-Policy is not set' : 'Cross-Origin-Resource-Policy is not same-origin');
  const pp = set.get('permissions-policy');
  if (pp === undefined) problems.push('Permissions-Policy is not set');
  else {
    const open = ['camera', 'microphone', 'geolocation'].filter((f) => !new RegExp(`(^|[ ,])${f}=\\(\\)`).test(pp));
    if (open.length) problems.push(`Permissions-Policy does not deny ${open.join(', ')}`);
  }
  const hsts = set.get('strict-transport-security');
  if (hsts === undefined) problems.push('Strict-Transport-Security is not set');
  else {
    const maxAge = Number(/max-age=(\d+)/i.exec(hsts)?.[1] ?? 0);
    if (maxAge < ONE_YEAR_SECONDS) problems.push('Strict-Transport-Security max-age is under one year');
    if (!/includeSubDomains/i.test(hsts)) problems.push('Strict-Transport-Security lacks includeSubDomains');
  }
  return problems;
}

function directives(csp) {
  if (typeof csp !== 'string') return undefined;
  const out = new Map();
  for (const part of csp.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) out.set(name.toLowerCase(), values.join(' '));
  }
  return out;
}

module.exports = {
  SECURITY_FILES,
  TOKEN_STEPS,
  SPEC_POLICIES,
  CONFIG,
  checkFiles,
  checkRoutePipeline,
  checkRateLimits,
  checkMiddleware,
  checkSecurityHeaders,
  envSchemaProps,
};
