import { BodyTooLargeError, readCapped } from '../body';
import type { AppConfig } from '../config';
import type { Ctx } from '../pipeline/context';
import type { Guard, GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';

const JSON_CONTENT_TYPE = /^application\/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

/**
 * A shape guard named `name` whose byte cap is `capOf(config)`: JSON content
 * type, body within the cap. The body is read with the cap, never with an
 * unbounded `req.json()`; the front door has already cut off anything over
 * the cap, and this check holds without it.
 */
export function shapeGuardWith(name: string, capOf: (config: AppConfig) => number): GuardFactory {
  return (config) => shapeGuardOf(name, capOf(config));
}

/** The token route's shape: `MAX_BODY_BYTES` (default 16 KiB). */
export const shapeGuard: GuardFactory = shapeGuardWith('shape', (config) => config.maxBodyBytes);

function shapeGuardOf(name: string, maxBytes: number): Guard {
  const tooLarge = (ctx: Ctx, reason: string) => refuse(ctx, 'body_too_large', { message: 'Request refused before parsing', metadata: { reason, maxBytes } });
  const notJson = (ctx: Ctx, reason: string) => refuse(ctx, 'unsupported_media_type', { message: 'Request refused before parsing', metadata: { reason, maxBytes } });
  return {
    name,
    refuses: ['unsupported_media_type', 'body_too_large', 'json_invalid'],
    async run(ctx) {
      const { req } = ctx;
      const type = req.headers.get('content-type');
      const declared = Number(req.headers.get('content-length') ?? '0');
      if (type !== null ? !JSON_CONTENT_TYPE.test(type.trim()) : declared > 0) return notJson(ctx, 'content type is not application/json');
      if (declared > maxBytes) return tooLarge(ctx, 'declared length over the cap');
      try {
        ctx.rawBody = await readCapped(req.body, maxBytes);
      } catch (error) {
        if (error instanceof BodyTooLargeError) return tooLarge(ctx, 'body over the cap while reading');
        // The client aborted or sent a broken stream: its error, not a 500 (and not an error-level log).
        return refuse(ctx, 'json_invalid', { message: 'Request body rejected', metadata: { reason: 'body could not be read' } });
      }
      if (type === null && ctx.rawBody.byteLength > 0) return notJson(ctx, 'body sent without a content type');
      return undefined;
    },
  };
}
