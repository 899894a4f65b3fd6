import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * A throwaway certificate authority and one server certificate for
 * 127.0.0.1 and localhost, made with the system's `openssl`, for TLS tests
 * against real servers. Clients trust the CA through `NODE_EXTRA_CA_CERTS`
 * (read by Node at start), never by turning verification off.
 */
export interface TlsFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  remove(): Promise<void>;
}

const run = promisify(execFile);

export async function makeTlsFiles(): Promise<TlsFiles> {
  const dir = await mkdtemp(join(tmpdir(), 'rtg-tls-'));
  const at = (name: string) => join(dir, name);
  const quiet = { timeout: 20_000 };
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', at('ca.key'), '-out', at('ca.pem'), '-days', '1', '-subj', '/CN=rtg-test-ca'], quiet);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', at('server.key'), '-out', at('server.csr'), '-subj', '/CN=127.0.0.1'], quiet);
  await writeFile(at('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await run('openssl', ['x509', '-req', '-in', at('server.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial', '-out', at('server.pem'), '-days', '1', '-extfile', at('ext.cnf')], quiet);
  return { ca: at('ca.pem'), cert: at('server.pem'), key: at('server.key'), remove: () => rm(dir, { recursive: true, force: true }) };
}
