'use strict';

/**
 * A small TypeScript/JavaScript tokenizer: enough to read the project's
 * modules structurally without a compiler. Comments are dropped, so a
 * commented-out line never counts; strings are decoded; regular-expression
 * literals (whose `/`, quotes and brackets would otherwise confuse a scanner)
 * are recognised by the token before them, as engines do.
 *
 * Token: { type, value, start, end, line, nl }
 *   type  'ident' | 'num' | 'str' | 'tmpl' | 'regex' | 'punct'
 *   value decoded string for 'str' and for 'tmpl' without `${}` (else null),
 *         number for 'num', source text otherwise
 *   nl    true when a line break precedes the token (for ASI-style statement ends)
 */

// Longest first; `>` is always a single token so generic closers like `>>` never merge,
// and `?.` before a digit is a ternary (`a?.5:1`).
const PUNCTUATOR = /\.\.\.|>>>=|===|!==|\*\*=|<<=|&&=|\|\|=|\?\?=|=>|==|!=|<=|\+=|-=|\*=|\/=|%=|&=|\|=|\^=|&&|\|\||\?\?|\?\.(?!\d)|\+\+|--|\*\*|<<|[{}()[\];,<>+\-*/%&|^!~?:=.@#]/y;

/** Keywords after which a `/` starts a regular expression, not a division. */
const REGEX_AFTER_KEYWORD = new Set([
  'return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw',
  'case', 'do', 'else', 'yield', 'await',
]);

const IDENTIFIER = /[A-Za-z_$\u00c0-\uffff][\w$\u00c0-\uffff]*/y;
const SPACE = /[ \t\r\f\v\u00a0\u2028\u2029\ufeff]+/y;
const NUMBER = /(?:0[xX][\da-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?)n?/y;

class LexError extends Error {}

/**
 * @param {string} src source text
 * @returns {Array<{type: string, value: any, start: number, end: number, line: number, nl: boolean}>}
 */
function tokenize(src) {
  const state = { src, pos: 0, line: 1, tokens: [], nl: true };
  lexUntil(state, false);
  return state.tokens;
}

/** Lexes until the end, or (inside a template `${`) until the matching `}`. */
function lexUntil(state, inTemplate) {
  const { src } = state;
  let depth = 0;
  while (state.pos < src.length) {
    const ch = src[state.pos];
    if (ch === '\n') {
      state.line++;
      state.nl = true;
      state.pos++;
      continue;
    }
    SPACE.lastIndex = state.pos;
    if (SPACE.test(src)) {
      state.pos = SPACE.lastIndex;
      continue;
    }
    if (ch === '/' && src[state.pos + 1] === '/') {
      const end = src.indexOf('\n', state.pos);
      state.pos = end === -1 ? src.length : end;
      continue;
    }
    if (ch === '/' && src[state.pos + 1] === '*') {
      const end = src.indexOf('*/', state.pos + 2);
      if (end === -1) throw new LexError(`unterminated comment on line ${state.line}`);
      state.line += countLines(src, state.pos, end);
      if (countLines(src, state.pos, end) > 0) state.nl = true;
      state.pos = end + 2;
      continue;
    }
    if (inTemplate && ch === '}' && depth === 0) {
      state.pos++;
      return;
    }
    const start = state.pos;
    const line = state.line;
    if (ch === '"' || ch === "'") {
      push(state, 'str', readString(state, ch), start, line);
    } else if (ch === '`') {
      push(state, 'tmpl', readTemplate(state), start, line);
    } else if (ch === '/' && regexAllowed(state.tokens[state.tokens.length - 1])) {
      push(state, 'regex', readRegex(state), start, line);
    } else if (sticky(IDENTIFIER, src, start)) {
      state.pos = IDENTIFIER.lastIndex;
      push(state, 'ident', src.slice(start, state.pos), start, line);
    } else if (ch >= '0' && ch <= '9' ? sticky(NUMBER, src, start) : ch === '.' && /\d/.test(src[start + 1] ?? '') && sticky(NUMBER, src, start)) {
      state.pos = NUMBER.lastIndex;
      push(state, 'num', Number(src.slice(start, state.pos).replace(/_/g, '').replace(/n$/, '')), start, line);
    } else if (sticky(PUNCTUATOR, src, start)) {
      state.pos = PUNCTUATOR.lastIndex;
      const punct = src.slice(start, state.pos);
      if (punct === '{') depth++;
      if (punct === '}') depth--;
      push(state, 'punct', punct, start, line);
    } else {
      throw new LexError(`unexpected character on line ${state.line}`);
    }
  }
  if (inTemplate) throw new LexError('unterminated template literal');
}

function sticky(re, src, at) {
  re.lastIndex = at;
  return re.test(src);
}

function push(state, type, value, start, line) {
  state.tokens.push({ type, value, start, end: state.pos, line, nl: state.nl });
  state.nl = false;
}

function countLines(src, from, to) {
  let n = 0;
  for (let i = from; i < to; i++) if (src[i] === '\n') n++;
  return n;
}

function regexAllowed(prev) {
  if (!prev) return true;
  if (prev.type === 'num' || prev.type === 'str' || prev.type === 'tmpl' || prev.type === 'regex') return false;
  if (prev.type === 'ident') return REGEX_AFTER_KEYWORD.has(prev.value);
  return ![')', ']', '}', '++', '--'].includes(prev.value);
}

const ESCAPES = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', v: '\v', 0: '\0' };

/** Reads a backslash escape at `state.pos` (just past the backslash) and returns its value. */
function readEscape(state) {
  const { src } = state;
  const c = src[state.pos];
  if (c === 'u') {
    const braced = /^u\{([\da-fA-F]+)\}/.exec(src.slice(state.pos, state.pos + 10));
    if (braced) {
      state.pos += braced[0].length;
      return String.fromCodePoint(parseInt(braced[1], 16));
    }
    const hex = src.slice(state.pos + 1, state.pos + 5);
    state.pos += 5;
    return String.fromCharCode(parseInt(hex, 16));
  }
  if (c === 'x') {
    const hex = src.slice(state.pos + 1, state.pos + 3);
    state.pos += 3;
    return String.fromCharCode(parseInt(hex, 16));
  }
  state.pos++;
  if (c === '\r' && src[state.pos] === '\n') state.pos++;
  if (c === '\n' || c === '\r') {
    state.line++;
    return '';
  }
  return ESCAPES[c] ?? c;
}

function readString(state, quote) {
  const { src } = state;
  let out = '';
  state.pos++;
  while (state.pos < src.length) {
    const c = src[state.pos];
    if (c === quote) {
      state.pos++;
      return out;
    }
    if (c === '\n') break;
    if (c === '\\') {
      state.pos++;
      out += readEscape(state);
    } else {
      out += c;
      state.pos++;
    }
  }
  throw new LexError(`unterminated string on line ${state.line}`);
}

/** A template's value is its text when it has no `${}`; otherwise null (the inner tokens are lexed and dropped). */
function readTemplate(state) {
  const { src } = state;
  let out = '';
  let dynamic = false;
  state.pos++;
  while (state.pos < src.length) {
    const c = src[state.pos];
    if (c === '`') {
      state.pos++;
      return dynamic ? null : out;
    }
    if (c === '\\') {
      state.pos++;
      out += readEscape(state);
    } else if (c === '$' && src[state.pos + 1] === '{') {
      dynamic = true;
      state.pos += 2;
      const inner = { src, pos: state.pos, line: state.line, tokens: [], nl: false };
      lexUntil(inner, true);
      state.pos = inner.pos;
      state.line = inner.line;
    } else {
      if (c === '\n') state.line++;
      out += c;
      state.pos++;
    }
  }
  throw new LexError('unterminated template literal');
}

function readRegex(state) {
  const { src } = state;
  const start = state.pos;
  let inClass = false;
  state.pos++;
  while (state.pos < src.length) {
    const c = src[state.pos];
    if (c === '\n') break;
    if (c === '\\') state.pos += 2;
    else {
      if (c === '[') inClass = true;
      else if (c === ']') inClass = false;
      else if (c === '/' && !inClass) {
        state.pos++;
        while (state.pos < src.length && /[a-z]/i.test(src[state.pos])) state.pos++;
        return src.slice(start, state.pos);
      }
      state.pos++;
    }
  }
  throw new LexError(`unterminated regular expression on line ${state.line}`);
}

const OPEN = { '(': ')', '[': ']', '{': '}' };

/**
 * Pairs brackets: returns an array where `match[i]` is the index of the token
 * closing (or opening) the bracket at `i`, and `depth[i]` its nesting depth.
 */
function matchBrackets(tokens) {
  const match = new Array(tokens.length).fill(-1);
  const depth = new Array(tokens.length).fill(0);
  const stack = [];
  tokens.forEach((t, i) => {
    if (t.type === 'punct' && OPEN[t.value]) {
      depth[i] = stack.length;
      stack.push(i);
    } else if (t.type === 'punct' && (t.value === ')' || t.value === ']' || t.value === '}')) {
      const open = stack.pop();
      if (open === undefined || OPEN[tokens[open].value] !== t.value) {
        throw new LexError(`unbalanced "${t.value}" on line ${t.line}`);
      }
      match[open] = i;
      match[i] = open;
      depth[i] = stack.length;
    } else {
      depth[i] = stack.length;
    }
  });
  if (stack.length) throw new LexError(`unclosed "${tokens[stack[stack.length - 1]].value}" on line ${tokens[stack[stack.length - 1]].line}`);
  return { match, depth };
}

module.exports = { tokenize, matchBrackets, LexError };
