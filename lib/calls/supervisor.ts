import type { AppConfig } from '../config';
import type { Allotment, Reservation } from '../limits/store';
import { traceIdFrom, type LogLevel, type RequestContext, type SecurityEvent, type SecurityLogger } from '../security-logger';
import { UpstreamError } from '../upstream';
import type { CallAdapter, CallKind, UpstreamClient } from './adapter';
import type { PinnedSession } from './policy';
import type { CallRecord, CallRegistry, EndReason } from './registry';
import { watchCall, type Watch } from './watch';

/**
 * Bounds every call this process placed. Each call gets a deadline timer
 * (its `endsAt`: CALL_MAX_SECONDS, or less when the user's minutes run out)
 * and a sideband watch (lib/calls/watch.ts). The timer never depends on the
 * sideband: a sideband that cannot open or drops still leaves the call
 * hung up at its deadline. Ending is claimed once through the registry, so
 * exactly one instance hangs up and logs `call_ended`; the budget slot and
 * the unused seconds go back in the process that drew them.
 *
 * With a shared registry (Redis) each instance also sweeps: calls recorded as
 * ended elsewhere are settled here, and active calls more than
 * {@link SWEEP_GRACE_MS} past their deadline (their supervisor died) are
 * hung up by whoever finds them first.
 */

export const SWEEP_GRACE_MS = 5000;
const HANGUP_ATTEMPTS = 3;

export interface CallBudget {
  readonly slot: Reservation;
  readonly seconds: Allotment;
}

export interface SupervisorOptions {
  readonly config: AppConfig;
  readonly logger: SecurityLogger;
  readonly fetch: typeof fetch;
  readonly now: () => number;
  readonly registry: CallRegistry;
  readonly adapters: Readonly<Record<CallKind, CallAdapter>>;
  /** How often a shared registry is swept, in ms (default 5000). */
  readonly sweepIntervalMs?: number;
  /** How long past its deadline a call must be before a sweeper takes it, in ms (default {@link SWEEP_GRACE_MS}). */
  readonly sweepGraceMs?: number;
}

interface Supervised {
  readonly record: CallRecord;
  readonly budget: CallBudget;
  readonly fields: RequestContext;
  timer?: ReturnType<typeof setTimeout>;
  watch?: Watch;
  ending: boolean;
}

export class CallSupervisor {
  private readonly calls = new Map<string, Supervised>();
  private readonly client: UpstreamClient;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private sweeping = false;

  constructor(private readonly o: SupervisorOptions) {
    this.client = { apiKey: o.config.openai.apiKey ?? '', baseUrl: o.config.openai.baseUrl, timeoutMs: o.config.openai.timeoutMs, fetch: o.fetch };
    if (o.registry.shared) {
      this.sweeper = setInterval(() => {
        // One sweep at a time: a slow Redis must not stack them up.
        if (this.sweeping) return;
        this.sweeping = true;
        void this.sweep().finally(() => (this.sweeping = false));
      }, o.sweepIntervalMs ?? 5000);
      this.sweeper.unref?.();
    }
  }

  /** Calls this process supervises right now. */
  get size(): number {
    return this.calls.size;
  }

  /** Starts supervising a call that was just placed. */
  async watch(record: CallRecord, pinned: PinnedSession, budget: CallBudget, fields: RequestContext): Promise<void> {
    const s: Supervised = { record, budget, fields: { ...fields, userId: record.owner }, ending: false };
    this.calls.set(record.id, s);
    s.timer = setTimeout(() => void this.end(record.id, record.limitedBy), Math.max(0, record.endsAt - this.o.now()));
    s.timer.unref?.();
    await this.o.registry.put(record).catch(() => this.log(s.fields, 'error', 'call_supervisor_error', 'Call registry write failed', { callId: record.id }));
    const seconds = Math.round((record.endsAt - record.startedAt) / 1000);
    this.log(s.fields, 'info', 'call_started', 'Call placed', { callId: record.id, kind: record.kind, model: pinned.model, voice: pinned.voice, seconds, limitedBy: record.limitedBy });
    // Ended while the record was being written (a deadline of 0, a DELETE): nothing to watch.
    if (s.ending) return;
    const adapter = this.o.adapters[record.kind];
    s.watch = watchCall(
      { url: adapter.sidebandUrl(record.upstreamId, this.client.baseUrl), apiKey: this.client.apiKey, handshakeTimeoutMs: this.client.timeoutMs, pinned, policy: this.o.config.calls.overridePolicy },
      {
        onOverride: (overridden, action) => {
          this.log(s.fields, 'warn', 'call_override_blocked', 'Client changed server-owned session settings', { callId: record.id, fields: overridden, action });
          if (action === 'hangup') void this.end(record.id, 'override');
        },
        onEnded: () => void this.end(record.id, 'upstream'),
        onLost: (reason, attempt) => this.log(s.fields, 'warn', 'call_supervisor_error', 'Call sideband unavailable; the deadline still holds', { callId: record.id, reason, attempt }),
      },
    );
  }

  /** Ends a call this process supervises (idempotent). */
  async end(id: string, reason: EndReason): Promise<void> {
    const s = this.calls.get(id);
    if (s === undefined || s.ending) return;
    s.ending = true;
    clearTimeout(s.timer);
    s.watch?.stop();
    const claimed = await this.o.registry.finish(id, reason, this.o.now()).catch(() => s.record);
    if (claimed) await this.hangUpstream(claimed, reason, s.fields);
    await this.settle(s);
  }

  /** The caller's own call, from this process or the registry; undefined for anyone else's. */
  async lookup(id: string, owner: string): Promise<CallRecord | undefined> {
    const record = this.calls.get(id)?.record ?? (await this.o.registry.get(id).catch(() => undefined));
    return record?.owner === owner ? record : undefined;
  }

  /** DELETE: hangs up the caller's own call wherever it is supervised. False: not theirs, or unknown. */
  async hangUp(id: string, owner: string, fields: RequestContext): Promise<boolean> {
    const record = await this.lookup(id, owner);
    if (record === undefined) return false;
    if (this.calls.has(id)) await this.end(id, 'client');
    else if (record.state === 'active') {
      const claimed = await this.o.registry.finish(id, 'client', this.o.now()).catch(() => undefined);
      if (claimed) await this.hangUpstream(claimed, 'client', { ...fields, userId: owner });
    }
    return true;
  }

  /** One sweep of a shared registry (see the class comment); returns the calls it hung up. */
  async sweep(): Promise<number> {
    for (const s of [...this.calls.values()]) {
      const seen = await this.o.registry.get(s.record.id).catch(() => undefined);
      if (seen?.state === 'ended' && !s.ending) {
        s.ending = true;
        clearTimeout(s.timer);
        s.watch?.stop();
        await this.settle(s);
      }
    }
    const now = this.o.now();
    let swept = 0;
    for (const record of await this.o.registry.overdue(now - (this.o.sweepGraceMs ?? SWEEP_GRACE_MS), 50).catch(() => [])) {
      if (this.calls.has(record.id)) continue;
      const claimed = await this.o.registry.finish(record.id, record.limitedBy, now).catch(() => undefined);
      if (!claimed) continue;
      swept++;
      await this.hangUpstream(claimed, record.limitedBy, { traceId: traceIdFrom(null), userId: claimed.owner }, { sweptBy: 'sweeper' });
    }
    return swept;
  }

  /** Ends every call (server shutdown) and stops the sweeper. */
  async close(reason: EndReason = 'upstream'): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.calls.keys()].map((id) => this.end(id, reason)));
    await this.o.registry.close();
  }

  /** Stops every timer and watch without ending anything: what a crash leaves behind (tests). */
  abandon(): void {
    clearInterval(this.sweeper);
    for (const s of this.calls.values()) {
      clearTimeout(s.timer);
      s.watch?.stop();
    }
    this.calls.clear();
  }

  private async hangUpstream(record: CallRecord, reason: EndReason, fields: RequestContext, extra: Record<string, unknown> = {}): Promise<void> {
    const adapter = this.o.adapters[record.kind];
    for (let attempt = 1; ; attempt++) {
      try {
        await adapter.hangUp(record.upstreamId, this.client);
        break;
      } catch (error) {
        const detail = error instanceof UpstreamError ? error.detail.reason : 'unexpected error';
        this.log(fields, 'error', 'call_supervisor_error', 'Call hang-up failed', { callId: record.id, attempt, reason: detail });
        if (attempt >= HANGUP_ATTEMPTS) break;
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      }
    }
    const durationSeconds = Math.round((this.o.now() - record.startedAt) / 1000);
    this.log(fields, 'info', 'call_ended', 'Call ended', { callId: record.id, reason, durationSeconds, ...extra });
  }

  /** Gives back the slot and the seconds the call did not use. */
  private async settle(s: Supervised): Promise<void> {
    this.calls.delete(s.record.id);
    const used = Math.ceil((this.o.now() - s.record.startedAt) / 1000);
    await Promise.all([s.budget.slot.release(), s.budget.seconds.refund(s.budget.seconds.granted - used)]).catch(() => undefined);
  }

  private log(fields: RequestContext, level: LogLevel, event: SecurityEvent, message: string, metadata: Record<string, unknown>): void {
    this.o.logger.log(level, event, message, fields, metadata);
  }
}
