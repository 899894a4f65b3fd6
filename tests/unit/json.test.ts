import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasDuplicateMember, parseStrictJson } from '@/lib/json';

describe('parseStrictJson', () => {
  it.each([
    ['the issue example', '{"voice":"nope","voice":"alloy"}'],
    ['first and last of three', '{"voice":"alloy","model":"gpt-realtime","voice":"echo"}'],
    ['same value twice', '{"voice":"alloy","voice":"alloy"}'],
    ['whitespace around the colon', '{ "voice" : "nope" ,\n\t"voice"\r\n:"alloy" }'],
    ['an escaped spelling of the same name', '{"voice":"nope","\\u0076oice":"alloy"}'],
    ['both spellings escaped differently', '{"\\u0076oice":1,"v\\u006fice":2}'],
    ['escaped solidus', '{"a/b":1,"a\\/b":2}'],
    ['__proto__ twice', '{"__proto__":{},"__proto__":{"polluted":true}}'],
    ['empty name twice', '{"":1,"":2}'],
    ['in a nested object', '{"a":{"b":1,"b":2}}'],
    ['in an object inside an array', '[1,{"x":"y"},{"k":1,"k":2}]'],
    ['after a nested object closes', '{"a":{"b":1},"c":2,"a":3}'],
    ['with colons in string values (the slow path)', '{"instructions":"Tone: calm: warm","voice":"a","voice":"b"}'],
    ['names that hold quotes and backslashes', '{"a\\"b":1,"a\\u0022b":2}'],
  ])('refuses %s', (_label, text) => {
    expect(parseStrictJson(text)).toEqual({ ok: false, reason: 'duplicate_member' });
  });

  it.each([
    ['a normal body', '{"voice":"alloy","model":"gpt-realtime","instructions":"Be brief."}'],
    ['colons and quoted names inside a value', '{"instructions":"say \\"voice\\": \\"x\\", \\"voice\\": \\"y\\""}'],
    ['the same name in sibling objects', '[{"a":1},{"a":2}]'],
    ['the same name at two depths', '{"a":{"a":{"a":1}}}'],
    ['names that differ only after unescaping', '{"\\u0061":1,"\\u0062":2}'],
    ['names that differ by case', '{"Voice":1,"voice":2}'],
    ['names with a trailing backslash escape', '{"a\\\\":1,"a":2}'],
    ['a string that ends in an escaped backslash before the colon', '{"k\\\\":"v\\\\","k":"w"}'],
    ['an empty object and array', '{"a":{},"b":[]}'],
  ])('accepts %s', (_label, text) => {
    expect(parseStrictJson(text)).toEqual({ ok: true, value: JSON.parse(text) });
  });

  it.each([['{'], ['{"a":1,}'], ['{"a" 1}'], ["{'a':1}"], ['']])('%j is a syntax error', (text) => {
    expect(parseStrictJson(text)).toEqual({ ok: false, reason: 'syntax' });
  });

  it.each([['"a:b"'], ['42'], ['null'], ['[1,2,":"]']])('scalars and arrays without objects pass: %s', (text) => {
    expect(parseStrictJson(text).ok).toBe(true);
  });

  // An independent oracle: build objects as entry lists (names may repeat),
  // write them out with random spacing and random escaping of names, and
  // compare with what the entry lists say.
  type Tree = { kind: 'leaf'; json: string } | { kind: 'array'; items: Tree[] } | { kind: 'object'; entries: Array<[string, Tree]> };
  const names = fc.constantFrom('a', 'b', 'voice', '', 'a:b', 'q"', '\\', '\u00e9', '__proto__');
  const tree = fc.letrec<{ node: Tree }>((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.oneof(fc.string(), fc.integer(), fc.constantFrom(true, false, null)).map((v) => ({ kind: 'leaf' as const, json: JSON.stringify(v) })),
      fc.array(tie('node'), { maxLength: 4 }).map((items) => ({ kind: 'array' as const, items })),
      fc.array(fc.tuple(names, tie('node')), { maxLength: 5 }).map((entries) => ({ kind: 'object' as const, entries })),
    ),
  })).node;

  const escapeName = (name: string, every: boolean) =>
    every ? `"${[...name].map((ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"` : JSON.stringify(name);

  function write(node: Tree, spaces: string, escape: boolean): string {
    if (node.kind === 'leaf') return node.json;
    if (node.kind === 'array') return `[${spaces}${node.items.map((n) => write(n, spaces, escape)).join(`,${spaces}`)}]`;
    return `{${spaces}${node.entries.map(([k, v], i) => `${escapeName(k, escape && i % 2 === 1)}${spaces}:${write(v, spaces, escape)}`).join(`,${spaces}`)}${spaces}}`;
  }

  function repeats(node: Tree): boolean {
    if (node.kind === 'leaf') return false;
    if (node.kind === 'array') return node.items.some(repeats);
    const keys = node.entries.map(([k]) => k);
    return new Set(keys).size !== keys.length || node.entries.some(([, v]) => repeats(v));
  }

  it('agrees with an independent model on random documents', () => {
    fc.assert(
      fc.property(tree, fc.constantFrom('', ' ', '\n\t'), fc.boolean(), (node, spaces, escape) => {
        const text = write(node, spaces, escape);
        const result = parseStrictJson(text);
        expect(result.ok).toBe(!repeats(node));
        expect(hasDuplicateMember(text)).toBe(repeats(node));
      }),
      { numRuns: 2000 },
    );
  });
});
