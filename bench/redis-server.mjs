/**
 * A private redis-server for the Redis benchmark: loopback only, a free port,
 * no persistence, its own temp dir; killed when the benchmark ends. (The same
 * recipe as tests/support/redis.ts, with the same loopback helpers.)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findRedisServer, freePort, waitForPong } from '../tests/support/loopback.mjs';

export { findRedisServer };

/** Starts redis-server; resolves with { url, stop() } once it answers PING. */
export async function startRedisServer(binary) {
  const dir = await mkdtemp(join(tmpdir(), 'rtg-bench-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'];
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise((r) => child.once('exit', r));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForPong(port, { child });
  } catch (error) {
    await stop();
    throw new Error(`redis-server did not start: ${error.message} ${stderr}`);
  }
  return { url: `redis://127.0.0.1:${port}`, port, stop };
}
