import { servesTokens } from '@/lib/config/calls';
import { methodNotAllowed, pipeline, plainOptions } from '@/lib/pipeline/run';
import { TOKEN_GUARDS, TOKEN_METHODS } from '@/lib/routes/token';

/**
 * POST /api/realtime/token — mints an OpenAI Realtime ephemeral key after the
 * guards in lib/routes/token.ts, in their order. A CORS preflight never gets
 * here: the middleware answers it before any auth work. REALTIME_MODE=calls
 * turns the route off (lib/config/calls.ts).
 */
export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

// REALTIME_MODE=calls: a plain 404, as if the route did not exist.
const SERVED = { servedWhen: servesTokens };

export const POST = pipeline(TOKEN_GUARDS, SERVED);
export const OPTIONS = plainOptions(TOKEN_METHODS, SERVED);

const refuse = methodNotAllowed(TOKEN_METHODS, SERVED);
export { refuse as DELETE, refuse as GET, refuse as HEAD, refuse as PATCH, refuse as PUT };
