import { randomFillSync } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** What an incoming `X-Request-Id` may be to be echoed (the contract's README). */
const ECHOABLE = /^[A-Za-z0-9._-]{1,64}$/;

/** Each draw from the CSPRNG costs about 6 µs whatever its size (up to 16 KiB): one per 1,024 UUIDs. */
const UUIDS_PER_BATCH = 1024;
const UUID_LENGTH = 36;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/**
 * Random (version 4) UUIDs, written as text a batch at a time.
 *
 * Why not `crypto.randomUUID()`: it joins each UUID from 20 pieces, which Node flattens again
 * when it checks and writes the header, once per response. Here one flat string holds a batch
 * and each UUID is a slice of it. The randomness is the same: the CSPRNG, 122 random bits each.
 */
export function createUuidSource(): () => string {
  const random = Buffer.alloc(16 * UUIDS_PER_BATCH);
  const text = Buffer.alloc(UUID_LENGTH * UUIDS_PER_BATCH);
  let batch = '';
  let next = UUIDS_PER_BATCH;

  function refill(): void {
    randomFillSync(random);
    let out = 0;
    for (let uuid = 0; uuid < UUIDS_PER_BATCH; uuid++) {
      const base = uuid * 16;
      random[base + 6] = (random[base + 6]! & 0x0f) | 0x40; // version 4
      random[base + 8] = (random[base + 8]! & 0x3f) | 0x80; // RFC 9562 variant
      for (let i = 0; i < 16; i++) {
        if (i === 4 || i === 6 || i === 8 || i === 10) text[out++] = 0x2d; // '-'
        const byte = random[base + i]!;
        text[out++] = HEX_DIGITS[byte >> 4]!;
        text[out++] = HEX_DIGITS[byte & 15]!;
      }
    }
    batch = text.toString('latin1', 0, out);
    next = 0;
  }

  return () => {
    if (next === UUIDS_PER_BATCH) refill();
    const start = next++ * UUID_LENGTH;
    return batch.slice(start, start + UUID_LENGTH);
  };
}

/** A fresh request id: for requests that sent none to echo, and for answers Node's parser refused. */
export const freshRequestId = createUuidSource();

/**
 * Fastify's `genReqId`: the client's id when it is echoable, a fresh UUID otherwise. Node joins
 * a repeated header with ", ", which is never echoable, so a repeated one is replaced too.
 */
export function requestIdOf(raw: IncomingMessage): string {
  const sent = raw.headers['x-request-id'];
  return typeof sent === 'string' && ECHOABLE.test(sent) ? sent : freshRequestId();
}
