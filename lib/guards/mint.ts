import { createEphemeralKey, UpstreamError, type OpenAIClientOptions } from '../openai';
import { refuseUpstream } from '../pipeline/failures';
import type { GuardFactory } from '../pipeline/guard';

/**
 * Mints the ephemeral key (lib/openai.ts) and answers with allow-listed
 * fields only. Upstream failures map to the catalog's 502/503/504 codes; none
 * of the upstream's text is relayed.
 */
export const mintGuard: GuardFactory = (config) => {
  const client: Omit<OpenAIClientOptions, 'fetch'> = {
    apiKey: config.openai.apiKey ?? '',
    baseUrl: config.openai.baseUrl,
    timeoutMs: config.openai.timeoutMs,
    ttlSeconds: config.openai.tokenTtlSeconds,
  };
  return {
    name: 'mint',
    refuses: ['upstream_error', 'upstream_timeout', 'upstream_auth', 'upstream_rejected', 'upstream_rate_limited'],
    async run(ctx) {
      try {
        const key = await createEphemeralKey(ctx.body!, { ...client, fetch: ctx.rt.fetch });
        ctx.log('info', 'token_issued', 'Realtime ephemeral key issued', {
          model: key.session.model,
          voice: key.session.voice,
          sessionId: key.session.id,
          expiresAt: key.expires_at,
        });
        const session = { id: key.session.id, model: key.session.model, voice: key.session.voice };
        return Response.json({ value: key.value, expires_at: key.expires_at, session, traceId: ctx.traceId }, { status: 200 });
      } catch (error) {
        if (!(error instanceof UpstreamError)) throw error;
        return refuseUpstream(ctx, error, 'OpenAI client_secrets call failed');
      }
    },
  };
};
