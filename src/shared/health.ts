import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox';
import type { App } from './base-app.js';
import type { Clock } from './clock.js';
import { createReadProbe, type Db } from './db/open.js';
import { replies } from './envelope.js';
import { unavailable } from './errors.js';
import { VERSION } from './version.js';

const HealthBase = {
  status: Type.Literal('healthy'),
  version: Type.String(),
  uptime: Type.Number({ description: 'Seconds since this service started' }),
};

/**
 * `GET /health` of a service: no authentication, never rate limited, enveloped, and 503
 * "Database unavailable" when the shared file cannot be read. Each service adds its own
 * fields (`details`), computed only after the database answered.
 */
export function registerHealth<P extends TProperties>(
  app: App,
  options: { db: Db; clock: Clock; details: TObject<P>; read: () => Static<TObject<P>> },
): void {
  const startedAt = options.clock.now();
  const databaseReadable = createReadProbe(options.db);
  const Health = Type.Composite([Type.Object(HealthBase), options.details]);
  app.get(
    '/health',
    {
      config: { rateLimit: false },
      schema: { tags: ['health'], summary: 'Liveness and database status', response: replies(Health) },
    },
    async () => {
      if (!databaseReadable()) throw unavailable('Database unavailable');
      const base = { status: 'healthy' as const, version: VERSION, uptime: Math.max(0, (options.clock.now() - startedAt) / 1000) };
      return { ok: true as const, data: { ...base, ...options.read() } as unknown as Static<typeof Health> };
    },
  );
}
