import { parseStrictJson } from '../json';

/**
 * The JOSE header of a compact JWS, read once per request before any
 * verifier runs, so the same rules hold on the Clerk path and the jose path.
 */

export interface JoseHeader {
  readonly alg: string;
  readonly kid?: string;
}

const JWT_SHAPE = /^([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export type HeaderResult = { readonly ok: true; readonly header: JoseHeader } | { readonly ok: false; readonly reason: string };

export function readJoseHeader(token: string): HeaderResult {
  const shape = JWT_SHAPE.exec(token);
  if (!shape) return { ok: false, reason: 'credential is not a JWT' };
  const parsed = parseStrictJson(Buffer.from(shape[1], 'base64url').toString('utf8'));
  // RFC 7515 §4: header parameter names must be unique; a reader that keeps
  // the first `alg` or `crit` and one that keeps the last would disagree.
  if (!parsed.ok) return { ok: false, reason: parsed.reason === 'duplicate_member' ? 'JOSE header repeats a parameter' : 'JOSE header is not JSON' };
  const header = parsed.value;
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return { ok: false, reason: 'JOSE header is not an object' };
  const { alg, kid } = header as Record<string, unknown>;
  if (typeof alg !== 'string' || alg === '') return { ok: false, reason: 'JOSE header has no alg' };
  if (kid !== undefined && (typeof kid !== 'string' || kid.length > 256)) return { ok: false, reason: 'JOSE header kid is not a short string' };
  // RFC 7515 §4.1.11: a recipient must refuse a JWS whose `crit` lists an
  // extension it does not understand. This server understands none, and an
  // empty or malformed `crit` is invalid in itself. Clerk's verifier does not
  // check `crit`, so the check is made here for every path.
  if (Object.hasOwn(header, 'crit')) return { ok: false, reason: 'JOSE header has crit: no extension is supported' };
  return { ok: true, header: { alg, ...(kid === undefined ? {} : { kid }) } };
}
