import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT } from '@/app/api/health/route';
import { loadConfig } from '@/lib/config';
import { createRuntime, setRuntime, type Runtime } from '@/lib/runtime';
import { createSecurityLogger } from '@/lib/security-logger';
import { freePort, startRedis, type RedisServer } from '../support/redis';
import { baseEnv } from '../support/runtime';

/**
 * GET /api/health: the limiter's readiness, and nothing else. Runtimes are
 * built by createRuntime from an environment, exactly as the server does, so
 * these cases also pin which store REDIS_URL selects.
 */

const PASSWORD = 'health-route-secret-pw';
let redis: RedisServer;
let current: Runtime | undefined;
const lines: string[] = [];

function use(env: Record<string, string>): Runtime {
  current = createRuntime({
    config: loadConfig({ ...baseEnv(), ...env }),
    logger: createSecurityLogger({ sink: (l) => void lines.push(l) }),
  });
  // Start-up configuration warnings (lib/config/warnings.ts) are not this file's subject.
  lines.length = 0;
  setRuntime(current);
  return current;
}

async function health(): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await GET(new Request('http://localhost:3000/api/health'));
  return { status: res.status, headers: res.headers, text: await res.text() };
}

beforeAll(async () => {
  redis = await startRedis({ password: PASSWORD });
});
afterEach(async () => {
  setRuntime(undefined);
  await current?.store.close();
  current = undefined;
  lines.length = 0;
});
afterAll(async () => {
  await redis?.close();
});

describe('GET /api/health', () => {
  it('reports the memory limiter when REDIS_URL is unset', async () => {
    use({});
    const res = await health();
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ status: 'ok', limiter: 'memory' });
  });

  it('reports Redis when REDIS_URL points at a live server', async () => {
    use({ REDIS_URL: redis.url });
    const res = await health();
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ status: 'ok', limiter: 'redis' });
  });

  it.each([
    ['a closed port', async () => `redis://:secret-in-url@127.0.0.1:${await freePort()}/0`],
    ['a wrong password', async () => redis.url.replace(PASSWORD, 'wrong-secret-in-url')],
  ])('reports a degraded limiter for %s, and leaks nothing about it', async (_label, url) => {
    const redisUrl = await url();
    use({ REDIS_URL: redisUrl });
    const res = await health();
    // Still 200: the instance keeps limiting (per instance) and must stay in rotation.
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ status: 'degraded', limiter: 'redis-degraded' });
    const everything = [res.text, ...res.headers.values(), ...lines].join('\n');
    for (const secret of ['secret-in-url', PASSWORD, 'redis://', '127.0.0.1', `:${new URL(redisUrl).port}`]) {
      expect(everything).not.toContain(secret);
    }
    // The outage itself is logged once, as critical.
    expect(lines.map((l) => JSON.parse(l).event)).toEqual(['rate_limit_store_degraded']);
  });

  it('carries the API security headers and is never cached', async () => {
    use({});
    const { headers } = await health();
    expect(headers.get('content-type')).toMatch(/^application\/json/);
    expect(headers.get('cache-control')).toBe('no-store, no-cache, must-revalidate');
    expect(headers.get('x-content-type-options')).toBe('nosniff');
    expect(headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(headers.get('strict-transport-security')).not.toBeNull();
  });

  it('HEAD answers the same status without a body', async () => {
    use({});
    const res = await HEAD(new Request('http://localhost:3000/api/health', { method: 'HEAD' }));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it('answers 503 without details when the configuration cannot load', async () => {
    setRuntime(undefined);
    // getRuntime() reads the environment; a bad REDIS_URL makes it throw.
    const saved = process.env.REDIS_URL;
    process.env.REDIS_URL = 'http://not-redis.example';
    try {
      const res = await health();
      expect(res.status).toBe(503);
      expect(JSON.parse(res.text)).toEqual({ status: 'unavailable' });
    } finally {
      if (saved === undefined) delete process.env.REDIS_URL;
      else process.env.REDIS_URL = saved;
      setRuntime(undefined);
    }
  });
});

describe('methods /api/health does not serve', () => {
  it.each([
    ['POST', POST],
    ['PUT', PUT],
    ['PATCH', PATCH],
    ['DELETE', DELETE],
    ['OPTIONS', OPTIONS],
  ] as const)('%s → 405 in the API error shape, with Allow and the API headers', async (method, handler) => {
    use({});
    const res = await handler(new Request('http://localhost:3000/api/health', { method, headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } }));
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('x-trace-id')).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(await res.json()).toEqual({
      error: 'method_not_allowed',
      message: expect.any(String),
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    });
  });
});
