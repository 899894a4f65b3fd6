import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT } from '@/app/api/realtime/token/route';
import { setRuntime } from '@/lib/runtime';
import { startMockOpenAI, type MockOpenAI } from '../support/upstream';
import { baseEnv, testRuntime, type TestRuntime } from '../support/runtime';
import { TEST_JWT_SECRET } from '../support/tokens';
import { bodies, createTokenPool, credentials, fuzzCases, origins, toRequest, traceparents, type FuzzCase, type TokenPool } from './attacker';
import { checkObservation, type Secrets, type UpstreamRequest } from './invariants';
import { RouteModel, type UpstreamMode } from './model';
import { REGRESSION_SEEDS } from './regression-seeds';
import { Tally } from './tally';

/**
 * Property-based fuzzing of POST /api/realtime/token, in process, against a
 * real loopback stand-in for OpenAI. Every request is checked against the
 * reference model (./model.ts) and the invariants (./invariants.ts): the
 * predicted status, no unmapped 5xx, no 200 without valid auth + allowed
 * origin + valid body, nothing outside the allowlists upstream, security
 * headers and a trace id on every answer, every log line valid JSON without
 * a secret.
 *
 * Each run first replays the seeds that drew past findings
 * (./regression-seeds.ts), then random cases: FUZZ_RUNS sets their number
 * (default 400, the CI size, a few seconds; `npm run fuzz` runs 50,000),
 * FUZZ_SEED replays a run, FUZZ_REPORT writes the counts to a JSON file.
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const SINGLE_RUNS = Math.ceil(RUNS * 0.8);
const SEQUENCE_RUNS = RUNS - SINGLE_RUNS;
// Generous: the CI size takes well under a minute; 50,000 cases take a few minutes.
const TIMEOUT_MS = 60_000 + RUNS * 40;

// A key of this run's own: the stand-in listens on an ephemeral port that another test's
// client may still aim at (a stopped server's port, reused), so only requests carrying
// this key are this process's upstream calls.
const SERVER_KEY = `sk-fuzz-${randomBytes(16).toString('hex')}`;
const env = (extra: Record<string, string> = {}) => ({ ...baseEnv(upstream.baseUrl), OPENAI_API_KEY: SERVER_KEY, ...extra });
const HANDLERS: Record<string, (req: Request) => Promise<Response>> = { POST, GET, PUT, PATCH, DELETE, HEAD, OPTIONS };
const FAULTS: UpstreamMode[] = ['error500', 'reset', 'badjson', 'unauthorized', 'quota', 'ratelimit', 'rejected', 'redirect', 'huge'];
const modes: fc.Arbitrary<UpstreamMode> = fc.oneof({ arbitrary: fc.constant<UpstreamMode>('ok'), weight: 12 }, { arbitrary: fc.constantFrom(...FAULTS), weight: 1 });

let upstream: MockOpenAI;
let pool: TokenPool;
let secrets: Secrets;
const tally = new Tally();

function clerkEnv(p: TokenPool): Record<string, string> {
  return { CLERK_SECRET_KEY: p.clerk.secretKey, NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: p.clerk.publishableKey, CLERK_JWT_KEY: p.clerk.publicKeyPem };
}

beforeAll(async () => {
  upstream = await startMockOpenAI({ apiKey: SERVER_KEY });
  pool = await createTokenPool(TEST_JWT_SECRET);
  secrets = { serverKey: SERVER_KEY, others: [TEST_JWT_SECRET, pool.clerk.secretKey, ...pool.secrets] };
});

afterAll(async () => {
  setRuntime(undefined);
  await upstream?.close();
  tally.write(process.env.FUZZ_REPORT);
  const s = tally.summary();
  console.log(`fuzz: ${s.cases} cases, ${s.requests} requests, statuses ${JSON.stringify(s.statuses)}, findings ${s.findings.length}`);
});

const recent: string[] = [];

/** Sends one case through the route at the runtime's current time and checks everything. */
async function exchange(t: TestRuntime, model: RouteModel, c: FuzzCase, mode: UpstreamMode): Promise<void> {
  upstream.setMode(mode);
  upstream.requests.length = 0;
  t.lines.length = 0;
  const expected = model.expect(c, t.runtime.now(), mode);
  const res = await HANDLERS[c.method](toRequest(c));
  const text = await res.text();
  const all = upstream.requests as UpstreamRequest[];
  const upstreamRequests = all.filter((r) => r.headers.authorization === `Bearer ${SERVER_KEY}`);
  tally.foreignUpstream += all.length - upstreamRequests.length;
  try {
    checkObservation(
      { c, expected, status: res.status, headers: res.headers, text, upstream: upstreamRequests, lines: [...t.lines] },
      t.runtime.config,
      secrets,
    );
  } catch (error) {
    // What ran just before, for failures that depend on it (the limiter, the upstream connection).
    (error as Error).message += `\nprevious exchanges: ${recent.join(' ; ')}`;
    throw error;
  } finally {
    recent.push(`${mode} ${res.status} upstream=${upstreamRequests.length} ${c.body.label}`);
    if (recent.length > 5) recent.shift();
  }
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: string }).error;
  } catch {
    code = undefined;
  }
  tally.answer(res.status, code, upstreamRequests.length);
}

/** Runs a property, records its counts and finding, and fails the test with fast-check's report. */
async function run<T>(name: string, property: fc.IAsyncProperty<T>, numRuns: number, seed = SEED): Promise<void> {
  const out = await fc.check(property, { numRuns, seed });
  tally.cases[name] = out.numRuns;
  tally.seeds[name] = out.seed;
  if (out.failed) {
    const report = fc.defaultReportMessage(out) ?? 'property failed';
    tally.findings.push({ property: name, seed: out.seed, counterexample: fc.stringify(out.counterexample), error: String(out.errorInstance) });
    throw new Error(`${report}\n\n${String(out.errorInstance)}`);
  }
}

/** The single-request property: every part of one request random, on a JWT-only or a Clerk runtime. */
async function single(name: string, numRuns: number, seed: number | undefined, drew: (c: FuzzCase) => void = () => {}): Promise<void> {
  const runtimes = {
    jwt: testRuntime(env()),
    clerk: testRuntime(env({ ...clerkEnv(pool), TRUSTED_PROXY_HOPS: '1' })),
  };
  try {
    await run(
      name,
      fc.asyncProperty(fuzzCases(pool), fc.constantFrom<keyof typeof runtimes>('jwt', 'clerk'), modes, async (c, which, mode) => {
        drew(c);
        const t = runtimes[which];
        setRuntime(t.runtime);
        // Past every window: each case starts with fresh limits, so the model can be fresh too.
        t.advance(10 * 60_000);
        await exchange(t, new RouteModel(t.runtime.config), c, mode);
      }),
      numRuns,
      seed,
    );
  } finally {
    await runtimes.jwt.runtime.store.close();
    await runtimes.clerk.runtime.store.close();
  }
}

describe('fuzz: POST /api/realtime/token', () => {
  for (const r of REGRESSION_SEEDS) {
    it(`regression seed ${r.seed} (${r.property}, ${r.runs} cases): ${r.finding}`, async () => {
      let drawn = 0;
      await single(`regression seed ${r.seed}`, r.runs, r.seed, (c) => {
        if (r.draws(c)) drawn++;
      });
      expect(drawn, `seed ${r.seed} no longer draws this finding's shape; pick a new seed (see ./regression-seeds.ts)`).toBeGreaterThan(0);
    }, TIMEOUT_MS);
  }

  it(`single requests with every part random (${SINGLE_RUNS} cases)`, async () => {
    await single('single', SINGLE_RUNS, SEED);
  }, TIMEOUT_MS);

  it(`request sequences under tight limits match the reference limiter exactly (${SEQUENCE_RUNS} sequences)`, async () => {
    await run('sequences', fc.asyncProperty(sequences(pool), async (steps) => {
      const t = testRuntime(
        env({
          ...clerkEnv(pool),
          TRUSTED_PROXY_HOPS: '1',
          RATE_LIMIT_TOKEN: '2/60',
          RATE_LIMIT_API: '4/60',
          RATE_LIMIT_AUTH_FAILURES: '3/300',
          RATE_LIMIT_SUSPICIOUS: '4/300',
        }),
      );
      setRuntime(t.runtime);
      const model = new RouteModel(t.runtime.config);
      try {
        for (const step of steps) {
          t.advance(step.advanceMs);
          await exchange(t, model, step.c, step.mode);
        }
      } finally {
        await t.runtime.store.close();
      }
    }), SEQUENCE_RUNS);
  }, TIMEOUT_MS);
});

/**
 * Client addresses as the trusted proxy reports them, labelled with the key
 * the contract says they share: IPv4-mapped IPv6 is the IPv4 address, a port
 * is not part of it, IPv6 is keyed by /64, and unparseable text is one key.
 */
const CLIENTS: ReadonlyArray<[forwardedFor: string, key: string]> = [
  ['203.0.113.1', 'A'], ['::ffff:203.0.113.1', 'A'], ['203.0.113.1:5555', 'A'],
  ['203.0.113.2', 'B'],
  ['2001:db8:1:2::1', 'C'], ['2001:db8:1:2:ffff::9', 'C'], ['[2001:db8:1:2::5]', 'C'],
  ['2001:db8:1:3::1', 'D'],
  ['not-an-ip', 'invalid'], ['999.0.0.1', 'invalid'],
];

/** Steps of a sequence: few clients and users so the limits bite; time moves between steps. */
function sequences(p: TokenPool) {
  const users = p.valid.filter((a) => ['jwt:alice', 'clerk:user_a'].includes(a.userId ?? ''));
  const step = fc.record({
    c: fc.record({
      method: fc.constant('POST'),
      contentType: fc.oneof(
        { arbitrary: fc.constant({ value: 'application/json', json: true }), weight: 15 },
        { arbitrary: fc.constant({ value: 'text/plain', json: false }), weight: 1 },
      ),
      body: fc.oneof({ arbitrary: fc.constant({ label: 'empty', bytes: new Uint8Array(0) }), weight: 2 }, { arbitrary: bodies(), weight: 1 }),
      origin: fc.oneof({ arbitrary: fc.constant({ origin: 'https://app.example.com', secFetchSite: null, allowed: true }), weight: 6 }, { arbitrary: origins, weight: 1 }),
      auth: fc.oneof({ arbitrary: fc.constantFrom(...users), weight: 6 }, { arbitrary: credentials(p), weight: 3 }),
      client: fc.constantFrom(...CLIENTS),
      traceparent: traceparents,
      extra: fc.constant({}),
    }).map(({ client, ...c }): FuzzCase => ({ ...c, forwardedFor: client[0], ipKey: client[1] })),
    mode: fc.oneof({ arbitrary: fc.constant<UpstreamMode>('ok'), weight: 8 }, { arbitrary: fc.constantFrom(...FAULTS), weight: 1 }),
    advanceMs: fc.oneof(
      { arbitrary: fc.constant(0), weight: 6 },
      { arbitrary: fc.integer({ min: 1, max: 5_000 }), weight: 6 },
      { arbitrary: fc.integer({ min: 55_000, max: 65_000 }), weight: 2 },
      { arbitrary: fc.integer({ min: 290_000, max: 310_000 }), weight: 1 },
      // The window edges: an admit leaves the window exactly W after it was made.
      { arbitrary: fc.constantFrom(59_999, 60_000, 60_001, 299_999, 300_000, 300_001), weight: 3 },
    ),
  });
  return fc.array(step, { minLength: 1, maxLength: 14 });
}
