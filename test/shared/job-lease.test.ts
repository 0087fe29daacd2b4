import t, { type Test } from 'tap';
import { ManualClock } from '../../src/shared/clock.js';
import { openPostgresStorage } from '../../src/shared/db/postgres-storage.js';
import { defineStatement, type Storage } from '../../src/shared/db/storage.js';
import { createJobLease, LeaseLostError } from '../../src/shared/job-lease.js';
import { countIn, onBothEngines, selectRows, storageOn } from '../engines.js';
import { bareStorageOn, postgresUrlOf } from '../threat-cloud/fixtures.js';

const JOB = 'test:job';
const INTERVAL = 10_000;
const LEASE = 30_000;
/** Something a run writes, to see whether it was stored. */
const WRITE = defineStatement<[string]>(`INSERT INTO cluster_secrets (name, value, created_at) VALUES (?, 'v', 'now')`);

/** Another connection pool to the same PostgreSQL database: another replica. */
async function replicaOf(t: Test, storage: Storage): Promise<Storage> {
  const other = await openPostgresStorage({ connectionString: await postgresUrlOf(storage), poolSize: 2, statementTimeoutMs: 30_000, ssl: false });
  t.teardown(() => other.close());
  return other;
}

/** Three claimants over one database: three pools on PostgreSQL, one storage on SQLite (one process). */
async function replicas(t: Test, storage: Storage): Promise<Storage[]> {
  if (storage.engine === 'sqlite') return [storage, storage, storage];
  return [storage, await replicaOf(t, storage), await replicaOf(t, storage)];
}

onBothEngines('three holders claiming the same interval at once: exactly one gets a fence', async (t, engine) => {
  const storage = await bareStorageOn(t, engine);
  const clock = new ManualClock();
  const leases = (await replicas(t, storage)).map((s) => createJobLease(s, { name: JOB, clock, leaseMs: LEASE }));
  t.equal(new Set(leases.map((lease) => lease.holder)).size, 3, 'every lease is its own holder');

  const first = await Promise.all(leases.map((lease) => lease.claim(INTERVAL)));
  t.same(first.filter((fence) => fence !== null), [1], 'one fence for the interval');
  const winner = leases[first.findIndex((fence) => fence !== null)]!;
  await winner.release(1);
  t.same(await Promise.all(leases.map((lease) => lease.claim(INTERVAL))), [null, null, null], 'released, but the interval is not over: nobody runs again');

  clock.advance(INTERVAL);
  const second = await Promise.all(leases.map((lease) => lease.claim(INTERVAL)));
  t.same(second.filter((fence) => fence !== null), [2], 'the next interval: one claim again, with the next fence');
  const [row] = await selectRows<{ fence: number; last_run_at: number }>(storage, 'SELECT fence, last_run_at FROM job_leases WHERE name = ?', [JOB]);
  t.same({ fence: Number(row!.fence), last: Number(row!.last_run_at) }, { fence: 2, last: clock.now() });
});

onBothEngines('an unexpired lease keeps the job even when its interval is over; an expired one does not', async (t, engine) => {
  const storage = await bareStorageOn(t, engine);
  const clock = new ManualClock();
  const [a, b] = (await replicas(t, storage)).map((s) => createJobLease(s, { name: JOB, clock, leaseMs: LEASE }));
  t.equal(await a!.claim(INTERVAL), 1);
  clock.advance(INTERVAL);
  t.equal(await b!.claim(INTERVAL), null, 'a long run still holds its lease');
  t.equal(await a!.renew(1), true, 'the holder renews it');
  clock.advance(LEASE - 1);
  t.equal(await b!.claim(INTERVAL), null, 'renewed: still held');
  clock.advance(1);
  t.equal(await b!.claim(INTERVAL), 2, 'expired (its holder paused or died): another replica takes the job');
  t.equal(await a!.renew(1), false, 'the former holder cannot renew it back');
});

onBothEngines('a paused former holder cannot commit a write: LeaseLostError, nothing stored', async (t, engine) => {
  const storage = await bareStorageOn(t, engine);
  const clock = new ManualClock();
  const [one, two] = await replicas(t, storage);
  const a = createJobLease(one!, { name: JOB, clock, leaseMs: LEASE });
  const b = createJobLease(two!, { name: JOB, clock, leaseMs: LEASE });

  const run = await a.run(INTERVAL, async (fence) => {
    await a.fenced(one!, fence).run(WRITE, ['before-the-pause']);
    // A paused process: its lease expires and another replica claims the next interval.
    clock.advance(LEASE);
    t.equal(await b.claim(INTERVAL), 2);
    await a.fenced(one!, fence).transaction({ durable: false }, async (tx) => {
      await tx.run(WRITE, ['in-a-transaction']);
    });
    await a.fenced(one!, fence).run(WRITE, ['after-the-pause']);
    return 'finished';
  });
  t.equal(run.outcome, 'lost', 'the run ends on its first write after the takeover');
  t.ok(run.outcome === 'lost' && run.error instanceof LeaseLostError);
  t.same((await selectRows<{ name: string }>(storage, 'SELECT name FROM cluster_secrets')).map((row) => row.name), ['before-the-pause'], 'only what it wrote while it held the lease');
  await t.rejects(a.check(one!, 1), LeaseLostError, 'its fence is stale');
  await b.check(two!, 2);
  t.pass('the new holder passes the check');
});

onBothEngines('a tick that does not claim skips the work; one that does releases the lease when done', async (t, engine) => {
  const storage = await bareStorageOn(t, engine);
  const clock = new ManualClock();
  const [one, two] = await replicas(t, storage);
  const a = createJobLease(one!, { name: JOB, clock, leaseMs: LEASE });
  const b = createJobLease(two!, { name: JOB, clock, leaseMs: LEASE });
  let runs = 0;
  const work = async () => ++runs;
  t.same(await a.run(INTERVAL, work), { outcome: 'ran', fence: 1, result: 1 });
  t.same(await b.run(INTERVAL, work), { outcome: 'skipped' });
  clock.advance(INTERVAL);
  t.same(await b.run(INTERVAL, work), { outcome: 'ran', fence: 2, result: 2 }, 'released at once: the next interval needs no lease expiry');
  clock.advance(INTERVAL);
  await t.rejects(a.run(INTERVAL, async () => Promise.reject(new Error('boom'))), /boom/, 'other failures propagate');
  clock.advance(INTERVAL);
  t.equal((await b.run(INTERVAL, work)).outcome, 'ran', 'and the failed run released its lease too');
  t.equal(runs, 3);
  t.equal(await countIn(storage, 'job_leases'), 1);
});

t.test('on PostgreSQL a claim waits for a fenced write in progress, so no former holder writes after it (postgres)', async (t) => {
  const storage = (await storageOn('postgres'))!;
  t.teardown(() => storage.close());
  const other = await replicaOf(t, storage);
  const clock = new ManualClock();
  const a = createJobLease(storage, { name: JOB, clock, leaseMs: LEASE });
  const b = createJobLease(other, { name: JOB, clock, leaseMs: LEASE });
  t.equal(await a.claim(INTERVAL), 1);
  clock.advance(LEASE);

  let checked!: () => void;
  const inside = new Promise<void>((resolve) => (checked = resolve));
  let letGo!: () => void;
  const gate = new Promise<void>((resolve) => (letGo = resolve));
  // The fence is checked first; the write itself comes once the claim below is waiting.
  const write = a.fenced(storage, 1).transaction({ durable: false }, async (tx) => {
    checked();
    await gate;
    await tx.run(WRITE, ['checked-before-the-claim']);
  });
  await inside;
  let claimed: number | null | undefined;
  const claim = b.claim(INTERVAL).then((fence) => (claimed = fence));
  const waitingOnLock = async () =>
    Number((await selectRows<{ n: number }>(other, `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`))[0]!.n);
  const deadline = Date.now() + 10_000;
  while ((await waitingOnLock()) === 0 && claimed === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(claimed, undefined, 'the claim has not finished while the checked transaction is open');
  t.equal(await waitingOnLock(), 1, 'it waits on the lease row');
  letGo();
  await write;
  t.equal(await claim, 2, 'then it takes the job');
  t.equal(await countIn(storage, 'cluster_secrets'), 1, 'the write checked before the claim committed');
  await t.rejects(a.fenced(storage, 1).run(WRITE, ['after-the-claim']), LeaseLostError);
  t.equal(await countIn(storage, 'cluster_secrets'), 1);
});
