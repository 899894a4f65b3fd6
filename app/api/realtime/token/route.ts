import { getRuntime } from '@/lib/runtime';
import {
  authenticateUser,
  checkRequestOrigin,
  checkRequestShape,
  limitApiPerIp,
  limitAuthFailures,
  limitTokensPerUser,
  methodNotAllowed,
  mintToken,
  options,
  requireConfigured,
  runPipeline,
  validateBody,
  type Step,
} from '@/lib/token-pipeline';

/**
 * POST /api/realtime/token — mints an OpenAI Realtime ephemeral key.
 *
 * The security story, in order; the first step that answers wins
 * (DESIGN.md "Request flow"). The CORS preflight never gets here: the
 * middleware answers it before any auth work.
 */
const TOKEN_PIPELINE: readonly Step[] = [
  checkRequestShape, // 1. 415 non-JSON, 413 over the byte cap (read with a cap)
  checkRequestOrigin, // 2. 403 origin_not_allowed
  limitApiPerIp, // 3. 429 general API limit per client IP
  limitAuthFailures, // 4. 429 for an IP over the auth-failure limit, credentials unread
  requireConfigured, // 4b. 503 when no server key or no auth method is configured
  authenticateUser, // 5. 401 (400 malformed header): Clerk first, then HS256 JWT
  limitTokensPerUser, // 6. 429 token-issuance limit per user
  validateBody, // 7. 400 zod validation and sanitizing
  mintToken, // 8–9. 502/503/504 upstream failures, else 200 with allow-listed fields
];

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export function POST(req: Request): Promise<Response> {
  return runPipeline(req, getRuntime, TOKEN_PIPELINE);
}

export function OPTIONS(req: Request): Promise<Response> {
  return options(req, getRuntime);
}

const refuse = (req: Request): Promise<Response> => methodNotAllowed(req, getRuntime);
export { refuse as DELETE, refuse as GET, refuse as HEAD, refuse as PATCH, refuse as PUT };
