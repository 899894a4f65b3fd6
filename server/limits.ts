import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Open-file limits and the connection caps derived from them.
 *
 * Every client socket is a file descriptor, and so is every upstream socket,
 * the Redis connection and each file Next opens. When one client holds more
 * sockets than the process may open, accept() fails with EMFILE and every
 * other client is locked out; the caps keep the door below that line.
 */

export interface FdLimit {
  readonly soft: number;
  readonly hard: number;
}

/** RLIMIT_NOFILE of this process from /proc/self/limits (Linux); `undefined` elsewhere. */
export function readFdLimit(path = '/proc/self/limits'): FdLimit | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
  if (!match) return undefined;
  const value = (v: string) => (v === 'unlimited' ? Number.POSITIVE_INFINITY : Number(v));
  return { soft: value(match[1]), hard: value(match[2]) };
}

export interface RaiseResult {
  readonly before: FdLimit | undefined;
  readonly after: FdLimit | undefined;
  /** Why the soft limit is still below the hard one, when it is. */
  readonly problem?: string;
}

/**
 * Raises the soft open-files limit to the hard limit. Node already does this at
 * start on POSIX (src/node.cc, PlatformInit), so this usually finds nothing to
 * do; it matters when that step was skipped or failed. Node has no setrlimit, so
 * this runs util-linux `prlimit --pid` on itself: raising a soft limit up to the
 * hard one needs no privilege, as root or not (prlimit(2)). Never throws.
 */
export function raiseFdLimit(
  run: (file: string, args: string[]) => void = (file, args) => {
    execFileSync(file, args, { stdio: 'ignore', timeout: 2000 });
  },
  read: () => FdLimit | undefined = () => readFdLimit(),
): RaiseResult {
  const before = read();
  if (before === undefined) return { before, after: before, problem: 'limit unknown on this platform' };
  if (before.soft >= before.hard || !Number.isFinite(before.hard)) return { before, after: before };
  try {
    run('prlimit', ['--pid', String(process.pid), `--nofile=${before.hard}:${before.hard}`]);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { before, after: read() ?? before, problem: code === 'ENOENT' ? 'prlimit not installed' : 'prlimit failed' };
  }
  const after = read() ?? before;
  return { before, after, problem: after.soft < after.hard ? 'prlimit did not raise the limit' : undefined };
}

/** Descriptors kept back for everything that is not a client socket (Next's files, Redis, logs). */
export const FD_RESERVE = 128;

export interface CapsInput {
  /** MAX_CONNECTIONS when set. */
  readonly maxConnections: number | undefined;
  /** MAX_CONNECTIONS_PER_IP when set (0 turns the per-IP cap off). */
  readonly maxConnectionsPerIp: number | undefined;
  readonly fdLimit: FdLimit | undefined;
  readonly trustedProxyHops: number;
  readonly clientIpHeader: string | undefined;
}

export interface ConnectionCaps {
  readonly maxConnections: number;
  /** 0 when off. */
  readonly maxConnectionsPerIp: number;
  /** Client sockets the open-files limit leaves room for; `undefined` when the limit is unknown. */
  readonly fdBudget: number | undefined;
  /** Why the per-IP cap is off, when it is. */
  readonly perIpOff?: 'proxy' | 'disabled';
  /** MAX_CONNECTIONS as configured, when the open-files limit lowered it. */
  readonly lowered?: number;
}

export const DEFAULT_MAX_CONNECTIONS = 4096;
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 64;

/**
 * The caps in force.
 *
 * - Total: MAX_CONNECTIONS (default 4096), never above half of what the open-files
 *   limit leaves after {@link FD_RESERVE}: an in-flight request can hold a second
 *   descriptor for its upstream call. With the common 1024 that is 448.
 * - Per IP: MAX_CONNECTIONS_PER_IP (default 64, a few browsers behind one NAT). Behind
 *   a proxy (TRUSTED_PROXY_HOPS > 0, or CLIENT_IP_HEADER) every socket comes from
 *   the proxy, so a per-IP cap would cap the proxy: it is off there, the total cap
 *   stays, and per-client connection limits belong to the proxy (nginx `limit_conn`).
 */
export function connectionCaps(input: CapsInput): ConnectionCaps {
  const configured = input.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const soft = input.fdLimit?.soft;
  const fdBudget =
    soft === undefined || !Number.isFinite(soft) ? undefined : Math.max(16, Math.floor((soft - FD_RESERVE) / 2));
  const maxConnections = fdBudget === undefined ? configured : Math.min(configured, fdBudget);
  const behindProxy = input.trustedProxyHops > 0 || input.clientIpHeader !== undefined;
  const perIp = input.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP;
  return {
    maxConnections,
    maxConnectionsPerIp: behindProxy ? 0 : Math.min(perIp, maxConnections),
    fdBudget,
    ...(behindProxy ? { perIpOff: 'proxy' as const } : perIp === 0 ? { perIpOff: 'disabled' as const } : {}),
    ...(maxConnections < configured && input.maxConnections !== undefined ? { lowered: configured } : {}),
  };
}
