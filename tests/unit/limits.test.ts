import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectionCaps, raiseFdLimit, readFdLimit } from '@/server/limits';

const dir = mkdtempSync(join(tmpdir(), 'rtg-limits-'));
function limitsFile(soft: string, hard: string): string {
  const path = join(dir, `${soft}-${hard}`);
  writeFileSync(path, `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                 ${hard}                 files\n`);
  return path;
}

describe('readFdLimit', () => {
  it('reads this process’s limit on Linux', () => {
    const limit = readFdLimit();
    expect(limit?.soft).toBeGreaterThan(0);
    expect(limit!.hard).toBeGreaterThanOrEqual(limit!.soft);
  });
  it('parses numbers and unlimited, and gives up on a missing file', () => {
    expect(readFdLimit(limitsFile('1024', '4096'))).toEqual({ soft: 1024, hard: 4096 });
    expect(readFdLimit(limitsFile('1024', 'unlimited'))).toEqual({ soft: 1024, hard: Number.POSITIVE_INFINITY });
    expect(readFdLimit(join(dir, 'absent'))).toBeUndefined();
  });
});

describe('raiseFdLimit', () => {
  it('runs prlimit on its own pid when the soft limit is below the hard one', () => {
    const calls: string[][] = [];
    let limit = { soft: 1024, hard: 4096 };
    const result = raiseFdLimit(
      (file, args) => {
        calls.push([file, ...args]);
        limit = { soft: 4096, hard: 4096 };
      },
      () => limit,
    );
    expect(calls).toEqual([['prlimit', '--pid', String(process.pid), '--nofile=4096:4096']]);
    expect(result).toEqual({ before: { soft: 1024, hard: 4096 }, after: { soft: 4096, hard: 4096 }, problem: undefined });
  });
  it('does nothing when already at the hard limit', () => {
    let ran = false;
    const result = raiseFdLimit(() => (ran = true) && undefined, () => ({ soft: 1024, hard: 1024 }));
    expect(ran).toBe(false);
    expect(result.problem).toBeUndefined();
  });
  it('never throws: a missing prlimit is reported, the start goes on', () => {
    const result = raiseFdLimit(
      () => {
        throw Object.assign(new Error('spawn prlimit ENOENT'), { code: 'ENOENT' });
      },
      () => ({ soft: 1024, hard: 4096 }),
    );
    expect(result.problem).toBe('prlimit not installed');
    expect(result.after).toEqual({ soft: 1024, hard: 4096 });
  });
  it.each([
    ['as this user', []],
    ['as an unprivileged user (nobody)', ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']],
  ])('the real prlimit --pid raises a process’s own soft limit %s', async (_label, prefix) => {
    const { spawnSync } = await import('node:child_process');
    // What raiseFdLimit runs, from a shell started with a low soft limit (Node would raise its own at start).
    const script = 'ulimit -Sn 256; prlimit --pid $$ --nofile=$(ulimit -Hn):$(ulimit -Hn) && ulimit -Sn';
    const [command, ...args] = [...prefix, 'sh', '-c', script];
    const out = spawnSync(command, args, { encoding: 'utf8' });
    expect(out.status, out.stderr).toBe(0);
    expect(Number(out.stdout.trim())).toBeGreaterThan(256);
  });
});

describe('connectionCaps', () => {
  const base = { maxConnections: undefined, maxConnectionsPerIp: undefined, trustedProxyHops: 0, clientIpHeader: undefined };
  it('under the common 1024 limit: 448 in total, 64 per IP', () => {
    expect(connectionCaps({ ...base, fdLimit: { soft: 1024, hard: 1024 } })).toMatchObject({ maxConnections: 448, maxConnectionsPerIp: 64, fdBudget: 448 });
  });
  it('a large limit: the 4096 default', () => {
    expect(connectionCaps({ ...base, fdLimit: { soft: 65536, hard: 65536 } }).maxConnections).toBe(4096);
  });
  it('an explicit MAX_CONNECTIONS above what the limit allows is lowered, and says so', () => {
    expect(connectionCaps({ ...base, maxConnections: 5000, fdLimit: { soft: 1024, hard: 1024 } })).toMatchObject({ maxConnections: 448, lowered: 5000 });
    expect(connectionCaps({ ...base, maxConnections: 100, fdLimit: { soft: 1024, hard: 1024 } })).toMatchObject({ maxConnections: 100 });
  });
  it('an unknown limit keeps the configured or default total', () => {
    expect(connectionCaps({ ...base, fdLimit: undefined }).maxConnections).toBe(4096);
  });
  it.each([
    ['TRUSTED_PROXY_HOPS=1', { trustedProxyHops: 1 }],
    ['CLIENT_IP_HEADER', { clientIpHeader: 'cf-connecting-ip' }],
  ])('behind a proxy (%s) the per-IP cap is off and the total stays', (_label, extra) => {
    expect(connectionCaps({ ...base, ...extra, fdLimit: { soft: 1024, hard: 1024 } })).toMatchObject({ maxConnections: 448, maxConnectionsPerIp: 0, perIpOff: 'proxy' });
  });
  it('the per-IP cap never exceeds the total', () => {
    expect(connectionCaps({ ...base, maxConnectionsPerIp: 1000, fdLimit: { soft: 200, hard: 200 } })).toMatchObject({ maxConnections: 36, maxConnectionsPerIp: 36 });
  });
});
