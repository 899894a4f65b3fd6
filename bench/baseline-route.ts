/**
 * BENCHMARK ONLY — this route never ships. bench/build.mjs copies it into a
 * throw-away copy of the project (as app/bench-baseline/route.ts, and as
 * app/api/bench-baseline/route.ts where the middleware runs) that is built
 * for `npm run bench` alone; the app's own build never sees it.
 *
 * The bare baseline the security layer is measured against: read
 * the JSON body, call the same upstream with the same request the token route
 * sends, return the upstream JSON. No origin check, no auth, no rate limits,
 * no validation, no logging, no extra headers, and the bench build keeps the
 * middleware off /bench-baseline, so the difference to the token route is the
 * whole price of the security controls.
 */
export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export async function POST(req: Request): Promise<Response> {
  const body = (await req.json()) as { voice?: string; model?: string; instructions?: string };
  const upstream = await fetch(`${process.env.OPENAI_BASE_URL}/realtime/client_secrets`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${process.env.OPENAI_API_KEY}`,
      'Content-Type': 'application/json',
      Accept: 'application/json',
    },
    body: JSON.stringify({
      expires_after: { anchor: 'created_at', seconds: 60 },
      session: {
        type: 'realtime',
        model: body.model ?? 'gpt-realtime',
        instructions: body.instructions,
        audio: { output: { voice: body.voice ?? 'alloy' } },
      },
    }),
    cache: 'no-store',
  });
  return Response.json(await upstream.json(), { status: upstream.status });
}
