import { decodeUtf8 } from '../body';
import type { AppConfig } from '../config';
import type { ErrorCode } from '../errors';
import { parseStrictJson } from '../json';
import type { Ctx } from '../pipeline/context';
import type { Guard, GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';
import { createTokenRequestSchema, validateTokenRequest, type ValidationIssue } from '../validation';

type Check<T> = (json: unknown) => { ok: true; value: T } | { ok: false; issues: ValidationIssue[] };

/**
 * A guard named `name` that parses the body as strict JSON (lib/json.ts:
 * duplicate member names refused, RFC 7493 §2.3) and validates it with the
 * check `build(config)` makes (once per configuration: schemas close over the
 * allowlists); `accept` takes the valid value into the context, or refuses
 * with one of the codes in `also`.
 */
export function validateGuardWith<T>(
  name: string,
  build: (config: AppConfig) => Check<T>,
  accept: (ctx: Ctx, value: T) => Response | undefined,
  /** Codes `accept` can refuse with. */
  also: readonly ErrorCode[] = [],
): GuardFactory {
  return (config): Guard => {
    const check = build(config);
    const rejected = (ctx: Ctx, code: 'json_invalid' | 'body_invalid', reason: string, issues?: ValidationIssue[]) =>
      refuse(ctx, code, { message: 'Request body rejected', metadata: { reason }, issues });
    return {
      name,
      refuses: ['json_invalid', 'body_invalid', ...also],
      async run(ctx) {
        const text = decodeUtf8(ctx.rawBody ?? new Uint8Array(0));
        if (text === undefined) return rejected(ctx, 'json_invalid', 'body is not valid UTF-8');
        let json: unknown = {};
        if (text.trim() !== '') {
          const parsed = parseStrictJson(text);
          if (!parsed.ok) {
            return rejected(ctx, 'json_invalid', parsed.reason === 'syntax' ? 'body is not valid JSON' : 'body repeats a member name');
          }
          json = parsed.value;
        }
        const result = check(json);
        if (!result.ok) return rejected(ctx, 'body_invalid', 'body failed validation', result.issues);
        return accept(ctx, result.value);
      },
    };
  };
}

/** The token route's body: zod validation against the allowlists, instruction sanitizing (lib/validation.ts). */
export const validateGuard: GuardFactory = validateGuardWith(
  'validate',
  (config) => {
    const schema = createTokenRequestSchema(config);
    return (json) => validateTokenRequest(schema, json);
  },
  (ctx, value) => {
    ctx.body = value;
    return undefined;
  },
);
