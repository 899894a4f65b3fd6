import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { inject } from 'vitest';
import { ensureBuild } from './build';
import { dieWithParent } from './loopback.mjs';
import { TEST_JWT_SECRET } from './tokens';
import { startMockOpenAI, type MockOpenAI } from './upstream';

export interface LogLine {
  [field: string]: unknown;
  event?: string;
  level?: string;
  traceId?: string;
}

export interface AppServer {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** Every stdout line, raw, in order. */
  readonly stdout: string[];
  /** Everything written to stderr so far. */
  stderr(): string;
  /** stdout lines that parsed as JSON. */
  logs(): LogLine[];
  /** Resolves with the first log line matching `predicate` (waits up to `timeoutMs`). */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `scripts/server.mjs` (what `npm start` runs) from a production build
 * on a free loopback port. Only `env` and a minimal PATH/HOME are passed, so
 * nothing from the test runner's environment leaks into the server.
 */
export interface StartOptions {
  /** A command the server runs under, e.g. `['prlimit', '--nofile=1024:1024']` (it must exec node). */
  readonly wrapper?: readonly string[];
  /** Arguments for scripts/server.mjs, e.g. `['--dev']`. */
  readonly args?: readonly string[];
  /** Project directory to run in (default: the private production build). */
  readonly dir?: string;
  /** How long to wait for server_started (default 60 s). */
  readonly startTimeoutMs?: number;
}

export async function startApp(env: Record<string, string | undefined> = {}, options: StartOptions = {}): Promise<AppServer> {
  // Built by tests/support/global-build.ts before the run; built here when a project has no such setup.
  const dir = options.dir ?? inject('buildDir') ?? (await ensureBuild());
  const [command, ...prefix] = [...(options.wrapper ?? []), process.execPath];
  const child = spawn(...dieWithParent(command, [...prefix, join(dir, 'scripts/server.mjs'), ...(options.args ?? [])]), {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NEXT_TELEMETRY_DISABLED: '1',
      CLERK_TELEMETRY_DISABLED: '1',
      HOST: '127.0.0.1',
      PORT: '0',
      ...env,
    } as unknown as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  let partial = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    stdout.push(...parts.filter((l) => l !== ''));
    for (const wake of waiters) wake();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const logs = (): LogLine[] =>
    stdout.flatMap((line) => {
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return [];
      }
    });

  const waitForLog = (predicate: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = logs().find(predicate);
        if (found) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`log line not seen within ${timeoutMs} ms; stderr: ${stderr.join('').slice(-2000)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  const started = await Promise.race([
    waitForLog((l) => l.event === 'server_started', options.startTimeoutMs ?? 60_000),
    exited.then((code) => {
      throw new Error(`server exited with ${code} before listening: ${stdout.join('\n')}\n${stderr.join('')}`);
    }),
  ]);
  const port = Number(started.port);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    process: child,
    stdout,
    stderr: () => stderr.join(''),
    logs,
    waitForLog,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export interface AppWithUpstream {
  readonly app: AppServer;
  /** The server's own OpenAI stand-in: only the server's key is accepted. */
  readonly upstream: MockOpenAI;
  /** Stops the server, then the stand-in. */
  close(): Promise<void>;
}

/**
 * A production server with a loopback OpenAI stand-in of its own (which
 * accepts only `env.OPENAI_API_KEY`) and the tests' HS256 secret; `env` is
 * added to that.
 */
export async function startAppWithUpstream(env: Record<string, string | undefined> & { OPENAI_API_KEY: string }): Promise<AppWithUpstream> {
  const upstream = await startMockOpenAI({ apiKey: env.OPENAI_API_KEY });
  try {
    const app = await startApp({ OPENAI_BASE_URL: upstream.baseUrl, JWT_SECRET: TEST_JWT_SECRET, ...env });
    return {
      app,
      upstream,
      async close() {
        await app.stop();
        await upstream.close();
      },
    };
  } catch (error) {
    await upstream.close();
    throw error;
  }
}
