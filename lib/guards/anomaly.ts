import { detectors, type Finding } from '../anomaly/detectors';
import type { Ctx } from '../pipeline/context';
import type { GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';

/**
 * Anomalies per user (lib/anomaly/detectors.ts), `ANOMALY_MODE=off|log|block`
 * (default log). Each detection logs one `anomaly_detected` line per detector
 * and user per cool-off period (`ANOMALY_COOLOFF_SECONDS`, default 900), with
 * its evidence. In block mode a detection also opens a cool-off for the user:
 * 429 `anomaly_cooloff` with `Retry-After` until it ends, shared across
 * instances (both the latch and the cool-off are one-admit policies in the store).
 */
export const anomalyGuard: GuardFactory = (config) => {
  const a = config.anomaly;
  const cooloff = { name: 'anomaly_cooloff', limit: 1, windowMs: a.cooloffMs };
  const logged = { name: 'anomaly_logged', limit: 1, windowMs: a.cooloffMs };
  const checks = a.mode === 'off' ? [] : detectors(config);
  const paused = (ctx: Ctx, waitMs: number, detected: readonly Finding[]) => {
    const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
    return refuse(ctx, 'anomaly_cooloff', {
      message: 'New sessions paused for this user after an anomaly',
      metadata: { retryAfter, detectors: detected.map((f) => f.detector) },
      headers: { 'Retry-After': String(retryAfter) },
    });
  };
  return {
    name: 'anomaly',
    refuses: ['anomaly_cooloff'],
    async run(ctx) {
      const user = ctx.identity?.userId;
      if (checks.length === 0 || user === undefined) return undefined;
      const { store } = ctx.rt;
      // One round trip with Redis: the cool-off check and the detectors run together.
      const [state, ...found] = await Promise.all([a.mode === 'block' ? store.peek(user, cooloff) : undefined, ...checks.map((check) => check(ctx, user))]);
      if (state !== undefined && !state.allowed) return paused(ctx, state.retryAfterMs, []);
      const findings = found.filter((f): f is Finding => f !== undefined);
      for (const { detector, evidence } of findings) {
        if (!(await store.hit(`${detector}:${user}`, logged)).allowed) continue;
        ctx.log('warn', 'anomaly_detected', `Anomaly detected: ${detector}`, { detector, mode: a.mode, ...evidence });
      }
      if (a.mode !== 'block' || findings.length === 0) return undefined;
      const opened = await store.hit(user, cooloff);
      return paused(ctx, opened.allowed ? a.cooloffMs : opened.retryAfterMs, findings);
    },
  };
};
