import type { RateLimitResult } from '../limits/store';

/**
 * Rate-limit response headers for the limiters that ran. `X-RateLimit-*`
 * describe the binding result (the refusal, else the one with the least
 * quota left); `RateLimit-Policy` / `RateLimit` list every policy, as in
 * draft-ietf-httpapi-ratelimit-headers (structured-field lists).
 */
export function rateLimitHeaders(results: readonly RateLimitResult[], now = Date.now()): Headers {
  const headers = new Headers();
  if (results.length === 0) return headers;
  const binding =
    results.find((r) => !r.allowed) ?? results.reduce((a, b) => (b.remaining < a.remaining ? b : a));
  headers.set('X-RateLimit-Limit', String(binding.limit));
  headers.set('X-RateLimit-Remaining', String(Math.max(0, binding.remaining)));
  headers.set('X-RateLimit-Reset', String(Math.ceil(binding.resetAt / 1000)));
  if (!binding.allowed) headers.set('Retry-After', String(Math.max(1, Math.ceil(binding.retryAfterMs / 1000))));
  headers.set(
    'RateLimit-Policy',
    results.map((r) => `"${r.policy.name}";q=${r.limit};w=${Math.round(r.policy.windowMs / 1000)}`).join(', '),
  );
  headers.set(
    'RateLimit',
    results
      .map((r) => `"${r.policy.name}";r=${Math.max(0, r.remaining)};t=${Math.max(0, Math.ceil((r.resetAt - now) / 1000))}`)
      .join(', '),
  );
  return headers;
}
