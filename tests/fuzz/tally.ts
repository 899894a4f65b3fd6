import { writeFileSync } from 'node:fs';

/**
 * Counts what the fuzz properties sent and saw, for the figures `npm run fuzz`
 * prints (cases, requests, statuses, findings). FUZZ_REPORT names a JSON file
 * to write them to.
 */

export interface Finding {
  readonly property: string;
  readonly seed: number;
  readonly counterexample: string;
  readonly error: string;
}

export class Tally {
  readonly started = Date.now();
  readonly cases: Record<string, number> = {};
  requests = 0;
  upstreamCalls = 0;
  /** Requests that reached the stand-in without this run's server key (another test's client on a reused port). */
  foreignUpstream = 0;
  readonly statuses: Record<string, number> = {};
  readonly codes: Record<string, number> = {};
  readonly findings: Finding[] = [];
  seeds: Record<string, number> = {};

  answer(status: number, code: string | undefined, upstreamCalls: number): void {
    this.requests++;
    this.upstreamCalls += upstreamCalls;
    this.statuses[status] = (this.statuses[status] ?? 0) + 1;
    const key = code ?? String(status);
    this.codes[key] = (this.codes[key] ?? 0) + 1;
  }

  summary() {
    return {
      cases: Object.values(this.cases).reduce((a, b) => a + b, 0),
      casesByProperty: this.cases,
      requests: this.requests,
      upstreamCalls: this.upstreamCalls,
      foreignUpstream: this.foreignUpstream,
      statuses: this.statuses,
      codes: this.codes,
      findings: this.findings,
      seeds: this.seeds,
      durationMs: Date.now() - this.started,
    };
  }

  /** Writes the summary to `path` when set. */
  write(path: string | undefined): void {
    if (path) writeFileSync(path, `${JSON.stringify(this.summary(), null, 2)}\n`);
  }
}
