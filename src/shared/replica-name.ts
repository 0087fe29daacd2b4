import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * A name for one participant among replicas (a job lease's holder, a stream census entry): the
 * host and process, readable in `job_leases` and Redis, and a random part so that two apps of
 * one process (tests, the single-process build) never share it.
 */
export function newReplicaName(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}
