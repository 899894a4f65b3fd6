import { errorResponse } from '@/lib/errors';
import { answerWith, pipeline } from '@/lib/pipeline/run';

/** Unknown API paths: a JSON 404 with the same headers as every other API answer. */
export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

const answer = pipeline([answerWith('not_found', (ctx) => errorResponse('not_found', ctx.traceId))]);
export { answer as DELETE, answer as GET, answer as HEAD, answer as OPTIONS, answer as PATCH, answer as POST, answer as PUT };
