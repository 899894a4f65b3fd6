import type { ClientHttp2Session, OutgoingHttpHeaders } from 'node:http2';

/** An HTTP/2 answer: `:status` as a number, the other headers as sent (pseudo-headers left out). */
export interface H2Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** One request on an open HTTP/2 session; resolves once the answer's body has ended. */
export function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let status = 0;
    let fields: Record<string, string> = {};
    let text = '';
    stream.on('response', (h) => {
      status = Number(h[':status']);
      fields = Object.fromEntries(Object.entries(h).filter(([name]) => !name.startsWith(':')).map(([name, value]) => [name, String(value)]));
    });
    stream.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    stream.on('end', () => resolve({ status, headers: fields, body: text }));
    stream.on('error', reject);
    stream.end(body);
  });
}
