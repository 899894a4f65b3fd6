#!/usr/bin/env node
/**
 * `npm run bench`: the price of the security layer, measured side by side.
 * Each part runs in its own child process (bench/child.mjs):
 *
 *   1. e2e             production build under autocannon: token route vs a bare baseline route
 *   2. limiter-memory  MemoryRateLimitStore vs RateLimiterMemory vs a naive sliding log
 *   3. limiter-redis   RedisRateLimitStore vs RateLimiterRedis, 50 concurrent callers
 *   4. memory-flood    1,000,000 distinct keys through the default cap
 *   5. scaling         cost per check with 1k → 1M tracked keys
 *   6. json            the duplicate-member check on request bodies (lib/json.ts) vs JSON.parse
 *   7. guards          the abuse controls: geo lookup, deny-list match, the whole guard list per request
 *
 * Prints tables and writes bench/results.json (one object per measurement).
 *
 * Options:
 *   --smoke         a few seconds, for CI: small sizes; skips e2e (it needs a
 *                   production build) unless --e2e is given; writes to
 *                   $TMPDIR/rtg-bench-smoke/results.json unless --out is given
 *   --e2e           include the end-to-end part in --smoke
 *   --only a,b      run only these parts (names above)
 *   --out PATH      where to write the JSON
 *   --cpu-prof      write V8 CPU profiles of every part (and of the e2e server)
 *                   to $TMPDIR/rtg-bench-profiles/<time>/ (open in Chrome DevTools)
 *   --markdown      print the tables as Markdown (for the README)
 *   --from PATH     run nothing: print the tables of an existing results.json
 */
import { fork } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { report } from '../bench/report.mjs';
import { fmt } from '../bench/stats.mjs';

process.env.NEXT_TELEMETRY_DISABLED ??= '1';
process.env.CLERK_TELEMETRY_DISABLED ??= '1';

const ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const { values: args } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    e2e: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    markdown: { type: 'boolean', default: false },
    from: { type: 'string' },
  },
});
if (args.from) {
  console.log(report(JSON.parse(await readFile(resolve(args.from), 'utf8')), { markdown: args.markdown }));
  process.exit(0);
}
const profileDir = args['cpu-prof'] ? join(tmpdir(), 'rtg-bench-profiles', new Date().toISOString().replace(/[:.]/g, '-')) : undefined;
const smoke = args.smoke;
const out = resolve(args.out ?? (smoke ? join(tmpdir(), 'rtg-bench-smoke', 'results.json') : join(ROOT, 'bench', 'results.json')));
const ALL = ['e2e', 'limiter-memory', 'limiter-redis', 'memory-flood', 'scaling', 'json', 'guards'];
const only = args.only ? args.only.split(',').map((s) => s.trim()) : undefined;
for (const name of only ?? []) if (!ALL.includes(name)) throw new Error(`--only: unknown part ${name} (parts: ${ALL.join(', ')})`);
const wanted = (part) => (only ? only.includes(part) : part !== 'e2e' || !smoke || args.e2e);

const plan = [];
if (wanted('e2e')) plan.push({ part: 'e2e', options: { smoke, profileDir } });
if (wanted('limiter-memory')) plan.push({ part: 'limiter-memory', options: { smoke } });
if (wanted('limiter-redis')) plan.push({ part: 'limiter-redis', options: { smoke } });
if (wanted('memory-flood')) plan.push({ part: 'memory-flood', options: { smoke } });
if (wanted('scaling')) {
  for (const trackedKeys of smoke ? [1_000, 10_000] : [1_000, 10_000, 100_000, 1_000_000]) {
    plan.push({ part: 'scaling', options: { smoke, trackedKeys } });
  }
}
if (wanted('json')) plan.push({ part: 'json', options: { smoke } });
if (wanted('guards')) plan.push({ part: 'guards', options: { smoke } });

/** Runs one part in a child with --expose-gc; resolves with its reply. */
function runPart({ part, options }) {
  const execArgv = ['--expose-gc'];
  if (profileDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${join(profileDir, part)}`);
  return new Promise((resolvePart) => {
    const child = fork(join(ROOT, 'bench/child.mjs'), [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let reply;
    child.on('message', (message) => {
      if (message.say) console.log(`  ${message.say}`);
      else reply = message;
    });
    child.on('exit', (code, signal) => resolvePart(reply ?? { error: `child exited (${code ?? signal}) without an answer` }));
    child.send({ part, options });
  });
}

const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model?.trim(),
  totalMemoryGB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
  loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
};
const startedAt = new Date().toISOString();
console.log(`npm run bench${smoke ? ' -- --smoke' : ''}: ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}, load ${machine.loadAverageAtStart.join(' ')}`);

const measurements = [];
const skipped = [];
const failed = [];
for (const step of plan) {
  const label = step.part + (step.options.trackedKeys ? ` (${fmt(step.options.trackedKeys)} keys)` : '');
  console.log(`running ${label} ...`);
  const t0 = Date.now();
  const reply = await runPart(step);
  if (reply.rows) measurements.push(...reply.rows);
  else if (reply.skipped) skipped.push({ group: step.part, reason: reply.skipped });
  else failed.push({ group: step.part, error: reply.error });
  console.log(`  ${reply.rows ? 'done' : reply.skipped ? `skipped: ${reply.skipped}` : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

// Scaling rows get their ratios once every size has run.
const scalingRows = measurements.filter((m) => m.group === 'scaling');
if (scalingRows.length) {
  const base = scalingRows.reduce((a, b) => (b.trackedKeys < a.trackedKeys ? b : a));
  for (const r of scalingRows) {
    r.ratioVsSmallest = Math.round((r.nsPerCheck / base.nsPerCheck) * 1000) / 1000;
    r.mapGetRatioVsSmallest = Math.round((r.mapGetNsPerCheck / base.mapGetNsPerCheck) * 1000) / 1000;
  }
}

const find = (group, pred = () => true) => measurements.filter((m) => m.group === group && pred(m));
const targets = [];
function target(id, description, goal, value, met, note) {
  targets.push({ id, description, goal, value: value ?? null, met: value === undefined || value === null || Number.isNaN(value) ? null : met, ...(note ? { note } : {}) });
}
{
  const [thr] = find('e2e', (m) => m.route === 'token-route' && m.load === 'throughput');
  const [lat] = find('e2e', (m) => m.route === 'token-route' && m.load === 'latency');
  const valid = (...rows) => rows.every((r) => r && find('e2e', (m) => m.load === r.load).every((m) => m.valid));
  if (thr) {
    const cpu = thr.serverCpuRatioVsBaseline === null ? undefined : `server CPU per request ${thr.serverCpuRatioVsBaseline}× the baseline's`;
    target('e2e-throughput', 'token route throughput / baseline throughput (16 connections)', '>= 0.85', thr.ratioVsBaseline, valid(thr) && thr.ratioVsBaseline >= 0.85, cpu);
  }
  if (lat) {
    target('e2e-latency', 'added median latency, one connection (no queueing)', '<= 1 ms', lat.addedP50Ms, valid(lat) && lat.addedP50Ms <= 1);
  }
  // The store's check is synchronous (hitSync; the resilient store's fallback
  // calls it directly); RateLimiterMemory only has a promise API. The target is
  // taken on hitSync, and the await-hit ratio (what the route's awaited
  // RateLimitStore.hit costs) is reported next to it.
  const mem = find('limiter-memory', (m) => m.contender === 'ours-sync');
  if (mem.length) {
    const worst = Math.min(...mem.map((m) => m.ratioVsRateLimiterMemory));
    const viaAwait = find('limiter-memory', (m) => m.contender === 'ours-async').map((m) => m.ratioVsRateLimiterMemory);
    target(
      'memory-limiter',
      'MemoryRateLimitStore.hitSync checks/s ÷ RateLimiterMemory (worst key pattern)',
      '>= 2',
      worst,
      worst >= 2,
      viaAwait.length ? `through await hit(): worst ${Math.min(...viaAwait)}×` : undefined,
    );
  }
  const [redis] = find('limiter-redis', (m) => m.contender === 'ours');
  if (redis) target('redis-limiter', 'RedisRateLimitStore checks/s ÷ RateLimiterRedis, 50 callers', '>= 1', redis.ratioVsRateLimiterRedis, redis.valid && redis.ratioVsRateLimiterRedis >= 1);
  const [flood] = find('memory-flood');
  if (flood) {
    target('flood-heap', `heap growth after ${fmt(flood.floodKeys)} distinct keys (MB)`, '<= 64', flood.heapGrowthMB, flood.heapGrowthMB <= 64);
    target('flood-honest-key', 'an active honest key keeps its window; a saturated key stays refused', 'true', flood.honestKeyKeptWindow && flood.saturatedKeyStillRefused, flood.honestKeyKeptWindow && flood.saturatedKeyStillRefused);
  }
  if (scalingRows.length > 1) {
    const largest = scalingRows.reduce((a, b) => (b.trackedKeys > a.trackedKeys ? b : a));
    // O(1) means the work per check does not grow with the key count. Wall time
    // per check still grows once the table outgrows the CPU caches, for any
    // hash map: the check is "flat" when it grows no faster than a bare Map.get.
    const relative = largest.ratioVsSmallest / largest.mapGetRatioVsSmallest;
    target(
      'scaling-flat',
      `ns/check growth ${fmt(scalingRows[0].trackedKeys)} → ${fmt(largest.trackedKeys)} keys, relative to a bare Map.get's growth`,
      '<= 1.25',
      Math.round(relative * 100) / 100,
      relative <= 1.25,
      `raw growth ${largest.ratioVsSmallest}×, Map.get ${largest.mapGetRatioVsSmallest}×`,
    );
  }
}

const results = {
  schema: 1,
  command: `npm run bench${smoke ? ' -- --smoke' : ''}`,
  mode: smoke ? 'smoke' : 'full',
  startedAt,
  finishedAt: new Date().toISOString(),
  machine: { ...machine, loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100) },
  note: 'Ratios are the claim; absolute numbers depend on the machine and its load.',
  measurements,
  targets,
  skipped,
  failed,
};
await mkdir(dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);

console.log(report(results, { markdown: args.markdown }));
const shown = relative(process.cwd(), out);
console.log(`results: ${shown && !shown.startsWith('..') ? shown : out}`);
if (profileDir) console.log(`CPU profiles: ${profileDir}`);
process.exitCode = failed.length ? 1 : 0;
