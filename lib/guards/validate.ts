import { decodeUtf8 } from '../body';
import type { Ctx } from '../pipeline/context';
import type { GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';
import { createTokenRequestSchema, validateTokenRequest, type ValidationIssue } from '../validation';

/** JSON parse, zod validation against the allowlists, instruction sanitizing (lib/validation.ts). */
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
        try {
          json = JSON.parse(text);
        } catch {
          return rejected(ctx, 'json_invalid', 'body is not valid JSON');
        }
      }
      const result = validateTokenRequest(schema, json);
      if (!result.ok) return rejected(ctx, 'body_invalid', 'body failed validation', result.issues);
      ctx.body = result.value;
      return undefined;
    },
  };
};
