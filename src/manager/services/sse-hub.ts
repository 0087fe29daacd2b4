import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { STREAM_REPLAY_SIZE, type StreamStore } from '../stores/stream.js';
import type { StreamCensus } from './stream-census.js';

export type StreamEventName = 'connected' | 'agent_online' | 'agent_offline' | 'threats_reported' | 'policy_created';

export interface SseHubOptions {
  store: StreamStore;
  clock: Clock;
  logger: FastifyBaseLogger;
  /** `: keepalive` comment interval. */
  keepaliveMs: number;
  /** Streams open at once: on this replica, or on all of them together with a census. */
  maxClients: number;
  /** The streams of every replica (REDIS_URL), so `maxClients` caps the deployment. */
  census?: StreamCensus;
  /** Bytes a client may have queued before it counts as too slow and is dropped. */
  maxBufferedBytes: number;
}

const frame = (id: number, event: string, data: string) => `id: ${id}\nevent: ${event}\ndata: ${data}\n\n`;

/**
 * Fan-out of named events to the connected streams. Every published event is first
 * persisted (its id comes from the database's sequence), so a client reconnecting with
 * Last-Event-ID is replayed what it missed, also across a restart and from another replica.
 * On PostgreSQL several replicas share one stream: each delivers to its own clients what
 * the table holds after the last id it delivered, whenever any replica's append commits
 * (LISTEN/NOTIFY), so every client sees every replica's events in id order.
 */
export function createSseHub(options: SseHubOptions) {
  const clients = new Set<ServerResponse>();
  /** The last id each client was sent: an event is sent to a client once, and only after what it has. */
  const sentTo = new WeakMap<ServerResponse, number>();
  /** Clients whose replay is being read, with the events published meanwhile. */
  const joining = new Map<ServerResponse, Array<{ id: number; chunk: string }>>();
  let keepalive: NodeJS.Timeout | null = null;

  const counted = () => options.census?.set(clients.size);
  const drop = (client: ServerResponse) => {
    clients.delete(client);
    counted();
    client.destroy();
  };
  const send = (client: ServerResponse, chunk: string) => {
    // A client that does not read is dropped rather than buffered without bound.
    if (client.writableLength > options.maxBufferedBytes) {
      options.logger.warn({ buffered: client.writableLength }, 'dropping slow event-stream client');
      drop(client);
      return;
    }
    client.write(chunk);
  };

  /**
   * Appends (with their broadcast) and the read of the last id take turns. On PostgreSQL each
   * append is a transaction of its own whose id is drawn before it commits, so concurrent
   * appends could commit and reach clients out of id order (a client resuming from the higher
   * id would never get the lower one), and a joining client could start after an id not yet
   * committed. On SQLite they already run one after another.
   */
  let turn: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    const run = turn.then(work);
    turn = run.catch(() => undefined);
    return run;
  };

  const broadcast = (id: number, chunk: string) => {
    for (const client of clients) {
      if ((sentTo.get(client) ?? 0) >= id) continue;
      sentTo.set(client, id);
      send(client, chunk);
    }
    for (const held of joining.values()) held.push({ id, chunk });
  };

  // Shared stream (PostgreSQL): the last id delivered to this replica's clients, read at start.
  const { listen } = options.store;
  let delivered: number | null = null;
  let stopListening: Promise<(() => Promise<void>) | null> | null = null;
  /** Delivers what any replica appended after `delivered`, in id order. */
  const deliverAppended = () =>
    inTurn(async () => {
      delivered ??= await options.store.lastId();
      for (;;) {
        const rows = await options.store.after(delivered);
        for (const row of rows) {
          broadcast(row.id, frame(row.id, row.event, row.data));
          delivered = row.id;
        }
        if (rows.length < STREAM_REPLAY_SIZE) return;
      }
    }).catch((error: unknown) => options.logger.error({ err: error }, 'could not read the shared event stream'));

  return {
    get size() {
      return clients.size;
    },
    /** Whether another stream would pass the cap (of all replicas when they share a census). */
    async isFull(): Promise<boolean> {
      if (clients.size >= options.maxClients) return true;
      const total = options.census ? await options.census.total() : null;
      return total !== null && total >= options.maxClients;
    },
    /**
     * Takes over a response whose headers are already written: `connected`, then whatever
     * the client missed since `lastEventId`, then live events. Events published while the
     * replay is read are held for the client and sent after it, each once, so none slips
     * between replay and subscription.
     */
    async attach(client: ServerResponse, lastEventId: number | null): Promise<void> {
      const held: Array<{ id: number; chunk: string }> = [];
      joining.set(client, held);
      client.on('close', () => {
        joining.delete(client);
        if (clients.delete(client)) counted();
      });
      try {
        const latest = await inTurn(async () => {
          const id = await options.store.lastId();
          // Shared stream: what this client is sent live starts after `latest` at the latest.
          delivered ??= id;
          return id;
        });
        const from = lastEventId === null ? latest : Math.min(lastEventId, latest);
        client.write(frame(from, 'connected', JSON.stringify({ message: 'Connected to event stream' })));
        let sent = from;
        if (lastEventId !== null) {
          for (const row of await options.store.after(from)) {
            client.write(frame(row.id, row.event, row.data));
            sent = row.id;
          }
        }
        for (const event of held) {
          if (event.id <= sent) continue;
          client.write(event.chunk);
          sent = event.id;
        }
        sentTo.set(client, sent);
      } catch (error) {
        options.logger.error({ err: error }, 'could not replay the event stream');
        drop(client);
        return;
      } finally {
        joining.delete(client);
      }
      if (!client.destroyed) {
        clients.add(client);
        counted();
      }
    },
    /**
     * Called after the write it announces has committed: a failure to record the stream
     * event is logged, never turned into an error for a request whose data is already stored.
     */
    async publish(event: Exclude<StreamEventName, 'connected'>, data: Record<string, unknown>): Promise<number | null> {
      const json = JSON.stringify(data);
      const id = await inTurn(async () => {
        let appended: number;
        try {
          appended = await options.store.append(event, json, toIso(options.clock.now()));
        } catch (error) {
          options.logger.error({ err: error, event }, 'could not record a stream event');
          return null;
        }
        if (!listen) broadcast(appended, frame(appended, event, json));
        return appended;
      });
      // Shared stream: delivered in id order with the other replicas' events (its NOTIFY comes too; this is sooner).
      if (id !== null && listen) await deliverAppended();
      return id;
    },
    start(): void {
      if (keepalive) return;
      keepalive = setInterval(() => {
        for (const client of clients) send(client, ': keepalive\n\n');
      }, options.keepaliveMs);
      keepalive.unref();
      options.census?.start();
      if (listen) {
        // The start's id first: what is appended from here on is delivered, what came before is replay.
        void deliverAppended();
        stopListening = listen(() => void deliverAppended()).catch((error: unknown) => {
          options.logger.error({ err: error }, 'could not listen for other replicas\' stream events; only this replica\'s are delivered live');
          return null;
        });
      }
    },
    /** Ends every stream cleanly; without it `app.close()` would wait on them forever. */
    close(): void {
      if (keepalive) clearInterval(keepalive);
      keepalive = null;
      if (stopListening) {
        const stopping = stopListening;
        stopListening = null;
        void stopping.then((stop) => stop?.()).catch(() => {});
      }
      for (const client of clients) client.end();
      for (const client of joining.keys()) client.end();
      clients.clear();
      joining.clear();
      options.census?.stop();
    },
  };
}

export type SseHub = ReturnType<typeof createSseHub>;
