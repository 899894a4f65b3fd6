import { getRuntime } from '@/lib/runtime';
import { notFound, runPipeline } from '@/lib/token-pipeline';

/** Unknown API paths: a JSON 404 with the same headers as every other API answer. */
export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

const answer = (req: Request): Promise<Response> => runPipeline(req, getRuntime, [notFound]);
export { answer as DELETE, answer as GET, answer as HEAD, answer as OPTIONS, answer as PATCH, answer as POST, answer as PUT };
