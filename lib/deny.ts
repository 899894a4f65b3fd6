import { isIP } from 'node:net';
import { expandIPv6 } from './client-ip';

/**
 * Deny lists: user ids as the logs show them (`clerk:…`, `jwt:…`) and IPv4 /
 * IPv6 addresses and CIDR networks. Matching is exact for any prefix length:
 * networks are filed by prefix length, so a lookup masks the address once per
 * length in use and asks a Set (a few hash lookups, whatever the list's size).
 *
 * IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is the IPv4 address, on both sides: a
 * mapped entry denies the IPv4 network, and an IPv6 network that contains the
 * whole mapped block (`::/0`, `::ffff:0:0/96`) also denies every IPv4 client,
 * because lib/client-ip.ts unwraps mapped client addresses before they get here.
 */

/** An IPv6 address is 32 hex digits here: a prefix of any length is a slice plus one masked digit, no BigInt arithmetic. */
export type DenyEntry = { kind: 'user'; id: string } | { kind: 'ip4'; bits: number; length: number } | { kind: 'ip6'; hex: string; length: number };

const USER_ID = /^[a-z][a-z0-9]{0,15}:[^\s,]{1,256}$/;
const MAPPED_BLOCK = `${'0'.repeat(20)}ffff${'0'.repeat(8)}`;

/** One entry of `DENY_USERS`, `DENY_IPS` or a `DENY_LIST_FILE` line; undefined when it is neither. */
export function parseDenyEntry(raw: string): DenyEntry | undefined {
  const text = raw.trim();
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return USER_ID.test(text) ? { kind: 'user', id: text } : undefined;
  const max = family === 4 ? 32 : 128;
  const lengthText = slash === -1 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lengthText) || Number(lengthText) > max) return undefined;
  const length = Number(lengthText);
  if (family === 4) return { kind: 'ip4', bits: ip4Bits(address), length };
  const hex = ip6Hex(address.toLowerCase());
  // ::ffff:a.b.c.d/96+n is the IPv4 network a.b.c.d/n.
  if (length >= 96 && hex.startsWith(MAPPED_BLOCK.slice(0, 24))) return { kind: 'ip4', bits: parseInt(hex.slice(24), 16), length: length - 96 };
  return { kind: 'ip6', hex, length };
}

/** A compiled list; build with {@link compileDenyList}. */
export interface DenyList {
  readonly users: ReadonlySet<string>;
  /** Entries in the list (users and networks). */
  readonly size: number;
  /** Whether the canonical address (lib/client-ip.ts `canonicalAddress`) lies in a listed network. */
  hasAddress(address: string | undefined): boolean;
}

export function compileDenyList(entries: readonly DenyEntry[]): DenyList {
  const users = new Set<string>();
  const v4 = new Map<number, Set<number>>();
  const v6 = new Map<number, Set<string>>();
  const add4 = (bits: number, length: number) => file(v4, length, shift4(bits, length));
  for (const e of entries) {
    if (e.kind === 'user') users.add(e.id);
    else if (e.kind === 'ip4') add4(e.bits, e.length);
    else {
      file(v6, e.length, prefix6(e.hex, e.length));
      // An IPv6 network holding the whole mapped block holds every IPv4 address.
      if (e.length <= 96 && prefix6(MAPPED_BLOCK, e.length) === prefix6(e.hex, e.length)) add4(0, 0);
    }
  }
  const lengths4 = [...v4.keys()];
  const lengths6 = [...v6.entries()];
  return {
    users,
    size: entries.length,
    hasAddress(address) {
      if (address === undefined) return false;
      if (isIP(address) === 4) {
        if (lengths4.length === 0) return false;
        const bits = ip4Bits(address);
        return lengths4.some((length) => v4.get(length)!.has(shift4(bits, length)));
      }
      if (lengths6.length === 0) return false;
      const hex = ip6Hex(address);
      return lengths6.some(([length, set]) => set.has(prefix6(hex, length)));
    },
  };
}

function file<T>(map: Map<number, Set<T>>, length: number, value: T): void {
  let set = map.get(length);
  if (set === undefined) map.set(length, (set = new Set()));
  set.add(value);
}

/** The network part of an IPv4 address as an unsigned number (`>>>` by 32 is a no-op in JS, hence /0 apart). */
function shift4(bits: number, length: number): number {
  return length === 0 ? 0 : bits >>> (32 - length);
}

function ip4Bits(address: string): number {
  const [a, b, c, d] = address.split('.').map(Number);
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

function ip6Hex(address: string): string {
  let hex = '';
  for (const group of expandIPv6(address)) hex += group.toString(16).padStart(4, '0');
  return hex;
}

// MASKED[bits][digit]: a hex digit with all but its top `bits` bits cleared.
const MASKED = [1, 2, 3].map((bits) => Object.fromEntries([...'0123456789abcdef'].map((d) => [d, (parseInt(d, 16) & (0xf0 >> bits) & 0xf).toString(16)])));

/** The first `length` bits of a 32-digit address: whole digits, then the next digit with its low bits cleared. */
function prefix6(hex: string, length: number): string {
  const whole = length >> 2;
  const rest = length & 3;
  return rest === 0 ? hex.slice(0, whole) : hex.slice(0, whole) + MASKED[rest - 1][hex[whole]];
}
