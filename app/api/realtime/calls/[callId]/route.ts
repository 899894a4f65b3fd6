import { methodNotAllowed, pipeline, plainOptions } from '@/lib/pipeline/run';
import { CALL_CONTROL_GUARDS, CALL_METHODS, CALLS_SERVED } from '@/lib/routes/calls';

/** GET (status) and DELETE (hang up) of the caller's own call (lib/routes/calls.ts). */
export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export const GET = pipeline(CALL_CONTROL_GUARDS, CALLS_SERVED);
export const DELETE = GET;
export const OPTIONS = plainOptions(CALL_METHODS, CALLS_SERVED);

const refuse = methodNotAllowed(CALL_METHODS, CALLS_SERVED);
export { refuse as HEAD, refuse as PATCH, refuse as POST, refuse as PUT };
