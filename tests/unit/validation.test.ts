import { describe, expect, it } from 'vitest';
import { loadConfig } from '@/lib/config';
import {
  createTokenRequestSchema,
  MAX_INSTRUCTIONS_CHARS,
  sanitizeInstructions,
  validateTokenRequest,
} from '@/lib/validation';

const schema = createTokenRequestSchema(loadConfig({}));
const validate = (body: unknown) => validateTokenRequest(schema, body);
const fromJson = (text: string) => validate(JSON.parse(text));

function accepted(body: unknown) {
  const result = validate(body);
  if (!result.ok) throw new Error(`refused: ${JSON.stringify(result.issues)}`);
  return result.value;
}

function refused(body: unknown) {
  const result = validate(body);
  if (result.ok) throw new Error(`accepted: ${JSON.stringify(result.value)}`);
  return result.issues;
}

describe('allowlists and defaults', () => {
  it('an empty body gets the default voice and model, and no instructions', () => {
    expect(accepted({})).toEqual({ voice: 'alloy', model: 'gpt-realtime' });
  });

  it.each(['alloy', 'echo', 'fable', 'onyx', 'nova', 'shimmer'])('accepts the listed voice %s', (voice) => {
    expect(accepted({ voice }).voice).toBe(voice);
  });

  it.each(['gpt-realtime', 'gpt-realtime-mini', 'gpt-4o-realtime-preview', 'gpt-4o-mini-realtime-preview'])(
    'accepts the listed model %s',
    (model) => {
      expect(accepted({ model }).model).toBe(model);
    },
  );

  it.each([
    ['unlisted voice', { voice: 'ash' }, 'voice'],
    ['upper case voice', { voice: 'ALLOY' }, 'voice'],
    ['padded voice', { voice: ' alloy' }, 'voice'],
    ['voice with NUL', { voice: 'alloy\u0000' }, 'voice'],
    ['voice as array', { voice: ['alloy'] }, 'voice'],
    ['voice as object', { voice: { toString: 'alloy' } }, 'voice'],
    ['voice null', { voice: null }, 'voice'],
    ['voice number', { voice: 1 }, 'voice'],
    ['empty voice', { voice: '' }, 'voice'],
    ['expensive model', { model: 'gpt-4.5-preview' }, 'model'],
    ['model prefix trick', { model: 'gpt-realtime-x' }, 'model'],
    ['model case', { model: 'GPT-REALTIME' }, 'model'],
    ['model with path', { model: '../gpt-realtime' }, 'model'],
    ['instructions number', { instructions: 42 }, 'instructions'],
    ['instructions array', { instructions: ['a'] }, 'instructions'],
    ['instructions object', { instructions: { text: 'a' } }, 'instructions'],
    ['instructions null', { instructions: null }, 'instructions'],
  ])('refuses %s', (_label, body, field) => {
    expect(refused(body).map((i) => i.field)).toEqual([field]);
  });

  it('uses a configured allowlist and defaults', () => {
    const custom = createTokenRequestSchema(
      loadConfig({ ALLOWED_VOICES: 'marin,cedar', DEFAULT_VOICE: 'cedar', ALLOWED_MODELS: 'gpt-realtime-mini' }),
    );
    expect(validateTokenRequest(custom, {})).toEqual({ ok: true, value: { voice: 'cedar', model: 'gpt-realtime-mini' } });
    expect(validateTokenRequest(custom, { voice: 'alloy' }).ok).toBe(false);
    expect(validateTokenRequest(custom, { model: 'gpt-realtime' }).ok).toBe(false);
  });

  it.each([
    ['null', null],
    ['array', []],
    ['array of objects', [{ voice: 'alloy' }]],
    ['string', 'alloy'],
    ['number', 1],
    ['boolean', true],
    ['undefined', undefined],
  ])('refuses a body that is a %s', (_label, body) => {
    expect(refused(body)).toEqual([{ field: '(body)', message: 'body must be a JSON object' }]);
  });
});

describe('unknown fields are refused, never forwarded', () => {
  it.each([
    ['an extra session setting', '{"tools":[{"type":"function"}]}', 'tools'],
    ['a TTL override', '{"expires_after":{"seconds":7200}}', 'expires_after'],
    ['a nested session', '{"session":{"model":"gpt-4.5"}}', 'session'],
    ['__proto__', '{"__proto__":{"voice":"ash"}}', '__proto__'],
    ['__proto__ null', '{"__proto__":null}', '__proto__'],
    ['constructor', '{"constructor":{"prototype":{"admin":true}}}', 'constructor'],
    ['prototype', '{"prototype":{}}', 'prototype'],
    ['a key differing by case', '{"Voice":"alloy"}', 'Voice'],
  ])('%s', (_label, json, key) => {
    const issues = fromJson(json) as { ok: false; issues: Array<{ field: string; message: string }> };
    expect(issues.ok).toBe(false);
    expect(issues.issues).toEqual([{ field: '(body)', message: `unknown field(s): ${key}` }]);
  });

  it('a __proto__ body does not pollute prototypes or change defaults', () => {
    const body = JSON.parse('{"__proto__":{"voice":"ash","polluted":true}}');
    expect(validate(body).ok).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(accepted({})).toEqual({ voice: 'alloy', model: 'gpt-realtime' });
  });

  it('an accepted value is a fresh object holding only the three fields', () => {
    const value = accepted({ voice: 'echo', model: 'gpt-realtime-mini', instructions: 'Be brief.' });
    expect(Object.keys(value).sort()).toEqual(['instructions', 'model', 'voice']);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });

  it('names many unknown keys briefly and never reflects hostile key text', () => {
    const issues = fromJson('{"<script>alert(1)</script>":1,"a":1,"b":2,"c":3,"d":4}');
    expect(issues).toEqual({ ok: false, issues: [{ field: '(body)', message: 'unknown field(s): (unprintable), a, b and 2 more' }] });
    const long = validate({ ['k'.repeat(40)]: 1 });
    expect(JSON.stringify(long)).not.toContain('k'.repeat(40));
  });
});

describe('sanitizeInstructions: script elements', () => {
  it.each([
    ['simple', 'Hello <script>alert(1)</script> world', 'Hello world'],
    ['mixed case', 'Hi <ScRiPt>alert(1)</sCrIpT>there', 'Hi there'],
    ['attributes', 'a<script type="text/javascript" src="//evil">x</script>b', 'ab'],
    ['closing tag with space', 'a<script>x</script >b', 'ab'],
    ['unclosed element', 'Be nice <script>fetch("//evil")', 'Be nice'],
    ['unterminated open tag', 'Be nice <script src=//evil', 'Be nice'],
    ['stray closing tag', 'a</script>b', 'ab'],
    ['nested split tag', '<scr<script>ipt>alert(1)</script>', '<scr'],
    ['reassembling tag', '<scr<script></script>ipt>alert(1)</script>', 'alert(1)'],
    ['double reassembly', '<scr<scr<script></script>ipt></script>ipt>alert(1)</script>x', ''],
    ['tag split by zero-width space', '<scr\u200bipt>alert(1)</scr\u200bipt>', ''],
    ['tag split by a bidi control', '<scr\u202eipt>x</script>', ''],
    ['slash after name', 'a<script/src=//evil>x</script>b', 'ab'],
    ['multiline body', 'a<script>\nline1\nline2\n</script>b', 'ab'],
    ['several elements', '1<script>a</script>2<SCRIPT>b</SCRIPT>3', '123'],
  ])('%s', (_label, input, expected) => {
    const out = sanitizeInstructions(input);
    expect(out).toBe(expected);
    expect(out).not.toMatch(/<\/?script/i);
  });

  it('leaves harmless markup-looking text alone', () => {
    expect(sanitizeInstructions('Use <b>bold</b> and a < b > c; describe <scripture>')).toBe('Use <b>bold</b> and a < b > c; describe <scripture>');
  });

  it('never leaves a script tag for any split of "<script>"', () => {
    const tag = '<script>';
    for (let i = 1; i < tag.length; i++) {
      const input = `${tag.slice(0, i)}<script>x</script>${tag.slice(i)}alert(1)</script>`;
      expect(sanitizeInstructions(input)).not.toMatch(/<\/?script/i);
    }
  });
});

describe('sanitizeInstructions: invisible and control characters, whitespace', () => {
  it.each([
    ['NUL', 'a\u0000b', 'ab'],
    ['escape', 'a\u001b[31mb', 'a[31mb'],
    ['DEL and C1', 'a\u007f\u0085\u009fb', 'ab'],
    ['bidi override', 'user\u202egnp.exe', 'usergnp.exe'],
    ['bidi isolates', '\u2066a\u2069b\u2068c', 'abc'],
    ['arabic letter mark', 'a\u061cb', 'ab'],
    ['zero-width space/joiners', 'i\u200bg\u200cn\u200do\u200e\u200fre', 'ignore'],
    ['word joiner and invisible operators', 'a\u2060\u2061\u2062\u2063\u2064b', 'ab'],
    ['soft hyphen', 'ig\u00adnore', 'ignore'],
    ['BOM', '\ufeffhello', 'hello'],
    ['mongolian vowel separator', 'a\u180eb', 'ab'],
    ['interlinear annotation', 'a\ufff9b\ufffbc', 'abc'],
  ])('removes %s', (_label, input, expected) => {
    expect(sanitizeInstructions(input)).toBe(expected);
  });

  it('collapses every kind of whitespace to single spaces and trims', () => {
    expect(sanitizeInstructions('  a \t\tb\r\n\nc\u00a0\u2028d\u2029e\u3000f \v\f g  ')).toBe('a b c d e f g');
  });

  it('normalises to NFC', () => {
    expect(sanitizeInstructions('cafe\u0301')).toBe('caf\u00e9');
  });

  it('replaces lone surrogates', () => {
    expect(sanitizeInstructions('a\ud800b\udc00c')).toBe('a\ufffdb\ufffdc');
    expect(sanitizeInstructions('\ud83d').isWellFormed()).toBe(true);
  });

  it('keeps emoji and non-Latin text', () => {
    expect(sanitizeInstructions('Speak 日本語 😀 and Ελληνικά')).toBe('Speak 日本語 😀 and Ελληνικά');
  });
});

describe('instructions through the schema', () => {
  it('are sanitized before they are returned', () => {
    expect(accepted({ instructions: '  Be\u200b brief.\n\n<script>x</script> Thanks ' }).instructions).toBe('Be brief. Thanks');
  });

  it.each([
    ['empty', ''],
    ['blank', ' \n\t '],
    ['only invisible characters', '\u200b\u202e\ufeff'],
    ['only a script element', '<script>alert(1)</script>'],
  ])('%s instructions are omitted', (_label, instructions) => {
    const value = accepted({ instructions });
    expect(value).toEqual({ voice: 'alloy', model: 'gpt-realtime' });
    expect('instructions' in value).toBe(false);
  });

  it(`accepts exactly ${MAX_INSTRUCTIONS_CHARS} characters`, () => {
    expect(accepted({ instructions: 'a'.repeat(2000) }).instructions).toHaveLength(2000);
  });

  it('refuses 2001 characters', () => {
    expect(refused({ instructions: 'a'.repeat(2001) })).toEqual([{ field: 'instructions', message: 'must be at most 2000 characters' }]);
  });

  it('checks the limit after sanitizing (whitespace and scripts do not count)', () => {
    const padded = `${'a'.repeat(1000)}${' '.repeat(3000)}${'<script>x</script>'.repeat(100)}${'b'.repeat(999)}`;
    expect(padded.length).toBeGreaterThan(2000);
    expect(accepted({ instructions: padded }).instructions).toHaveLength(2000);
  });

  it('does not let invisible padding smuggle extra text past the limit', () => {
    const sneaky = `${'a'.repeat(1500)}${'\u200b'.repeat(3000)}${'b'.repeat(501)}`;
    expect(refused({ instructions: sneaky })[0].field).toBe('instructions');
  });

  it('counts a surrogate pair (emoji) as one character', () => {
    const emoji = '😀'.repeat(2000);
    expect(emoji.length).toBe(4000);
    expect(accepted({ instructions: emoji }).instructions).toBe(emoji);
    expect(refused({ instructions: '😀'.repeat(2001) })[0].field).toBe('instructions');
  });

  it('counts a lone surrogate as one character', () => {
    expect(accepted({ instructions: `${'a'.repeat(1999)}\ud800` }).instructions).toBe(`${'a'.repeat(1999)}\ufffd`);
    expect(validate({ instructions: `${'a'.repeat(2000)}\ud800` }).ok).toBe(false);
  });

  it('refuses huge raw input before doing the work', () => {
    expect(refused({ instructions: ' '.repeat(1_000_000) })).toEqual([{ field: 'instructions', message: 'must be at most 2000 characters' }]);
  });
});

describe('error messages never echo values', () => {
  const CANARY = 'CANARY-8d1e';
  it.each([
    ['voice', { voice: `${CANARY}<img src=x onerror=alert(1)>` }],
    ['model', { model: `${CANARY}` }],
    ['instructions too long', { instructions: `${CANARY}${'x'.repeat(3000)}` }],
    ['instructions wrong type', { instructions: [CANARY] }],
    ['several at once', { voice: CANARY, model: CANARY, instructions: 7 }],
  ])('%s', (_label, body) => {
    const issues = refused(body);
    expect(JSON.stringify(issues)).not.toContain(CANARY);
    expect(JSON.stringify(issues)).not.toContain('<img');
    for (const issue of issues) expect(Object.keys(issue).sort()).toEqual(['field', 'message']);
  });

  it('reports each bad field once, by name', () => {
    expect(refused({ voice: 'x', model: 'y' }).map((i) => i.field).sort()).toEqual(['model', 'voice']);
  });
});
