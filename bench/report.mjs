/**
 * Renders a results.json object as the readable tables `npm run bench`
 * prints, or as Markdown for the README (`--markdown`, `--from PATH`).
 */
import { fmt, table } from './stats.mjs';

const pct = (v) => (typeof v === 'number' ? `${Math.round(v * 100)}%` : '');
const x = (v) => (typeof v === 'number' && Number.isFinite(v) ? `${v.toFixed(2)}×` : '');

function markdown(title, header, rows, left = []) {
  const esc = (c) => String(c).replace(/\|/g, '\\|');
  return [`\n**${title}**\n`, `| ${header.map(esc).join(' | ')} |`, `|${header.map((_, i) => (i === 0 || left.includes(i) ? ' --- ' : ' ---: ')).join('|')}|`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

/** One section per part, then the targets. */
function sections(results) {
  const find = (group) => results.measurements.filter((m) => m.group === group);
  const out = [];
  const e2e = find('e2e');
  if (e2e.length) {
    out.push({
      title: '1. End to end (production build, autocannon on loopback, zero-delay OpenAI stand-in)',
      header: ['route', 'load', 'conns', 'req/s', 'p50 ms', 'p99 ms', '× baseline', '+p50 ms', 'server CPU ms/req', 'non-200'],
      left: [1],
      rows: e2e.map((m) => [
        m.route,
        m.load,
        m.connections,
        fmt(m.requestsPerSec),
        fmt(m.latencyP50Ms, 2),
        fmt(m.latencyP99Ms, 2),
        x(m.ratioVsBaseline),
        fmt(m.addedP50Ms, 2),
        m.serverCpuMsPerRequest === null ? '' : fmt(m.serverCpuMsPerRequest, 3),
        m.non200 + m.errors,
      ]),
    });
  }
  const mem = find('limiter-memory');
  if (mem.length) {
    out.push({
      title: `2. Memory limiter (policy ${mem[0].policy}; hot key = one key, distinct = ${fmt(mem.find((m) => m.pattern === 'distinct-keys')?.keys)} keys)`,
      header: ['pattern', 'contender', 'checks/s', 'ns/check', '× RLF Memory', '× naive', 'admitted'],
      rows: mem.map((m) => [m.pattern, m.name, fmt(m.checksPerSec), fmt(m.nsPerCheck), x(m.ratioVsRateLimiterMemory), x(m.ratioVsNaive), pct(m.allowedFraction)]),
      left: [1],
    });
  }
  const redis = find('limiter-redis');
  if (redis.length) {
    out.push({
      title: `3. Redis limiter (${redis[0].concurrency} concurrent callers, one local redis-server, ioredis)`,
      header: ['contender', 'checks/s', 'p50 ms', 'p99 ms', '× RLF Redis', 'errors'],
      rows: redis.map((m) => [m.name, fmt(m.checksPerSec), fmt(m.latencyP50Ms, 2), fmt(m.latencyP99Ms, 2), x(m.ratioVsRateLimiterRedis), m.errors]),
    });
  }
  const flood = find('memory-flood');
  if (flood.length) {
    out.push({
      title: '4. Key flood (default cap)',
      header: ['distinct keys', 'cap', 'retained', 'heap growth', 'bytes/key', 'honest key kept window', 'saturated key still refused', 'new keys refused'],
      rows: flood.map((m) => [fmt(m.floodKeys), fmt(m.maxKeys), fmt(m.retainedKeys), `${fmt(m.heapGrowthMB, 1)} MB`, fmt(m.bytesPerRetainedKey), m.honestKeyKeptWindow, m.saturatedKeyStillRefused, fmt(m.refusedNewKeys)]),
    });
  }
  const scaling = find('scaling');
  if (scaling.length) {
    out.push({
      title: '5. Scaling (cost per check vs tracked keys; Map.get = a bare hash lookup over the same keys)',
      header: ['tracked keys', 'ns/check', '× smallest', 'Map.get ns', 'Map.get × smallest'],
      rows: scaling.map((m) => [fmt(m.trackedKeys), fmt(m.nsPerCheck), x(m.ratioVsSmallest), fmt(m.mapGetNsPerCheck), x(m.mapGetRatioVsSmallest)]),
    });
  }
  const json = find('json');
  if (json.length) {
    out.push({
      title: '6. Strict JSON (duplicate member names refused, lib/json.ts) vs JSON.parse',
      header: ['body', 'bytes', 'contender', 'ns/parse', '+ns', '× JSON.parse'],
      rows: json.map((m) => [m.body, fmt(m.bytes), m.name, fmt(m.nsPerParse), fmt(m.addedNs), x(m.ratioVsJsonParse)]),
      left: [2],
    });
  }
  const guards = find('guards');
  if (guards.length) {
    const ns = (m) => (m.ms !== undefined ? `${fmt(m.ms, 2)} ms` : `${fmt(m.nsPerOp)} ns`);
    out.push({
      title: '7a. Abuse controls: geo lookup, deny-list match, and each abuse guard alone (every control on, memory store)',
      header: ['part', 'what', 'cost', 'found'],
      left: [1],
      rows: guards.filter((m) => m.part !== 'pipeline').map((m) => [m.part, m.name, ns(m), m.found === undefined ? '' : pct(m.found)]),
    });
    out.push({
      title: '7b. The whole guard list per request, in process, one request at a time (HS256 JWT, zero-delay upstream stub)',
      header: ['store', 'guard list', 'wall µs/req', '+wall µs vs spec', 'CPU µs/req', '+CPU µs vs spec'],
      left: [1],
      rows: guards
        .filter((m) => m.part === 'pipeline')
        .map((m) => [m.store, m.name, fmt(m.usPerRequest, 1), fmt(m.addedUsVsSpec, 1), fmt(m.cpuUsPerRequest, 1), fmt(m.addedCpuUsVsSpec, 1)]),
    });
  }
  if (results.targets.length) {
    out.push({
      title: 'Targets',
      header: ['target', 'goal', 'value', 'met', 'note'],
      rows: results.targets.map((t) => [t.description, t.goal, typeof t.value === 'number' ? fmt(t.value) : String(t.value), t.met === null ? 'n/a' : t.met ? 'yes' : 'NO', t.note ?? '']),
      left: [4],
    });
  }
  return out;
}

/**
 * @param {object} results a results.json object
 * @param {{ markdown?: boolean }} [options]
 */
export function report(results, { markdown: asMarkdown = false } = {}) {
  const parts = sections(results).map((s) => (asMarkdown ? markdown(s.title, s.header, s.rows, s.left) : table(s.title, s.header, s.rows, s.left)));
  for (const s of results.skipped) parts.push(`\nskipped ${s.group}: ${s.reason}`);
  for (const f of results.failed) parts.push(`\nFAILED ${f.group}:\n${f.error}`);
  const m = results.machine;
  parts.push(
    `\n${asMarkdown ? '_' : ''}${results.command} on ${m.cpus} × ${m.cpuModel}, ${m.totalMemoryGB} GB, Node ${m.node}; ` +
      `load average ${m.loadAverageAtStart.join(' ')} at start, ${m.loadAverageAtEnd.join(' ')} at end; ${results.finishedAt}${asMarkdown ? '_' : ''}`,
  );
  return parts.join('\n');
}
