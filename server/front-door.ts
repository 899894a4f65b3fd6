import { createServer, IncomingMessage, ServerResponse, STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { clientIp, ipKey } from '@/lib/client-ip';
import { errorResponse, errorSpec, type ErrorCode } from '@/lib/errors';
import { finalize } from '@/lib/pipeline/finalize';
import { traceIdFrom, type LogLevel } from '@/lib/security-logger';
import { isNextInternalHeader, NEXT_FLIGHT_HEADERS } from './next-internal-headers';

/**
 * The front door: a plain node:http server in front of Next's request handler.
 *
 * Next decides a lot before the route runs (redirects, middleware, body copies,
 * internal headers), and security must not depend on that. So before Next sees a
 * request, this module records the socket peer, refuses what Next must never see,
 * answers those refusals in the API error shape (JSON body, X-Trace-Id, the API
 * security headers), and marks what it forwards with a header only it can set.
 * It knows nothing about users, tokens or policies.
 *
 * Bodies: a request body is read here, up to the cap for its path, and only a
 * complete body within the cap reaches Next, replayed into the same request
 * object. Counting bytes while Next reads the stream would leave two writers for
 * one response when the cap is crossed mid-body (Next is already handling it),
 * would miss the cap on a route that never reads its body, and would still hand
 * Next a body that arrives in pieces. Buffering at most the cap per request
 * costs at most cap × connections, which the connection caps bound.
 */

export interface FrontDoorLogger {
  log(level: LogLevel, event: string, message: string, metadata: Record<string, unknown>): void;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => unknown;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => unknown;

export interface FrontDoorOptions {
  /** Next's request handler (or anything with its signature). */
  readonly handler: RequestHandler;
  /** Value of `x-rtg-front-door` on every forwarded request. */
  readonly marker: string;
  /** Body cap for every path not matched by `bodyCaps`. */
  readonly maxBodyBytes: number;
  /** Body caps by path prefix; the longest matching prefix wins. */
  readonly bodyCaps?: ReadonlyArray<readonly [prefix: string, maxBytes: number]>;
  readonly maxConnections: number;
  /** 0 turns the per-IP cap off (behind a proxy every socket is the proxy's). */
  readonly maxConnectionsPerIp: number;
  /** Proxies in front; with 0 a client-sent `X-Forwarded-Host/Proto/Port` is removed. */
  readonly trustedProxyHops: number;
  /** A platform header names the client; the platform's forwarded headers are kept. */
  readonly clientIpHeader?: string;
  /** Adds HSTS to the door's own answers. */
  readonly production: boolean;
  /** Origins whose requests get the CORS grant on the door's answers too (ALLOWED_ORIGINS). */
  readonly allowedOrigins?: ReadonlySet<string>;
  readonly logger: FrontDoorLogger;
  /** Next's own router-state parser; returns normally when the header is usable. */
  readonly validateRouterState?: (value: string) => unknown;
  /** WebSocket upgrades that passed the door's checks (Next's dev HMR); refused when absent. */
  readonly upgrade?: UpgradeHandler;
  readonly timeouts?: Partial<FrontDoorTimeouts>;
}

export interface FrontDoorTimeouts {
  /** Whole request head, from the first byte (slowloris). */
  readonly headersMs: number;
  /** Whole request, head and body. */
  readonly requestMs: number;
  /** Idle keep-alive connection; above common load balancer idle timeouts (60 s). */
  readonly keepAliveMs: number;
  /** How long an over-cap connection may take to send the request that gets its 503. */
  readonly refusalGraceMs: number;
  /** How often Node checks the two request timeouts. */
  readonly checkIntervalMs: number;
}

export const DEFAULT_TIMEOUTS: FrontDoorTimeouts = {
  headersMs: 20_000,
  requestMs: 30_000,
  keepAliveMs: 65_000,
  refusalGraceMs: 1_000,
  checkIntervalMs: 2_000,
};

/** Over-cap connections held at once just to answer them 503; the rest are closed unanswered. */
export const REFUSAL_SLOTS = 32;

/** Header name of the front door's marker (lib/config reads the value as `frontDoorMarker`). */
export const MARKER_HEADER = 'x-rtg-front-door';

/** Request header lines that must appear at most once (RFC 9110 §5.3, RFC 9112 §6.3). */
const SINGLE_LINE_HEADERS = new Set(['authorization', 'content-length', 'host', 'transfer-encoding']);

/** Response headers that only describe framework internals (Clerk's debug status, middleware plumbing). */
const INTERNAL_RESPONSE_PREFIXES = ['x-middleware-', 'x-clerk-'];

/** Sent when the proxy count says nobody in front could have written them. */
const PROXY_HEADERS = new Set(['x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port']);

const FLIGHT = new Set(NEXT_FLIGHT_HEADERS);

interface Refusal {
  readonly code: ErrorCode;
  /** Short machine-readable cause, logged. */
  readonly reason: string;
  /** End the connection after the answer (body unread, or framing in doubt). */
  readonly close?: boolean;
  readonly headers?: Record<string, string>;
  readonly metadata?: Record<string, unknown>;
}

/**
 * Creates the door. Call `listen` on the result as on any node:http server.
 * @returns a node:http Server with the door's listeners installed
 */
export function createFrontDoor(options: FrontDoorOptions): Server {
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const { logger, marker, production } = options;
  const allowedOrigins = options.allowedOrigins ?? new Set<string>();
  /** The finaliser every API answer passes through (lib/pipeline/finalize.ts). */
  const finish = (response: Response, traceId: string, req?: IncomingMessage) =>
    finalize(response, { traceId, production, origin: req ? first(req.headers.origin) : null, allowedOrigins });
  const perIpCap = options.maxConnectionsPerIp;
  const keepProxyHeaders = options.trustedProxyHops > 0 || options.clientIpHeader !== undefined;
  const caps = [...(options.bodyCaps ?? [])].sort((a, b) => b[0].length - a[0].length);
  const capFor = (path: string): number => caps.find(([prefix]) => path.startsWith(prefix))?.[1] ?? options.maxBodyBytes;

  const server = createServer({
    IncomingMessage: DoorRequest,
    ServerResponse: DoorResponse,
    // The door answers a missing Host itself, in the API shape.
    requireHostHeader: false,
    headersTimeout: timeouts.headersMs,
    requestTimeout: timeouts.requestMs,
    connectionsCheckingInterval: timeouts.checkIntervalMs,
  });
  server.keepAliveTimeout = timeouts.keepAliveMs;
  // Past this Node closes new sockets at accept, before any JavaScript runs for them.
  server.maxConnections = options.maxConnections + REFUSAL_SLOTS;

  // ---- connection caps -------------------------------------------------------
  let open = 0;
  let refusing = 0;
  const perIp = new Map<string, number>();
  /** Over-cap sockets waiting to send the request that gets their 503. */
  const refused = new WeakSet<Socket>();
  const throttle = { count: 0, last: 0 };

  server.on('connection', (socket: Socket) => {
    const key = perIpCap > 0 ? ipKey(socket.remoteAddress ?? '') : '';
    const mine = perIpCap > 0 ? (perIp.get(key) ?? 0) : 0;
    const reason = open >= options.maxConnections ? 'total' : perIpCap > 0 && mine >= perIpCap ? 'per_ip' : undefined;
    if (reason === undefined) {
      open += 1;
      if (perIpCap > 0) perIp.set(key, mine + 1);
      socket.once('close', () => {
        open -= 1;
        if (perIpCap > 0) {
          const left = (perIp.get(key) ?? 1) - 1;
          if (left === 0) perIp.delete(key);
          else perIp.set(key, left);
        }
      });
      return;
    }
    noteConnectionRefused(socket, reason);
    if (refusing >= REFUSAL_SLOTS) {
      socket.destroy();
      return;
    }
    refusing += 1;
    refused.add(socket);
    const timer = setTimeout(() => socket.destroy(), timeouts.refusalGraceMs);
    timer.unref();
    socket.once('close', () => {
      refusing -= 1;
      clearTimeout(timer);
    });
  });

  /** One log line per second at most, however many sockets a flood opens. */
  function noteConnectionRefused(socket: Socket, reason: string): void {
    throttle.count += 1;
    const now = Date.now();
    if (now - throttle.last < 1000) return;
    logger.log('warn', 'rate_limit_exceeded', 'connection refused: connection cap reached', {
      traceId: traceIdFrom(null),
      ip: ipKey(socket.remoteAddress ?? ''),
      reason,
      refused: throttle.count,
      open,
      maxConnections: options.maxConnections,
      maxConnectionsPerIp: perIpCap,
    });
    throttle.count = 0;
    throttle.last = now;
  }

  // ---- requests ----------------------------------------------------------------
  const onRequest = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void => {
    // Trace ids and client addresses are worked out only for answers the door gives itself.
    const refuse = (refusal: Refusal) => void answer(req, res, traceOf(req), refusal);
    const bodyDeclared = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
    const hasBody = bodyDeclared || req.headers['transfer-encoding'] !== undefined;

    if (refused.has(req.socket)) {
      return refuse({ code: 'too_many_connections', reason: 'connection_cap', close: true });
    }
    const target = req.url ?? '';
    if (target[0] !== '/') {
      // RFC 9110 §9.3.7: `OPTIONS *` asks about the server itself.
      if (target === '*' && req.method === 'OPTIONS') return answerOptionsStar(req, res, traceOf(req), hasBody);
      return refuse({ code: 'bad_request', reason: 'request_target', close: true });
    }
    const duplicate = framingProblem(req.rawHeaders);
    if (duplicate !== undefined) return refuse({ code: 'bad_request', reason: duplicate, close: true });
    if (req.headers.host === undefined && req.httpVersion !== '1.0') {
      return refuse({ code: 'bad_request', reason: 'host_missing', close: true });
    }
    const query = target.indexOf('?');
    const path = query === -1 ? target : target.slice(0, query);
    if (!percentDecodable(path)) return refuse({ code: 'bad_request', reason: 'percent_encoding', close: hasBody });
    const clean = normalizePath(path);
    if (clean !== path) {
      const location = escapeLocation(clean + (query === -1 ? '' : target.slice(query)));
      return refuse({ code: 'permanent_redirect', reason: 'path_normalised', close: hasBody, headers: { Location: location } });
    }

    const api = path === '/api' || path.startsWith('/api/');
    rewriteHeaders(req, api);

    if (!hasBody) return forward(req, res);
    const cap = capFor(path);
    if (bodyDeclared && Number(req.headers['content-length']) > cap) {
      return refuse({ code: 'body_too_large', reason: 'declared', close: true, metadata: { limit: cap } });
    }
    if (expectsContinue) res.writeContinue();
    readBody(req as DoorRequest, cap, (within) => {
      if (within) forward(req, res);
      else refuse({ code: 'body_too_large', reason: 'streamed', close: true, metadata: { limit: cap } });
    });
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => onRequest(req, res, false));
  // Without this listener Node sends `100 Continue` before the door has looked at the request.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => onRequest(req, res, true));

  /** Strips what a client must not send, appends the peer to X-Forwarded-For, and marks the request. */
  function rewriteHeaders(req: IncomingMessage, api: boolean): void {
    const headers = req.headers;
    let dropFlight = api;
    if (!api && (headers.rsc !== undefined || headers['next-router-state-tree'] !== undefined)) {
      dropFlight = !routerStateUsable(headers['next-router-state-tree']);
    }
    const raw = req.rawHeaders;
    const kept: string[] = [];
    const forwardedFor: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toLowerCase();
      if (name === 'x-forwarded-for') {
        forwardedFor.push(raw[i + 1]);
        continue;
      }
      const drop =
        name === MARKER_HEADER ||
        isNextInternalHeader(name, api) ||
        (dropFlight && FLIGHT.has(name)) ||
        (!keepProxyHeaders && PROXY_HEADERS.has(name));
      if (drop) delete headers[name];
      else kept.push(raw[i], raw[i + 1]);
    }
    // The peer this process saw goes last, so the entry lib/client-ip.ts reads
    // with TRUSTED_PROXY_HOPS=N is never one the client wrote.
    const peer = req.socket.remoteAddress ?? 'unknown';
    const chain = forwardedFor.length > 0 ? `${forwardedFor.join(', ')}, ${peer}` : peer;
    headers['x-forwarded-for'] = chain;
    headers[MARKER_HEADER] = marker;
    kept.push('X-Forwarded-For', chain, MARKER_HEADER, marker);
    raw.length = 0;
    raw.push(...kept);
  }

  /** Next's own parser, when given, so the door refuses exactly what would crash rendering. */
  function routerStateUsable(value: string | string[] | undefined): boolean {
    if (value === undefined) return true;
    if (Array.isArray(value) || value.length > 40_000) return false;
    try {
      const parsed: unknown = JSON.parse(decodeURIComponent(value));
      if (!Array.isArray(parsed)) return false;
      options.validateRouterState?.(value);
      return true;
    } catch {
      return false;
    }
  }

  function forward(req: IncomingMessage, res: ServerResponse): void {
    const fail = (error: unknown) => {
      const traceId = traceOf(req);
      logger.log('error', 'internal_error', 'request handler failed', {
        ...requestFields(req, traceId),
        error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
      });
      if (!res.headersSent) void answer(req, res, traceId, { code: 'internal_error', reason: 'handler_threw', close: true }, false);
      else res.destroy();
    };
    try {
      Promise.resolve(options.handler(req, res)).catch(fail);
    } catch (error) {
      fail(error);
    }
  }

  /** Writes an API-shaped answer; closes the connection afterwards when asked. */
  async function answer(req: IncomingMessage, res: ServerResponse, traceId: string, refusal: Refusal, log = true): Promise<void> {
    if (log) logRefusal(req, traceId, refusal);
    const response = finish(errorResponse(refusal.code, traceId, { headers: refusal.headers }), traceId, req);
    const body = Buffer.from(await response.arrayBuffer());
    if (res.headersSent || res.destroyed) return;
    res.statusCode = response.status;
    for (const [name, value] of response.headers) res.setHeader(name, value);
    res.setHeader('Content-Length', body.length);
    if (refusal.close) closeAfter(res);
    res.end(body);
  }

  function answerOptionsStar(req: IncomingMessage, res: ServerResponse, traceId: string, hasBody: boolean): void {
    const { headers } = finish(new Response(null, { status: 204, headers: { Allow: 'OPTIONS, GET, HEAD, POST' } }), traceId, req);
    res.statusCode = 204;
    for (const [name, value] of headers) res.setHeader(name, value);
    if (hasBody) closeAfter(res);
    res.end();
  }

  /** One line per refusal, with the catalog's event and level (lib/errors.ts); none for a redirect. */
  function logRefusal(req: IncomingMessage, traceId: string, refusal: Refusal): void {
    const { event, level } = errorSpec(refusal.code);
    if (event === null) return;
    logger.log(level, event, `front door refused the request: ${refusal.reason}`, {
      ...requestFields(req, traceId),
      code: refusal.code,
      reason: refusal.reason,
      ...refusal.metadata,
    });
  }

  /** The client as lib/client-ip.ts would key it, computed before the door rewrites X-Forwarded-For. */
  const clientOf = new WeakMap<IncomingMessage, string>();
  function clientAddress(req: IncomingMessage): string {
    let ip = clientOf.get(req);
    if (ip !== undefined) return ip;
    const peer = req.socket.remoteAddress ?? 'unknown';
    const platform = options.clientIpHeader ? first(req.headers[options.clientIpHeader.toLowerCase()]) : null;
    if (platform) ip = platform.includes(',') ? 'unknown' : ipKey(platform.trim());
    else if (options.trustedProxyHops === 0) ip = ipKey(peer);
    else {
      const sent = first(req.headers['x-forwarded-for']);
      // Once the door has rewritten the request, the chain already ends with the peer.
      const chain = req.headers[MARKER_HEADER] === marker ? (sent ?? peer) : sent ? `${sent}, ${peer}` : peer;
      ip = clientIp(chain, options.trustedProxyHops);
    }
    clientOf.set(req, ip);
    return ip;
  }

  function requestFields(req: IncomingMessage, traceId: string): Record<string, unknown> {
    const target = req.url ?? '';
    const query = target.indexOf('?');
    return {
      traceId,
      ip: clientAddress(req),
      method: req.method,
      endpoint: query === -1 ? target : target.slice(0, query),
      userAgent: first(req.headers['user-agent']),
    };
  }

  // ---- parse errors, timeouts, CONNECT, upgrades -----------------------------------
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const net = socket as Socket;
    // Nothing was sent (an idle connection timing out) or nobody is listening: just close.
    if (error.code === 'ECONNRESET' || !net.writable || net.bytesRead === 0) {
      net.destroy();
      return;
    }
    const code: ErrorCode =
      error.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request_timeout' : 'bad_request';
    const traceId = traceIdFrom(null);
    const { level, event } = errorSpec(code);
    logger.log(level, event ?? 'input_validation_failed', `front door refused the request: ${error.code ?? 'parse_error'}`, {
      traceId,
      ip: ipKey(net.remoteAddress ?? ''),
      code,
      reason: error.code ?? 'parse_error',
    });
    void rawAnswer(net, code, traceId);
  });

  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    const traceId = traceOf(req);
    logRefusal(req, traceId, { code: 'bad_request', reason: 'request_target' });
    void rawAnswer(socket, 'bad_request', traceId);
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const traceId = traceOf(req);
    const target = req.url ?? '';
    const problem =
      options.upgrade === undefined
        ? 'upgrade'
        : refused.has(req.socket)
          ? 'connection_cap'
          : target[0] !== '/'
            ? 'request_target'
            : framingProblem(req.rawHeaders);
    if (problem !== undefined) {
      const code: ErrorCode = problem === 'connection_cap' ? 'too_many_connections' : 'bad_request';
      logRefusal(req, traceId, { code, reason: problem });
      void rawAnswer(socket, code, traceId);
      return;
    }
    const query = target.indexOf('?');
    rewriteHeaders(req, (query === -1 ? target : target.slice(0, query)).startsWith('/api/'));
    options.upgrade!(req, socket, head);
  });

  /** An API-shaped answer written straight to a socket that has no ServerResponse. */
  async function rawAnswer(socket: Duplex, code: ErrorCode, traceId: string): Promise<void> {
    const response = finish(errorResponse(code, traceId), traceId);
    const body = Buffer.from(await response.arrayBuffer());
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    let head = `HTTP/1.1 ${response.status} ${STATUS_CODES[response.status]}\r\n`;
    for (const [name, value] of response.headers) head += `${name}: ${value}\r\n`;
    head += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
    stopReading(socket);
    socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  }

  return server;
}

/** The request trace id: a valid W3C traceparent's, else a fresh one. */
function traceOf(req: IncomingMessage): string {
  return traceIdFrom(first(req.headers.traceparent));
}

interface BodyCapture {
  readonly cap: number;
  readonly chunks: Buffer[];
  size: number;
  readonly done: (withinCap: boolean) => void;
}

/**
 * The door's request class (the node:http `IncomingMessage` option). It can hold
 * back the body Node's parser hands it, so the door reads the body before Next
 * does: the bytes are taken where the parser pushes them into the stream (`push`,
 * the one way data enters a Readable), so nothing consumes the request. Once the
 * body is complete it is pushed on, unchanged and whole, and Next reads the same
 * IncomingMessage it would have read. Over the cap nothing more is taken in, and
 * `push` returning false pauses the socket until the door closes it.
 */
class DoorRequest extends IncomingMessage {
  capture: BodyCapture | undefined = undefined;
  refusedBody = false;

  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    const capture = this.capture;
    if (capture === undefined) return this.refusedBody ? false : super.push(chunk, encoding);
    if (chunk === null) {
      this.capture = undefined;
      for (const piece of capture.chunks) super.push(piece);
      super.push(null);
      capture.done(true);
      return false;
    }
    const piece = chunk as Buffer;
    capture.size += piece.length;
    if (capture.size > capture.cap) {
      this.capture = undefined;
      this.refusedBody = true;
      capture.done(false);
      return false;
    }
    capture.chunks.push(piece);
    return true;
  }
}

/** Reads a body of at most `cap` bytes into `req` before anyone else sees it (see {@link DoorRequest}). */
function readBody(req: DoorRequest, cap: number, done: (withinCap: boolean) => void): void {
  req.capture = { cap, chunks: [], size: 0, done };
}

function isInternalResponseHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return INTERNAL_RESPONSE_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

/**
 * The door's response class (the node:http `ServerResponse` option): removes
 * framework-internal headers from whatever the app writes, pages included,
 * whether set with setHeader or passed to writeHead. One class for every
 * response, so Node's and Next's code see one object shape.
 */
class DoorResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {}
const baseWriteHead = ServerResponse.prototype.writeHead;
DoorResponse.prototype.writeHead = function (this: ServerResponse, ...args: unknown[]) {
  for (const name of this.getHeaderNames()) if (isInternalResponseHeader(name)) this.removeHeader(name);
  const last = args[args.length - 1];
  if (Array.isArray(last)) {
    args[args.length - 1] = Array.isArray(last[0])
      ? (last as Array<[string, unknown]>).filter(([name]) => !isInternalResponseHeader(name))
      : (last as unknown[]).filter((_v, i, all) => !isInternalResponseHeader(String(all[i - (i % 2)])));
  } else if (last !== null && typeof last === 'object') {
    args[args.length - 1] = Object.fromEntries(Object.entries(last).filter(([name]) => !isInternalResponseHeader(name)));
  }
  return (baseWriteHead as (...a: unknown[]) => ServerResponse).apply(this, args);
} as ServerResponse['writeHead'];

/** How long a refused connection stays half-open, unread, before it is destroyed. */
export const LINGER_MS = 1000;

/**
 * `Connection: close` on the answer, and the socket is never read again: once the
 * answer is flushed it is half-closed, then destroyed {@link LINGER_MS} later.
 *
 * Node would otherwise resume the request after the answer to discard the rest of
 * the body (reading all 8 MiB of an over-cap upload), then destroy the socket as
 * soon as the answer is written. Destroying a socket whose client is still
 * uploading makes the kernel send RST, and a client that has not yet read the 413
 * loses it with the RST (a browser shows a network error). Paused, the socket lets
 * the answer be read while what the client still sends fills kernel buffers and is
 * never read; the process holds no copy.
 */
function closeAfter(res: ServerResponse): void {
  res.setHeader('Connection', 'close');
  res.shouldKeepAlive = false;
  if (res.socket) stopReading(res.socket);
}

/** Pauses `socket` for good and makes its end a lingering one (see {@link closeAfter}). */
function stopReading(socket: Duplex): void {
  socket.pause();
  // Node's HTTP server resumes the socket to drain a request nobody read; it must not.
  socket.resume = () => socket;
  (socket as Socket).destroySoon = () => {
    socket.end();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  };
}

/** The first problem with the framing or credential header lines, if any. */
export function framingProblem(rawHeaders: readonly string[]): string | undefined {
  let seen = 0;
  let hasLength = false;
  let hasEncoding = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (!SINGLE_LINE_HEADERS.has(name)) continue;
    const bit = name === 'authorization' ? 1 : name === 'content-length' ? 2 : name === 'host' ? 4 : 8;
    if (seen & bit) return `duplicate_${name.replace('-', '_')}`;
    seen |= bit;
    if (bit === 2) hasLength = true;
    if (bit === 8) hasEncoding = true;
  }
  // RFC 9112 §6.1: a message with both is a smuggling attempt or a broken proxy.
  return hasLength && hasEncoding ? 'content_length_with_transfer_encoding' : undefined;
}

/**
 * Next's own normalisation (node_modules/next/dist/shared/lib/utils.js
 * `normalizeRepeatedSlashes`: backslashes become slashes, repeated slashes
 * collapse) plus the trailing-slash removal it does unless
 * `skipTrailingSlashRedirect` is set. The result starts with exactly one slash,
 * so a Location built from it can never name another host.
 */
export function normalizePath(path: string): string {
  const collapsed = path.replace(/\\/g, '/').replace(/\/\/+/g, '/');
  return collapsed.length > 1 && collapsed.endsWith('/') ? collapsed.slice(0, -1) : collapsed;
}

/** Whether Next can decode the path (it answers a plain-text 400 otherwise). */
function percentDecodable(path: string): boolean {
  if (!path.includes('%')) return true;
  try {
    // The result is used on purpose: the bundler drops a bare decodeURIComponent() call as pure.
    return decodeURIComponent(path).length >= 0;
  } catch {
    return false;
  }
}

/** Percent-encodes bytes a header value must not carry raw (the request line is latin1). */
function escapeLocation(location: string): string {
  return location.replace(/[^\x21-\x7e]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

function first(value: string | string[] | undefined): string | null {
  return (Array.isArray(value) ? value[0] : value) ?? null;
}
