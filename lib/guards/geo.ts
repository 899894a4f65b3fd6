import { countryOf } from '../geo';
import type { GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';

/**
 * Geography (`GEO_ALLOW_COUNTRIES` or `GEO_DENY_COUNTRIES`, `GEO_UNKNOWN`):
 * the client's country (lib/geo.ts) against the one list configured. The
 * refusal logs the country only, never the database's other fields.
 */
export const geoGuard: GuardFactory = (config) => {
  const geo = config.geo;
  const active = geo !== undefined && (geo.allow !== undefined || geo.deny !== undefined);
  return {
    name: 'geo',
    refuses: ['geo_blocked'],
    async run(ctx) {
      if (!active) return undefined;
      const country = countryOf(ctx, geo);
      const blocked = country === undefined ? geo.unknown === 'deny' : geo.allow ? !geo.allow.has(country) : geo.deny!.has(country);
      if (!blocked) return undefined;
      return refuse(ctx, 'geo_blocked', { message: 'Request from a blocked country', metadata: { country: country ?? 'unknown' } });
    },
  };
};
