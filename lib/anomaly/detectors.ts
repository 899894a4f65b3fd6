import { isIP } from 'node:net';
import { expandIPv6 } from '../client-ip';
import type { AppConfig } from '../config';
import { countryOf } from '../geo';
import { recentCount, type DistinctPolicy, type TrendPolicy } from '../limits/observations';
import type { Ctx } from '../pipeline/context';

/**
 * Three explainable detectors, per user, each one store operation
 * (lib/limits/observations.ts) so they hold across instances with Redis:
 *
 * - credential_sharing: more than `ANOMALY_MAX_NETWORKS` distinct client
 *   networks (/24 IPv4, /48 IPv6) within a sliding hour;
 * - issuance_spike: issuance in the last 10 minutes above `ANOMALY_SPIKE_FACTOR`
 *   × the user's own EWMA baseline of 10-minute counts, and above
 *   `ANOMALY_SPIKE_FLOOR`, so new users (baseline 0) are not flagged;
 * - impossible_travel (geography on): two countries within `ANOMALY_TRAVEL_MINUTES`.
 *
 * Evidence is counts, countries and windows; never addresses or networks.
 */

export type DetectorName = 'credential_sharing' | 'issuance_spike' | 'impossible_travel';

export interface Finding {
  readonly detector: DetectorName;
  readonly evidence: Readonly<Record<string, unknown>>;
}

export type Detector = (ctx: Ctx, user: string) => Promise<Finding | undefined>;

const HOUR_MS = 3_600_000;
const SPIKE_BUCKET_MS = 600_000;
/** Weight of the newest 10-minute bucket: the baseline follows about the last two hours. */
export const SPIKE_ALPHA = 0.1;

/** The client network an address belongs to: its /24 (IPv4) or /48 (IPv6); undefined when unknown. */
export function networkOf(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  if (isIP(address) === 4) return `${address.slice(0, address.lastIndexOf('.'))}.0/24`;
  return `${expandIPv6(address).slice(0, 3).map((g) => g.toString(16)).join(':')}::/48`;
}

/** The detectors `config` turns on (travel only with geography). Built once per configuration. */
export function detectors(config: AppConfig): Detector[] {
  const a = config.anomaly;
  const networks: DistinctPolicy = { name: 'anomaly_networks', windowMs: HOUR_MS, maxMembers: a.maxNetworks + 1 };
  const issuance: TrendPolicy = { name: 'anomaly_issuance', bucketMs: SPIKE_BUCKET_MS, alpha: SPIKE_ALPHA };
  const countries: DistinctPolicy = { name: 'anomaly_countries', windowMs: a.travelMs, maxMembers: 4 };
  const round = (n: number) => Math.round(n * 100) / 100;

  const sharing: Detector = async (ctx, user) => {
    const network = networkOf(ctx.address);
    if (network === undefined) return undefined;
    const { members } = await ctx.rt.observations.distinct(user, network, networks);
    if (members.length <= a.maxNetworks) return undefined;
    return { detector: 'credential_sharing', evidence: { networks: members.length, limit: a.maxNetworks, windowMinutes: HOUR_MS / 60_000 } };
  };

  const spike: Detector = async (ctx, user) => {
    const trend = await ctx.rt.observations.trend(user, issuance);
    const recent = recentCount(trend);
    const threshold = Math.max(a.spikeFloor, a.spikeFactor * trend.baseline);
    if (recent <= threshold) return undefined;
    const evidence = { recent: round(recent), baseline: round(trend.baseline), factor: a.spikeFactor, floor: a.spikeFloor, windowMinutes: SPIKE_BUCKET_MS / 60_000 };
    return { detector: 'issuance_spike', evidence };
  };

  const geo = config.geo;
  const travel: Detector = async (ctx, user) => {
    const country = geo && countryOf(ctx, geo);
    if (country === undefined) return undefined;
    const { members } = await ctx.rt.observations.distinct(user, country, countries);
    if (members.length < 2) return undefined;
    return { detector: 'impossible_travel', evidence: { countries: members, windowMinutes: a.travelMs / 60_000 } };
  };

  return geo ? [sharing, spike, travel] : [sharing, spike];
}
