import { describe, expect, it } from 'vitest';
import {
  createSecurityLogger,
  sanitize,
  sanitizeString,
  SECURITY_EVENTS,
  traceIdFrom,
  type LogLevel,
  type RequestContext,
  type SecurityLogEntry,
} from '@/lib/security-logger';

const NOW = Date.UTC(2026, 0, 9, 12, 30, 0, 123);
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function capture(minLevel?: LogLevel) {
  const lines: string[] = [];
  const logger = createSecurityLogger({ sink: (line) => void lines.push(line), minLevel, now: () => NOW });
  return {
    logger,
    lines,
    entries: () => lines.map((l) => JSON.parse(l) as SecurityLogEntry),
  };
}

const ctx: RequestContext = {
  traceId: TRACE,
  ip: '203.0.113.7',
  userAgent: 'curl/8.5.0',
  origin: 'https://app.example.com',
  endpoint: '/api/realtime/token',
  method: 'POST',
  userId: 'jwt:user-1',
};

// Characters that would end a line or hide text if written raw.
const RAW_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

describe('entry format', () => {
  it('writes one JSON object per line with every documented field', () => {
    const { logger, lines } = capture();
    logger.log('warn', 'rate_limit_exceeded', 'Rate limit exceeded for jwt:user-1', ctx, { limit: 10, retryAfter: 45 });
    expect(lines).toHaveLength(1);
    expect(lines[0].endsWith('\n')).toBe(true);
    expect(lines[0].indexOf('\n')).toBe(lines[0].length - 1);
    expect(JSON.parse(lines[0])).toEqual({
      timestamp: '2026-01-09T12:30:00.123Z',
      traceId: TRACE,
      level: 'warn',
      event: 'rate_limit_exceeded',
      message: 'Rate limit exceeded for jwt:user-1',
      userId: 'jwt:user-1',
      ip: '203.0.113.7',
      userAgent: 'curl/8.5.0',
      origin: 'https://app.example.com',
      endpoint: '/api/realtime/token',
      method: 'POST',
      metadata: { limit: 10, retryAfter: 45 },
    });
  });

  it('keeps the field order stable (timestamp, traceId, level, event, message first)', () => {
    const { logger, lines } = capture();
    logger.log('info', 'auth_success', 'ok', ctx);
    expect(Object.keys(JSON.parse(lines[0])).slice(0, 5)).toEqual(['timestamp', 'traceId', 'level', 'event', 'message']);
  });

  it('omits absent and null context fields and metadata', () => {
    const { logger, entries } = capture();
    logger.log('info', 'token_issued', 'issued', { traceId: TRACE, userAgent: null, origin: null });
    expect(entries()[0]).toEqual({
      timestamp: '2026-01-09T12:30:00.123Z',
      traceId: TRACE,
      level: 'info',
      event: 'token_issued',
      message: 'issued',
    });
  });

  it('carries the documented event vocabulary', () => {
    expect(SECURITY_EVENTS).toEqual(
      expect.arrayContaining([
        'auth_success',
        'auth_failure',
        'rate_limit_exceeded',
        'origin_validation_failed',
        'input_validation_failed',
        'token_issued',
        'suspicious_activity',
        'upstream_error',
        'config_error',
      ]),
    );
  });

  it.each([
    ['info', ['info', 'warn', 'error', 'critical']],
    ['warn', ['warn', 'error', 'critical']],
    ['error', ['error', 'critical']],
    ['critical', ['critical']],
  ] as const)('minLevel %s keeps %j', (minLevel, kept) => {
    const { logger, entries } = capture(minLevel);
    for (const level of ['info', 'warn', 'error', 'critical'] as const) logger.log(level, 'auth_failure', level, ctx);
    expect(entries().map((e) => e.level)).toEqual(kept);
  });

  it('a throwing sink never takes the caller down', () => {
    const logger = createSecurityLogger({
      sink: () => {
        throw new Error('EPIPE');
      },
    });
    expect(() => logger.log('critical', 'upstream_error', 'x', ctx, { a: 1 })).not.toThrow();
  });
});

describe('redaction of secret keys at any depth', () => {
  const secretKeys = [
    'authorization',
    'Authorization',
    'proxy-authorization',
    'cookie',
    'set-cookie',
    'Cookie',
    'token',
    'accessToken',
    'refresh_token',
    'id_token',
    'secret',
    'clientSecret',
    'JWT_SECRET',
    'password',
    'passwd',
    'newPassword',
    'apiKey',
    'api_key',
    'api-key',
    'x-api-key',
    'OPENAI_API_KEY',
    'credentials',
    'privateKey',
    'private_key',
    'sessionKey',
  ];

  it.each(secretKeys)('%s is redacted at the top level and deep down', (key) => {
    const value = 'hunter2-plain-value';
    const out = sanitize({ [key]: value, nested: { a: [{ b: { [key]: { deeper: value } } }] } });
    const text = JSON.stringify(out);
    expect(text).not.toContain(value);
    expect(out).toEqual({ [key]: '[REDACTED]', nested: { a: [{ b: { [key]: '[REDACTED]' } }] } });
  });

  it('leaves ordinary keys alone', () => {
    expect(sanitize({ limit: 10, policy: 'token', voice: 'alloy', ok: true, n: null })).toEqual({
      limit: 10,
      policy: 'token',
      voice: 'alloy',
      ok: true,
      n: null,
    });
  });

  it('redacts headers logged as an object', () => {
    const out = sanitize({
      headers: { authorization: 'Bearer abc.def.ghi', cookie: '__session=xyz', 'user-agent': 'Mozilla/5.0' },
    });
    expect(out).toEqual({ headers: { authorization: '[REDACTED]', cookie: '[REDACTED]', 'user-agent': 'Mozilla/5.0' } });
  });
});

describe('masking of credential-looking values inside strings', () => {
  const jwt =
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJpYXQiOjE3MDAwMDAwMDB9.c2lnbmF0dXJlLWJ5dGVzLWhlcmU';
  it.each([
    ['OpenAI key', 'key was sk-proj-AbCdEf0123456789xyz in config', 'sk-proj-AbCdEf0123456789xyz'],
    ['legacy OpenAI key', `sk-${'0123456789abcdefghijklmnop'}`, '0123456789abcdefghijklmnop'],
    ['restricted key', 'rk-live0123456789abcdef', 'live0123456789abcdef'],
    ['ephemeral key', 'issued ek_68af1e9f0b2c4d3e8f9a0b1c2d3e4f50 ok', 'ek_68af1e9f0b2c4d3e8f9a0b1c2d3e4f50'],
    ['JWT', `token=${jwt}`, jwt],
    ['JWT alone', jwt, 'c2lnbmF0dXJlLWJ5dGVzLWhlcmU'],
    ['unsigned JWT', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 'eyJzdWIiOiJ4In0'],
    ['Bearer value', 'header was Bearer opaque-token-value-123', 'opaque-token-value-123'],
    ['bearer lower case', 'bearer   abc123def456', 'abc123def456'],
    ['Clerk secret key', 'sk_test_AbCdEfGhIjKlMnOpQrStUv', 'AbCdEfGhIjKlMnOpQrStUv'],
    ['Clerk live key', `sk_live_${'AbCdEfGhIjKlMnOpQrStUv'}`, 'AbCdEfGhIjKlMnOpQrStUv'],
    ['key inside JSON text', '{"apiKey":"sk-abcdefghijklmnop"}', 'sk-abcdefghijklmnop'],
  ])('%s', (_label, input, secret) => {
    const out = sanitizeString(input);
    expect(out).not.toContain(secret);
    expect(out).toMatch(/REDACTED/);
  });

  it('masks values in messages, context fields and metadata alike', () => {
    const { logger, lines } = capture();
    const key = 'sk-proj-ZZZZ1234567890abcdef';
    logger.log('error', 'upstream_error', `failed with ${key}`, { ...ctx, userAgent: `agent ${key}`, origin: key }, {
      detail: `upstream said ${key}`,
      list: [key, { inner: key }],
    });
    expect(lines[0]).not.toContain('ZZZZ1234567890abcdef');
  });

  it('leaves ordinary text intact', () => {
    for (const text of ['alloy', 'task-manager', 'desk-lamp', 'skip-ahead', 'ek_1', 'Bearer', 'eyJ only']) {
      expect(sanitizeString(text)).toBe(text);
    }
  });
});

describe('length caps', () => {
  it('caps long strings and says how long they were', () => {
    const out = sanitizeString('a'.repeat(100_000));
    expect(out.length).toBeLessThan(600);
    expect(out).toContain('[truncated 100000 chars]');
  });

  it('keeps short strings whole', () => {
    expect(sanitizeString('a'.repeat(512))).toBe('a'.repeat(512));
  });

  it('caps a huge user agent, origin and message in the entry', () => {
    const { logger, lines } = capture();
    const huge = 'x'.repeat(1_000_000);
    logger.log('warn', 'suspicious_activity', huge, { traceId: TRACE, userAgent: huge, origin: huge, ip: huge });
    expect(lines[0].length).toBeLessThan(4_000);
  });

  it('caps arrays and objects in breadth', () => {
    const out = sanitize({ list: Array.from({ length: 10_000 }, (_, i) => i) }) as { list: unknown[] };
    expect(out.list).toHaveLength(51);
    expect(out.list[50]).toBe('[9950 more]');
    const wide = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i]));
    const outWide = sanitize(wide) as Record<string, unknown>;
    expect(Object.keys(outWide)).toHaveLength(51);
    expect(outWide['[more]']).toBe(950);
  });
});

describe('log injection', () => {
  const hostile = [
    ['newline', 'ok\n{"level":"info","event":"auth_success","userId":"admin"}'],
    ['carriage return', 'ok\r{"level":"info"}'],
    ['CRLF', 'ok\r\nSet-Cookie: x=1'],
    ['line separator', 'ok\u2028{"level":"info"}'],
    ['paragraph separator', 'ok\u2029{"level":"info"}'],
    ['next line (C1)', 'ok\u0085{"level":"info"}'],
    ['NUL', 'admin\u0000ignored'],
    ['escape sequence', '\u001b[2J\u001b[31mred'],
    ['bidi override', 'user\u202egnp.exe'],
    ['bidi isolate', '\u2066admin\u2069'],
    ['arabic letter mark', 'a\u061cb'],
    ['zero-width space', 'ad\u200bmin'],
    ['zero-width joiner', 'ad\u200dmin'],
    ['word joiner', 'ad\u2060min'],
    ['byte order mark', '\ufeffadmin'],
    ['DEL', 'a\u007fb'],
    ['lone high surrogate', 'a\ud800b'],
    ['lone low surrogate', 'a\udc00b'],
  ];

  it.each(hostile)('%s in every untrusted field cannot forge a line or hide text', (_label, text) => {
    const { logger, lines } = capture();
    logger.log('warn', 'auth_failure', text, { traceId: TRACE, ip: text, userAgent: text, origin: text, endpoint: text, method: text, userId: text }, {
      [text]: text,
      nested: { value: text },
    });
    expect(lines).toHaveLength(1);
    const line = lines[0];
    expect(line.slice(0, -1)).not.toMatch(RAW_UNSAFE);
    expect(line.split('\n')).toEqual([line.slice(0, -1), '']);
    // The JSON is well-formed (no lone surrogates) and parses back to one entry.
    expect(line.isWellFormed()).toBe(true);
    const entry = JSON.parse(line) as SecurityLogEntry;
    expect(entry.event).toBe('auth_failure');
    expect(entry.level).toBe('warn');
    for (const field of [entry.message, entry.ip, entry.userAgent, entry.origin, entry.userId]) {
      expect(field).not.toMatch(RAW_UNSAFE);
    }
  });

  it('escaped characters stay visible to a reader', () => {
    expect(sanitizeString('a\nb')).toBe('a\\u000ab');
    expect(sanitizeString('user\u202egnp.exe')).toBe('user\\u202egnp.exe');
  });

  it('an attacker cannot smuggle a key past redaction by escaping it', () => {
    // The check runs on the raw key, so decoration does not help.
    const out = sanitize({ 'x-Authorization\u200b': 'secret-value' });
    expect(JSON.stringify(out)).not.toContain('secret-value');
  });
});

describe('hostile shapes never throw', () => {
  it('circular objects and arrays', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    const list: unknown[] = [1];
    list.push(list);
    a.list = list;
    expect(() => sanitize(a)).not.toThrow();
    expect(sanitize(a)).toEqual({ name: 'a', self: '[Circular]', list: [1, '[Circular]'] });
  });

  it('very deep objects', () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 100_000; i++) deep = { d: deep };
    let out = sanitize(deep) as Record<string, unknown>;
    let depth = 0;
    while (typeof out === 'object' && out !== null) {
      out = out.d as Record<string, unknown>;
      depth++;
    }
    expect(out).toBe('[Truncated]');
    expect(depth).toBeLessThanOrEqual(7);
  });

  it('huge objects', () => {
    const big = { list: Array.from({ length: 20_000 }, (_, i) => ({ i, s: 'y'.repeat(100) })), text: 'z'.repeat(5_000_000) };
    const { logger, lines } = capture();
    expect(() => logger.log('info', 'token_issued', 'big', ctx, big)).not.toThrow();
    expect(lines[0].length).toBeLessThan(100_000);
  });

  it('getters that throw, proxies that throw, and odd primitives', () => {
    const throwing = Object.defineProperty({ ok: 1 }, 'boom', {
      enumerable: true,
      get() {
        throw new Error('getter exploded');
      },
    });
    const proxy = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('trap');
        },
      },
    );
    const values = [throwing, proxy, { proxy }, 10n, Symbol('s'), () => 1, undefined, NaN, new Date(0), new Map([[1, 2]])];
    for (const value of values) {
      expect(() => sanitize(value)).not.toThrow();
      const { logger, lines } = capture();
      expect(() => logger.log('error', 'internal_error', 'x', ctx, { value })).not.toThrow();
      expect(lines).toHaveLength(1);
    }
    expect(sanitize(throwing)).toEqual({ ok: 1, boom: '[Unreadable]' });
    expect(sanitize({ proxy, after: 'kept' })).toEqual({ proxy: '[Unreadable]', after: 'kept' });
  });

  it('errors become name and message only (no stack)', () => {
    const error = new Error('failed with sk-abcdefghijklmnop');
    const out = sanitize({ error }) as { error: Record<string, unknown> };
    expect(Object.keys(out.error).sort()).toEqual(['message', 'name']);
    expect(out.error.message).not.toContain('abcdefghijklmnop');
  });
});

describe('prototype pollution', () => {
  it('a "__proto__" key stays a plain key and pollutes nothing', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": "yes", "isAdmin": true}, "constructor": {"prototype": {"x": 1}}}');
    const out = sanitize(parsed) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(out, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect((out as { isAdmin?: unknown }).isAdmin).toBeUndefined();
    const { logger, lines } = capture();
    logger.log('warn', 'input_validation_failed', 'x', ctx, parsed);
    expect(JSON.stringify(JSON.parse(lines[0]).metadata)).toBe(JSON.stringify(parsed));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('traceIdFrom', () => {
  it.each([
    ['valid, sampled', `00-${TRACE}-00f067aa0ba902b7-01`, TRACE],
    ['valid, not sampled', `00-${TRACE}-00f067aa0ba902b7-00`, TRACE],
    ['surrounding whitespace', `  00-${TRACE}-00f067aa0ba902b7-01 `, TRACE],
    ['future version', `01-${TRACE}-00f067aa0ba902b7-01`, TRACE],
  ])('keeps the trace id of a %s traceparent', (_label, header, expected) => {
    expect(traceIdFrom(header)).toBe(expected);
  });

  it.each([
    ['missing', null],
    ['empty', ''],
    ['all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['all-zero parent id', `00-${TRACE}-0000000000000000-01`],
    ['version ff', `ff-${TRACE}-00f067aa0ba902b7-01`],
    ['upper case', `00-${TRACE.toUpperCase()}-00F067AA0BA902B7-01`],
    ['short trace id', `00-${TRACE.slice(1)}-00f067aa0ba902b7-01`],
    ['long trace id', `00-${TRACE}0-00f067aa0ba902b7-01`],
    ['non-hex', `00-${'g'.repeat(32)}-00f067aa0ba902b7-01`],
    ['missing flags', `00-${TRACE}-00f067aa0ba902b7`],
    ['extra fields', `00-${TRACE}-00f067aa0ba902b7-01-extra`],
    ['injection attempt', `00-${TRACE}-00f067aa0ba902b7-01\n{"level":"info"}`],
    ['garbage', 'garbage'],
    ['bare trace id', TRACE],
    ['huge', 'a'.repeat(100_000)],
  ])('mints a fresh id for a %s traceparent', (_label, header) => {
    const id = traceIdFrom(header);
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(id).not.toBe(TRACE);
    expect(id).not.toMatch(/^0+$/);
  });

  it('fresh ids are random', () => {
    const ids = new Set(Array.from({ length: 200 }, () => traceIdFrom(null)));
    expect(ids.size).toBe(200);
  });
});
