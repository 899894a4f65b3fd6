import { afterAll, beforeAll, expect, it } from 'vitest';
import { startMockOpenAI } from '../../scripts/mock-openai.mjs';
import { startApp, type AppServer } from '../support/app-server';
import { startRedis, type RedisServer } from '../support/redis';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';
import { flushLogs, histogram, sleep, startLoad, warmUp, type Exchange, type PlannedRequest } from './support';

/**
 * Redis faults mid-load, with figures: first the Redis process is frozen
 * (SIGSTOP: connections stay open, commands never answer, so only the command
 * deadline saves the request), then thawed; then it is killed (SIGKILL) and
 * restarted empty on the same port. Honest users and one user hammering the
 * token limit keep sending throughout.
 *
 * Asserted: no 5xx and no socket errors; every answer within
 * 3 × REDIS_TIMEOUT_MS + 1 s (three limiter calls per request at worst); one
 * `critical` rate_limit_store_degraded line per outage and one recovery line
 * per recovery; honest users never refused; the hammering user never admitted
 * more than the limit in any phase, and over the whole run at most the limit
 * once in Redis plus once in the per-instance fallback.
 */

const REDIS_TIMEOUT_MS = 500;
const BOUND_MS = 3 * REDIS_TIMEOUT_MS + 1000;
const TOKEN_LIMIT = 5;
const HONEST_WORKERS = 4;
const HONEST_USERS = 600;

type MockOpenAI = Awaited<ReturnType<typeof startMockOpenAI>>;
let upstream: MockOpenAI;
let redis: RedisServer;
let app: AppServer;

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startMockOpenAI();
  app = await startApp({
    OPENAI_API_KEY: 'sk-redis-outage-key-0123456789',
    OPENAI_BASE_URL: upstream.baseUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    REDIS_URL: redis.url,
    RATE_LIMIT_PREFIX: 'reliability-outage:',
    REDIS_TIMEOUT_MS: String(REDIS_TIMEOUT_MS),
    RATE_LIMIT_TOKEN: `${TOKEN_LIMIT}/60`,
    RATE_LIMIT_API: '999999/60',
    // Hundreds of honest users a minute: the global breaker must not be what refuses them.
    RATE_LIMIT_GLOBAL: '999999/60',
  });
}, 900_000);

afterAll(async () => {
  await app?.stop();
  await upstream?.close();
  await redis?.close();
});

/** The redis-server's own pid (INFO server), to freeze and thaw it. */
async function redisPid(): Promise<number> {
  const client = redis.client();
  const info = await client.info('server');
  client.disconnect();
  return Number(/process_id:(\d+)/.exec(info)![1]);
}

interface Phase {
  readonly name: string;
  from: number;
  to: number;
}

it('keeps answering and limiting through a frozen Redis and a killed one, and recovers from both', { timeout: 300_000 }, async () => {
  const honest = await Promise.all(Array.from({ length: HONEST_USERS }, (_, i) => signJwt({}, { subject: `honest-${i}`, expiresIn: '30m' })));
  const hammer = await signJwt({}, { subject: 'hammer', expiresIn: '30m' });
  const request = (token: string, tag: string): PlannedRequest => ({
    tag,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: '{}',
  });
  let nextHonest = 0;
  // Warm-up on its own users, so the honest users below start with empty windows.
  const warmTokens = await Promise.all([0, 1, 2].map((i) => signJwt({}, { subject: `warm-${i}`, expiresIn: '30m' })));
  let warm = 0;
  await warmUp(app.url, () => request(warmTokens[warm++ % 3], 'warm-up'), 9);

  const pid = await redisPid();
  const phases: Phase[] = [];
  const phase = async (name: string, ms: number, start: () => Promise<void> | void) => {
    const p: Phase = { name, from: performance.now(), to: Infinity };
    phases.push(p);
    await start();
    await sleep(ms);
    p.to = performance.now();
  };

  let load: ReturnType<typeof startLoad> | undefined;
  await phase('redis up', 4000, () => {
    load = startLoad(app.url, HONEST_WORKERS + 1, (w) => (w === HONEST_WORKERS ? request(hammer, 'hammer') : request(honest[nextHonest++ % HONEST_USERS], 'honest')));
  });
  await phase('redis frozen (SIGSTOP)', 4000, () => void process.kill(pid, 'SIGSTOP'));
  await phase('redis thawed (SIGCONT)', 4000, () => void process.kill(pid, 'SIGCONT'));
  await phase('redis killed (SIGKILL)', 4000, () => redis.stop('SIGKILL'));
  await phase('redis restarted empty', 5000, () => redis.start());
  const exchanges = await load!.stop();
  expect(nextHonest, 'honest users each stay under the limit').toBeLessThan(HONEST_USERS * TOKEN_LIMIT);

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

  // Limits held: per phase never more than the limit for the hammering user, and at most
  // the limit once in Redis and once in the fallback over the whole run (it is under a minute).
  const hammered = exchanges.filter((e) => e.tag === 'hammer');
  const perPhase = phases.map((p) => ({ phase: p.name, statuses: histogram(hammered.filter((e) => within(p, e)).map((e) => e.status!)) }));
  const latencies = exchanges.map((e) => e.doneAt - e.sentAt);
  console.log(
    `redis outage: ${exchanges.length} requests, statuses ${JSON.stringify(histogram(exchanges.map((e) => e.status ?? e.error!)))}, ` +
      `max latency ${Math.round(Math.max(...latencies))} ms (bound ${BOUND_MS} ms), hammering user ${hammered.map((e) => e.status ?? e.error).join(' ')}\n` +
      phases
        .map((p) => {
          const inPhase = exchanges.filter((e) => within(p, e));
          return `  ${p.name}: ${inPhase.length} requests ${JSON.stringify(histogram(inPhase.map((e) => e.status ?? e.error!)))}, hammering user ${JSON.stringify(perPhase.find((r) => r.phase === p.name)?.statuses)}`;
        })
        .join('\n'),
  );
  expect(problems.slice(0, 20), `${problems.length} problems`).toEqual([]);
  for (const row of perPhase) expect(row.statuses['200'] ?? 0, row.phase).toBeLessThanOrEqual(TOKEN_LIMIT);
  expect(hammered.filter((e) => e.status === 200).length).toBeLessThanOrEqual(2 * TOKEN_LIMIT);
  expect(perPhase[0].statuses['200']).toBe(TOKEN_LIMIT);
  expect(hammered.filter((e) => e.status === 429).length).toBeGreaterThan(0);

  // One critical line per outage, one recovery per recovery, and the logs still account for every 200.
  const logs = await flushLogs(app);
  const degraded = logs.filter((l) => l.event === 'rate_limit_store_degraded');
  const recovered = logs.filter((l) => l.event === 'rate_limit_store_recovered');
  expect(degraded.map((l) => l.level)).toEqual(['critical', 'critical']);
  expect(recovered).toHaveLength(2);
  expect(logs.filter((l) => l.level === 'critical' && l.event !== 'rate_limit_store_degraded' && l.event !== 'suspicious_activity')).toEqual([]);
  const traces = new Set(exchanges.filter((e) => e.status === 200).map((e) => e.traceId));
  expect(logs.filter((l) => l.event === 'token_issued' && traces.has(l.traceId!)).length).toBe(traces.size);

  // Back on Redis at the end.
  const health = await fetch(`${app.url}/api/health`).then((r) => r.json());
  expect(health).toEqual({ status: 'ok', limiter: 'redis' });

});
