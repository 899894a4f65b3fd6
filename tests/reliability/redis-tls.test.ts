import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { startApp, type AppServer } from '../support/app-server';
import { startRedisCluster, type RedisClusterServers } from '../support/redis-ha';
import { makeTlsFiles, type TlsFiles } from '../support/tls-files';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';
import { startMockOpenAI, type MockOpenAI } from '../support/upstream';
import { send } from './support';
import { admitsIn } from '../support/redis';

/**
 * A managed-style Redis Cluster: TLS on every node (and on the cluster bus)
 * with a certificate from a private CA, and an ACL user restricted to the
 * app's keys, as ElastiCache or MemoryDB with in-transit encryption and RBAC.
 * Two production servers reach it with `REDIS_CLUSTER_NODES`, `REDIS_TLS=1`,
 * `REDIS_USERNAME` and `REDIS_PASSWORD`, trusting the CA through
 * `NODE_EXTRA_CA_CERTS`. A server that does not trust the CA never talks to
 * the cluster: the certificate is verified, and it limits in memory instead.
 */

const LIMIT = 4;
const PREFIX = 'ha-tls:';
const USER = 'limiter-app';
const PASSWORD = 'acl-secret-pw-3f9a';
let tls: TlsFiles;
let cluster: RedisClusterServers;
let upstream: MockOpenAI;
let apps: AppServer[];
let untrusting: AppServer;

const env = (extra: Record<string, string> = {}) => ({
  OPENAI_API_KEY: 'sk-test-redis-tls-0123456789',
  OPENAI_BASE_URL: upstream.baseUrl,
  JWT_SECRET: TEST_JWT_SECRET,
  RATE_LIMIT_PREFIX: PREFIX,
  RATE_LIMIT_TOKEN: `${LIMIT}/60`,
  REDIS_TIMEOUT_MS: '1000',
  ...cluster.env,
  REDIS_USERNAME: USER,
  REDIS_PASSWORD: PASSWORD,
  ...extra,
});

beforeAll(async () => {
  tls = await makeTlsFiles();
  [cluster, upstream] = await Promise.all([
    startRedisCluster({ tls, password: 'admin-pw-for-the-test', args: ['--user', USER, 'on', `>${PASSWORD}`, `~${PREFIX}*`, '&*', '+@all'] }),
    startMockOpenAI(),
  ]);
  [apps, untrusting] = await Promise.all([Promise.all([0, 1].map(() => startApp(env({ NODE_EXTRA_CA_CERTS: tls.ca })))), startApp(env())]);
});

afterAll(async () => {
  await Promise.all([...(apps ?? []), untrusting].filter(Boolean).map((app) => app.stop()));
  await Promise.all([upstream?.close(), cluster?.close()]);
  await tls?.remove();
});

async function token(app: AppServer, user: string): Promise<number> {
  const auth = await signJwt({}, { subject: user });
  return (await send(app.url, { tag: user, headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' }, body: '{}' })).status ?? 0;
}

const health = async (app: AppServer) => (await fetch(`${app.url}/api/health`)).json();

it('over TLS with an ACL user: one limit across two servers, on the cluster, through the TLS ports only', async () => {
  for (const app of apps) expect(await health(app)).toEqual({ status: 'ok', limiter: 'redis' });
  const statuses: number[] = [];
  for (let i = 0; i < LIMIT + 2; i++) statuses.push(await token(apps[i % 2], 'tls-user'));
  expect(statuses).toEqual([...Array(LIMIT).fill(200), 429, 429]);
  const key = `${PREFIX}token#2:jwt:tls-user`;
  expect(await admitsIn(cluster.client(await cluster.nodeFor(await cluster.keyslot(key))), key)).toBe(LIMIT);
  // The app's connections are the ACL user's, on the TLS ports.
  const tlsPorts = cluster.env.REDIS_CLUSTER_NODES.split(',').map((a) => a.split(':')[1]);
  const lines = (await Promise.all(cluster.nodes.map(async (n) => String(await cluster.client(n).call('CLIENT', 'LIST'))))).join('\n').split('\n');
  const appLines = lines.filter((l) => l.includes(` user=${USER} `));
  expect(appLines.length).toBeGreaterThanOrEqual(3);
  for (const line of appLines) expect(tlsPorts).toContain(/ laddr=[\d.]+:(\d+) /.exec(line)?.[1]);
  for (const app of apps) {
    expect(app.logs().filter((l) => l.event === 'rate_limit_store_degraded')).toEqual([]);
    expect(app.stdout.join('\n') + app.stderr()).not.toContain(PASSWORD);
  }
});

it('a server that does not trust the certificate never uses the cluster: it limits in memory, answers no 5xx, and says so', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < LIMIT + 1; i++) statuses.push(await token(untrusting, 'untrusting-user'));
  expect(statuses).toEqual([...Array(LIMIT).fill(200), 429]);
  await vi.waitFor(async () => expect(await health(untrusting)).toEqual({ status: 'degraded', limiter: 'redis-degraded' }), { timeout: 5000, interval: 250 });
  expect(untrusting.logs().find((l) => l.event === 'rate_limit_store_degraded')).toMatchObject({ level: 'critical' });
  const key = `${PREFIX}token#2:jwt:untrusting-user`;
  expect(await cluster.client(await cluster.nodeFor(await cluster.keyslot(key))).exists(key)).toBe(0);
  expect(untrusting.stdout.join('\n') + untrusting.stderr()).not.toContain(PASSWORD);
});
