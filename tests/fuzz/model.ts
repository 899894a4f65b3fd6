import type { AppConfig } from '@/lib/config';
import type { RatePolicy } from '@/lib/limits/store';
import { parseStrictJson } from '@/lib/json';
import { sanitizeInstructions } from '@/lib/validation';
import type { AuthOutcome, FuzzCase } from './attacker';

/**
 * A reference model of the token route, written from the contract
 * (SECURITY.md "Request flow", "Rate limiting", "Upstream"), not from the code:
 * given a labelled request, the configuration, the time and the upstream's
 * behaviour, it predicts the status, the error code, the Retry-After, whether
 * the request reaches OpenAI and with what, and how many `suspicious_activity`
 * lines it causes. Its limiter is the naive definition of "N per W": keep
 * every admit time and count those inside (now − W, now].
 */

export type UpstreamMode = 'ok' | 'error500' | 'reset' | 'badjson' | 'unauthorized' | 'quota' | 'ratelimit' | 'rejected' | 'redirect' | 'huge';

/** The voices the (stand-in) Realtime API accepts; allowlisted fable/onyx/nova are refused upstream. */
const UPSTREAM_VOICES = new Set(['alloy', 'ash', 'ballad', 'coral', 'echo', 'sage', 'shimmer', 'verse', 'marin', 'cedar']);

/** The upstream mapping (SECURITY.md): status, code, Retry-After. */
const UPSTREAM_FAILURES: Record<Exclude<UpstreamMode, 'ok'>, { status: number; code: string; retryAfter?: number }> = {
  error500: { status: 502, code: 'upstream_error' },
  reset: { status: 502, code: 'upstream_error' },
  badjson: { status: 502, code: 'upstream_error' },
  redirect: { status: 502, code: 'upstream_error' },
  huge: { status: 502, code: 'upstream_error' },
  unauthorized: { status: 502, code: 'upstream_auth' },
  rejected: { status: 502, code: 'upstream_rejected' },
  quota: { status: 503, code: 'upstream_rate_limited', retryAfter: 30 },
  ratelimit: { status: 503, code: 'upstream_rate_limited', retryAfter: 7 },
};

export interface TokenRequestModel {
  readonly voice: string;
  readonly model: string;
  readonly instructions?: string;
}

export type BodyVerdict = { kind: 'valid'; request: TokenRequestModel } | { kind: 'json_invalid' } | { kind: 'body_invalid' };

const BODY_KEYS = new Set(['voice', 'model', 'instructions']);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The contract for bodies: a JSON object with only voice/model/instructions, values inside the allowlists. */
export function judgeBody(bytes: Uint8Array, config: AppConfig): BodyVerdict {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return { kind: 'json_invalid' };
  }
  if (text.trim() === '') return { kind: 'valid', request: { voice: config.defaultVoice, model: config.defaultModel } };
  // Duplicate member names are refused (RFC 7493 §2.3); lib/json.ts is proven
  // against an independent model in tests/unit/json.test.ts.
  const parsed = parseStrictJson(text);
  if (!parsed.ok) return { kind: 'json_invalid' };
  const json = parsed.value;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { kind: 'body_invalid' };
  const body = json as Record<string, unknown>;
  if (!Object.keys(body).every((k) => BODY_KEYS.has(k))) return { kind: 'body_invalid' };
  const { voice, model, instructions } = body;
  if (voice !== undefined && !(typeof voice === 'string' && config.voices.includes(voice))) return { kind: 'body_invalid' };
  if (model !== undefined && !(typeof model === 'string' && config.models.includes(model))) return { kind: 'body_invalid' };
  let clean: string | undefined;
  if (instructions !== undefined) {
    if (typeof instructions !== 'string' || instructions.length > 8000) return { kind: 'body_invalid' };
    clean = sanitizeInstructions(instructions);
    if ([...clean].length > 2000) return { kind: 'body_invalid' };
  }
  return {
    kind: 'valid',
    request: {
      voice: (voice as string | undefined) ?? config.defaultVoice,
      model: (model as string | undefined) ?? config.defaultModel,
      ...(clean ? { instructions: clean } : {}),
    },
  };
}

export interface Expectation {
  /** Statuses the contract allows (one, except for garbage the model does not judge). */
  readonly statuses: ReadonlySet<number>;
  /** Error codes the contract allows; null for 200/204. */
  readonly codes: ReadonlySet<string | null>;
  /** Whether a limiter ran (rate-limit headers present); undefined: not judged. */
  readonly limited: boolean | undefined;
  /** Retry-After on a 429/503, when the model knows it exactly. */
  readonly retryAfter?: number;
  /** The request body OpenAI must receive, null when nothing may reach it, undefined: not judged. */
  readonly upstream: TokenRequestModel | null | undefined;
  /** `suspicious_activity` lines this request must log; undefined: not judged. */
  readonly suspicious: number | undefined;
}

interface Answer {
  status: number;
  code: string | null;
  limited: boolean;
  retryAfter?: number;
  upstream?: TokenRequestModel;
}

const AUTH_ANSWERS: Record<Exclude<AuthOutcome, 'valid'>, Array<[number, string]>> = {
  invalid: [[401, 'auth_invalid']],
  missing: [[401, 'auth_missing']],
  malformed: [[400, 'auth_malformed']],
  unsupported: [[401, 'auth_scheme_unsupported']],
  refused: [[401, 'auth_invalid'], [401, 'auth_missing'], [400, 'auth_malformed'], [401, 'auth_scheme_unsupported']],
};

/** The naive sliding window: every admit time kept, counted over (now − W, now]. */
class ReferenceLimiter {
  private readonly admits = new Map<string, number[]>();

  private inWindow(key: string, policy: RatePolicy, now: number): number[] {
    return (this.admits.get(`${policy.name}:${key}`) ?? []).filter((t) => t > now - policy.windowMs);
  }

  /** Admits and records one request; a refusal records nothing. */
  hit(key: string, policy: RatePolicy, now: number): { allowed: boolean; remaining: number; retryAfter: number } {
    const times = this.inWindow(key, policy, now);
    if (times.length >= policy.limit) {
      return { allowed: false, remaining: 0, retryAfter: Math.max(1, Math.ceil((times[0] + policy.windowMs - now) / 1000)) };
    }
    times.push(now);
    this.admits.set(`${policy.name}:${key}`, times);
    return { allowed: true, remaining: policy.limit - times.length, retryAfter: 0 };
  }

  peek(key: string, policy: RatePolicy, now: number): { allowed: boolean; retryAfter: number } {
    const times = this.inWindow(key, policy, now);
    if (times.length < policy.limit) return { allowed: true, retryAfter: 0 };
    return { allowed: false, retryAfter: Math.max(1, Math.ceil((times[0] + policy.windowMs - now) / 1000)) };
  }
}

export class RouteModel {
  private readonly limiter = new ReferenceLimiter();
  private readonly clerkOn: boolean;

  constructor(private readonly config: AppConfig) {
    this.clerkOn = config.clerk !== undefined;
  }

  /**
   * Predicts the answer to `c` at time `now` and updates the limiter state as
   * the contract says the route does. A garbage content type is judged both
   * ways without touching the state, so sequences must not draw one.
   */
  expect(c: FuzzCase, now: number, mode: UpstreamMode): Expectation {
    if (c.contentType.json !== undefined) {
      const suspicious = { count: 0 };
      const answers = this.answer(c, c.contentType.json, now, mode, this.limiter, suspicious);
      return {
        statuses: new Set(answers.map((a) => a.status)),
        codes: new Set(answers.map((a) => a.code)),
        limited: answers[0].limited,
        retryAfter: answers.length === 1 ? answers[0].retryAfter : undefined,
        upstream: answers[0].upstream ?? null,
        suspicious: suspicious.count,
      };
    }
    // A garbage content type is judged both ways, on throwaway limiter state.
    const answers = [true, false].flatMap((json) => this.answer(c, json, now, mode, new ReferenceLimiter(), { count: 0 }));
    return {
      statuses: new Set(answers.map((a) => a.status)),
      codes: new Set(answers.map((a) => a.code)),
      limited: undefined,
      upstream: undefined,
      suspicious: undefined,
    };
  }

  private answer(c: FuzzCase, json: boolean, now: number, mode: UpstreamMode, limiter: ReferenceLimiter, suspicious: { count: number }): Answer[] {
    const { config } = this;
    const policies = config.rateLimits;
    const ip = c.ipKey ?? 'any';
    if (c.method === 'OPTIONS') return [{ status: 204, code: null, limited: false }];
    if (c.method !== 'POST') return [{ status: 405, code: 'method_not_allowed', limited: false }];

    // 1. Shape.
    const size = c.body.bytes.byteLength;
    if (c.contentType.value !== null && !json) return [{ status: 415, code: 'unsupported_media_type', limited: false }];
    if (size > config.maxBodyBytes) return [{ status: 413, code: 'body_too_large', limited: false }];
    if (c.contentType.value === null && size > 0) return [{ status: 415, code: 'unsupported_media_type', limited: false }];

    const noteFailure = () => {
      const r = limiter.hit(ip, policies.suspicious, now);
      if (r.allowed && r.remaining === 0) suspicious.count++;
    };
    // 2. Origin.
    if (!c.origin.allowed) {
      noteFailure();
      return [{ status: 403, code: 'origin_not_allowed', limited: false }];
    }
    // 3. General API limit per IP.
    const api = limiter.hit(ip, policies.api, now);
    if (!api.allowed) {
      noteFailure();
      return [{ status: 429, code: 'rate_limited', limited: true, retryAfter: api.retryAfter }];
    }
    // 4. An IP over the auth-failure limit is refused before verification.
    const failures = limiter.peek(ip, policies.authFailures, now);
    if (!failures.allowed) {
      noteFailure();
      return [{ status: 429, code: 'rate_limited', limited: true, retryAfter: failures.retryAfter }];
    }
    // 5. Authentication.
    const outcome = this.clerkOn ? c.auth.outcome.clerk : c.auth.outcome.noClerk;
    if (outcome !== 'valid') {
      limiter.hit(ip, policies.authFailures, now);
      noteFailure();
      return AUTH_ANSWERS[outcome].map(([status, code]) => ({ status, code, limited: true }));
    }
    // 6. Token limit per user.
    const token = limiter.hit(c.auth.userId!, policies.token, now);
    if (!token.allowed) {
      noteFailure();
      return [{ status: 429, code: 'rate_limited', limited: true, retryAfter: token.retryAfter }];
    }
    // 6b. Daily quota per user.
    const daily = limiter.hit(c.auth.userId!, config.wallet.daily, now);
    if (!daily.allowed) {
      noteFailure();
      return [{ status: 429, code: 'rate_limited', limited: true, retryAfter: daily.retryAfter }];
    }
    // 7. Body.
    const body = judgeBody(c.body.bytes, config);
    if (body.kind !== 'valid') return [{ status: 400, code: body.kind, limited: true }];
    // 8a. The quota circuit: open for the cool-off after OpenAI reported exhausted quota.
    const circuit: RatePolicy = { name: 'quota_circuit', limit: 1, windowMs: config.wallet.quotaCooloffMs };
    const open = limiter.peek('upstream', circuit, now);
    if (!open.allowed) return [{ status: 503, code: 'upstream_quota_cooloff', limited: true, retryAfter: open.retryAfter }];
    // 8b. The global breaker.
    const global = limiter.hit('all', config.wallet.global, now);
    if (!global.allowed) return [{ status: 503, code: 'issuance_paused', limited: true, retryAfter: global.retryAfter }];
    // 9. OpenAI.
    const upstream = body.request;
    if (mode === 'quota') limiter.hit('upstream', circuit, now);
    if (mode === 'ok') {
      return UPSTREAM_VOICES.has(upstream.voice)
        ? [{ status: 200, code: null, limited: true, upstream }]
        : [{ status: 502, code: 'upstream_rejected', limited: true, upstream }];
    }
    const failure = UPSTREAM_FAILURES[mode];
    return [{ status: failure.status, code: failure.code, limited: true, retryAfter: failure.retryAfter, upstream }];
  }
}
