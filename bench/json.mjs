/**
 * Part 6. The price of refusing duplicate JSON member names (lib/json.ts) on
 * token-request bodies: `JSON.parse` alone, `parseStrictJson` (the route's
 * parse: a colon count decides whether to scan), and parse + an
 * unconditional scan, for the bodies the route sees. The 16 KiB body is the
 * largest the route reads (MAX_BODY_BYTES).
 */
import { loadLib } from '../scripts/lib-loader.mjs';
import { collect, median, msSince, round } from './stats.mjs';

const BODIES = [
  { body: 'empty object', text: '{}' },
  { body: 'voice + model', text: JSON.stringify({ voice: 'alloy', model: 'gpt-realtime' }) },
  {
    body: 'with instructions, no colon in them (fast path)',
    text: JSON.stringify({ voice: 'echo', model: 'gpt-realtime', instructions: 'You are a friendly assistant. Keep answers short and warm. '.repeat(4) }),
  },
  {
    body: 'with instructions holding colons (scan path)',
    text: JSON.stringify({ voice: 'echo', model: 'gpt-realtime', instructions: 'Tone: friendly. Length: short. Language: English. '.repeat(4) }),
  },
  {
    body: '16 KiB of instructions with colons (largest body, scan path)',
    text: JSON.stringify({ voice: 'echo', model: 'gpt-realtime', instructions: 'Tone: friendly, "quoted": yes. '.repeat(494) }),
  },
];

export async function jsonBench({ smoke }) {
  const { json } = await loadLib(['json']);
  const { parseStrictJson, hasDuplicateMember } = json;
  const contenders = [
    { id: 'json-parse', name: 'JSON.parse (no duplicate check)', run: (t) => JSON.parse(t) },
    { id: 'strict', name: 'parseStrictJson (lib/json.ts)', run: (t) => parseStrictJson(t) },
    { id: 'always-scan', name: 'JSON.parse + hasDuplicateMember every time', run: (t) => (hasDuplicateMember(t), JSON.parse(t)) },
  ];
  const rounds = smoke ? 1 : 7;
  const out = [];
  for (const { body, text } of BODIES) {
    if (!parseStrictJson(text).ok) throw new Error(`json bench: body "${body}" is not accepted`);
    const ops = Math.max(2_000, Math.round((smoke ? 2e6 : 2e7) / Math.max(text.length, 50)));
    const ns = new Map(contenders.map((c) => [c.id, []]));
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < contenders.length; k++) {
        const c = contenders[(k + r) % contenders.length];
        for (let i = 0; i < ops / 10; i++) c.run(text);
        collect();
        const start = process.hrtime.bigint();
        for (let i = 0; i < ops; i++) c.run(text);
        ns.get(c.id).push((msSince(start) * 1e6) / ops);
      }
    }
    const base = median(ns.get('json-parse'));
    for (const c of contenders) {
      const perOp = median(ns.get(c.id));
      out.push({
        group: 'json',
        name: c.name,
        contender: c.id,
        body,
        bytes: Buffer.byteLength(text),
        ops,
        rounds,
        nsPerParse: round(perOp),
        addedNs: round(perOp - base),
        ratioVsJsonParse: round(perOp / base, 3),
      });
    }
  }
  return out;
}
