import type { FastifyBaseLogger } from 'fastify';
import type { ResolvedConfig } from './config.js';
import { buildAuthApp } from './auth/app.js';
import { createBridges } from './bridges/index.js';
import { buildManagerApp } from './manager/app.js';
import { buildThreatCloudApp } from './threat-cloud/app.js';
import type { App, TlsMaterial } from './shared/base-app.js';
import type { Clock } from './shared/clock.js';
import type { Db } from './shared/db/open.js';
import type { Storage } from './shared/db/storage.js';

export interface ServerTls {
  auth: TlsMaterial | null;
  manager: TlsMaterial | null;
  threatCloud: TlsMaterial | null;
}

export interface RunningServers {
  auth: App;
  manager: App;
  threatCloud: App;
  urls: { auth: string; manager: string; threatCloud: string };
  /** Stops accepting, lets in-flight requests finish, ends streams; the database stays open. */
  close(): Promise<void>;
}

function urlOf(app: App, tls: TlsMaterial | null, host: string): string {
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `${tls ? 'https' : 'http'}://${shownHost}:${port}`;
}

/** Builds the three apps over one database and listens on their ports. */
export async function startServers(options: {
  config: ResolvedConfig;
  storage: Storage;
  /** The SQLite connection under `storage`; null on PostgreSQL. */
  sqlite: Db | null;
  clock: Clock;
  logger: FastifyBaseLogger;
  tls: ServerTls;
}): Promise<RunningServers> {
  const { config, storage, clock, logger, tls } = options;
  // Loaded only when configured: the Redis client costs about 100 ms of start-up to import.
  const redis = config.redis.url ? await (await import('./shared/redis.js')).connectRedis(config.redis.url, logger.child({ component: 'redis' })) : undefined;
  const database = { storage, ...(options.sqlite ? { sqlite: options.sqlite } : {}), ...(redis ? { redis } : {}) };
  // The services reach one another only through these ports (src/bridges/).
  const bridges = createBridges(storage, clock);
  const auth = await buildAuthApp({ ...database, config, clock, logger: logger.child({ service: 'auth' }), https: tls.auth }, bridges.auth);
  const manager = await buildManagerApp({ ...database, config, clock, logger: logger.child({ service: 'manager' }), https: tls.manager }, bridges.manager);
  const threatCloud = await buildThreatCloudApp({ ...database, config, clock, logger: logger.child({ service: 'threat-cloud' }), https: tls.threatCloud });
  const apps = [auth, manager, threatCloud];
  try {
    await auth.listen({ host: config.host, port: config.auth.port });
    await manager.listen({ host: config.host, port: config.manager.port });
    await threatCloud.listen({ host: config.host, port: config.threatCloud.port });
  } catch (error) {
    await Promise.allSettled(apps.map((app) => app.close()));
    redis?.disconnect();
    throw error;
  }
  return {
    auth,
    manager,
    threatCloud,
    urls: {
      auth: urlOf(auth, tls.auth, config.host),
      manager: urlOf(manager, tls.manager, config.host),
      threatCloud: urlOf(threatCloud, tls.threatCloud, config.host),
    },
    async close() {
      await Promise.all(apps.map((app) => app.close()));
      redis?.disconnect();
    },
  };
}
