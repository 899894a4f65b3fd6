import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { startApp, type AppServer } from './app-server';
import { dieWithParent, findRedisServer, freePort, waitForPong } from './loopback.mjs';
import { TEST_JWT_SECRET } from './tokens';
import { startMockOpenAI, type MockOpenAI } from './upstream';

/**
 * A private, throwaway `redis-server` for tests: loopback only, on a free
 * port, no persistence (`--save ""`, `--appendonly no`), in its own temp dir.
 * `stop()` kills it (SIGKILL by default, a crash) and `start()` brings it back
 * empty on the same port, for outage tests. Never a mock.
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

/** Path of the `redis-server` binary, or a clear error telling how to get one. */
export function redisServerBinary(): string {
  const path = findRedisServer();
  if (path) return path;
  throw new Error(
    'redis-server is not installed: the Redis limiter tests need a real server. ' +
      'Install it (Debian/Ubuntu: `apt-get install -y redis-server`; `npm test` does this as root) or set REDIS_SERVER_BIN.',
  );
}

export { freePort };

export interface StartRedisOptions {
  /** Sets `requirepass` (the URL then carries it, as in production). */
  password?: string;
  /** More server arguments (`--cluster-enabled yes`, `--replicaof …`), kept across restarts. */
  args?: readonly string[];
  /** A sentinel: the text of its `sentinel.conf` (written to the server's own dir, which Sentinel rewrites). */
  sentinelConfig?: string;
}

/**
 * Starts a private redis-server (or, with `sentinelConfig`, a Sentinel:
 * `redis-server sentinel.conf --sentinel`, as there is no redis-sentinel binary here).
 * Its working dir is its own, so a cluster node's nodes.conf survives a restart.
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const binary = redisServerBinary();
  const dir = await mkdtemp(join(tmpdir(), 'rtg-redis-'));
  const password = options.password;
  const clients: Redis[] = [];
  let port = 0;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const sentinelFile = join(dir, 'sentinel.conf');
  if (options.sentinelConfig !== undefined) await writeFile(sentinelFile, options.sentinelConfig);
  const launch = async (): Promise<void> => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--loglevel', 'warning', ...(options.args ?? [])];
    if (options.sentinelConfig !== undefined) args.unshift(sentinelFile, '--sentinel');
    else args.push('--save', '', '--appendonly', 'no');
    if (password) args.push('--requirepass', password);
    const proc = spawn(...dieWithParent(binary, args), { stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    proc.stdout!.on('data', (c: Buffer) => output.push(c.toString()));
    proc.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    child = proc;
    try {
      await waitForPong(port, { password, child: proc });
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

export interface RedisInstances {
  readonly redis: RedisServer;
  readonly upstream: MockOpenAI;
  /** The production servers, all on `redis`. */
  readonly apps: readonly AppServer[];
  /** Stops the servers, the stand-in and Redis. */
  close(): Promise<void>;
}

/**
 * Several production servers (`npm start`) behind one private redis-server
 * (with a password when given, as in production), like instances behind a load balancer,
 * with one loopback OpenAI stand-in. `env` is added to each server's
 * environment (limits, REDIS_TIMEOUT_MS).
 */
export async function startRedisInstances(options: { password?: string; prefix: string; env?: Record<string, string>; count?: number }): Promise<RedisInstances> {
  const redis = await startRedis({ password: options.password });
  const upstream = await startMockOpenAI();
  const env = {
    OPENAI_API_KEY: 'sk-test-redis-instances-123456',
    OPENAI_BASE_URL: upstream.baseUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    REDIS_URL: redis.url,
    RATE_LIMIT_PREFIX: options.prefix,
    ...options.env,
  };
  const apps = await Promise.all(Array.from({ length: options.count ?? 2 }, () => startApp(env)));
  return {
    redis,
    upstream,
    apps,
    async close() {
      await Promise.all(apps.map((app) => app.stop()));
      await upstream.close();
      await redis.close();
    },
  };
}

/**
 * Admits recorded in a limiter key, read from Redis directly: the admit log
 * is a string of a 16-digit header and one 16-digit stamp per admit
 * (lib/limits/lua.ts), under the policy name plus the layout's version,
 * `<prefix><policy>#2:<key>` (RedisRateLimitStore.logKey).
 */
export async function admitsIn(client: { strlen(key: string): Promise<number> }, key: string): Promise<number> {
  const length = await client.strlen(key);
  return length === 0 ? 0 : (length - 16) / 16;
}
