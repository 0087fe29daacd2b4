/**
 * Replicas of the built process over one PostgreSQL database, behind the shipped
 * deploy/haproxy.cfg: what the cluster tests start and how they talk to it.
 */
import path from 'node:path';
import type { Test } from 'tap';
import { TEST_SECRETS, tempDir } from '../helper.js';
import type { StatRow } from '../haproxy.js';
import { startPostgres } from '../postgres.js';
import { freePort, REPO_ROOT, request, startServerProcess, type HttpResult, type ServerProcess } from '../process.js';

export const CONFIG_FILE = path.join(REPO_ROOT, 'deploy', 'haproxy.cfg');
export const BACKENDS = ['auth', 'threat_cloud', 'manager'] as const;

export type Reply = HttpResult;

/** One request on its own connection (as a new client) with a JSON body, optionally from a given local address. */
export function call(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: unknown; ca?: Buffer; from?: string } = {},
): Promise<Reply> {
  return request(url, {
    ...(options.method ? { method: options.method } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    ...(options.ca ? { ca: options.ca } : {}),
    ...(options.from ? { localAddress: options.from } : {}),
    timeoutMs: 15_000,
  });
}

export const data = <T>(reply: Reply): T => (JSON.parse(reply.body) as { data: T }).data;
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Polls until `condition` holds, failing after `timeoutMs` with what was last seen. */
export async function until<T>(what: string, read: () => Promise<T>, condition: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (condition(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not true after ${timeoutMs} ms (last: ${JSON.stringify(value)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** `show stat` rows of the servers (not the FRONTEND/BACKEND totals) of one backend, by server name. */
export function servers(stats: StatRow[], backend: string): Map<string, StatRow> {
  return new Map(stats.filter((row) => row.pxname === backend && row.svname !== 'FRONTEND' && row.svname !== 'BACKEND').map((row) => [row.svname!, row]));
}

/**
 * `count` replicas of the built process over one fresh database, sharing the secrets a token
 * needs, TLS ending at the balancer; `extra` adds to (or overrides) their environment.
 */
export async function startReplicas(t: Test, count: number, extra: Record<string, string> = {}): Promise<{ replicas: ServerProcess[]; databaseUrl: string }> {
  const cluster = await startPostgres(t);
  const url = await cluster.freshDatabase();
  const env = {
    DATABASE_URL: url,
    DATABASE_TLS: 'disable',
    // Every replica must hold the same secrets: a token one signs, another verifies.
    JWT_SECRET: TEST_SECRETS.jwtSecret,
    TOTP_ENCRYPTION_KEY: TEST_SECRETS.totpEncryptionKey,
    MANAGER_AUTH_TOKEN: TEST_SECRETS.managerAuthToken,
    TC_ADMIN_TOKEN: TEST_SECRETS.tcAdminToken,
    MANAGER_TLS: 'false',
    TRUST_PROXY: '127.0.0.1',
    AUTH_SCRYPT_LOG_N: '14',
    LOG_LEVEL: 'warn',
    // Limits are not what this file tests: its load comes from two addresses, and without
    // REDIS_URL each replica counts alone, so the one left after the kill sees it all.
    RATE_LIMIT_SCALE: '10000',
    ...extra,
  };
  const replicas: ServerProcess[] = [];
  // One after the other: the first migrates the empty database, the next finds it migrated.
  for (let i = 0; i < count; i++) {
    const replica = await startServerProcess(tempDir(t), env);
    t.teardown(() => replica.stop('SIGKILL'));
    await replica.waitHealthy();
    replicas.push(replica);
  }
  return { replicas, databaseUrl: url };
}

/** The environment the shipped file reads: free ports, a temp socket and PEM, the replicas' ports. */
export async function balancerEnv(dir: string, pemFile: string, replicas: ServerProcess[]) {
  const ports = { auth: await freePort(), threatCloud: await freePort(), manager: await freePort() };
  const env: Record<string, string> = {
    PANGUARD_LB_UNPRIVILEGED: '1',
    PANGUARD_LB_LOG: 'stdout',
    PANGUARD_LB_ADMIN_SOCKET: path.join(dir, 'admin.sock'),
    PANGUARD_LB_MANAGER_PEM: pemFile,
    PANGUARD_LB_AUTH_BIND: `127.0.0.1:${ports.auth}`,
    PANGUARD_LB_TC_BIND: `127.0.0.1:${ports.threatCloud}`,
    PANGUARD_LB_MANAGER_BIND: `127.0.0.1:${ports.manager}`,
  };
  replicas.forEach((replica, i) => {
    const n = i + 1;
    env[`PANGUARD_REPLICA_${n}`] = '127.0.0.1';
    env[`PANGUARD_REPLICA_${n}_AUTH_PORT`] = String(replica.ports.auth);
    env[`PANGUARD_REPLICA_${n}_TC_PORT`] = String(replica.ports.threatCloud);
    env[`PANGUARD_REPLICA_${n}_MANAGER_PORT`] = String(replica.ports.manager);
  });
  return { env, ports, socket: env.PANGUARD_LB_ADMIN_SOCKET! };
}
