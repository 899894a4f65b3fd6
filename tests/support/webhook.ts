import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real loopback HTTP receiver standing in for an alert webhook
 * (lib/alerts.ts): it records every POST body and answers per `mode`:
 * `ok` 204, `fail` 500, `slow` after `slowMs` (default 10 s) unless the
 * sender gives up first.
 */
export type ReceiverMode = 'ok' | 'fail' | 'slow';

export interface Receiver {
  readonly url: string;
  /** Bodies received, parsed as JSON, in arrival order. */
  readonly bodies: unknown[];
  /** Raw bodies, for leak checks. */
  readonly raw: string[];
  /** Requests whose answer is still pending. */
  readonly open: number;
  /** Requests the sender abandoned before the receiver answered. */
  readonly abandoned: number;
  setMode(mode: ReceiverMode): void;
  /** Resolves once `n` requests have arrived in total. */
  received(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(options: { mode?: ReceiverMode; slowMs?: number } = {}): Promise<Receiver> {
  let mode: ReceiverMode = options.mode ?? 'ok';
  const slowMs = options.slowMs ?? 10_000;
  const bodies: unknown[] = [];
  const raw: string[] = [];
  const waiters: Array<() => void> = [];
  let open = 0;
  let abandoned = 0;
  const timers = new Set<NodeJS.Timeout>();

  const answer = (req: IncomingMessage, res: ServerResponse, text: string): void => {
    raw.push(text);
    try {
      bodies.push(JSON.parse(text));
    } catch {
      bodies.push(undefined);
    }
    waiters.splice(0).forEach((wake) => wake());
    if (mode === 'ok') return void res.writeHead(204).end();
    if (mode === 'fail') return void res.writeHead(500, { 'content-type': 'text/plain' }).end('receiver failed');
    open += 1;
    let answered = false;
    const timer = setTimeout(() => {
      answered = true;
      timers.delete(timer);
      open -= 1;
      res.writeHead(204).end();
    }, slowMs);
    timers.add(timer);
    res.on('close', () => {
      if (answered) return;
      clearTimeout(timer);
      timers.delete(timer);
      open -= 1;
      abandoned += 1;
    });
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => answer(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/hook`,
    bodies,
    raw,
    get open() {
      return open;
    },
    get abandoned() {
      return abandoned;
    },
    setMode(next) {
      mode = next;
    },
    async received(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (bodies.length < n) {
        if (Date.now() > deadline) throw new Error(`receiver got ${bodies.length} of ${n} requests`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
