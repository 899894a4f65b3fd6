import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../support/build';

/**
 * `npm run bench -- --smoke` (what CI runs) works end to end and writes
 * results.json in the documented shape. Only shapes and correctness facts are
 * asserted here, never speeds: timings on a shared CI machine prove nothing.
 * The end-to-end part needs a production build and is not part of --smoke.
 */

interface Measurement {
  group: string;
  name: string;
  [field: string]: unknown;
}

interface Results {
  schema: number;
  mode: string;
  command: string;
  machine: { cpus: number; node: string; loadAverageAtStart: number[] };
  measurements: Measurement[];
  targets: Array<{ id: string; goal: string; met: boolean | null }>;
  skipped: Array<{ group: string; reason: string }>;
  failed: Array<{ group: string; error: string }>;
}

const run = promisify(execFile);
let dir: string;
let stdout: string;
let results: Results;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rtg-bench-smoke-test-'));
  const out = join(dir, 'results.json');
  ({ stdout } = await run(process.execPath, [join(PROJECT_ROOT, 'scripts/bench.mjs'), '--smoke', '--out', out], {
    cwd: PROJECT_ROOT,
    timeout: 120_000,
    maxBuffer: 16 * 1024 * 1024,
  }));
  results = JSON.parse(await readFile(out, 'utf8')) as Results;
}, 180_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const rows = (group: string) => results.measurements.filter((m) => m.group === group);
const positive = expect.any(Number);

describe('npm run bench -- --smoke', () => {
  it('records the run: mode, machine, no failed part', () => {
    expect(results).toMatchObject({ schema: 1, mode: 'smoke', command: 'npm run bench -- --smoke', failed: [] });
    expect(results.machine.cpus).toBeGreaterThan(0);
    expect(results.machine.node).toMatch(/^v\d+/);
    expect(results.skipped).toEqual([]);
  });

  it('compares the memory store with RateLimiterMemory and the naive log, on a hot key and on distinct keys', () => {
    const memory = rows('limiter-memory');
    const table = memory.map((m) => `${m.pattern} ${m.contender}`).sort();
    expect(table).toEqual(
      ['hot-key', 'distinct-keys']
        .flatMap((p) => ['ours-sync', 'ours-async', 'flexible', 'naive'].map((c) => `${p} ${c}`))
        .sort(),
    );
    for (const m of memory) {
      expect(m).toMatchObject({ checksPerSec: positive, nsPerCheck: positive, ratioVsRateLimiterMemory: positive, ratioVsNaive: positive });
      expect(m.checksPerSec as number).toBeGreaterThan(0);
    }
    for (const m of memory.filter((x) => x.contender === 'flexible')) expect(m.ratioVsRateLimiterMemory).toBe(1);
    // Same policy, same keys: every exact contender admits the same share.
    for (const pattern of ['hot-key', 'distinct-keys']) {
      const admitted = memory.filter((m) => m.pattern === pattern && m.contender !== 'flexible').map((m) => m.allowedFraction);
      expect(new Set(admitted).size, pattern).toBe(1);
    }
  });

  it('compares the Redis store with RateLimiterRedis under 50 concurrent callers', () => {
    const redis = rows('limiter-redis');
    expect(redis.map((m) => m.contender).sort()).toEqual(['flexible', 'ours']);
    for (const m of redis) {
      expect(m).toMatchObject({ concurrency: 50, errors: 0, valid: true, checksPerSec: positive, latencyP99Ms: positive, ratioVsRateLimiterRedis: positive });
    }
  });

  it('a key flood stays under the cap, and neither an honest nor a saturated key gets a fresh window', () => {
    const [flood] = rows('memory-flood');
    expect(flood).toMatchObject({
      maxKeys: 100_000,
      retainedKeys: 100_000,
      honestKeyKeptWindow: true,
      saturatedKeyStillRefused: true,
      refusedNewKeys: 0,
      gcExposed: true,
      heapGrowthMB: positive,
    });
    expect(flood.floodKeys as number).toBeGreaterThan(flood.maxKeys as number);
  });

  it('measures cost per check at growing key counts, with ratios to the smallest', () => {
    const scaling = rows('scaling');
    expect(scaling.map((m) => m.trackedKeys)).toEqual([1_000, 10_000]);
    for (const m of scaling) expect(m).toMatchObject({ nsPerCheck: positive, mapGetNsPerCheck: positive, ratioVsSmallest: positive });
    expect(scaling[0].ratioVsSmallest).toBe(1);
  });

  it('measures the strict JSON parse against JSON.parse on each body', () => {
    const json = rows('json');
    const bodies = [...new Set(json.map((m) => m.body))];
    expect(bodies.length).toBeGreaterThanOrEqual(4);
    for (const body of bodies) {
      expect(json.filter((m) => m.body === body).map((m) => m.contender).sort()).toEqual(['always-scan', 'json-parse', 'strict']);
    }
    for (const m of json) expect(m).toMatchObject({ nsPerParse: positive, ratioVsJsonParse: positive, bytes: positive });
    expect(stdout).toContain('6. Strict JSON');
  });

  it('measures the abuse controls: a geo lookup, a deny-list match, each abuse guard alone, and the whole guard list per request on memory and Redis', () => {
    const guards = rows('guards');
    const lookups = guards.filter((m) => m.part === 'geo' || m.part === 'deny');
    expect(lookups.map((m) => m.part)).toEqual(['geo', 'geo', 'geo', 'deny', 'deny', 'deny', 'deny']);
    for (const m of lookups.slice(1)) expect(m).toMatchObject({ nsPerOp: positive, found: expect.any(Number) });
    expect(guards.filter((m) => m.part === 'guard').map((m) => m.name)).toEqual(['deny_ip', 'geo', 'deny_user', 'token_daily', 'anomaly', 'quota_circuit', 'global_limit']);
    const pipeline = guards.filter((m) => m.part === 'pipeline');
    expect(pipeline.map((m) => `${m.store} ${m.name}`)).toEqual(
      ['memory', 'redis'].flatMap((store) => ['spec guards only', 'full list, defaults', 'full list, every control on'].map((n) => `${store} ${n}`)),
    );
    for (const m of pipeline) expect(m).toMatchObject({ usPerRequest: positive, cpuUsPerRequest: positive, addedUsVsSpec: expect.any(Number) });
  });

  it('renders a saved results.json as Markdown for the README (--from, --markdown)', async () => {
    const { stdout: md } = await run(process.execPath, [join(PROJECT_ROOT, 'scripts/bench.mjs'), '--from', join(dir, 'results.json'), '--markdown'], {
      cwd: PROJECT_ROOT,
    });
    expect(md).toContain('**2. Memory limiter');
    expect(md).toMatch(/^\| pattern \| contender \| checks\/s /m);
    expect(md).toContain('npm run bench -- --smoke on ');
  });

  it('states each target with its goal and prints the tables', () => {
    expect(results.targets.map((t) => t.id).sort()).toEqual(['flood-heap', 'flood-honest-key', 'memory-limiter', 'redis-limiter', 'scaling-flat']);
    for (const t of results.targets) expect(t.goal).not.toBe('');
    for (const title of ['2. Memory limiter', '3. Redis limiter', '4. Key flood', '5. Scaling', 'Targets']) expect(stdout).toContain(title);
  });
});
