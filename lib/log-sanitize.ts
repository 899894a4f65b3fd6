/**
 * What makes a value safe to log: secret keys redacted at any depth,
 * credential-looking values masked wherever they appear, unsafe characters
 * escaped, strings capped, depth and breadth bounded. The redaction lists are
 * compiled once at load.
 */

const MAX_STRING = 512;
const MAX_DEPTH = 6;
const MAX_ITEMS = 50;

// Keys whose values are secrets whatever they hold, at any depth.
const SECRET_KEY = /authorization|cookie|token|secret|passw(or)?d|api[-_]?key|credential|private[-_]?key|session[-_]?key/i;

// Values that look like credentials wherever they appear inside a string.
const SECRET_VALUES: ReadonlyArray<[RegExp, string]> = [
  [/\bBearer\s+[^\s"',;]+/gi, 'Bearer [REDACTED]'],
  // No \b before eyJ: a JWT glued to other text ("id<jwt>") is still a JWT.
  [/eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g, '[REDACTED_JWT]'],
  [/\b(sk|rk)-[A-Za-z0-9_-]{8,}/g, '$1-[REDACTED]'],
  [/\bek_[A-Za-z0-9_-]{4,}/g, 'ek_[REDACTED]'],
  [/\b(sk|pk)_(test|live)_[A-Za-z0-9_$=+/-]{8,}/g, '$1_$2_[REDACTED]'],
];

// Characters that would let untrusted text forge or disguise log content:
// C0/C1 controls, line/paragraph separators, bidi overrides and zero-width marks.
// JSON.stringify escapes C0 but not the rest, so they are escaped here first.
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

function escapeChar(ch: string): string {
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

// One case-insensitive pass that matches wherever any pattern above could
// (a superset, built from the same list so it cannot fall out of step). Most
// logged strings are clean, and skipping six replace passes for them makes a
// log line about 3× cheaper (bench/limiters.mjs); the output is unchanged.
const MAYBE_UNSAFE = new RegExp(
  [...SECRET_VALUES.map(([pattern]) => pattern.source), UNSAFE_CHARS.source].map((source) => `(?:${source})`).join('|'),
  'i',
);

/** Masks credential-looking substrings, escapes unsafe characters and caps length. */
export function sanitizeString(value: string): string {
  let out = value.length > MAX_STRING * 4 ? value.slice(0, MAX_STRING * 4) : value;
  if (MAYBE_UNSAFE.test(out) || !out.isWellFormed()) {
    for (const [pattern, replacement] of SECRET_VALUES) out = out.replace(pattern, replacement);
    // Lone surrogates would make the JSON line invalid UTF-8 downstream.
    out = out.toWellFormed().replace(UNSAFE_CHARS, escapeChar);
  }
  if (out.length > MAX_STRING) out = `${out.slice(0, MAX_STRING)}…[truncated ${value.length} chars]`;
  return out;
}

/**
 * Deep copy of `value` safe to log: secret keys redacted at any depth,
 * secret-looking values masked, strings capped, depth and breadth bounded,
 * cycles cut. Never throws.
 */
export function sanitize(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return sanitizeString(value);
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object') return value === undefined ? undefined : `[${typeof value}]`;
  if (seen.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  seen.add(value);
  try {
    return sanitizeObject(value, depth, seen);
  } catch {
    // A hostile proxy (throwing traps, revoked) must not take the log line down.
    return '[Unreadable]';
  }
}

function sanitizeObject(value: object, depth: number, seen: WeakSet<object>): unknown {
  if (value instanceof Error) return { name: sanitizeString(value.name), message: sanitizeString(value.message) };
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((v) => sanitize(v, depth + 1, seen));
    if (value.length > MAX_ITEMS) items.push(`[${value.length - MAX_ITEMS} more]`);
    return items;
  }
  const out: Record<string, unknown> = {};
  let count = 0;
  for (const key of Object.keys(value)) {
    if (count++ >= MAX_ITEMS) {
      out['[more]'] = Object.keys(value).length - MAX_ITEMS;
      break;
    }
    const safeKey = sanitizeString(key);
    // Own data properties only: a hostile "__proto__" key stays a plain key.
    Object.defineProperty(out, safeKey, {
      value: SECRET_KEY.test(key) ? '[REDACTED]' : sanitize(readProperty(value, key), depth + 1, seen),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** A property's value, or a marker when its getter throws. */
function readProperty(value: object, key: string): unknown {
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return '[Unreadable]';
  }
}
