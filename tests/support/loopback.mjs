/**
 * Loopback helpers shared by the tests (tests/support/*.ts) and the
 * benchmarks (bench/*.mjs), in plain JS so the benchmarks need no compile.
 */
import { accessSync, constants } from 'node:fs';
import { connect, createServer } from 'node:net';
import { delimiter, join } from 'node:path';

/**
 * A loopback port nothing listens on (right now): for servers whose own
 * address must be known before they start. Another process may still take
 * it before the caller binds it; callers that can, retry.
 * @returns {Promise<number>}
 */
export function freePort() {
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

/**
 * Path of the `redis-server` binary (REDIS_SERVER_BIN, the PATH, then the
 * usual install folders), or undefined when there is none.
 * @returns {string | undefined}
 */
export function findRedisServer() {
  const candidates = [
    process.env.REDIS_SERVER_BIN,
    ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'redis-server')),
    ...['/usr/bin', '/usr/local/bin', '/opt/homebrew/bin'].map((dir) => join(dir, 'redis-server')),
  ].filter(Boolean);
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

/**
 * Resolves once a redis-server on `port` answers PING (raw RESP, no client
 * library involved); rejects when `child` exits first or the time is up.
 * @param {number} port
 * @param {{ password?: string, child?: import('node:child_process').ChildProcess, timeoutMs?: number }} [options]
 * @returns {Promise<void>}
 */
export async function waitForPong(port, { password, child, timeoutMs = 10_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode})`);
    const ok = await new Promise((resolve) => {
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
 * Listens on a free loopback port and tracks the server's sockets, so that
 * `close()` ends at once even while a client holds a keep-alive connection
 * or a request the server never answers (a hanging upstream, say).
 * @param {import('node:net').Server} server an http or net server, not yet listening
 * @returns {Promise<{ port: number, close: () => Promise<void> }>}
 */
export async function listenLoopback(server) {
  const sockets = new Set();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const SETPRIV = '/usr/bin/setpriv';

/**
 * `command` and `args` to spawn so that the kernel SIGKILLs the process when
 * the test process that started it dies (prctl PR_SET_PDEATHSIG, through
 * util-linux's setpriv, which then execs the command under the same pid): a
 * test worker killed at a timeout or crashing leaves no server behind. Where
 * setpriv is missing, the command as given.
 * @param {string} command
 * @param {string[]} args
 * @returns {[string, string[]]}
 */
export function dieWithParent(command, args) {
  try {
    accessSync(SETPRIV, constants.X_OK);
  } catch {
    return [command, args];
  }
  return [SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args]];
}
