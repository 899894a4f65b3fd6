/**
 * JSON parsing that refuses duplicate member names.
 *
 * RFC 8259 §4 says names within an object SHOULD be unique and that parsers
 * disagree on duplicates (last wins, first wins, error); I-JSON (RFC 7493
 * §2.3) makes them an error. `JSON.parse` keeps the last one silently, so
 * `{"voice":"nope","voice":"alloy"}` would validate here as "alloy" while a
 * first-wins reader behind us sees "nope". Refusing them removes the
 * disagreement.
 *
 * Cost: `JSON.parse` does the parsing; the duplicate check only scans the
 * text when it has to. Every member has exactly one `:` outside strings, so
 * when the text holds no more colons than the parsed value has keys, no
 * object can have lost a member to a duplicate and nothing is scanned. A
 * colon inside a string (or a real duplicate) falls back to one linear scan
 * of member names. bench/json.mjs measures both paths.
 */

export type StrictJsonResult =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly reason: 'syntax' | 'duplicate_member' };

/** Parses `text` as JSON, refusing any object with a repeated member name. */
export function parseStrictJson(text: string): StrictJsonResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'syntax' };
  }
  if (typeof value !== 'object' || value === null) return { ok: true, value };
  if (colonsAtMost(text, countKeys(value)) || !hasDuplicateMember(text)) return { ok: true, value };
  return { ok: false, reason: 'duplicate_member' };
}

/** Whether `text` holds at most `limit` colons (stops counting past the limit). */
function colonsAtMost(text: string, limit: number): boolean {
  let n = 0;
  for (let i = text.indexOf(':'); i !== -1; i = text.indexOf(':', i + 1)) if (++n > limit) return false;
  return true;
}

/** Own keys of every object in a parsed JSON value (arrays count their elements' keys). */
function countKeys(value: object): number {
  let n = 0;
  const stack: object[] = [value];
  while (stack.length > 0) {
    const node = stack.pop()!;
    const children = Array.isArray(node) ? node : Object.values(node);
    if (!Array.isArray(node)) n += children.length;
    for (const child of children) if (typeof child === 'object' && child !== null) stack.push(child);
  }
  return n;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/**
 * Whether any object in `text` names a member twice, compared after
 * unescaping (`"a"` and `"\u0061"` are the same name). `text` must be JSON
 * that `JSON.parse` accepted: the scan tracks structure only and does not
 * validate.
 */
export function hasDuplicateMember(text: string): boolean {
  // One entry per open container: the names seen so far for an object, null for an array.
  const names: Array<Set<string> | null> = [];
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (expectName) {
        let name = text.slice(i + 1, end);
        if (name.includes('\\')) name = JSON.parse(text.slice(i, end + 1)) as string;
        const seen = names[names.length - 1]!;
        if (seen.has(name)) return true;
        seen.add(name);
        expectName = false;
      }
      i = end;
    } else if (c === OPEN_OBJECT) {
      names.push(new Set());
      expectName = true;
    } else if (c === OPEN_ARRAY) {
      names.push(null);
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      names.pop();
      expectName = false;
    } else if (c === COMMA) {
      expectName = names[names.length - 1] !== null;
    } else if (c === COLON) {
      expectName = false;
    }
  }
  return false;
}

/** Index of the quote closing the string that opens at `start`. */
function stringEnd(text: string, start: number): number {
  let i = text.indexOf('"', start + 1);
  for (;;) {
    // A quote is escaped when an odd number of backslashes precede it.
    let backslashes = 0;
    for (let j = i - 1; text.charCodeAt(j) === BACKSLASH; j--) backslashes++;
    if (backslashes % 2 === 0) return i;
    i = text.indexOf('"', i + 1);
  }
}
