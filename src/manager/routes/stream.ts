import { Type } from '@sinclair/typebox';
import type { App } from '../../shared/base-app.js';
import { errorResponses } from '../../shared/envelope.js';
import { mediaResponse } from '../../shared/openapi-responses.js';
import { unavailable } from '../../shared/errors.js';
import type { Guards } from '../access.js';
import type { SseHub } from '../services/sse-hub.js';
import { BEARER } from '../../shared/openapi-responses.js';

const LAST_EVENT_ID = /^\d{1,15}$/;

export function streamRoutes(app: App, deps: { guards: Guards; hub: SseHub }): void {
  const { guards, hub } = deps;

  app.get(
    '/api/events/stream',
    {
      preValidation: guards.operator,
      schema: {
        operationId: 'streamEvents',
        tags: ['stream'],
        summary: 'Live fleet events (Server-Sent Events); Last-Event-ID replays what was missed',
        security: BEARER,
        response: { 200: mediaResponse('text/event-stream', Type.String(), 'Named events (`id:`, `event:`, `data:` JSON), heartbeat comments between them'), ...errorResponses },
      },
    },
    async (request, reply) => {
      if (await hub.isFull()) throw unavailable('Too many event streams, try again later', 'STREAM_LIMIT');
      const header = request.headers['last-event-id'];
      const lastEventId = typeof header === 'string' && LAST_EVENT_ID.test(header) ? Number(header) : null;
      reply.hijack();
      const raw = reply.raw;
      // Headers go out at once (security, CORS and rate-limit headers set by earlier hooks included).
      const inherited = Object.entries(reply.getHeaders()).filter((entry): entry is [string, string | number | string[]] => entry[1] !== undefined);
      raw.writeHead(200, {
        ...Object.fromEntries(inherited),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.socket?.setNoDelay(true);
      await hub.attach(raw, lastEventId);
    },
  );
}
