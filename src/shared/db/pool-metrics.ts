import { Gauge } from 'prom-client';
import type { MetricsCollector } from '../metrics.js';
import type { Storage } from './storage.js';

/**
 * The connection pool on `/metrics` (PostgreSQL): connections in use and idle, and how many
 * queries wait for one — a pool too small for the load shows as waiting above zero. Nothing
 * on SQLite, whose one connection is never waited for.
 */
export function poolMetrics(storage: Storage): MetricsCollector {
  return (registry) => {
    const poolUse = storage.poolUse?.bind(storage);
    if (poolUse === undefined) return;
    new Gauge({
      name: 'panguard_db_pool_connections',
      help: 'Database connections of the pool, by state (in_use, idle)',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        const use = poolUse();
        this.set({ state: 'in_use' }, use.inUse);
        this.set({ state: 'idle' }, use.idle);
      },
    });
    new Gauge({
      name: 'panguard_db_pool_waiting',
      help: 'Queries and transactions waiting for a pooled database connection',
      registers: [registry],
      collect() {
        this.set(poolUse().waiting);
      },
    });
  };
}
