import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { listenLoopback } from './loopback.mjs';

/**
 * A loopback identity provider: a real HTTP server publishing a JWK set at
 * `/jwks.json`, whose keys can be rotated and whose answers can be broken,
 * and a signer for tokens under each of its keys. `fetches` counts every
 * request that reached it.
 */

export const IDP_ISSUER = 'https://idp.example.test/';
export const IDP_AUDIENCE = 'realtime-token-api';

export interface IdpKey {
  readonly kid: string;
  readonly alg: 'RS256' | 'ES256';
  readonly publicJwk: JWK;
  sign(claims?: JWTPayload, options?: { subject?: string; issuer?: string; audience?: string; expiresIn?: string | number; header?: Record<string, unknown> }): Promise<string>;
}

export async function createIdpKey(kid: string, alg: 'RS256' | 'ES256' = 'RS256'): Promise<IdpKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return {
    kid,
    alg,
    publicJwk,
    sign(claims = {}, options = {}) {
      return new SignJWT(claims)
        .setProtectedHeader({ alg, kid, typ: 'JWT', ...options.header })
        .setSubject(options.subject ?? 'idp-user-1')
        .setIssuer(options.issuer ?? IDP_ISSUER)
        .setAudience(options.audience ?? IDP_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(options.expiresIn ?? '5m')
        // jose refuses to sign an unknown crit unless told to (RFC 7515 §4.1.11 tests need one).
        .sign(privateKey, Array.isArray(options.header?.crit) ? { crit: Object.fromEntries(options.header.crit.map((c: string) => [c, true])) } : undefined);
    },
  };
}

/** ok: the key set; status500; garbage: not JSON; notKeySet: JSON without keys; hang: never answers; huge: 1 MiB. */
export type JwksMode = 'ok' | 'status500' | 'garbage' | 'notKeySet' | 'hang' | 'huge';

export interface JwksServer {
  readonly url: string;
  /** Requests received so far. */
  readonly fetches: number;
  /** Publishes exactly these keys from now on. */
  publish(keys: readonly IdpKey[]): void;
  setMode(mode: JwksMode): void;
  close(): Promise<void>;
}

export async function startJwksServer(keys: readonly IdpKey[] = []): Promise<JwksServer> {
  let published = keys;
  let mode: JwksMode = 'ok';
  let fetches = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    fetches++;
    if (req.url !== '/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    switch (mode) {
      case 'hang':
        return;
      case 'status500':
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"down"}');
        return;
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' }).end('<html>maintenance</html>');
        return;
      case 'notKeySet':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":"none"}');
        return;
      case 'huge':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [], padding: 'x'.repeat(1024 * 1024) }));
        return;
      default:
        res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: published.map((k) => k.publicJwk) }));
    }
  });
  const { port, close } = await listenLoopback(server);
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    get fetches() {
      return fetches;
    },
    publish(next) {
      published = next;
    },
    setMode(next) {
      mode = next;
    },
    close,
  };
}

/** A loopback URL where nothing listens (a port just released). */
export async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}/jwks.json`;
}
