import { describe, expect, it } from 'vitest';
import { createSecurityLogger } from '@/lib/security-logger';
import { signJwt } from '../support/tokens';

/**
 * Every bug the fuzz properties found, pinned as a plain example so it stays
 * fixed even when a run draws different cases. One row per finding, with the
 * shrunk counterexample fast-check reported; the seed that drew it is
 * replayed by every fuzz run (./regression-seeds.ts).
 */

describe('fuzz findings', () => {
  it('a JWT glued to other text in a logged header is masked (User-Agent "id<jwt>")', async () => {
    const jwt = await signJwt();
    const lines: string[] = [];
    const logger = createSecurityLogger({ sink: (l) => void lines.push(l) });
    for (const userAgent of [`id${jwt}`, `x_${jwt}`, `0${jwt}`, `Mozilla/5.0 ${jwt}`]) {
      logger.log('info', 'auth_success', 'Authenticated via jwt', { traceId: '0'.repeat(32), userAgent });
    }
    expect(lines).toHaveLength(4);
    for (const line of lines) {
      expect(line).not.toContain(jwt.split('.')[2]);
      expect(JSON.parse(line).userAgent).toMatch(/\[REDACTED_JWT\]$/);
    }
  });
});
