/**
 * Part 7. The abuse controls' cost per request (README "Abuse controls").
 *
 *   geo      loading the packaged IP-to-country database, and one lookup (lib/geo.ts)
 *   deny     one deny-list match against 10,000 networks of mixed lengths (lib/deny.ts)
 *   guard    each abuse guard's own `run(ctx)`, alone, every control on, memory
 *            store, on prepared request contexts (distinct users and addresses)
 *   pipeline the token route's whole guard list in process, one request after
 *            another (HS256 JWT, a zero-delay upstream stub): the spec's guards
 *            only, the full list at its defaults, and the full list with every
 *            control on; on the memory store and on a private redis-server.
 *
 * Configurations run interleaved, round after round, on fresh runtimes; the
 * figures are medians over rounds, in wall time and in this process's CPU time
 * (process.cpuUsage: on a shared machine the CPU time is the steadier figure;
 * with Redis the wall time includes the round trips).
 */
import { SignJWT } from 'jose';
import { loadModules } from '../scripts/lib-loader.mjs';
import { findRedisServer, startRedisServer } from './redis-server.mjs';
import { collect, median, msSince, round } from './stats.mjs';

const SPEC = ['front_door', 'shape', 'origin', 'api_limit', 'configured', 'auth_failure_limit', 'authenticate', 'token_limit', 'validate', 'mint'];
const MARKER = '0123456789abcdef0123456789abcdef';
const SECRET = 'bench-guards-secret-0123456789abcdef0123';
const BASE_ENV = {
  NODE_ENV: 'production',
  OPENAI_API_KEY: 'sk-bench-guards',
  OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
  ALLOWED_ORIGINS: 'https://app.example.com',
  JWT_SECRET: SECRET,
  RTG_FRONT_DOOR_MARKER: MARKER,
  // The breaker must not refuse here: this part measures the cost of checking, not of refusing.
  RATE_LIMIT_GLOBAL: '999999/60',
};

/** Addresses spread over the IPv4 space, each user its own (the per-IP limits stay out of the way). */
const addressOf = (i) => `${11 + (i % 200)}.${(i * 7) & 255}.${(i * 13) & 255}.${(i >> 8) & 255}`;

/**
 * `n` networks, half IPv4 and half IPv6, at the prefix lengths deny lists use
 * (typical), or at every length from /8 and /32 up (worst case: the matcher
 * asks one Set per length in use).
 */
function denyEntries(n, lengths = 'typical') {
  const v4 = lengths === 'typical' ? [8, 16, 24, 32] : Array.from({ length: 25 }, (_, k) => 8 + k);
  const v6 = lengths === 'typical' ? [32, 48, 64, 128] : Array.from({ length: 97 }, (_, k) => 32 + k);
  const out = [];
  for (let i = 0; i < n; i++) {
    if (i % 2) out.push(`2001:db8:${((i * 31) & 0xffff).toString(16)}:${(i & 0xffff).toString(16)}::/${v6[(i >> 1) % v6.length]}`);
    else out.push(`${212 + (i % 12)}.${(i * 17) & 255}.${(i * 5) & 255}.0/${v4[(i >> 1) % v4.length]}`);
  }
  return out;
}

export async function guardsBench({ smoke, say }) {
  const mods = await loadModules(['lib/geo', 'lib/deny', 'lib/config/index', 'lib/runtime', 'lib/security-logger', 'lib/routes/token', 'lib/pipeline/run', 'lib/pipeline/context']);
  const rows = [];

  // geo: the database load, then lookups of distinct addresses.
  const { loadGeoDatabase } = mods['lib/geo'];
  const t0 = process.hrtime.bigint();
  const geo = loadGeoDatabase();
  rows.push({ group: 'guards', part: 'geo', name: 'load the database (once per process)', ms: round(msSince(t0)) });
  const lookups = smoke ? 20_000 : 500_000;
  for (const [family, make] of [
    ['IPv4', (i) => addressOf(i)],
    ['IPv6', (i) => `2a0${i % 10}:${((i * 7) & 0xffff).toString(16)}:${(i & 0xffff).toString(16)}::${(i % 97).toString(16)}`],
  ]) {
    const addresses = Array.from({ length: 10_000 }, (_, i) => make(i));
    collect();
    const start = process.hrtime.bigint();
    let found = 0;
    for (let i = 0; i < lookups; i++) if (geo.country(addresses[i % addresses.length])) found++;
    rows.push({ group: 'guards', part: 'geo', name: `lookup, ${family}`, nsPerOp: round((msSince(start) * 1e6) / lookups), found: round(found / lookups, 3) });
  }

  // deny: one match against a 10,000-network list.
  const { compileDenyList, parseDenyEntry } = mods['lib/deny'];
  const size = smoke ? 1000 : 10_000;
  for (const lengths of ['typical', 'every']) {
    const list = compileDenyList(denyEntries(size, lengths).map((e) => parseDenyEntry(e)));
    for (const [family, make] of [
      // Half inside a listed network, half outside.
      ['IPv4', (i) => (i % 2 ? addressOf(i) : `${212 + (i % 12)}.${(i * 17) & 255}.${(i * 5) & 255}.9`)],
      ['IPv6', (i) => `200${i % 2 ? 1 : 2}:db8:${((i * 31) & 0xffff).toString(16)}:${(i & 0xffff).toString(16)}::${i % 7}`],
    ]) {
      const addresses = Array.from({ length: 10_000 }, (_, i) => make(i));
      const matches = smoke ? 20_000 : 300_000;
      collect();
      const start = process.hrtime.bigint();
      let hits = 0;
      for (let i = 0; i < matches; i++) if (list.hasAddress(addresses[i % addresses.length])) hits++;
      const what = lengths === 'typical' ? '4 prefix lengths' : 'every prefix length';
      rows.push({ group: 'guards', part: 'deny', name: `match, ${family}, ${size.toLocaleString('en-US')} networks at ${what}`, nsPerOp: round((msSince(start) * 1e6) / matches), found: round(hits / matches, 3) });
    }
  }

  rows.push(...(await pipelineBench(mods, { smoke, say })));
  return rows;
}

async function pipelineBench(mods, { smoke, say }) {
  const { loadConfig } = mods['lib/config/index'];
  const { createRuntime, setRuntime } = mods['lib/runtime'];
  const { createSecurityLogger } = mods['lib/security-logger'];
  const { TOKEN_GUARDS } = mods['lib/routes/token'];
  const { pipeline } = mods['lib/pipeline/run'];
  const names = TOKEN_GUARDS.map((make) => make(loadConfig(BASE_ENV)).name);
  const abuse = names.filter((n) => !SPEC.includes(n));
  const only = (keep) => TOKEN_GUARDS.filter((_, i) => keep(names[i]));

  const users = smoke ? 200 : 3000;
  const secret = new TextEncoder().encode(SECRET);
  const tokens = await Promise.all(
    Array.from({ length: users }, (_, i) =>
      new SignJWT(i % 2 ? { plan: 'pro' } : {}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(`bench-${i}`).setIssuedAt().setExpirationTime('1h').sign(secret),
    ),
  );
  const allOn = {
    GEO_DENY_COUNTRIES: 'KP',
    DENY_IPS: denyEntries(10_000).join(','),
    DENY_USERS: Array.from({ length: 1000 }, (_, i) => `jwt:denied-${i}`).join(','),
    ANOMALY_MODE: 'block',
    PLANS: 'pro',
    RATE_LIMIT_TOKEN_PRO: '20/60',
  };
  const minted = () =>
    Response.json({ value: `ek_bench${'0'.repeat(24)}`, expires_at: Math.floor(Date.now() / 1000) + 60, session: { id: 'sess_bench', model: 'gpt-realtime', audio: { output: { voice: 'alloy' } } } });
  const request = (i) =>
    new Request('http://localhost:3000/api/realtime/token', {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens[i]}`, 'content-type': 'application/json', 'x-forwarded-for': addressOf(i), 'x-rtg-front-door': MARKER },
      body: '{"voice":"alloy"}',
    });

  const memoryConfigs = [
    { config: 'spec guards only', env: {}, factories: only((n) => SPEC.includes(n)) },
    { config: 'full list, defaults', env: {}, factories: TOKEN_GUARDS },
    { config: 'full list, every control on', env: allOn, factories: TOKEN_GUARDS },
  ];
  const out = [];
  const measure = async (configs, store, extraEnv, perRound) => {
    const us = new Map(configs.map((c) => [c.config, []]));
    const cpu = new Map(configs.map((c) => [c.config, []]));
    const rounds = smoke ? 1 : 7;
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < configs.length; k++) {
        const c = configs[(k + r) % configs.length];
        const env = { ...BASE_ENV, ...c.env, ...extraEnv(r, k) };
        const rt = createRuntime({ config: loadConfig(env), logger: createSecurityLogger({ sink: () => {} }), fetch: async () => minted() });
        const handler = pipeline(c.factories);
        setRuntime(rt);
        for (let i = 0; i < Math.min(50, perRound); i++) await handler(request(i)); // warm-up
        collect();
        const start = process.hrtime.bigint();
        const cpuStart = process.cpuUsage();
        for (let i = 0; i < perRound; i++) {
          const res = await handler(request(i % users));
          if (res.status !== 200) throw new Error(`${c.config}: request ${i} answered ${res.status}`);
        }
        const used = process.cpuUsage(cpuStart);
        us.get(c.config).push((msSince(start) * 1000) / perRound);
        cpu.get(c.config).push((used.user + used.system) / perRound);
        setRuntime(undefined);
        await rt.store.close();
      }
    }
    const spec = median(us.get('spec guards only'));
    const specCpu = median(cpu.get('spec guards only'));
    for (const c of configs) {
      const value = median(us.get(c.config));
      const cpuValue = median(cpu.get(c.config));
      out.push({
        group: 'guards',
        part: 'pipeline',
        store,
        name: c.config,
        requests: perRound,
        rounds,
        usPerRequest: round(value),
        addedUsVsSpec: round(value - spec),
        cpuUsPerRequest: round(cpuValue),
        addedCpuUsVsSpec: round(cpuValue - specCpu),
      });
    }
  };

  // Each abuse guard alone: its run() on prepared contexts, as the runner calls it.
  say?.('guards: each abuse guard alone');
  const { createContext } = mods['lib/pipeline/context'];
  const alone = smoke ? 500 : 20_000;
  for (const name of abuse) {
    const times = [];
    for (let r = 0; r < (smoke ? 1 : 5); r++) {
      const config = loadConfig({ ...BASE_ENV, ...allOn });
      const rt = createRuntime({ config, logger: createSecurityLogger({ sink: () => {} }), fetch: async () => minted() });
      const guard = TOKEN_GUARDS[names.indexOf(name)](config);
      const ctxs = Array.from({ length: alone }, (_, i) => {
        const ctx = createContext(request(i % users), rt);
        ctx.identity = { userId: `jwt:bench-${i % users}`, method: 'jwt', plan: i % 2 ? 'pro' : undefined };
        return ctx;
      });
      for (let i = 0; i < 200; i++) await guard.run(createContext(request(i % users), rt));
      collect();
      const start = process.hrtime.bigint();
      for (const ctx of ctxs) if ((await guard.run(ctx)) !== undefined) throw new Error(`${name} refused a bench request`);
      times.push((msSince(start) * 1e6) / alone);
      await rt.store.close();
    }
    out.push({ group: 'guards', part: 'guard', store: 'memory', name, runs: alone, nsPerOp: round(median(times)) });
  }

  say?.('guards: whole guard list, memory store');
  await measure(memoryConfigs, 'memory', () => ({}), smoke ? 200 : 3000);
  const binary = findRedisServer();
  if (binary) {
    say?.('guards: whole guard list, Redis store');
    const server = await startRedisServer(binary);
    try {
      // A fresh prefix per run: no run inherits another's windows.
      await measure(memoryConfigs.slice(0, 3), 'redis', (r, k) => ({ REDIS_URL: server.url, REDIS_TIMEOUT_MS: '1000', RATE_LIMIT_PREFIX: `bench-${r}-${k}:` }), smoke ? 100 : 1500);
    } finally {
      await server.stop();
    }
  }
  return out;
}
