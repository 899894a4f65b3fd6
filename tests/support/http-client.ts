import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

/**
 * One HTTP(S) request on a fresh connection, from a chosen loopback source
 * address: what `fetch` cannot do (`localAddress` stands for another client),
 * with a private CA and SNI name for TLS.
 */

export interface SendOptions {
  readonly method?: string;
  readonly headers?: Record<string, string | string[]>;
  readonly body?: string | Buffer;
  /** A loopback source address (127.0.0.2, …): another client, as the server sees it. */
  readonly localAddress?: string;
  /** TLS only: the CA to trust and the SNI name. */
  readonly ca?: Buffer;
  readonly servername?: string;
}

export interface SentAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  json(): Record<string, unknown>;
}

/** Sends one request to `url` (http: or https:) and reads the whole answer. */
export function send(url: string, options: SendOptions = {}): Promise<SentAnswer> {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      { method: options.method ?? 'GET', headers: options.headers, agent: false, localAddress: options.localAddress, ca: options.ca, servername: options.servername },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
