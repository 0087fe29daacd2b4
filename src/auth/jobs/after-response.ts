import type { FastifyBaseLogger } from 'fastify';

/**
 * Work a route does after its answer has gone out, so the answer's timing cannot tell what
 * the work found (forgot-password: whether the account exists). A task is queued while the
 * handler runs and starts on the next turn of the event loop, by which time the reply has
 * been written; a failing task is logged, never an unhandled error. `settled()` lets
 * shutdown (and tests) wait until every queued task has run.
 */
export function createAfterResponse(logger: FastifyBaseLogger) {
  const pending = new Set<Promise<void>>();

  return {
    run(task: string, work: () => Promise<void>): void {
      const done = new Promise<void>((resolve) => {
        setImmediate(resolve);
      })
        .then(work)
        .catch((error: unknown) => {
          logger.error({ err: error, task }, 'work after the answer failed');
        });
      pending.add(done);
      void done.then(() => pending.delete(done));
    },
    async settled(): Promise<void> {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}
export type AfterResponse = ReturnType<typeof createAfterResponse>;
