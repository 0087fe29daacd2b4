import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox';
import type { App } from './base-app.js';
import type { Clock } from './clock.js';
import { databaseReadable } from './db/read-probe.js';
import type { Queryable, Storage } from './db/storage.js';
import { replies } from './envelope.js';
import { unavailable } from './errors.js';
import { VERSION } from './version.js';

/**
 * How long one look at the database answers `/health`. Probes come from load balancers and
 * orchestrators, often many per second under load; each look is a SQLite read transaction
 * (two file-lock calls) plus the service's counts, which cost more than the rest of the
 * request. So the answer is at most this old: a database that stops being readable shows
 * as 503 within a second, and the counts lag by as much.
 */
export const HEALTH_MEMO_MS = 1000;

const HealthBase = {
  status: Type.Literal('healthy'),
  engine: Type.Union([Type.Literal('sqlite'), Type.Literal('postgres')], { description: 'The database engine this service runs on' }),
  version: Type.String(),
  uptime: Type.Number({ description: 'Seconds since this service started' }),
};

/**
 * `GET /health` of a service: no authentication, never rate limited, enveloped, and 503
 * "Database unavailable" when the shared file cannot be read. Each service adds its own
 * fields (`details`), computed only after the database answered. Arrival and completion of
 * probes are not logged (base-app.ts).
 */
export function registerHealth<P extends TProperties>(
  app: App,
  options: { storage: Storage; clock: Clock; details: TObject<P>; read: (q: Queryable) => Static<TObject<P>> | Promise<Static<TObject<P>>> },
): void {
  const { clock } = options;
  const startedAt = clock.now();
  const { storage } = options;
  const Health = Type.Composite([Type.Object(HealthBase), options.details]);
  type Data = Static<typeof Health>;
  /** The last look: when, and the answer's data but its uptime (null: the database could not be read). */
  let last: { at: number; data: Data | null } | null = null;
  /** A look on its way: probes arriving meanwhile share it instead of each asking the database. */
  let pending: Promise<Data | null> | null = null;

  // On the probe lane: a burst of requests holding every pooled connection does not make a probe wait.
  const readDetails = async (): Promise<Static<TObject<P>> | null> => ((await databaseReadable(storage.probe)) ? options.read(storage.probe) : null);

  const look = (now: number): Data | null | Promise<Data | null> => {
    if (last && now >= last.at && now - last.at < HEALTH_MEMO_MS) return last.data;
    pending ??= readDetails().then((details) => {
      if (details === null) app.log.warn('health: the database cannot be read');
      const data = details === null ? null : ({ status: 'healthy', engine: storage.engine, version: VERSION, uptime: 0, ...details } as unknown as Data);
      last = { at: now, data };
      return data;
    }).finally(() => {
      pending = null;
    });
    return pending;
  };

  const answer = (now: number, data: Data | null) => {
    if (data === null) throw unavailable('Database unavailable');
    // A copy of one object with only uptime changed keeps one shape for the serialiser.
    return { ok: true as const, data: { ...data, uptime: Math.max(0, (now - startedAt) / 1000) } };
  };

  app.get(
    '/health',
    {
      config: { rateLimit: false },
      schema: { operationId: 'getHealth', security: [], tags: ['health'], summary: 'Liveness and database status', response: replies(Health) },
    },
    // Not async: a probe within HEALTH_MEMO_MS of the last look is answered without a promise.
    () => {
      const now = clock.now();
      const data = look(now);
      return data instanceof Promise ? data.then((ready) => answer(now, ready)) : answer(now, data);
    },
  );
}
