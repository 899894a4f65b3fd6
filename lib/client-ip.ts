import { isIP } from 'node:net';
import type { AppConfig } from './config';

/**
 * The client address used to key limits and logs.
 *
 * The front door (`server/front-door.ts`) appends the socket peer to
 * `X-Forwarded-For`, so the list always ends with an address this process saw
 * itself. With `trustedProxyHops` = N, the N proxies in front each appended the
 * peer they saw, and the client is the entry N from the right; everything left
 * of it was written by the client and is never trusted (RFC 7239 §8.3 warns the
 * same). A client-sent header therefore cannot choose the key.
 *
 * @param forwardedFor the `X-Forwarded-For` header as received by the route
 * @param trustedProxyHops proxies in front of the server (default 0)
 * @returns a normalised address, the /64 prefix for IPv6, or `"unknown"`
 */
export function clientIp(forwardedFor: string | null, trustedProxyHops = 0): string {
  const entry = forwardedEntry(forwardedFor, trustedProxyHops);
  return entry === undefined ? 'unknown' : ipKey(entry);
}

function forwardedEntry(forwardedFor: string | null, trustedProxyHops: number): string | undefined {
  if (!forwardedFor) return undefined;
  const hops = forwardedFor.split(',');
  // Fewer entries than hops means a misconfigured proxy chain: the leftmost is
  // the furthest address anyone we trust recorded.
  return hops[Math.max(0, hops.length - 1 - trustedProxyHops)].trim();
}

/**
 * The client address of a request: from the one platform header named by
 * `CLIENT_IP_HEADER` when the platform sits in front (README "Production
 * setups"), else from the front door's X-Forwarded-For entry.
 */
export function requestIp(headers: Headers, config: Pick<AppConfig, 'clientIpHeader' | 'trustedProxyHops'>): string {
  return requestClient(headers, config).ip;
}

/**
 * {@link requestIp} and the full address it was derived from (IPv6 keys are
 * /64 prefixes; the deny list and the geography lookup need the address).
 * `address` is undefined when the key is `unknown` or `invalid`.
 */
export function requestClient(headers: Headers, config: Pick<AppConfig, 'clientIpHeader' | 'trustedProxyHops'>): { ip: string; address: string | undefined } {
  let entry: string | undefined;
  if (config.clientIpHeader !== undefined) {
    const sent = headers.get(config.clientIpHeader);
    // One address only: a list means something in front appended to it, and nothing here can tell which entry is real.
    entry = sent === null || sent.includes(',') ? undefined : sent;
  } else entry = forwardedEntry(headers.get('x-forwarded-for'), config.trustedProxyHops);
  if (entry === undefined) return { ip: 'unknown', address: undefined };
  const address = canonicalAddress(entry.trim());
  return { ip: address === undefined ? 'invalid' : addressKey(address), address };
}

/**
 * Canonical rate-limit key for one address: IPv4 dotted quad, IPv4-mapped IPv6
 * unwrapped, other IPv6 reduced to its /64 (one customer usually holds a whole /64).
 */
export function ipKey(raw: string): string {
  const address = canonicalAddress(raw);
  return address === undefined ? 'invalid' : addressKey(address);
}

/**
 * One address as text: IPv4 as a dotted quad (IPv4-mapped IPv6 unwrapped),
 * IPv6 lowercased without brackets, port or zone; undefined when it is not an address.
 */
export function canonicalAddress(raw: string): string | undefined {
  let text = raw;
  if (text.startsWith('[')) text = text.slice(1, text.indexOf(']') === -1 ? undefined : text.indexOf(']'));
  else if (/^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(text)) text = text.slice(0, text.lastIndexOf(':'));
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  const kind = isIP(text);
  if (kind === 4) return text;
  if (kind !== 6) return undefined;
  text = text.toLowerCase();
  const groups = expandIPv6(text);
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  return mapped ? `${groups[6] >> 8}.${groups[6] & 255}.${groups[7] >> 8}.${groups[7] & 255}` : text;
}

function addressKey(address: string): string {
  if (isIP(address) === 4) return address;
  return `${expandIPv6(address).slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** Eight 16-bit groups of a valid IPv6 address (embedded IPv4 tails included). */
export function expandIPv6(text: string): number[] {
  let body = text;
  const tail: number[] = [];
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(body);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    tail.push((a << 8) | b, (c << 8) | d);
    body = body.slice(0, v4.index) + '0';
  }
  const [left, right] = body.split('::');
  const parse = (part: string | undefined) => (part ? part.split(':').map((h) => parseInt(h, 16)) : []);
  const head = parse(left);
  const rest = parse(right);
  if (tail.length) (right === undefined ? head : rest).pop();
  const middle = new Array(8 - head.length - rest.length - tail.length).fill(0);
  return [...head, ...(right === undefined ? [] : middle), ...rest, ...tail];
}
