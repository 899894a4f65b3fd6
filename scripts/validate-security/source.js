'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { tokenize, matchBrackets } = require('./lexer');

/**
 * Structural view of one TypeScript module, built from tokens (comments are
 * already gone): its imports, its top-level declarations with their token
 * ranges, what it exports, what each declaration refers to, and a tiny
 * evaluator for the constant expressions security settings are written in.
 */

const CACHE = new Map();

/** Marker for a value the evaluator cannot know statically. */
const UNKNOWN = Symbol('unknown');

/** Words that begin a new top-level statement (used to end a declaration written without `;`). */
const STATEMENT_START = new Set([
  'export', 'import', 'const', 'let', 'var', 'function', 'async', 'class', 'type', 'interface', 'enum', 'declare',
]);

class SourceFile {
  /**
   * @param {string} file path relative to the project root (for messages)
   * @param {string} text module source
   */
  constructor(file, text) {
    this.file = file;
    this.tokens = tokenize(text);
    const { match, depth } = matchBrackets(this.tokens);
    this.match = match;
    this.depth = depth;
    /** local name → { module, imported } */
    this.imports = new Map();
    /** name → { name, kind, start, end, init, body } (init/body: token index or -1) */
    this.decls = new Map();
    /** exported name → local name */
    this.exports = new Map();
    /** { start, end, name? } of the default export, if any */
    this.defaultExport = undefined;
    this.scanTopLevel();
  }

  /** Reads and parses `root/file` once per process; → { source } or { error } naming the file. */
  static read(root, file) {
    const full = path.join(root, file);
    if (!CACHE.has(full)) CACHE.set(full, SourceFile.parse(full, file));
    return CACHE.get(full);
  }

  static parse(full, file) {
    if (!fs.existsSync(full)) return { error: `${file} does not exist` };
    try {
      return { source: new SourceFile(file, fs.readFileSync(full, 'utf8')) };
    } catch (error) {
      return { error: `${file} cannot be parsed: ${error.message}` };
    }
  }

  is(i, value) {
    const t = this.tokens[i];
    return t !== undefined && (t.type === 'punct' || t.type === 'ident') && t.value === value;
  }

  isIdent(i) {
    return this.tokens[i]?.type === 'ident';
  }

  /** Index of the end (exclusive) of the statement or expression that starts at `i`. */
  statementEnd(i, stopAt = [';']) {
    const base = this.depth[i];
    for (let j = i; j < this.tokens.length; j++) {
      const t = this.tokens[j];
      if (t.type === 'punct' && (t.value === '(' || t.value === '[' || t.value === '{')) {
        j = this.match[j];
        continue;
      }
      if (t.type === 'punct' && (t.value === ')' || t.value === ']' || t.value === '}') && this.depth[j] < base) return j;
      if (this.depth[j] === base && t.type === 'punct' && stopAt.includes(t.value)) return j;
      if (j > i && base === 0 && t.nl && t.type === 'ident' && STATEMENT_START.has(t.value) && this.depth[j] === 0) return j;
    }
    return this.tokens.length;
  }

  /** The index after a statement that `statementEnd` says ends at `end` (past a `;`, not past the next statement). */
  after(end) {
    return this.is(end, ';') ? end + 1 : Math.max(end, 0);
  }

  scanTopLevel() {
    const n = this.tokens.length;
    let i = 0;
    let last = -1;
    while (i < n) {
      if (i <= last) i = last + 1; // always make progress, whatever the input
      last = i;
      if (this.depth[i] !== 0) {
        i++;
        continue;
      }
      if (this.is(i, 'import') && !this.is(i + 1, '(') && !this.is(i + 1, '.')) {
        i = this.scanImport(i);
        continue;
      }
      let j = i;
      let exported = false;
      let isDefault = false;
      if (this.is(j, 'export')) {
        exported = true;
        j++;
        if (this.is(j, 'default')) {
          isDefault = true;
          j++;
        } else if (this.is(j, '{') || this.is(j, '*')) {
          i = this.scanExportList(j);
          continue;
        }
      }
      if (this.is(j, 'declare')) j++;
      const declEnd = this.scanDeclaration(j, exported, isDefault);
      if (declEnd !== undefined) {
        i = declEnd;
        continue;
      }
      if (isDefault) {
        const end = this.statementEnd(j);
        const name = this.isIdent(j) && end === j + 1 ? this.tokens[j].value : undefined;
        this.defaultExport = { start: j, end, name };
        i = this.after(end);
        continue;
      }
      i = this.after(this.statementEnd(i));
    }
  }

  scanImport(i) {
    const end = this.statementEnd(i);
    const from = this.tokens[end - 1];
    if (from?.type !== 'str') return this.after(end);
    const specifier = from.value;
    let j = i + 1;
    if (this.is(j, 'type')) j++;
    while (j < end - 1) {
      if (this.is(j, '*') && this.is(j + 1, 'as')) {
        this.imports.set(this.tokens[j + 2].value, { module: specifier, imported: '*' });
        j += 3;
      } else if (this.is(j, '{')) {
        const close = this.match[j];
        for (const [imported, local] of this.namedList(j + 1, close)) this.imports.set(local, { module: specifier, imported });
        j = close + 1;
      } else if (this.isIdent(j) && !this.is(j, 'from')) {
        this.imports.set(this.tokens[j].value, { module: specifier, imported: 'default' });
        j++;
      } else j++;
    }
    return this.after(end);
  }

  /** `a, b as c, type d` between `from` and `to` → [imported, local] pairs. */
  namedList(from, to) {
    const out = [];
    let j = from;
    while (j < to) {
      if (this.is(j, ',')) {
        j++;
        continue;
      }
      if (this.is(j, 'type') && this.isIdent(j + 1) && !this.is(j + 1, 'as')) j++;
      const name = this.tokens[j].value;
      if (this.is(j + 1, 'as')) {
        out.push([name, this.tokens[j + 2].value]);
        j += 3;
      } else {
        out.push([name, name]);
        j++;
      }
    }
    return out;
  }

  scanExportList(j) {
    const end = this.statementEnd(j);
    if (this.is(j, '{')) {
      const close = this.match[j];
      const reexport = this.is(close + 1, 'from');
      for (const [local, exported] of this.namedList(j + 1, close)) {
        this.exports.set(exported, reexport ? undefined : local);
      }
    }
    return this.after(end);
  }

  /** Records a function/const/let/var/class declaration starting at `j`; returns the index after it. */
  scanDeclaration(j, exported, isDefault) {
    let k = j;
    if (this.is(k, 'async')) k++;
    if (this.is(k, 'function') || this.is(k, 'class')) {
      const kind = this.tokens[k].value;
      k++;
      if (this.is(k, '*')) k++;
      const name = this.isIdent(k) && !this.is(k, '(') ? this.tokens[k].value : undefined;
      const body = kind === 'class' ? this.findClassBody(k) : this.findBody(k);
      if (body === -1) return undefined;
      const end = this.match[body];
      const decl = { name, kind, start: j, end: end + 1, init: -1, body };
      if (name) this.decls.set(name, decl);
      if (exported && name && !isDefault) this.exports.set(name, name);
      if (isDefault) this.defaultExport = { start: j, end: end + 1, name, decl };
      return end + 1;
    }
    if (this.is(k, 'const') || this.is(k, 'let') || this.is(k, 'var')) {
      k++;
      const name = this.isIdent(k) ? this.tokens[k].value : undefined;
      const end = this.statementEnd(k);
      let init = -1;
      for (let m = k + 1; m < end; m++) {
        if (this.depth[m] === this.depth[k] && this.is(m, '=')) {
          init = m + 1;
          break;
        }
      }
      if (name) {
        this.decls.set(name, { name, kind: 'const', start: j, end, init, body: -1 });
        if (exported) this.exports.set(name, name);
      }
      return this.after(end);
    }
    return undefined;
  }

  /** From a class's name, finds the `{` of its body (skipping `extends`/`implements` clauses). */
  findClassBody(k) {
    for (let j = k; j < this.tokens.length; j++) {
      if (this.is(j, '{')) return j;
      if (this.is(j, '(') || this.is(j, '[')) j = this.match[j];
    }
    return -1;
  }

  /** From a function's name, finds the `{` of its body (skipping generics, parameters and a return type). */
  findBody(k) {
    let j = k;
    while (j < this.tokens.length && !this.is(j, '(')) j++;
    if (j >= this.tokens.length) return -1;
    j = this.match[j] + 1;
    for (; j < this.tokens.length; j++) {
      if (!this.is(j, '{')) {
        if (this.is(j, '(') || this.is(j, '[')) j = this.match[j];
        continue;
      }
      const prev = this.tokens[j - 1];
      const typePosition = prev.type === 'punct' && [':', '|', '&', '<', ',', '=>', '?'].includes(prev.value);
      if (!typePosition) return j;
      j = this.match[j];
    }
    return -1;
  }

  /** The local declaration that an exported name refers to. */
  exported(name) {
    const local = this.exports.get(name);
    return local === undefined ? undefined : this.decls.get(local);
  }

  /** Whether the identifier at `i` is a property name (`x.name`, `{ name: … }` key) rather than a reference. */
  isPropertyName(i) {
    return this.is(i - 1, '.') || this.is(i - 1, '?.') || (this.is(i + 1, ':') && (this.is(i - 1, '{') || this.is(i - 1, ',')) && this.depthKindIsObject(i));
  }

  depthKindIsObject(i) {
    for (let j = i - 1; j >= 0; j--) {
      if (this.depth[j] < this.depth[i] && this.tokens[j].type === 'punct') return this.tokens[j].value === '{';
    }
    return false;
  }

  /** Identifiers, called identifiers and string values referred to between token indexes [from, to). */
  refsIn(from, to) {
    const names = new Set();
    const calls = new Set();
    const strings = new Set();
    for (let i = from; i < to; i++) {
      const t = this.tokens[i];
      if (t.type === 'ident' && !this.isPropertyName(i)) {
        names.add(t.value);
        if (this.is(this.skipTypeArgs(i + 1), '(')) calls.add(t.value);
      } else if ((t.type === 'str' || t.type === 'tmpl') && t.value !== null) strings.add(t.value);
    }
    return { names, calls, strings };
  }

  /**
   * Everything reachable from the tokens [from, to): identifiers, calls and
   * strings in the range plus, transitively, those of the top-level
   * declarations it refers to. An imported name is also reported as
   * `module#imported` (module = last path segment, e.g. `origin#checkOrigin`),
   * and `ranges` lists every token range visited.
   */
  reach(from, to) {
    const names = new Set();
    const calls = new Set();
    const strings = new Set();
    const ranges = [];
    const queue = [[from, to]];
    const seen = new Set();
    while (queue.length) {
      const [a, b] = queue.pop();
      ranges.push([a, b]);
      const refs = this.refsIn(a, b);
      refs.strings.forEach((s) => strings.add(s));
      for (const name of refs.names) {
        const imp = this.decls.has(name) ? undefined : this.imports.get(name);
        names.add(name);
        if (imp) names.add(`${moduleBase(imp.module)}#${imp.imported}`);
        if (refs.calls.has(name)) {
          calls.add(name);
          if (imp) calls.add(`${moduleBase(imp.module)}#${imp.imported}`);
        }
        const decl = this.decls.get(name);
        if (decl && !seen.has(name)) {
          seen.add(name);
          queue.push([decl.start, decl.end]);
        }
      }
    }
    return { names, calls, strings, ranges };
  }

  /** {@link reach} for a top-level declaration, by name (undefined when it does not exist). */
  reachDecl(name) {
    const decl = this.decls.get(name);
    return decl && this.reach(decl.start, decl.end);
  }

  /** Whether any of `ranges` contains the member chain (see {@link hasMember}). */
  rangesHaveMember(ranges, chain) {
    return ranges.some(([a, b]) => this.hasMember(a, b, chain));
  }

  /** Whether any of `ranges` calls `callee` (see {@link callsIn}). */
  rangesCall(ranges, callee) {
    return ranges.some(([a, b]) => this.callsIn(a, b, callee));
  }

  /** Whether [from, to) calls `callee` (a plain call, or a member call `.callee(`). */
  callsIn(from, to, callee) {
    for (let i = from; i < to; i++) {
      if (this.tokens[i].type === 'ident' && this.tokens[i].value === callee && this.is(this.skipTypeArgs(i + 1), '(')) return true;
    }
    return false;
  }

  skipTypeArgs(i) {
    if (!this.is(i, '<')) return i;
    let level = 0;
    for (let j = i; j < this.tokens.length && j < i + 64; j++) {
      if (this.is(j, '<')) level++;
      else if (this.is(j, '>')) {
        level--;
        if (level === 0) return j + 1;
      } else if (this.is(j, ';') || this.is(j, '{')) return i;
    }
    return i;
  }

  /** Whether [from, to) contains the member chain `a.b` (also `a?.b`), e.g. `rateLimits.api`. */
  hasMember(from, to, chain) {
    const parts = chain.split('.');
    for (let i = from; i < to; i++) {
      let ok = true;
      for (let p = 0; p < parts.length && ok; p++) {
        const t = this.tokens[i + p * 2];
        ok = t?.type === 'ident' && t.value === parts[p] && (p === 0 || this.is(i + p * 2 - 1, '.') || this.is(i + p * 2 - 1, '?.'));
      }
      if (ok && i + (parts.length - 1) * 2 < to) return true;
    }
    return false;
  }

  /** Index of the `(` of the first call to `callee` (plain or member) in [from, to), or -1. */
  findCall(from, to, callee) {
    for (let i = from; i < to; i++) {
      if (this.tokens[i].type === 'ident' && this.tokens[i].value === callee) {
        const open = this.skipTypeArgs(i + 1);
        if (this.is(open, '(')) return open;
      }
    }
    return -1;
  }

  /** Properties of the object literal whose `{` is at `open`: key → { key, start, end } token indexes of the value. */
  objectProps(open) {
    const close = this.match[open];
    const out = new Map();
    let j = open + 1;
    while (j < close) {
      const end = this.statementEnd(j, [',']);
      const key = this.tokens[j];
      if ((key.type === 'ident' || key.type === 'str') && this.is(j + 1, ':')) {
        out.set(String(key.value), { key: j, start: j + 2, end });
      } else if (key.type === 'ident' && end === j + 1) {
        out.set(key.value, { key: j, start: j, end });
      }
      j = end + 1;
    }
    return out;
  }

  /** Parameter names of the function declared as `name` (a `function` or an arrow `const`). */
  paramNames(name) {
    const decl = this.decls.get(name);
    if (!decl) return undefined;
    const open = this.findCallOpen(decl.start, decl.end);
    if (open === -1) return undefined;
    const names = [];
    for (let j = open + 1; j < this.match[open]; j++) {
      if (this.depth[j] === this.depth[open] + 1 && this.isIdent(j) && (this.is(j - 1, '(') || this.is(j - 1, ','))) {
        names.push(this.tokens[j].value);
      }
    }
    return names;
  }

  findCallOpen(from, to) {
    for (let i = from; i < to; i++) if (this.is(i, '(')) return i;
    return -1;
  }

  /** Whether the local name is imported from a module whose path ends in `base` (e.g. "origin"). */
  importedFrom(local, base) {
    const imp = this.imports.get(local);
    return imp !== undefined && moduleBase(imp.module) === base && !this.decls.has(local);
  }

  /** The name a local is imported as, or undefined. */
  importOf(local) {
    return this.imports.get(local);
  }

  /** Evaluates the constant expression starting at token `i` (see {@link UNKNOWN}). */
  evaluate(i, seen = new Set()) {
    return new Evaluator(this, seen).expr(i).value;
  }

  /** Evaluates a top-level `const` by name. */
  evaluateConst(name, seen = new Set()) {
    const decl = this.decls.get(name);
    if (!decl || decl.init === -1 || seen.has(name)) return UNKNOWN;
    seen.add(name);
    return this.evaluate(decl.init, seen);
  }
}

function moduleBase(module) {
  return module.replace(/\.(m|c)?[jt]sx?$/, '').split('/').pop();
}

/**
 * Recursive-descent evaluator for the literal subset security settings use:
 * strings, numbers, booleans, arrays, object literals with spreads, references
 * to top-level consts, `Object.freeze/entries/fromEntries`, `.join()`,
 * `.replace()` with string arguments, and TypeScript `as`/`satisfies` casts.
 */
class Evaluator {
  constructor(source, seen) {
    this.s = source;
    this.seen = seen;
  }

  /** → { value, next } where next is the index after the expression (`+ - * /` on known values). */
  expr(i) {
    let { value, next } = this.term(i);
    while (this.s.is(next, '+') || this.s.is(next, '-')) {
      const op = this.s.tokens[next].value;
      const right = this.term(next + 1);
      value = arithmetic(op, value, right.value);
      next = right.next;
    }
    return this.rest(value, next);
  }

  term(i) {
    let { value, next } = this.postfix(i);
    while (this.s.is(next, '*') || this.s.is(next, '/') || this.s.is(next, '%')) {
      const op = this.s.tokens[next].value;
      const right = this.postfix(next + 1);
      value = arithmetic(op, value, right.value);
      next = right.next;
    }
    return { value, next };
  }

  /** Anything else (ternaries, logical operators, comparisons) makes the value unknown. */
  rest(value, next) {
    const t = this.s.tokens[next];
    if (t === undefined || (t.type === 'punct' && [',', ';', ')', ']', '}'].includes(t.value)) || (t.nl && t.type !== 'punct')) {
      return { value, next };
    }
    return { value: UNKNOWN, next: this.s.statementEnd(next, [',', ';']) };
  }

  postfix(i) {
    let { value, next } = this.primary(i);
    for (;;) {
      if (this.s.is(next, 'as') || this.s.is(next, 'satisfies')) {
        next = this.skipType(next + 1);
      } else if ((this.s.is(next, '.') || this.s.is(next, '?.')) && this.s.isIdent(next + 1)) {
        const member = this.s.tokens[next + 1].value;
        if (this.s.is(next + 2, '(')) {
          const args = this.args(next + 2);
          value = callMethod(value, member, args);
          next = this.s.match[next + 2] + 1;
        } else {
          value = value !== UNKNOWN && value !== null && typeof value === 'object' && Object.hasOwn(value, member) ? value[member] : UNKNOWN;
          next += 2;
        }
      } else if (this.s.is(next, '!')) {
        next++;
      } else break;
    }
    return { value, next };
  }

  args(open) {
    const close = this.s.match[open];
    const out = [];
    let j = open + 1;
    while (j < close) {
      const { value, next } = this.expr(j);
      out.push(value);
      j = this.s.statementEnd(next, [',']);
      if (this.s.is(j, ',')) j++;
    }
    return out;
  }

  skipType(i) {
    let j = i;
    while (j < this.s.tokens.length) {
      const t = this.s.tokens[j];
      if (t.type === 'punct' && [',', ';', ')', ']', '}'].includes(t.value)) return j;
      if (t.type === 'punct' && ['(', '[', '{'].includes(t.value)) j = this.s.match[j];
      j++;
    }
    return j;
  }

  primary(i) {
    const s = this.s;
    const t = s.tokens[i];
    if (!t) return { value: UNKNOWN, next: i };
    if (t.type === 'str' || t.type === 'num') return { value: t.value, next: i + 1 };
    if (t.type === 'tmpl') return { value: t.value === null ? UNKNOWN : t.value, next: i + 1 };
    if (t.type === 'punct' && t.value === '-' && s.tokens[i + 1]?.type === 'num') return { value: -s.tokens[i + 1].value, next: i + 2 };
    if (t.type === 'punct' && t.value === '(') {
      const inner = this.expr(i + 1);
      return { value: s.is(inner.next, ')') ? inner.value : UNKNOWN, next: s.match[i] + 1 };
    }
    if (t.type === 'punct' && t.value === '[') return { value: this.array(i), next: s.match[i] + 1 };
    if (t.type === 'punct' && t.value === '{') return { value: this.object(i), next: s.match[i] + 1 };
    if (t.type === 'ident') {
      if (t.value === 'true' || t.value === 'false') return { value: t.value === 'true', next: i + 1 };
      if (t.value === 'null') return { value: null, next: i + 1 };
      if (t.value === 'undefined') return { value: undefined, next: i + 1 };
      if (t.value === 'Object' && s.is(i + 1, '.') && s.is(i + 3, '(')) {
        const fn = s.tokens[i + 2].value;
        const [arg] = this.args(i + 3);
        return { value: objectCall(fn, arg), next: s.match[i + 3] + 1 };
      }
      if (s.is(i + 1, '(') || s.is(i + 1, '=>')) return { value: UNKNOWN, next: s.statementEnd(i, [',', ';']) };
      return { value: s.evaluateConst(t.value, new Set(this.seen)), next: i + 1 };
    }
    return { value: UNKNOWN, next: s.statementEnd(i, [',', ';']) };
  }

  array(open) {
    const s = this.s;
    const close = s.match[open];
    const out = [];
    let j = open + 1;
    while (j < close) {
      if (s.is(j, '...')) {
        const { value, next } = this.expr(j + 1);
        if (!Array.isArray(value)) return UNKNOWN;
        out.push(...value);
        j = next;
      } else {
        const { value, next } = this.expr(j);
        out.push(value);
        j = next;
      }
      j = s.statementEnd(j, [',']);
      if (s.is(j, ',')) j++;
    }
    return out;
  }

  object(open) {
    const s = this.s;
    const close = s.match[open];
    const out = {};
    let j = open + 1;
    while (j < close) {
      if (s.is(j, '...')) {
        const { value, next } = this.expr(j + 1);
        if (value === UNKNOWN || value === null || typeof value !== 'object') return UNKNOWN;
        Object.assign(out, value);
        j = next;
      } else {
        const key = s.tokens[j];
        if ((key.type === 'str' || key.type === 'ident' || key.type === 'num') && s.is(j + 1, ':')) {
          const { value, next } = this.expr(j + 2);
          out[String(key.value)] = value;
          j = next;
        } else if (key.type === 'ident' && (s.is(j + 1, ',') || j + 1 === close)) {
          out[key.value] = s.evaluateConst(key.value, new Set(this.seen));
          j++;
        } else {
          // A method, getter or computed key: skip it, keeping what is known.
          let k = j;
          while (k < close && !s.is(k, '{') && !s.is(k, ',')) k = s.is(k, '(') || s.is(k, '[') ? s.match[k] + 1 : k + 1;
          if (s.is(k, '{')) k = s.match[k] + 1;
          const name = key.type === 'ident' && !['async', 'get', 'set'].includes(key.value) ? key.value : s.tokens[j + 1]?.value;
          if (typeof name === 'string') out[name] = UNKNOWN;
          j = k;
        }
      }
      j = s.statementEnd(j, [',']);
      if (s.is(j, ',')) j++;
    }
    return out;
  }
}

function arithmetic(op, a, b) {
  if (a === UNKNOWN || b === UNKNOWN) return UNKNOWN;
  if (op === '+' && (typeof a === 'string' || typeof b === 'string')) {
    return ['string', 'number'].includes(typeof a) && ['string', 'number'].includes(typeof b) ? `${a}${b}` : UNKNOWN;
  }
  if (typeof a !== 'number' || typeof b !== 'number') return UNKNOWN;
  if (op === '+') return a + b;
  if (op === '-') return a - b;
  if (op === '*') return a * b;
  if (op === '/') return a / b;
  return a % b;
}

function objectCall(fn, arg) {
  if (arg === UNKNOWN || arg === null || typeof arg !== 'object') return UNKNOWN;
  if (fn === 'freeze') return arg;
  if (fn === 'entries') return Array.isArray(arg) ? UNKNOWN : Object.entries(arg);
  if (fn === 'fromEntries') return Array.isArray(arg) && arg.every((e) => Array.isArray(e)) ? Object.fromEntries(arg) : UNKNOWN;
  return UNKNOWN;
}

function callMethod(value, method, args) {
  if (method === 'join' && Array.isArray(value) && value.every((v) => typeof v === 'string')) {
    const sep = args.length ? args[0] : ',';
    return typeof sep === 'string' ? value.join(sep) : UNKNOWN;
  }
  if (method === 'replace' && typeof value === 'string' && typeof args[0] === 'string' && typeof args[1] === 'string') {
    return value.replace(args[0], () => args[1]);
  }
  if (method === 'trim' && typeof value === 'string') return value.trim();
  return UNKNOWN;
}

module.exports = { SourceFile, UNKNOWN, moduleBase };
