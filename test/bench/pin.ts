import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';

/**
 * Runs `measure` with the main threads of the two servers of a comparison on one core and the
 * load generator's (this process's) on the others, then gives every thread all cores back.
 *
 * Why: the development machine's two vCPUs drift apart in speed for tens of seconds at a time.
 * Unpinned, the server and the bare route could each sit on a different one, so a round's ratio
 * measured the cores as much as the servers: in one run the Threat Cloud's `/health` went from
 * 0.60–0.79 of the bare route to 0.48–0.66 for nine rounds, its CPU per request from 34–45 µs to
 * 43–72 µs, while the bare route's stayed at 24–31 µs. Pinned, eleven of twelve rounds stayed
 * within 0.85–0.98 while both absolute rates halved and recovered.
 *
 * Only main threads are pinned (where requests are answered and autocannon runs): pinning every
 * thread puts the server's GC helpers and its checkpointer thread on its main thread's core (in
 * the one run measured that way the lookups' p99 was 10 ms, 6 ms unpinned and with main threads
 * only). Threads a pinned thread starts meanwhile inherit its core until the restore.
 *
 * On one core it measures unpinned, and where `taskset` is missing too, saying so.
 */
export async function onOneCore<T>(serverPids: number[], measure: () => Promise<T>): Promise<T> {
  const count = cpus().length;
  if (count < 2) return measure();
  const serverCore = String(count - 1);
  const loadCores = count === 2 ? '0' : `0-${count - 2}`;
  const everyCore = `0-${count - 1}`;
  if (!setAffinity(process.pid, loadCores, false)) {
    process.stderr.write('taskset is not available: measuring without pinning\n');
    return measure();
  }
  try {
    for (const pid of serverPids) setAffinity(pid, serverCore, false);
    return await measure();
  } finally {
    for (const pid of [process.pid, ...serverPids]) setAffinity(pid, everyCore, true);
  }
}

/** The main thread of `pid` (every thread with `allThreads`) onto `cores`; false when taskset could not. */
function setAffinity(pid: number, cores: string, allThreads: boolean): boolean {
  const result = spawnSync('taskset', [...(allThreads ? ['-a'] : []), '-p', '-c', cores, String(pid)], { stdio: 'ignore' });
  return result.error === undefined && result.status === 0;
}
