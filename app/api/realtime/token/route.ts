import { methodNotAllowed, pipeline, plainOptions } from '@/lib/pipeline/run';
import { TOKEN_GUARDS, TOKEN_METHODS } from '@/lib/routes/token';

/**
 * POST /api/realtime/token — mints an OpenAI Realtime ephemeral key after the
 * guards in lib/routes/token.ts, in their order. A CORS preflight never gets
 * here: the middleware answers it before any auth work.
 */
export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export const POST = pipeline(TOKEN_GUARDS);
export const OPTIONS = plainOptions(TOKEN_METHODS);

const refuse = methodNotAllowed(TOKEN_METHODS);
export { refuse as DELETE, refuse as GET, refuse as HEAD, refuse as PATCH, refuse as PUT };
