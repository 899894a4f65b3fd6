import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { Reader, type Response } from 'mmdb-lib';
import type { GeoConfig } from './config';
import type { Ctx } from './pipeline/context';

/**
 * The client's country, offline: from the platform's country header where a
 * trusted platform sits in front (`CLIENT_COUNTRY_HEADER`, trusted only with
 * `CLIENT_IP_HEADER`), else from an IP-to-country database that ships inside
 * an npm package (`@ip-location-db/geo-whois-asn-country-mmdb`, CC0, built
 * from the RIRs' whois and ASN data), read with `mmdb-lib`. The database is
 * read once per process; a lookup is a walk down a binary tree (bench/ part 7).
 * Refresh it by updating the package (README "Geography").
 */

/** The database file inside the package (v4 and v6 in one file). */
export const GEO_DATABASE_MODULE = '@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb';

export interface GeoLookup {
  /** The ISO 3166-1 alpha-2 code of a canonical address (lib/client-ip.ts), or undefined. */
  country(address: string): string | undefined;
  /** When the database was built (its metadata), for the start-up log and the README. */
  readonly builtAt: Date;
}

const loaded = new Map<string, GeoLookup>();

/**
 * The database at `path` (default: the package's file, resolved from the
 * project root at run time so no bundler copies 8 MB into a build), loaded
 * once per process and shared by every runtime.
 */
export function loadGeoDatabase(path: string = resolveDatabase()): GeoLookup {
  let lookup = loaded.get(path);
  if (lookup === undefined) {
    const reader = new Reader<Response>(readFileSync(path));
    lookup = {
      builtAt: reader.metadata.buildEpoch,
      country(address) {
        // mmdb-lib's parser is lenient ("1.2.3.4.5" looks up 1.2.3.4); only real addresses are looked up.
        if (isIP(address) === 0) return undefined;
        const record = reader.get(address) as { country_code?: unknown } | null;
        const code = record?.country_code;
        return typeof code === 'string' && /^[A-Z]{2}$/.test(code) ? code : undefined;
      },
    };
    loaded.set(path, lookup);
  }
  return lookup;
}

/**
 * The package's file in the nearest node_modules at or above the working
 * directory, as Node would find it. Not `require.resolve`: webpack takes a
 * resolve of a variable for a dependency it cannot bundle and warns on every
 * dev compile ("Critical dependency: the request of a dependency is an expression").
 */
function resolveDatabase(): string {
  for (let dir = process.cwd(); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', GEO_DATABASE_MODULE);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`geography is on but ${GEO_DATABASE_MODULE} is not installed`);
  }
}

// Cloudflare sends XX for "unknown"; some platforms use ZZ.
const HEADER_COUNTRY = /^[A-Z][A-Z0-9]$/;
const UNKNOWN_CODES = new Set(['XX', 'ZZ']);

/**
 * The request's country, looked up once per request: the platform header when
 * configured and well-formed, else the database, else undefined (unknown).
 */
export function countryOf(ctx: Ctx, geo: GeoConfig): string | undefined {
  if (ctx.country !== undefined) return ctx.country ?? undefined;
  let country: string | undefined;
  if (geo.countryHeader !== undefined) {
    const sent = ctx.req.headers.get(geo.countryHeader)?.trim().toUpperCase();
    if (sent !== undefined && HEADER_COUNTRY.test(sent) && !UNKNOWN_CODES.has(sent)) country = sent;
  }
  if (country === undefined && ctx.address !== undefined) country = ctx.rt.geo?.country(ctx.address);
  ctx.country = country ?? null;
  return country;
}
