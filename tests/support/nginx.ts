import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { send, type SendOptions, type SentAnswer } from './http-client';
import { dieWithParent, freePort } from './loopback.mjs';

/**
 * A real nginx running deploy/nginx.conf, the file the README shows, for tests.
 * Only a fixed list of exact strings is rewritten (ports, the upstream port,
 * file paths, the worker count, and optionally the client timeouts), each of which must
 * occur the stated number of times, so an edit to the file that the test no
 * longer matches fails loudly instead of testing something else.
 */

export const NGINX_CONF = new URL('../../deploy/nginx.conf', import.meta.url).pathname;
/** The server_name of deploy/nginx.conf; any other name gets no answer. */
export const SERVER_NAME = 'api.example.com';

/** Worker processes of a test nginx (each keeps its own pool of connections to the app). */
export const NGINX_WORKERS = 2;

/** One rewrite: `from` must occur exactly `times` times. */
export type Substitution = readonly [from: string, to: string, times: number];

/** Applies `substitutions` to `text`; throws naming the first one whose count is wrong. */
export function renderConf(text: string, substitutions: readonly Substitution[]): string {
  let out = text;
  for (const [from, to, times] of substitutions) {
    const found = out.split(from).length - 1;
    if (found !== times) throw new Error(`deploy/nginx.conf: expected ${times} × ${JSON.stringify(from)}, found ${found}`);
    out = out.replaceAll(from, to);
  }
  return out;
}

/** Path of the nginx binary (the PATH, then Debian's /usr/sbin/nginx), or a clear error. */
export function nginxBinary(): string {
  const candidates = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'nginx')), '/usr/sbin/nginx'];
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // try the next one
    }
  }
  throw new Error('nginx is not installed: the reverse-proxy tests need it (Debian: `apt-get install -y nginx`; `npm test` does this as root).');
}

export interface NginxOptions {
  /** Port of the app (or stand-in) on 127.0.0.1 that nginx proxies to. */
  readonly upstreamPort: number;
  /** Client timeouts in seconds instead of the file's 10 s. */
  readonly timeouts?: { readonly header?: number; readonly body?: number; readonly send?: number };
}

export type NginxResponse = SentAnswer;
export type RequestOptions = Omit<SendOptions, 'ca' | 'servername'>;

export interface Nginx {
  /** Plain HTTP port (the redirect and the catch-all server). */
  readonly httpPort: number;
  /** TLS port of the API server block. */
  readonly tlsPort: number;
  /** The self-signed certificate of {@link SERVER_NAME}, to trust as a CA. */
  readonly ca: Buffer;
  /** An HTTP/2 connection (SNI {@link SERVER_NAME}) from `localAddress`. */
  http2(localAddress?: string): ClientHttp2Session;
  /** One HTTPS request on a fresh connection, SNI and Host {@link SERVER_NAME}. */
  request(path: string, options?: RequestOptions): Promise<NginxResponse>;
  /** The access log's JSON lines so far. */
  accessLog(): Promise<Array<Record<string, unknown>>>;
  /** What nginx wrote to stderr. */
  stderr(): string;
  stop(): Promise<void>;
}

const isOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/** Starts nginx with deploy/nginx.conf in a private temp folder; a self-signed certificate is made for it. */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const binary = nginxBinary();
  const dir = await mkdtemp(join(tmpdir(), 'rtg-nginx-'));
  // Started as root, the workers run as the file's `user` (www-data) and create temp files in here.
  await chmod(dir, 0o755);
  const made = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${SERVER_NAME}`, '-addext', `subjectAltName=DNS:${SERVER_NAME}`,
    '-keyout', join(dir, `${SERVER_NAME}.key`), '-out', join(dir, `${SERVER_NAME}.crt`),
  ], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`openssl could not make a test certificate: ${made.error?.message ?? made.stderr}`);
  const ca = await readFile(join(dir, `${SERVER_NAME}.crt`));
  const template = await readFile(NGINX_CONF, 'utf8');
  const t = options.timeouts ?? {};
  const timeouts: Substitution[] = [
    ...(t.header === undefined ? [] : [['client_header_timeout 10s;', `client_header_timeout ${t.header}s;`, 1] as const]),
    ...(t.body === undefined ? [] : [['client_body_timeout 10s;', `client_body_timeout ${t.body}s;`, 1] as const]),
    ...(t.send === undefined ? [] : [['send_timeout 10s;', `send_timeout ${t.send}s;`, 1] as const]),
  ];

  let child: ChildProcess | undefined;
  let output = '';
  // freePort can race another process for the port: try again on a fresh pair.
  for (let attempt = 0; ; attempt++) {
    const [httpPort, tlsPort] = [await freePort(), await freePort()];
    const conf = renderConf(template, [
      // Two workers, whatever the machine: `auto` would start one per core.
      ['worker_processes auto;', `worker_processes ${NGINX_WORKERS};`, 1],
      ['listen 80 default_server;', `listen 127.0.0.1:${httpPort} default_server;`, 1],
      ['listen 80;', `listen 127.0.0.1:${httpPort};`, 1],
      ['listen 443 ssl default_server;', `listen 127.0.0.1:${tlsPort} ssl default_server;`, 1],
      ['listen 443 ssl http2;', `listen 127.0.0.1:${tlsPort} ssl http2;`, 1],
      ['server 127.0.0.1:3000;', `server 127.0.0.1:${options.upstreamPort};`, 1],
      ['/var/log/nginx/', `${dir}/`, 2],
      ['/var/lib/nginx/', `${dir}/`, 5],
      ['/etc/nginx/tls/', `${dir}/`, 2],
      ...timeouts,
    ]);
    await writeFile(join(dir, 'nginx.conf'), conf);
    output = '';
    const proc = spawn(...dieWithParent(binary, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${dir}/nginx.pid; error_log stderr;`]), {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const deadline = Date.now() + 10_000;
    while (proc.exitCode === null && !(await isOpen(tlsPort)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    if (proc.exitCode === null && (await isOpen(tlsPort))) {
      child = proc;
      return handle(child, dir, httpPort, tlsPort, ca, () => output);
    }
    proc.kill('SIGTERM');
    if (attempt === 2 || !/Address already in use/.test(output)) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`nginx did not start: ${output}`);
    }
  }
}

function handle(child: ChildProcess, dir: string, httpPort: number, tlsPort: number, ca: Buffer, output: () => string): Nginx {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    httpPort,
    tlsPort,
    ca,
    http2(localAddress) {
      // tls.connect hands the socket options, localAddress included, to net.connect.
      const options: ConnectionOptions & { localAddress?: string } = {
        host: '127.0.0.1', port: tlsPort, servername: SERVER_NAME, ca, ALPNProtocols: ['h2'], localAddress,
      };
      return http2Connect(`https://${SERVER_NAME}:${tlsPort}`, { createConnection: () => tlsConnect(options) });
    },
    request: (path, options = {}) =>
      send(`https://127.0.0.1:${tlsPort}${path}`, { ...options, headers: { host: SERVER_NAME, ...options.headers }, ca, servername: SERVER_NAME }),
    accessLog: async () =>
      (await readFile(join(dir, 'access.log'), 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>),
    stderr: output,
    async stop() {
      // SIGTERM: nginx's fast shutdown. Not SIGKILL: the workers would outlive their master.
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
