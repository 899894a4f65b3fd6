import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { AppServer } from '../support/app-server';
import { startRedisInstances, type RedisInstances } from '../support/redis';
import { signJwt } from '../support/tokens';
import { flushLogs, histogram, sleep, startLoad, warmUp, type Exchange, type PlannedRequest } from './support';

/**
 * Redis faults mid-load, with figures, on two production servers sharing
 * one password-protected redis-server: first the Redis process is frozen
 * (SIGSTOP: connections stay open, commands never answer, so only the
 * command deadline saves the request), then thawed; then it is killed
 * (SIGKILL) and restarted empty on the same port. Honest users (spread over
 * both instances), one user hammering the token limit on one instance and
 * one user roaming between both keep sending throughout.
 *
 * Asserted: no 5xx and no socket errors; every answer within
 * 3 × REDIS_TIMEOUT_MS + 1 s (three limiter calls per request at worst); one
 * `critical` rate_limit_store_degraded line per instance per outage and one
 * recovery line per recovery; honest users never refused; the hammering
 * user never admitted more than the limit in any phase, and over the whole
 * run at most the limit once in Redis plus once in its instance's fallback;
 * the roaming user at most once in Redis plus once per instance. While Redis
 * is dead each instance limits on its own and reports itself degraded; after
 * the restart a user limited during the outage stays limited, and the limit
 * is one limit across both instances again.
 */

const REDIS_TIMEOUT_MS = 500;
const BOUND_MS = 3 * REDIS_TIMEOUT_MS + 1000;
const TOKEN_LIMIT = 5;
const PASSWORD = 'outage-redis-password';
const PREFIX = 'reliability-outage:';
const HONEST_WORKERS = 4;
const ROAMING_WORKERS = 2;
/**
 * Requests per honest user: a fresh user takes over after these, however fast
 * the load runs. Under half the limit, so an admit counted twice (by a frozen
 * Redis that runs the timed-out command on thaw, and by the fallback) never
 * refuses one.
 */
const HONEST_REQUESTS_PER_USER = 2;
/** How long each phase runs: long enough for several command deadlines and a recovery probe (1 s). */
const PHASE_MS = 2000;

let instances: RedisInstances;
let a: AppServer;
let b: AppServer;

beforeAll(async () => {
  instances = await startRedisInstances({
    password: PASSWORD,
    prefix: PREFIX,
    env: {
      REDIS_TIMEOUT_MS: String(REDIS_TIMEOUT_MS),
      RATE_LIMIT_TOKEN: `${TOKEN_LIMIT}/60`,
      RATE_LIMIT_API: '999999/60',
      // Hundreds of honest users a minute: the global breaker must not be what refuses them.
      RATE_LIMIT_GLOBAL: '999999/60',
    },
  });
  [a, b] = instances.apps;
});

afterAll(async () => {
  await instances?.close();
});

const tokens = new Map<string, Promise<string>>();
function tokenFor(user: string): Promise<string> {
  if (!tokens.has(user)) tokens.set(user, signJwt({}, { subject: user, expiresIn: '30m' }));
  return tokens.get(user)!;
}

async function request(user: string, tag: string): Promise<PlannedRequest> {
  return { tag, user, headers: { authorization: `Bearer ${await tokenFor(user)}`, 'content-type': 'application/json' }, body: '{}' };
}

async function tokenStatus(app: AppServer, user: string): Promise<number> {
  const res = await fetch(`${app.url}/api/realtime/token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await tokenFor(user)}`, 'content-type': 'application/json' },
    body: '{}',
  });
  await res.arrayBuffer();
  return res.status;
}

async function statuses(app: AppServer, user: string, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(await tokenStatus(app, user));
  return out;
}

async function health(app: AppServer): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${app.url}/api/health`);
  return { status: res.status, body: await res.json() };
}

/** The redis-server's own pid (INFO server), to freeze and thaw it. */
async function redisPid(): Promise<number> {
  const client = instances.redis.client();
  const info = await client.info('server');
  client.disconnect();
  return Number(/process_id:(\d+)/.exec(info)![1]);
}

const events = (app: AppServer, event: string) => app.logs().filter((l) => l.event === event);
const limitThenRefused = (n: number) => [...Array(TOKEN_LIMIT).fill(200), ...Array(n - TOKEN_LIMIT).fill(429)];

/** `200×5 429×63 200×5 …`: a sequence of outcomes, repeats counted. */
function runs(values: ReadonlyArray<number | string>): string {
  const out: Array<[number | string, number]> = [];
  for (const v of values) {
    const last = out.at(-1);
    if (last && last[0] === v) last[1]++;
    else out.push([v, 1]);
  }
  return out.map(([v, n]) => `${v}×${n}`).join(' ');
}

interface Phase {
  readonly name: string;
  from: number;
  to: number;
}

it('keeps answering and limiting through a frozen Redis and a killed one, on two instances, and recovers from both', { timeout: 300_000 }, async () => {
  for (const app of [a, b]) expect((await health(app)).body).toEqual({ status: 'ok', limiter: 'redis' });
  // Warm-up on users of its own, so the users below start with empty windows.
  for (const [n, app] of [a, b].entries()) {
    let warm = 0;
    const planned = await Promise.all([0, 1, 2].map((i) => request(`warm-${n}-${i}`, 'warm-up')));
    await warmUp(app.url, () => planned[warm++ % 3], 9);
  }

  let honestSent = 0;
  const honest = () => request(`honest-${Math.floor(honestSent++ / HONEST_REQUESTS_PER_USER)}`, 'honest');
  const HAMMER = HONEST_WORKERS;
  const workers = HONEST_WORKERS + 1 + ROAMING_WORKERS;
  // Honest and roaming workers alternate between the instances; the hammering user stays on one.
  const via = (w: number, i: number) => (w === HAMMER || (w + i) % 2 === 0 ? a : b).url;
  const next = (w: number) => (w < HAMMER ? honest() : w === HAMMER ? request('hammer', 'hammer') : request('roaming', 'roaming'));

  const pid = await redisPid();
  const phases: Phase[] = [];
  const phase = async (name: string, ms: number, start: () => Promise<void> | void, during?: () => Promise<void>) => {
    const p: Phase = { name, from: performance.now(), to: Infinity };
    phases.push(p);
    await start();
    await Promise.all([sleep(ms), during?.()]);
    p.to = performance.now();
  };

  let load: ReturnType<typeof startLoad> | undefined;
  let killedAt = Infinity;
  await phase('redis up', PHASE_MS, () => {
    load = startLoad(via, workers, next);
  });
  await phase('redis frozen (SIGSTOP)', PHASE_MS, () => void process.kill(pid, 'SIGSTOP'));
  await phase('redis thawed (SIGCONT)', PHASE_MS, () => void process.kill(pid, 'SIGCONT'));
  await phase(
    'redis killed (SIGKILL)',
    PHASE_MS,
    async () => {
      killedAt = performance.now();
      await instances.redis.stop('SIGKILL');
    },
    async () => {
      await sleep(1000);
      // While Redis is dead each instance limits on its own, and says so.
      expect(await statuses(a, 'outage-user', TOKEN_LIMIT + 2)).toEqual(limitThenRefused(TOKEN_LIMIT + 2));
      expect(await statuses(b, 'outage-user', TOKEN_LIMIT + 2)).toEqual(limitThenRefused(TOKEN_LIMIT + 2));
      for (const app of [a, b]) {
        expect(await health(app)).toEqual({ status: 200, body: { status: 'degraded', limiter: 'redis-degraded' } });
        const degraded = events(app, 'rate_limit_store_degraded');
        // One line for the freeze, one for this outage: once per outage, never once per request.
        expect(degraded).toHaveLength(2);
        for (const line of degraded) expect(line).toMatchObject({ level: 'critical', metadata: { store: 'redis', fallback: 'memory' } });
      }
    },
  );
  await phase('redis restarted empty', PHASE_MS, () => instances.redis.start());
  const exchanges = await load!.stop();

  const within = (p: Phase, e: Exchange) => e.sentAt >= p.from && e.doneAt <= p.to;
  const problems: string[] = [];
  for (const e of exchanges) {
    const latency = e.doneAt - e.sentAt;
    const when = `${e.tag} in ${phases.filter((p) => p.from <= e.doneAt && p.to >= e.sentAt).map((p) => p.name).join(' + ')}`;
    if (e.error) problems.push(`no answer: ${e.error} (${when})`);
    else if (e.status! >= 500) problems.push(`${e.status} (${when}): ${e.text}`);
    if (latency > BOUND_MS) problems.push(`${Math.round(latency)} ms > ${BOUND_MS} ms (${when})`);
    if (e.tag === 'honest' && e.status !== 200) problems.push(`honest user refused: ${e.status} (${when}): ${e.text}`);
  }
  const perHonestUser = histogram(exchanges.filter((e) => e.tag === 'honest').map((e) => e.user!));
  expect(Math.max(...Object.values(perHonestUser)), 'requests per honest user').toBeLessThanOrEqual(HONEST_REQUESTS_PER_USER);

  const byTag = (tag: string) => exchanges.filter((e) => e.tag === tag);
  const admitted = (list: readonly Exchange[]) => list.filter((e) => e.status === 200).length;
  const perPhase = (tag: string) => phases.map((p) => ({ phase: p.name, statuses: histogram(byTag(tag).filter((e) => within(p, e)).map((e) => e.status!)) }));
  const hammerPhases = perPhase('hammer');
  const roamingPhases = perPhase('roaming');
  const latencies = exchanges.map((e) => e.doneAt - e.sentAt);
  console.log(
    `redis outage (2 instances): ${exchanges.length} requests, statuses ${JSON.stringify(histogram(exchanges.map((e) => e.status ?? e.error!)))}, ` +
      `max latency ${Math.round(Math.max(...latencies))} ms (bound ${BOUND_MS} ms), ${Object.keys(perHonestUser).length} honest users, ` +
      `hammering user ${runs(byTag('hammer').map((e) => e.status ?? e.error!))}\n` +
      phases
        .map((p, i) => {
          const inPhase = exchanges.filter((e) => within(p, e));
          return `  ${p.name}: ${inPhase.length} requests ${JSON.stringify(histogram(inPhase.map((e) => e.status ?? e.error!)))}, hammering user ${JSON.stringify(hammerPhases[i].statuses)}, roaming user ${JSON.stringify(roamingPhases[i].statuses)}`;
        })
        .join('\n'),
  );
  expect(problems.slice(0, 20), `${problems.length} problems`).toEqual([]);
  // Only tokens and refusals, at any point.
  expect(new Set(exchanges.map((e) => e.status))).toEqual(new Set([200, 429]));

  // Limits held. The hammering user (one instance): never more than the limit in a phase, and at
  // most the limit once in Redis and once in the fallback over the whole run (it is under a minute).
  for (const row of hammerPhases) expect(row.statuses['200'] ?? 0, row.phase).toBeLessThanOrEqual(TOKEN_LIMIT);
  expect(admitted(byTag('hammer'))).toBeLessThanOrEqual(2 * TOKEN_LIMIT);
  expect(hammerPhases[0].statuses['200']).toBe(TOKEN_LIMIT);
  expect(byTag('hammer').filter((e) => e.status === 429).length).toBeGreaterThan(0);
  // The roaming user: one limit across both instances while Redis is up; never open, at most once
  // more per instance once each limits on its own; refused after the kill but for those fallbacks.
  expect(roamingPhases[0].statuses['200']).toBe(TOKEN_LIMIT);
  expect(admitted(byTag('roaming'))).toBeGreaterThanOrEqual(TOKEN_LIMIT);
  expect(admitted(byTag('roaming'))).toBeLessThanOrEqual(TOKEN_LIMIT + 2 * TOKEN_LIMIT);
  const roamingAfterKill = byTag('roaming').filter((e) => e.sentAt >= killedAt);
  expect(roamingAfterKill.length).toBeGreaterThan(2 * TOKEN_LIMIT);
  expect(roamingAfterKill.filter((e) => e.status === 429).length).toBeGreaterThanOrEqual(roamingAfterKill.length - 2 * TOKEN_LIMIT);

  // Back on Redis after the restart, on both.
  for (const app of [a, b]) {
    await vi.waitFor(async () => expect((await health(app)).body).toEqual({ status: 'ok', limiter: 'redis' }), { timeout: 15_000, interval: 250 });
  }
  // A user limited during the outage stays limited, though Redis forgot them.
  expect(await statuses(a, 'outage-user', 2)).toEqual([429, 429]);
  expect(await statuses(b, 'outage-user', 2)).toEqual([429, 429]);
  // Shared again: a new user alternating between instances gets the limit in total.
  const shared: number[] = [];
  for (let i = 0; i < TOKEN_LIMIT + 2; i++) shared.push(await tokenStatus(i % 2 === 0 ? a : b, 'after-restart-user'));
  expect(shared).toEqual(limitThenRefused(TOKEN_LIMIT + 2));
  expect(await instances.redis.client().keys(`${PREFIX}*`)).toContain(`${PREFIX}token#2:jwt:after-restart-user`);

  // Per instance: one critical line per outage, one recovery per recovery, nothing else critical,
  // nothing about the Redis server in the logs; together the logs account for every 200.
  const logs = [...(await flushLogs(a)), ...(await flushLogs(b))];
  for (const app of [a, b]) {
    const lines = app.logs();
    expect(lines.filter((l) => l.event === 'rate_limit_store_degraded').map((l) => l.level)).toEqual(['critical', 'critical']);
    expect(lines.filter((l) => l.event === 'rate_limit_store_recovered')).toHaveLength(2);
    expect(lines.filter((l) => l.level === 'critical' && l.event !== 'rate_limit_store_degraded' && l.event !== 'suspicious_activity')).toEqual([]);
    expect(lines.filter((l) => l.event === 'internal_error')).toEqual([]);
    expect(app.stdout.join('\n')).not.toMatch(new RegExp(`${PASSWORD}|redis://|ECONNREFUSED|:${instances.redis.port}\\b`));
  }
  const traces = new Set(exchanges.filter((e) => e.status === 200).map((e) => e.traceId));
  expect(logs.filter((l) => l.event === 'token_issued' && traces.has(l.traceId!)).length).toBe(traces.size);
});
