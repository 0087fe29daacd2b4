import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import { withoutPassword } from '../config.js';

/**
 * How long a rate-limit count may wait for Redis. Past it the request goes on uncounted (fail
 * open): a slow or lost Redis must not take the three services down with it, and the limits
 * that protect credentials (login lockouts) are kept in the database, not here.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 500;
const CONNECT_TIMEOUT_MS = 2000;
const RECONNECT_MAX_DELAY_MS = 2000;

/**
 * The connection to Redis that the replicas share their rate limits through. Commands never
 * queue while it is down (they fail at once and the limiter lets the request through), it
 * reconnects in the background, and the log says once when it is lost and once when it is
 * back — never the password of the URL.
 */
export async function connectRedis(url: string, logger: FastifyBaseLogger): Promise<Redis> {
  const shown = withoutPassword(url);
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(attempt * 200, RECONNECT_MAX_DELAY_MS),
  });
  let down = false;
  const lost = (err?: { message: string; code?: string }) => {
    if (down) return;
    down = true;
    logger.warn({ redis: shown, ...(err ? { err } : {}) }, 'Redis unreachable: rate limits fail open (each request is let through uncounted) until it is back');
  };
  // 'close' comes at once when an open connection drops; 'error' when a connection cannot be made.
  client.on('close', () => lost());
  client.on('error', (error: Error & { code?: string }) => lost({ message: error.message, code: error.code }));
  client.on('ready', () => {
    if (!down) return;
    down = false;
    logger.warn({ redis: shown }, 'Redis reachable again: rate limits are shared again');
  });
  try {
    await client.connect();
  } catch {
    // Logged by the error handler; the client keeps reconnecting, and limits fail open meanwhile.
  }
  return client;
}
