import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  isNextInternalHeader,
  NEXT_FLIGHT_HEADERS,
  NEXT_INTERNAL_HEADER_NAMES,
  NEXT_INTERNAL_HEADER_PREFIXES,
  REVIEWED_PASS_THROUGH,
} from '@/server/next-internal-headers';
import { PROJECT_ROOT } from '../support/build';

/**
 * The door's list of Next-internal request headers, checked against the Next
 * that is actually installed: every non-standard header name Next's server code
 * reads or declares must be stripped by the door or reviewed as safe to pass.
 * A Next upgrade that starts honouring a new internal header fails this test.
 */

const NEXT_DIST = join(PROJECT_ROOT, 'node_modules/next/dist');
const SEARCHED = ['server', 'lib', 'shared/lib', 'client/components', 'build/adapter'];

function jsFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'compiled' ? [] : jsFiles(path);
    return name.endsWith('.js') ? [path] : [];
  });
}

const sources = SEARCHED.flatMap((dir) => jsFiles(join(NEXT_DIST, dir))).map((file) => ({ file, text: readFileSync(file, 'utf8') }));
const nonStandard = (name: string) => name === 'rsc' || name.startsWith('x-') || name.startsWith('next-');

/** Header names Next reads from requests or declares as header constants. */
function headerNamesInNext(): Map<string, string> {
  const found = new Map<string, string>();
  const add = (name: string, file: string) => {
    const lower = name.toLowerCase();
    if (nonStandard(lower) && /^[a-z0-9-]+$/.test(lower) && !found.has(lower)) found.set(lower, file.slice(NEXT_DIST.length + 1));
  };
  for (const { file, text } of sources) {
    // headers['x-…'], headers.get('x-…'), headers.has('x-…'), headers.set/delete/append('x-…')
    for (const m of text.matchAll(/headers(?:\[|\.(?:get|has|set|delete|append)\()\s*['"]([A-Za-z0-9-]+)['"]/g)) add(m[1], file);
    // const SOMETHING_HEADER = 'x-…'
    for (const m of text.matchAll(/const [A-Z0-9_]*HEADER[A-Z0-9_]* = ['"]([A-Za-z0-9-]+)['"]/g)) add(m[1], file);
  }
  // Every name in the two files that define Next's header vocabulary.
  for (const rel of ['client/components/app-router-headers.js', 'server/lib/server-ipc/utils.js']) {
    const text = readFileSync(join(NEXT_DIST, rel), 'utf8');
    for (const m of text.matchAll(/['"]((?:x-|next-)[a-z0-9-]+|rsc)['"]/g)) add(m[1], rel);
  }
  return found;
}

describe('Next-internal request headers (the installed Next)', () => {
  const found = headerNamesInNext();

  it('finds the header vocabulary in the installed Next at all', () => {
    expect(found.size).toBeGreaterThan(30);
    for (const name of ['x-middleware-prefetch', 'x-now-route-matches', 'next-router-state-tree', 'rsc', 'x-nextjs-data']) {
      expect(found.has(name), name).toBe(true);
    }
  });

  it('every non-standard header name Next uses is stripped on API paths or reviewed', () => {
    const uncovered = [...found].filter(([name]) => !isNextInternalHeader(name, true) && !(name in REVIEWED_PASS_THROUGH));
    expect(uncovered.map(([name, file]) => `${name} (${file})`)).toEqual([]);
  });

  it('on pages, only the flight headers of Next’s own browser runtime pass, besides the reviewed ones', () => {
    const passing = [...found.keys()].filter((name) => !isNextInternalHeader(name, false) && !(name in REVIEWED_PASS_THROUGH));
    expect(passing.sort()).toEqual([...NEXT_FLIGHT_HEADERS].filter((name) => found.has(name)).sort());
  });

  it('covers the list Next itself strips (server/lib/server-ipc/utils.js INTERNAL_HEADERS), on every path', () => {
    const text = readFileSync(join(NEXT_DIST, 'server/lib/server-ipc/utils.js'), 'utf8');
    const list = /const INTERNAL_HEADERS = \[([^\]]*)\]/.exec(text);
    expect(list).not.toBeNull();
    const names = [...list![1].matchAll(/'([^']+)'/g)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(5);
    for (const name of names) {
      expect(isNextInternalHeader(name, true), name).toBe(true);
      expect(isNextInternalHeader(name, false), name).toBe(true);
    }
  });

  it('covers x-middleware-prefetch, which Next honours from clients and does not strip', () => {
    const text = readFileSync(join(NEXT_DIST, 'server/lib/server-ipc/utils.js'), 'utf8');
    expect(text).not.toContain("'x-middleware-prefetch'");
    expect(isNextInternalHeader('x-middleware-prefetch', false)).toBe(true);
  });

  it('names only flight headers that exist in Next (client/components/app-router-headers.js)', () => {
    const text = readFileSync(join(NEXT_DIST, 'client/components/app-router-headers.js'), 'utf8');
    for (const name of NEXT_FLIGHT_HEADERS) expect(text, name).toContain(`'${name}'`);
  });

  it('every reviewed pass-through is a name Next really uses, so the review list cannot rot', () => {
    for (const name of Object.keys(REVIEWED_PASS_THROUGH)) {
      expect(found.has(name) || sources.some(({ text }) => text.includes(`'${name}'`)), name).toBe(true);
    }
  });

  it.each([
    ['content-type', false],
    ['authorization', false],
    ['x-request-id', false],
    ['x-trace-id', false],
    ['x-forwarded-for', false],
    ['x-middleware-anything-new', true],
    ['x-nextjs-anything-new', true],
    ['next-anything-new', true],
    ['x-invoke-path', true],
  ])('%s → stripped: %s', (name, stripped) => {
    expect(isNextInternalHeader(name, true)).toBe(stripped);
    expect(isNextInternalHeader(name, false)).toBe(stripped);
  });

  it('keeps its families and names lower case', () => {
    for (const name of [...NEXT_INTERNAL_HEADER_PREFIXES, ...NEXT_INTERNAL_HEADER_NAMES, ...NEXT_FLIGHT_HEADERS]) expect(name).toBe(name.toLowerCase());
  });
});
