/** A real SSE client for the Manager's live stream, shared by the stream tests. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { App } from '../../src/shared/base-app.js';
import { OPERATOR } from './fixtures.js';

export interface Frame {
  id?: number;
  event?: string;
  data?: Record<string, unknown>;
  comment?: string;
}

/** A real socket reading the stream and parsing SSE frames as they arrive. */
/** The complete frames at the start of `text` (each ends with a blank line) and what follows them. */
export function parseFrames(text: string): { frames: Frame[]; rest: string } {
  const frames: Frame[] = [];
  let rest = text;
  let end;
  while ((end = rest.indexOf('\n\n')) !== -1) {
    const block = rest.slice(0, end);
    rest = rest.slice(end + 2);
    const frame: Frame = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(': ')) frame.comment = line.slice(2);
      else if (line.startsWith('id: ')) frame.id = Number(line.slice(4));
      else if (line.startsWith('event: ')) frame.event = line.slice(7);
      else if (line.startsWith('data: ')) frame.data = JSON.parse(line.slice(6)) as Record<string, unknown>;
    }
    frames.push(frame);
  }
  return { frames, rest };
}

export function openStream(app: App, headers: Record<string, string> = OPERATOR) {
  const { port } = app.server.address() as AddressInfo;
  const frames: Frame[] = [];
  const waiters: { predicate: (frames: Frame[]) => boolean; resolve: () => void }[] = [];
  let buffer = '';
  let response: http.IncomingMessage | undefined;
  let request: http.ClientRequest | undefined;
  const ended = new Promise<void>((resolveEnd) => {
    const req = (request = http.request({ port, path: '/api/events/stream', headers }, (res) => {
      response = res;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const parsed = parseFrames(buffer + chunk);
        buffer = parsed.rest;
        frames.push(...parsed.frames);
        for (const waiter of [...waiters]) {
          if (waiter.predicate(frames)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve();
          }
        }
      });
      res.on('end', resolveEnd);
      res.on('close', resolveEnd);
    }));
    req.on('error', () => resolveEnd());
    req.end();
  });
  const stream = {
    frames,
    ended,
    close: () => void request?.destroy(),
    get response() {
      return response;
    },
    named: () => frames.filter((f) => f.event !== undefined),
    until(predicate: (frames: Frame[]) => boolean, timeoutMs = 3000): Promise<void> {
      if (predicate(frames)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out; frames so far: ${JSON.stringify(frames)}`)), timeoutMs);
        waiters.push({ predicate, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
  };
  return stream;
}
