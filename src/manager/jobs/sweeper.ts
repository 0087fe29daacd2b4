import { performance } from 'node:perf_hooks';
import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { stepSize } from '../../shared/step-size.js';
import type { AgentStore, SweepCursor } from '../stores/agents.js';
import type { SseHub } from '../services/sse-hub.js';
import type { StatusTimeouts } from '../services/status.js';
import { createThreatBucketStore } from '../stores/threat-buckets.js';
import { createThreatCountStore } from '../stores/threat-counts.js';
import { WINDOW_NAMES } from '../stores/threat-windows.js';
import type { Storage } from '../../shared/db/storage.js';
import { createJobLease, type JobLease, type LeasedRun } from '../../shared/job-lease.js';

/** The sweep's row in `job_leases`: one replica sweeps each interval. */
export const SWEEP_JOB = 'manager:status-sweep';

/** Where the timer's outcomes go: failures as errors, a run that lost its lease as a warning. */
export interface SweepLogger {
  error(details: object, message: string): void;
  warn(details: object, message: string): void;
}

/** How often the sweeper looks for threat events to count, so reads have few uncounted ones to add. */
export const COUNT_INTERVAL_MS = 1000;

/** The sweep interval of the contract: min(15 s, heartbeat timeout / 2). */
export function sweepIntervalMs(timeouts: StatusTimeouts): number {
  return Math.min(15_000, Math.floor(timeouts.heartbeatTimeoutMs / 2));
}

/**
 * How long one step should hold the (synchronous) database and event loop; a timer's run
 * pauses after every step, so the loop is held about this long at a time (a WAL checkpoint
 * SQLite runs at a commit can add ~20 ms).
 */
const STEP_BUDGET_MS = 10;
const START: SweepCursor = { hb: Number.MIN_SAFE_INTEGER, rowid: Number.MIN_SAFE_INTEGER };

interface Transitions {
  offline: string[];
  stale: string[];
}

/**
 * Keeps the threat counts (threat-counts.ts) and the stored statuses: counts the threat events
 * stored since the last count (every second when there are some), stores status transitions
 * online → stale → offline and announces agents that went offline, then moves each count
 * window's start to the present and deletes time-series buckets older than any period. All of it is walks in small transactions sized to ~10 ms:
 * new events by sequence number, the heartbeat index from where the last sweep left every
 * agent offline, each window's events that aged out; the timers' runs pause after each step.
 * `sweep()` does all of it at once (tests move a ManualClock and sweep), unfenced; the timer's
 * run (`tick()`) first claims the interval in `job_leases`, so with several replicas one sweeps
 * and the others skip, and every write transaction of that run is fenced.
 */
export function createStatusSweeper(deps: { storage: Storage; agents: AgentStore; hub: SseHub; clock: Clock; timeouts: StatusTimeouts; lease?: JobLease }) {
  const { storage, agents, hub, clock, timeouts } = deps;
  const lease = deps.lease ?? createJobLease(storage, { name: SWEEP_JOB, clock });
  /** The stores a sweep writes through, over the given storage (the fenced one for a leased run). */
  const writersOver = (writes: Storage) => ({ writes, counts: createThreatCountStore(writes), buckets: createThreatBucketStore(writes) });
  const unfenced = writersOver(storage);
  const { counts } = unfenced;
  type Writers = ReturnType<typeof writersOver>;
  let timer: NodeJS.Timeout | null = null;
  let countTimer: NodeJS.Timeout | null = null;
  let running = false;
  let stopped = false;
  // Steps sized to take about STEP_BUDGET_MS: agents looked at (each offline one is also an
  // announcement), new events counted, and per window events moved. An event costs far more
  // in the 30-day window (a million events' worth of rows) than in the hour's, so each has its own.
  const sized = () => stepSize({ initial: 50, min: 10, max: 2000, budgetMs: STEP_BUDGET_MS });
  const agentsPerStep = sized();
  const newEventsPerStep = sized();
  const eventsPerStep = new Map(WINDOW_NAMES.map((win) => [win, sized()]));
  const bucketsPerStep = sized();
  /** Every agent last heard from before this was stored offline by a finished sweep. */
  let settled: SweepCursor = START;

  interface StatusStep {
    looked: number;
    announced: Array<{ id: string; hostname: string; lastHeartbeatMs: number }>;
    stale: string[];
    next: SweepCursor | null;
  }

  /** One transaction: up to `limit` agents after the cursor; null cursor when done. Its transitions join `found` once committed. */
  const statusStep = (writes: Storage, now: number, cursor: SweepCursor, limit: number, found: Transitions): Promise<StatusStep> =>
    writes.transaction({ durable: false }, async (tx) => {
      const nowIso = toIso(now);
      const onlineFrom = now - timeouts.heartbeatTimeoutMs + 1;
      const staleFrom = now - timeouts.offlineTimeoutMs + 1;
      const rows = await agents.notOnlineAfter(tx, cursor, onlineFrom, limit);
      const announced: StatusStep['announced'] = [];
      const stale: string[] = [];
      for (const row of rows) {
        if (row.last_heartbeat_ms < staleFrom && row.status !== 'offline') {
          const change = { rowid: row.rowid, status: 'offline' as const, was: row.status, from: Number.MIN_SAFE_INTEGER, until: staleFrom };
          if (await agents.setStatus(tx, change, nowIso)) announced.push({ id: row.id, hostname: row.hostname, lastHeartbeatMs: row.last_heartbeat_ms });
        } else if (row.last_heartbeat_ms >= staleFrom && row.status === 'online') {
          if (await agents.setStatus(tx, { rowid: row.rowid, status: 'stale', was: 'online', from: staleFrom, until: onlineFrom }, nowIso)) stale.push(row.id);
        }
      }
      const last = rows.at(-1);
      return { looked: rows.length, announced, stale, next: rows.length < limit || !last ? null : { hb: last.last_heartbeat_ms, rowid: last.rowid } };
    }).then((step) => {
      found.offline.push(...step.announced.map((agent) => agent.id));
      found.stale.push(...step.stale);
      return step;
    });

  /** Counting the threat events stored since the last count, as steps. */
  async function* countSteps(writers: Writers = unfenced): AsyncGenerator<void> {
    for (;;) {
      const started = performance.now();
      const counted = await writers.counts.countNew(newEventsPerStep.size);
      newEventsPerStep.took(performance.now() - started, counted);
      if (counted === 0) return;
      yield;
    }
  }

  /** The sweep as steps; each `yield` is a point where the timer's run may pause. */
  async function* steps(now: number, found: Transitions, writers: Writers = unfenced): AsyncGenerator<void> {
    yield* countSteps(writers);
    const staleFrom = now - timeouts.offlineTimeoutMs + 1;
    // A clock that went back (tests) can put agents below the settled point: walk them all.
    let cursor: SweepCursor | null = staleFrom < settled.hb ? START : settled;
    while (cursor) {
      const started = performance.now();
      const step: StatusStep = await statusStep(writers.writes, now, cursor, agentsPerStep.size, found);
      for (const agent of step.announced) {
        await hub.publish('agent_offline', { agentId: agent.id, hostname: agent.hostname, lastSeen: toIso(agent.lastHeartbeatMs) });
      }
      agentsPerStep.took(performance.now() - started, step.looked);
      cursor = step.next;
      yield;
    }
    settled = { hb: staleFrom, rowid: START.rowid };
    for (const win of WINDOW_NAMES) {
      const size = eventsPerStep.get(win)!;
      for (;;) {
        const started = performance.now();
        const moved = await writers.counts.advance(win, now, size.size);
        size.took(performance.now() - started, moved);
        if (moved === 0) break;
        yield;
      }
    }
    // Time-series buckets older than any period (see threat-buckets.ts).
    for (;;) {
      const started = performance.now();
      const pruned = await writers.buckets.prune(now, bucketsPerStep.size);
      bucketsPerStep.took(performance.now() - started, pruned);
      if (pruned === 0) break;
      yield;
    }
  }

  const sweep = async (): Promise<Transitions> => {
    const found: Transitions = { offline: [], stale: [] };
    for await (const _ of steps(clock.now(), found)) void _;
    return found;
  };

  /** Runs the steps one at a time, each followed by a pause as long as it took, until done or stopped. */
  async function inSlices(work: AsyncGenerator<void>): Promise<void> {
    for (;;) {
      const started = performance.now();
      if (stopped || (await work.next()).done) return;
      await new Promise((resolve) => setTimeout(resolve, Math.ceil(performance.now() - started)).unref());
    }
  }

  /** The timer's sweep, in slices. */
  const sweepInSlices = () => inSlices(steps(clock.now(), { offline: [], stale: [] }));

  /**
   * What the timer runs on every replica: the sweep in slices if this replica claims the
   * interval, its writes fenced; 'skipped' when another replica swept within it.
   */
  const tick = (): Promise<LeasedRun<Transitions>> =>
    lease.run(sweepIntervalMs(timeouts), async (fence) => {
      const found: Transitions = { offline: [], stale: [] };
      await inSlices(steps(clock.now(), found, writersOver(lease.fenced(storage, fence))));
      return found;
    });

  /** One run at a time: the sweep and the count of new events both write the counts. */
  const runExclusive = (work: () => Promise<unknown>, log: (error: unknown) => void) => {
    if (running) return;
    running = true;
    work()
      .catch(log)
      .finally(() => {
        running = false;
      });
  };

  return {
    sweep,
    /** The sweep in slices, unfenced (benchmarks time its slices; the timer runs `tick`). */
    sweepInSlices,
    tick,
    start(logger: SweepLogger): void {
      if (timer) return;
      stopped = false;
      const log = (error: unknown) => logger.error({ err: error }, 'agent status sweep failed');
      const leased = () =>
        tick().then((run) => {
          if (run.outcome === 'lost') logger.warn({ job: SWEEP_JOB, fence: run.fence }, 'status sweep stopped: another replica took over its lease');
        });
      timer = setInterval(() => runExclusive(leased, log), sweepIntervalMs(timeouts));
      timer.unref();
      // Not leased: counting advances a stored position under THREAT_COUNTS_LOCK, so whichever
      // replica counts, each event is counted once, and a replica that finds nothing uncounted
      // does nothing; a claim would add a durable write per second per replica for no gain.
      countTimer = setInterval(() => {
        counts.hasUncounted().then(
          (uncounted) => {
            if (uncounted) runExclusive(() => inSlices(countSteps()), log);
          },
          log,
        );
      }, COUNT_INTERVAL_MS);
      countTimer.unref();
    },
    stop(): void {
      stopped = true;
      if (timer) clearInterval(timer);
      if (countTimer) clearInterval(countTimer);
      timer = null;
      countTimer = null;
    },
  };
}

export type StatusSweeper = ReturnType<typeof createStatusSweeper>;
