import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import Redis from 'ioredis';

/**
 * A private, throwaway `redis-server` for tests: loopback only, on a free
 * port, no persistence (`--save ""`, `--appendonly no`), in its own temp dir.
 * `stop()` kills it (SIGKILL by default, a crash) and `start()` brings it back
 * empty on the same port, for outage tests. Never a mock (STYLE.md §10).
 */
export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly password: string | undefined;
  /** True while the server process runs. */
  readonly running: boolean;
  /** A new client connection for inspecting keys (closed by {@link RedisServer.close}). */
  client(): Redis;
  stop(signal?: NodeJS.Signals): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and closes every client handed out. */
  close(): Promise<void>;
}

const SEARCH = ['/usr/bin', '/usr/local/bin', '/opt/homebrew/bin'];

/** Path of the `redis-server` binary, or a clear error telling how to get one. */
export function redisServerBinary(): string {
  const candidates = [
    process.env.REDIS_SERVER_BIN,
    ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'redis-server')),
    ...SEARCH.map((dir) => join(dir, 'redis-server')),
  ].filter((p): p is string => Boolean(p));
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // try the next one
    }
  }
  throw new Error(
    'redis-server is not installed: the Redis limiter tests need a real server. ' +
      'Install it (Debian/Ubuntu: `apt-get install -y redis-server`; `npm test` does this as root) or set REDIS_SERVER_BIN.',
  );
}

/** A loopback port nothing listens on (right now). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once the server answers PING (raw RESP, no client library involved). */
async function waitForPong(port: number, password: string | undefined, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode})`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let data = '';
      socket.setTimeout(500, () => socket.destroy());
      socket.on('connect', () => socket.write(`${password ? `AUTH ${password}\r\n` : ''}PING\r\n`));
      socket.on('data', (chunk) => {
        data += chunk.toString();
        if (data.includes('+PONG')) {
          socket.end();
          resolve(true);
        }
      });
      socket.on('error', () => resolve(false));
      socket.on('close', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts a private redis-server.
 * @param options.password sets `requirepass` (the URL then carries it, as in production)
 */
export async function startRedis(options: { password?: string } = {}): Promise<RedisServer> {
  const binary = redisServerBinary();
  const dir = await mkdtemp(join(tmpdir(), 'rtg-redis-'));
  const password = options.password;
  const clients: Redis[] = [];
  let port = 0;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const launch = async (): Promise<void> => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'];
    if (password) args.push('--requirepass', password);
    const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    proc.stdout!.on('data', (c: Buffer) => output.push(c.toString()));
    proc.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    child = proc;
    try {
      await waitForPong(port, password, proc);
    } catch (error) {
      proc.kill('SIGKILL');
      await exited;
      throw new Error(`${(error as Error).message}\n${output.join('').slice(-2000)}`);
    }
  };

  // Another process may grab the free port between probing and binding: retry.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (error) {
      if (attempt >= 5) throw error;
    }
  }

  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const stop = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (running()) child!.kill(signal);
    await exited;
  };
  const auth = password ? `:${encodeURIComponent(password)}@` : '';
  return {
    url: `redis://${auth}127.0.0.1:${port}`,
    port,
    password,
    get running() {
      return running();
    },
    client() {
      const client = new Redis({ host: '127.0.0.1', port, password, lazyConnect: false, maxRetriesPerRequest: 1 });
      client.on('error', () => {});
      clients.push(client);
      return client;
    },
    stop,
    async start() {
      if (running()) return;
      await launch();
    },
    async close() {
      for (const client of clients.splice(0)) client.disconnect();
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
