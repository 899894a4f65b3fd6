import { decodeUtf8 } from '../body';
import { parseStrictJson } from '../json';
import type { Ctx } from '../pipeline/context';
import type { GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';
import { createTokenRequestSchema, validateTokenRequest, type ValidationIssue } from '../validation';

/**
 * Strict JSON parse (lib/json.ts: duplicate member names refused, RFC 7493
 * §2.3), zod validation against the allowlists, instruction sanitizing
 * (lib/validation.ts).
 */
export const validateGuard: GuardFactory = (config) => {
  // The schema closes over the allowlists: built once per configuration.
  const schema = createTokenRequestSchema(config);
  const rejected = (ctx: Ctx, code: 'json_invalid' | 'body_invalid', reason: string, issues?: ValidationIssue[]) =>
    refuse(ctx, code, { message: 'Request body rejected', metadata: { reason }, issues });
  return {
    name: 'validate',
    refuses: ['json_invalid', 'body_invalid'],
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
      const result = validateTokenRequest(schema, json);
      if (!result.ok) return rejected(ctx, 'body_invalid', 'body failed validation', result.issues);
      ctx.body = result.value;
      return undefined;
    },
  };
};
