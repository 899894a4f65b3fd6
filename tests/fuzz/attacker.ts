import fc from 'fast-check';
import { SignJWT } from 'jose';
import { randomBytes } from 'node:crypto';
import { b64url, createClerkTestKeys, signJwt, unsignedJwt, type ClerkTestKeys } from '../support/tokens';
import { FRONT_DOOR_HEADER } from '@/lib/guards/front-door';
import { FRONT_DOOR_MARKER } from '../support/runtime';

/**
 * The attacker model for the fuzz properties: random requests to
 * `POST /api/realtime/token`, each part labelled with what the contract says
 * it is (an allowed origin, a valid credential, a body inside the
 * allowlists…), so the model in ./model.ts can predict the answer.
 */

export const ALLOWED_ORIGINS = ['https://app.example.com', 'http://localhost:3000'] as const;
/** The socket peer scripts/server.mjs appends to X-Forwarded-For. */
export const PEER = '198.51.100.200';
export const URL_TOKEN = 'http://localhost:3000/api/realtime/token';

/**
 * `unsupported`: another Authorization scheme (RFC 6750 §3.1, 401 without an error code);
 * `refused`: some auth failure (400 or 401); garbage the model does not judge further.
 */
export type AuthOutcome = 'valid' | 'invalid' | 'missing' | 'malformed' | 'unsupported' | 'refused';

export interface AuthCase {
  readonly label: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Appended to the URL (tokens in the query string are never read). */
  readonly query?: string;
  /** What the contract says, with and without Clerk configured. */
  readonly outcome: { readonly clerk: AuthOutcome; readonly noClerk: AuthOutcome };
  /** The limiter key of a valid credential: `jwt:<sub>` or `clerk:<sub>`. */
  readonly userId?: string;
  /** Credential text that must never appear in a log line or a response. */
  readonly secret?: string;
}

export interface ContentTypeCase {
  readonly value: string | null;
  /**
   * true: JSON (or no header, which is judged by the body); false: refused
   * with 415; undefined: garbage the model does not judge.
   */
  readonly json: boolean | undefined;
}

export interface OriginCase {
  readonly origin: string | null;
  readonly secFetchSite: string | null;
  readonly allowed: boolean;
}

export interface BodyCase {
  readonly label: string;
  readonly bytes: Uint8Array;
}

export interface FuzzCase {
  readonly method: string;
  readonly contentType: ContentTypeCase;
  readonly body: BodyCase;
  readonly origin: OriginCase;
  readonly auth: AuthCase;
  /** Client-sent X-Forwarded-For (the peer is appended after it), or null. */
  readonly forwardedFor: string | null;
  /** The limiter key the model expects for this client (only pools used with the model set it). */
  readonly ipKey?: string;
  readonly traceparent: string | null;
  /** Other headers: User-Agent, Cookie noise, forged proxy headers. */
  readonly extra: Readonly<Record<string, string>>;
}

// ---------------------------------------------------------------------------
// Credentials, signed once per run.

export interface TokenPool {
  readonly clerk: ClerkTestKeys;
  readonly valid: AuthCase[];
  readonly invalid: AuthCase[];
  /** Every credential string handed out, for the "no secret in logs" check. */
  readonly secrets: string[];
}

const JWT_SUBJECTS = ['alice', 'bob', 'ünïcødé-用户', 'x'.repeat(256), 'a"b\\c\n', '__proto__', '<script>alert(1)</script>'];

function bearer(label: string, token: string, outcome: AuthCase['outcome'], userId?: string): AuthCase {
  return { label, headers: { authorization: `Bearer ${token}` }, outcome, userId, secret: token };
}

const both = (o: AuthOutcome) => ({ clerk: o, noClerk: o });

/** Signs the valid and invalid credentials the properties draw from. */
export async function createTokenPool(jwtSecret: string): Promise<TokenPool> {
  const clerk = await createClerkTestKeys();
  const otherClerk = await createClerkTestKeys();
  const now = Math.floor(Date.now() / 1000);
  const valid: AuthCase[] = [];
  for (const sub of JWT_SUBJECTS) {
    const token = await signJwt({}, { secret: jwtSecret, subject: sub, expiresIn: '2h' });
    valid.push(bearer(`jwt sub=${JSON.stringify(sub).slice(0, 20)}`, token, both('valid'), `jwt:${sub}`));
  }
  const lower = await signJwt({}, { secret: jwtSecret, subject: 'carol', expiresIn: '2h' });
  valid.push({ ...bearer('lower-case scheme', lower, both('valid'), 'jwt:carol'), headers: { authorization: `bearer ${lower}` } });
  valid.push({ ...bearer('two spaces', lower, both('valid'), 'jwt:carol'), headers: { authorization: `Bearer  ${lower}` } });
  for (const sub of ['user_a', 'user_b']) {
    const token = await clerk.sign({ sub, expiresIn: 7200 });
    valid.push(bearer(`clerk header sub=${sub}`, token, { clerk: 'valid', noClerk: 'invalid' }, `clerk:${sub}`));
    valid.push({
      label: `clerk __session cookie sub=${sub}`,
      headers: { cookie: `theme=dark; __session=${token}; other=1` },
      outcome: { clerk: 'valid', noClerk: 'invalid' },
      userId: `clerk:${sub}`,
      secret: token,
    });
  }
  // With a pinned CLERK_JWT_KEY the signature decides, not the kid.
  const otherKid = await clerk.sign({ sub: 'user_c', kid: 'ins_rotated', expiresIn: 7200 });
  valid.push(bearer('clerk header, other kid, pinned key', otherKid, { clerk: 'valid', noClerk: 'invalid' }, 'clerk:user_c'));

  const good = await signJwt({}, { secret: jwtSecret, subject: 'mallory', expiresIn: '2h' });
  const [h, p] = good.split('.');
  const forgedPayload = b64url(JSON.stringify({ sub: 'admin', iat: now, exp: now + 7200 }));
  const invalid: AuthCase[] = [
    bearer('wrong secret', await signJwt({}, { secret: 'another-secret-0123456789abcdef-0123456789' }), both('invalid')),
    bearer('expired', await signJwt({}, { secret: jwtSecret, issuedAt: now - 600, expiresIn: now - 300 }), both('invalid')),
    bearer('issued in the future', await signJwt({}, { secret: jwtSecret, issuedAt: now + 3600, expiresIn: now + 7200 }), both('invalid')),
    bearer('older than the max age', await signJwt({}, { secret: jwtSecret, issuedAt: now - 7200, expiresIn: now + 600 }), both('invalid')),
    bearer('not yet valid', await signJwt({ nbf: now + 3600 }, { secret: jwtSecret }), both('invalid')),
    bearer('HS512 with the right secret', await signJwt({}, { secret: jwtSecret, alg: 'HS512' }), both('invalid')),
    bearer('alg none', unsignedJwt({ sub: 'admin', iat: now, exp: now + 600 }), both('invalid')),
    bearer('alg NONE', unsignedJwt({ sub: 'admin', iat: now, exp: now + 600 }, { alg: 'NONE', typ: 'JWT' }), both('invalid')),
    bearer('alg none with the real signature', `${unsignedJwt({ sub: 'admin', iat: now, exp: now + 600 })}${good.split('.')[2]}`, both('invalid')),
    bearer('payload swapped, signature kept', `${h}.${forgedPayload}.${good.split('.')[2]}`, both('invalid')),
    bearer('signature stripped', `${h}.${p}.`, both('invalid')),
    bearer('no exp', await signJwtWithout('exp', jwtSecret), both('invalid')),
    bearer('no sub', await signJwtWithout('sub', jwtSecret), both('invalid')),
    bearer('empty sub', await signJwt({}, { secret: jwtSecret, subject: '' }), both('invalid')),
    bearer('sub of 257 chars', await signJwt({}, { secret: jwtSecret, subject: 's'.repeat(257) }), both('invalid')),
    bearer('RS256 header on an HS256 token', `${b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }))}.${p}.${good.split('.')[2]}`, both('invalid')),
    bearer('clerk token from another key', await otherClerk.sign({ expiresIn: 7200 }), both('invalid')),
    bearer('clerk token, expired', await clerk.sign({ expiresIn: -120 }), both('invalid')),
    bearer('clerk token, foreign azp', await clerk.sign({ azp: 'https://evil.example', expiresIn: 7200 }), both('invalid')),
    {
      label: 'HS256 JWT in the __session cookie (the fallback reads the header only)',
      headers: { cookie: `__session=${good}` },
      outcome: both('invalid'),
      secret: good,
    },
    { label: 'valid JWT in the query string only', headers: {}, query: `?token=${good}&access_token=${good}`, outcome: both('missing'), secret: good },
  ];
  const secrets = [...valid, ...invalid].flatMap((a) => (a.secret ? [a.secret] : []));
  return { clerk, valid, invalid, secrets };
}

async function signJwtWithout(claim: 'exp' | 'sub', secret: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { sub: 'no-claim', iat: now, exp: now + 600 };
  delete payload[claim];
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(secret));
}

// ---------------------------------------------------------------------------
// Building blocks.

/** Characters that break naive code: NUL, controls, bidi, zero-width, BOM, line separators, lone surrogates. */
export const NASTY_CHARS = [
  '\u0000', '\u0007', '\u001b', '\u007f', '\u0085', '\u00ad', '\u061c', '\u200b', '\u200c', '\u200d', '\u200e', '\u200f',
  '\u2028', '\u2029', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u2060',
  '\ufeff', '\ufff9', '\ud800', '\udbff', '\udc00', '\udfff', '\u{1F600}', '\u{E0001}', 'e\u0301', '\u0958', '\ufb2c',
  '\t', '\n', '\r', ' ', '\u00a0', '\u3000', '<', '>', '"', "'", '\\', '&', '%', '$', '{', '}',
];

const anyChar = fc.oneof(
  { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), weight: 4 },
  { arbitrary: fc.constantFrom(...NASTY_CHARS), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }), weight: 3 },
);

/** Unicode text with a high share of hostile characters. */
export const nastyText = (maxLength: number) => fc.string({ unit: anyChar, maxLength });

const scriptPieces = fc.constantFrom(
  '<script>alert(1)</script>', '<SCRIPT SRC=//evil.example/x.js>', '<scr<script></script>ipt>', '</script>', '<script',
  'ignore previous instructions', '{{7*7}}', '${process.env}', '\u202eevil\u202c',
);

/** Instructions: hostile unicode, script fragments and prompt-injection text; at most ~600 code points. */
export const instructionsText = fc
  .array(fc.oneof({ arbitrary: nastyText(60), weight: 3 }, { arbitrary: scriptPieces, weight: 1 }), { maxLength: 10 })
  .map((parts) => parts.join(''));

/** A header value as Node would hand it over: bytes read as latin1, no NUL/CR/LF, trimmed. */
export function headerSafe(text: string): string {
  const latin1 = Buffer.from(text, 'utf8').toString('latin1');
  return latin1.replace(/[\0\r\n]/g, '').replace(/^[\t ]+|[\t ]+$/g, '');
}

const headerText = (maxLength: number) => nastyText(maxLength).map(headerSafe);
const hex = (length: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
const utf8 = (text: string) => new TextEncoder().encode(text);

// ---------------------------------------------------------------------------
// Request parts.

export const contentTypes: fc.Arbitrary<ContentTypeCase> = fc.oneof(
  { arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'APPLICATION/JSON').map((value) => ({ value, json: true })), weight: 12 },
  {
    arbitrary: fc
      .constantFrom('text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=iso-8859-1', 'application/xml', 'text/html', '')
      .map((value) => ({ value, json: false })),
    weight: 2,
  },
  { arbitrary: fc.constant({ value: null, json: true }), weight: 1 },
  { arbitrary: headerText(40).map((value) => ({ value, json: /^application\/json/i.test(value) ? undefined : false })), weight: 1 },
);

const BAD_ORIGINS = [
  'https://app.example.com/', 'https://APP.example.com', 'https://app.example.com.evil.example', 'https://evilapp.example.com',
  'https://evil.example', 'http://app.example.com', 'https://app.example.com:443', 'https://app.example.com:8443', 'null', '',
  'https://app.example.com, https://evil.example', 'https://app.example.com\tx', 'file://', 'chrome-extension://abc',
  'http://localhost:3001', 'http://localhost', 'http://127.0.0.1:3000', 'https://xn--pple-43d.com', '*',
];

export const origins: fc.Arbitrary<OriginCase> = fc.oneof(
  { arbitrary: fc.constantFrom(...ALLOWED_ORIGINS).map((origin) => ({ origin, secFetchSite: null, allowed: true })), weight: 8 },
  {
    arbitrary: fc.constantFrom(null, 'same-origin', 'none', 'cross-site', 'same-site', 'garbage').map((site) => ({
      origin: null,
      secFetchSite: site,
      allowed: site !== 'cross-site' && site !== 'same-site',
    })),
    weight: 6,
  },
  { arbitrary: fc.constantFrom(...BAD_ORIGINS).map((origin) => ({ origin: headerSafe(origin), secFetchSite: null, allowed: false })), weight: 3 },
  { arbitrary: headerText(80).map((origin) => ({ origin, secFetchSite: null, allowed: (ALLOWED_ORIGINS as readonly string[]).includes(origin) })), weight: 1 },
  { arbitrary: fc.nat({ max: 20_000 }).map((n) => ({ origin: `https://${'a'.repeat(n)}.example`, secFetchSite: null, allowed: false })), weight: 1 },
);

const ipGarbage = fc.constantFrom(
  '1.2.3.4', '127.0.0.1', '::1', '[::1]:443', 'fe80::1%eth0', '::ffff:10.0.0.1', '2001:db8::1', '999.1.1.1', 'unknown', '_hidden',
  ', , ,', '1.2.3.4:80', '"1.2.3.4"', 'for=1.2.3.4', '0x7f000001', '',
);

/** Client-sent X-Forwarded-For: absent, forged addresses, or garbage; the peer is appended after it. */
export const forwardedFors: fc.Arbitrary<string | null> = fc.oneof(
  { arbitrary: fc.constant(null), weight: 4 },
  { arbitrary: fc.array(ipGarbage, { minLength: 1, maxLength: 6 }).map((l) => l.join(', ')), weight: 3 },
  { arbitrary: headerText(200), weight: 2 },
  { arbitrary: fc.nat({ max: 30_000 }).map((n) => '1.1.1.1,'.repeat(Math.ceil(n / 8))), weight: 1 },
);

export const traceparents: fc.Arbitrary<string | null> = fc.oneof(
  { arbitrary: fc.constant(null), weight: 4 },
  { arbitrary: fc.tuple(hex(32), hex(16)).map(([t, s]) => `00-${t}-${s}-01`), weight: 3 },
  {
    arbitrary: fc.constantFrom(
      `ff-${'a'.repeat(32)}-${'b'.repeat(16)}-01`, `00-${'0'.repeat(32)}-${'b'.repeat(16)}-01`, `00-${'a'.repeat(32)}-${'0'.repeat(16)}-01`,
      `00-${'A'.repeat(32)}-${'B'.repeat(16)}-01`, `00-${'a'.repeat(31)}-${'b'.repeat(16)}-01`, `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01-extra`,
      '00--', '', 'x'.repeat(20_000),
    ),
    weight: 2,
  },
  { arbitrary: headerText(80), weight: 1 },
);

/** Text that looks like a credential, to check the logs mask it wherever it appears. */
function credentialLike(pool: TokenPool): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(...pool.secrets).map((t) => `Bearer ${t}`),
    fc.constantFrom(...pool.secrets).map((t) => `token=${t}`),
    fc.constantFrom(...pool.secrets).map((t) => `id${t}`),
    fc.constant(`sk-${randomBytes(12).toString('hex')}`),
    fc.constant(`ek_${randomBytes(12).toString('hex')}`),
  );
}

function extraHeaders(pool: TokenPool): fc.Arbitrary<Record<string, string>> {
  const agent = fc.oneof(
    { arbitrary: fc.constantFrom('Mozilla/5.0', 'curl/8.5.0'), weight: 3 },
    { arbitrary: headerText(120), weight: 2 },
    { arbitrary: fc.tuple(headerText(20), credentialLike(pool)).map(([a, b]) => headerSafe(`${a} ${b}`)), weight: 2 },
    { arbitrary: fc.nat({ max: 64 * 1024 }).map((n) => 'U'.repeat(n)), weight: 1 },
  );
  return fc.record(
    {
      'user-agent': agent,
      'x-real-ip': fc.constantFrom('10.0.0.1', '127.0.0.1', '::1'),
      forwarded: fc.constantFrom('for=127.0.0.1', 'for="[::1]";proto=https'),
      'x-clerk-auth-status': fc.constantFrom('signed-in'),
      'x-clerk-auth-token': fc.constantFrom(...pool.secrets),
      'x-middleware-subrequest': fc.constantFrom('middleware', 'src/middleware:middleware:middleware:middleware:middleware'),
      'x-user-id': fc.constantFrom('admin', 'jwt:alice'),
    },
    { requiredKeys: [] },
  );
}

// ---------------------------------------------------------------------------
// Bodies.

const VOICES_AND_MORE = ['alloy', 'echo', 'fable', 'onyx', 'nova', 'shimmer', 'ash', 'Alloy', 'alloy ', 'ALLOY', '', 'verse'];
const MODELS_AND_MORE = ['gpt-realtime', 'gpt-realtime-mini', 'gpt-4o-realtime-preview', 'gpt-4o-mini-realtime-preview', 'gpt-4o', 'gpt-realtime\u0000', 'GPT-REALTIME'];

/** Objects with the real keys, sometimes with values outside the allowlists. */
const nearValid = fc
  .record(
    {
      voice: fc.oneof({ arbitrary: fc.constantFrom(...VOICES_AND_MORE.slice(0, 6)), weight: 5 }, { arbitrary: fc.constantFrom(...VOICES_AND_MORE), weight: 1 }),
      model: fc.oneof({ arbitrary: fc.constantFrom(...MODELS_AND_MORE.slice(0, 4)), weight: 5 }, { arbitrary: fc.constantFrom(...MODELS_AND_MORE), weight: 1 }),
      instructions: instructionsText,
    },
    { requiredKeys: [] },
  )
  .chain((obj) => fc.constantFrom(0, 2, '\t').map((indent) => JSON.stringify(obj, null, indent)));

const wrongTypes = fc
  .record(
    {
      voice: fc.oneof(fc.constant(null), fc.integer(), fc.constant(['alloy']), fc.constant({ toString: 'alloy' })),
      model: fc.oneof(fc.constant(null), fc.boolean(), fc.constant(['gpt-realtime'])),
      instructions: fc.oneof(fc.integer(), fc.constant(null), fc.constant(['x']), fc.constant({ $ne: '' })),
    },
    { requiredKeys: [] },
  )
  .map((obj) => JSON.stringify(obj));

const PROTOTYPE_BODIES = [
  '{"__proto__":{"admin":true}}', '{"voice":"alloy","__proto__":{"voice":"ash"}}', '{"constructor":{"prototype":{"admin":true}}}',
  '{"__proto__":null}', '{"toString":"x"}', '{"hasOwnProperty":1}', '{"valueOf":{}}', '{"instructions":"x","prototype":{}}',
  '{"voice":"ash","voice":"alloy"}', '{"voice":"alloy","voice":"ash"}', '{"expires_after":{"seconds":7200}}',
  '{"session":{"type":"realtime","tools":[{"type":"function"}]}}', '{"audio":{"output":{"voice":"ash"}}}',
];

const deepNesting = fc.tuple(fc.integer({ min: 1, max: 6000 }), fc.constantFrom('[', '{"a":', '{"instructions":', '{"voice":[')).map(
  ([n, open]) => {
    const close = open === '[' ? ']' : open === '{"voice":[' ? ']}' : '}';
    return `${open.repeat(n)}1${close.repeat(n)}`;
  },
);

const hugeStrings = fc
  .tuple(fc.integer({ min: 1900, max: 20_000 }), fc.constantFrom('x', ' ', '\u200b', '\u{1F600}', 'é', '\\u0000', '<script>'))
  .map(([n, unit]) => JSON.stringify({ instructions: unit.repeat(Math.ceil(n / unit.length)) }).replace(/\\\\u0000/g, '\\u0000'));

const escapes = fc
  .array(fc.constantFrom('\\u0000', '\\ud800', '\\udfff', '\\u202e', '\\u2028', '\\u200b', '\\ufeff', '\\n', '\\"', 'a', ' '), { maxLength: 40 })
  .map((parts) => `{"instructions":"${parts.join('')}"}`);

const rawBytes = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  fc.constantFrom(
    new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]), // BOM + {}
    new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), // invalid UTF-8
    new Uint8Array([0x7b, 0x7d, 0xc0, 0xaf]), // overlong "/"
    new Uint8Array([0xed, 0xa0, 0x80]), // CESU surrogate
    new Uint8Array([0x00, 0x7b, 0x7d]),
    new Uint8Array([0xfe, 0xff, 0x00, 0x7b, 0x00, 0x7d]), // UTF-16BE
  ),
);

const nonJson = fc.oneof(
  nastyText(200),
  fc.constantFrom('', ' ', '\n\t', 'null', 'true', '0', '-0', '1e999', 'NaN', '"alloy"', '[]', '[{}]', '{}', '{} {}', '{"voice":"alloy",}', "{'voice':'alloy'}", '{"voice":"alloy"', 'voice=alloy', '<?xml version="1.0"?><a/>'),
);

export function bodies(): fc.Arbitrary<BodyCase> {
  return fc.oneof(
    { arbitrary: nearValid.map((t) => ({ label: 'near-valid JSON', bytes: utf8(t) })), weight: 12 },
    { arbitrary: fc.constantFrom('', '{}').map((t) => ({ label: 'empty', bytes: utf8(t) })), weight: 2 },
    { arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => ({ label: 'random JSON', bytes: utf8(JSON.stringify(v) ?? '') })), weight: 2 },
    { arbitrary: fc.dictionary(nastyText(12), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }).map((v) => ({ label: 'random object', bytes: utf8(JSON.stringify(v)) })), weight: 2 },
    { arbitrary: wrongTypes.map((t) => ({ label: 'wrong types', bytes: utf8(t) })), weight: 2 },
    { arbitrary: fc.constantFrom(...PROTOTYPE_BODIES).map((t) => ({ label: 'prototype/extra keys', bytes: utf8(t) })), weight: 2 },
    { arbitrary: deepNesting.map((t) => ({ label: 'deep nesting', bytes: utf8(t) })), weight: 1 },
    { arbitrary: hugeStrings.map((t) => ({ label: 'huge string', bytes: utf8(t) })), weight: 1 },
    { arbitrary: escapes.map((t) => ({ label: 'escaped NUL/surrogates/bidi', bytes: utf8(t) })), weight: 1 },
    { arbitrary: rawBytes.map((bytes) => ({ label: 'raw bytes', bytes })), weight: 1 },
    { arbitrary: nonJson.map((t) => ({ label: 'non-JSON text', bytes: utf8(t) })), weight: 1 },
  );
}

// ---------------------------------------------------------------------------
// Credentials.

const MALFORMED = [
  'Bearer', 'Bearer ', 'Bearer a.b.c d.e.f', 'Bearer a.b.c;x', 'Bearer\ta.b.c', 'Bearer "a.b.c"', 'Bearer a,b', 'Bearer=abc', '',
  '"Basic" x', ', Bearer a.b.c',
];
const UNSUPPORTED = ['Basic dXNlcjpwYXNz', 'Token abc.def.ghi', 'Digest username="x"', 'Negotiate YIIB', 'abc.def.ghi', 'DPoP abc.def.ghi'];

export function credentials(pool: TokenPool): fc.Arbitrary<AuthCase> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...pool.valid), weight: 10 },
    { arbitrary: fc.constantFrom(...pool.invalid), weight: 5 },
    {
      arbitrary: fc.constantFrom<AuthCase>(
        { label: 'none', headers: {}, outcome: both('missing') },
        { label: 'cookie without __session', headers: { cookie: 'session=abc; __sessionx=def' }, outcome: both('missing') },
        { label: 'empty __session', headers: { cookie: '__session=' }, outcome: both('missing') },
      ),
      weight: 2,
    },
    { arbitrary: fc.constantFrom(...MALFORMED).map((v): AuthCase => ({ label: 'malformed', headers: { authorization: headerSafe(v) }, outcome: both('malformed') })), weight: 2 },
    { arbitrary: fc.constantFrom(...UNSUPPORTED).map((v): AuthCase => ({ label: 'another scheme', headers: { authorization: v }, outcome: both('unsupported') })), weight: 1 },
    {
      arbitrary: fc.nat({ max: 20_000 }).map((n): AuthCase => ({ label: 'bearer over 8 KiB', headers: { authorization: `Bearer ${'a'.repeat(8193 + n)}` }, outcome: both('malformed') })),
      weight: 1,
    },
    {
      arbitrary: fc
        .tuple(fc.base64String({ maxLength: 60 }), fc.base64String({ maxLength: 60 }), fc.base64String({ maxLength: 60 }))
        .map(([a, b, c]): AuthCase => {
          const token = `eyJ${a}.${b}.${c}`.replace(/\+/g, '-').replace(/\//g, '_').replace(/=/g, '');
          return { label: 'JWT-shaped garbage', headers: { authorization: `Bearer ${token}` }, outcome: both('invalid'), secret: token.length >= 24 ? token : undefined };
        }),
      weight: 2,
    },
    {
      arbitrary: headerText(100).map((v): AuthCase => ({ label: 'garbage header', headers: { authorization: v }, outcome: both('refused') })),
      weight: 2,
    },
    {
      arbitrary: headerText(60).map((v): AuthCase => ({ label: 'garbage cookie', headers: { cookie: `__session=${v}` }, outcome: both('refused') })),
      weight: 1,
    },
  );
}

// ---------------------------------------------------------------------------
// Whole requests.

export const METHODS = ['POST', 'GET', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

/** One request with every part drawn independently. */
export function fuzzCases(pool: TokenPool): fc.Arbitrary<FuzzCase> {
  return fc.record({
    method: fc.oneof({ arbitrary: fc.constant('POST'), weight: 20 }, { arbitrary: fc.constantFrom(...METHODS), weight: 1 }),
    contentType: contentTypes,
    body: bodies(),
    origin: origins,
    auth: credentials(pool),
    forwardedFor: forwardedFors,
    traceparent: traceparents,
    extra: extraHeaders(pool),
  });
}

/** The Request that scripts/server.mjs would hand to the route for `c`. */
export function toRequest(c: FuzzCase): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(c.extra)) headers.set(name, value);
  if (c.contentType.value !== null) headers.set('content-type', c.contentType.value);
  if (c.origin.origin !== null) headers.set('origin', c.origin.origin);
  if (c.origin.secFetchSite !== null) headers.set('sec-fetch-site', c.origin.secFetchSite);
  for (const [name, value] of Object.entries(c.auth.headers)) headers.set(name, value);
  if (c.traceparent !== null) headers.set('traceparent', c.traceparent);
  headers.set('x-forwarded-for', c.forwardedFor ? `${c.forwardedFor}, ${PEER}` : PEER);
  headers.set(FRONT_DOOR_HEADER, FRONT_DOOR_MARKER);
  const hasBody = c.method !== 'GET' && c.method !== 'HEAD' && c.body.bytes.byteLength > 0;
  return new Request(`${URL_TOKEN}${c.auth.query ?? ''}`, { method: c.method, headers, body: hasBody ? c.body.bytes.slice() : undefined });
}
