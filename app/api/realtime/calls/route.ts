import { methodNotAllowed, pipeline, plainOptions } from '@/lib/pipeline/run';
import { CALLS_GUARDS, CALLS_METHODS, CALLS_SERVED } from '@/lib/routes/calls';

/**
 * POST /api/realtime/calls — the browser's SDP offer in, OpenAI's answer out;
 * the server places and supervises the call (lib/routes/calls.ts).
 */
export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export const POST = pipeline(CALLS_GUARDS, CALLS_SERVED);
export const OPTIONS = plainOptions(CALLS_METHODS, CALLS_SERVED);

const refuse = methodNotAllowed(CALLS_METHODS, CALLS_SERVED);
export { refuse as DELETE, refuse as GET, refuse as HEAD, refuse as PATCH, refuse as PUT };
