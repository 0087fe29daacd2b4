/**
 * Pending mail delivered once across replicas over one database: each replica's mailer sends
 * a mail only while it holds the mail's claim in the outbox, so replicas resuming together,
 * a replica that died holding claims, and a replica sending (or waiting to retry) while
 * another sweeps never put the same mail through SMTP twice. A real SMTP server (smtp-server)
 * counts what arrives; PostgreSQL replicas are separate pools on one database.
 */
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { CLAIM_MS, createMailer, type Mailer } from '../../src/auth/mail/mailer.js';
import { createSmtpTransport } from '../../src/auth/mail/transport.js';
import { createOutboxStore } from '../../src/auth/stores/outbox.js';
import { ManualClock } from '../../src/shared/clock.js';
import { openPostgresStorage } from '../../src/shared/db/postgres-storage.js';
import type { Storage } from '../../src/shared/db/storage.js';
import { onBothEngines, selectRows, type Engine } from '../engines.js';
import { bareStorageOn, postgresUrlOf } from '../threat-cloud/fixtures.js';

const DAY_MS = 86_400_000;
const silent = pino({ level: 'silent' });

/** Polls (every 20 ms, up to 30 s) until `check` holds; fails with what it waited for. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Smtp {
  port: number;
  /** Subjects of the messages the server accepted, in arrival order. */
  received: string[];
  /** Messages whose content reached the server, accepted or refused. */
  transactions: number;
  /** Refuses the next `n` messages with 451 (try again later). */
  refuseNext(n: number): void;
  /** Holds every message's answer until `open()`: a send stays in flight. */
  hold(): { open(): void };
}

async function startSmtp(t: Test): Promise<Smtp> {
  let refusals = 0;
  let gate: Promise<void> = Promise.resolve();
  const smtp = {
    port: 0,
    received: [] as string[],
    transactions: 0,
    refuseNext(n: number) {
      refusals = n;
    },
    hold() {
      let open!: () => void;
      gate = new Promise<void>((resolve) => (open = resolve));
      return { open: () => open() };
    },
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      let raw = '';
      stream.on('data', (chunk: Buffer) => (raw += chunk.toString()));
      stream.on('end', () => {
        smtp.transactions += 1;
        void gate.then(() => {
          if (refusals > 0) {
            refusals -= 1;
            const error = new Error('try again later') as Error & { responseCode: number };
            error.responseCode = 451;
            return callback(error);
          }
          smtp.received.push(/^Subject: (.*)$/m.exec(raw)?.[1]?.trim() ?? '?');
          callback();
        });
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  smtp.port = (server.server.address() as { port: number }).port;
  return smtp;
}

/**
 * `count` replicas' storages over one database: separate pools on one fresh PostgreSQL
 * database, or on SQLite the one file every mailer of the process shares.
 */
async function replicaStorages(t: Test, engine: Engine, count: number): Promise<Storage[]> {
  const first = await bareStorageOn(t, engine);
  if (engine === 'sqlite') return Array.from({ length: count }, () => first);
  const url = await postgresUrlOf(first);
  const storages = [first];
  for (let i = 1; i < count; i++) {
    const storage = await openPostgresStorage({ connectionString: url, poolSize: 5, statementTimeoutMs: 30_000, ssl: false });
    t.teardown(() => storage.close());
    storages.push(storage);
  }
  return storages;
}

/** A replica's mailer as the Auth app builds it, closed (before its storage) after the test. */
function mailerOn(
  t: Test,
  storage: Storage,
  clock: ManualClock,
  smtp: Smtp,
  options: { retryDelaysMs?: number[]; sweepIntervalMs?: number; claimBatch?: number } = {},
): Mailer {
  const mailer = createMailer({
    outbox: createOutboxStore(storage, clock),
    transport: createSmtpTransport(`smtp://127.0.0.1:${smtp.port}`),
    from: 'Panguard <noreply@example.com>',
    logger: silent,
    ...options,
  });
  t.teardown(() => mailer.close());
  return mailer;
}

/** Stores a pending mail as a replica's mailer would; `claimMs` as the replica that stored it holds it. */
function storePending(storage: Storage, clock: ManualClock, subject: string, claimMs?: number) {
  return createOutboxStore(storage, clock).add({
    userId: null,
    recipient: 'someone@example.com',
    subject,
    body: `the text of ${subject}`,
    status: 'pending',
    ttlMs: DAY_MS,
    ...(claimMs === undefined ? {} : { claimMs }),
  });
}

interface Row {
  subject: string;
  status: string;
  attempts: number;
  claimed_until: string | null;
}
const rows = (storage: Storage) => selectRows<Row>(storage, `SELECT subject, status, attempts, claimed_until FROM outbox ORDER BY subject`);
const sentCount = async (storage: Storage) => (await rows(storage)).filter((row) => row.status === 'sent').length;

onBothEngines('twenty pending mails and three replicas resuming at once: each mail reaches SMTP once, and no more after all restart', async (t, engine) => {
  const smtp = await startSmtp(t);
  const clock = new ManualClock();
  const storages = await replicaStorages(t, engine, 3);
  const subjects = Array.from({ length: 20 }, (_, i) => `Mail ${String(i + 1).padStart(2, '0')}`);
  // Left pending when every replica stopped: nobody holds them.
  for (const subject of subjects) await storePending(storages[0]!, clock, subject);

  // Small batches, so the replicas' claims interleave and each drains batch after batch.
  const replicas = storages.map((storage) => mailerOn(t, storage, clock, smtp, { claimBatch: 3 }));
  await Promise.all(replicas.map((mailer) => mailer.resumePending()));
  await until('every mail sent', async () => smtp.received.length >= subjects.length && (await sentCount(storages[0]!)) === subjects.length);
  await Promise.all(replicas.map((mailer) => mailer.close()));
  t.same([...smtp.received].sort(), subjects, 'each mail arrived exactly once');
  t.same(
    (await rows(storages[0]!)).map((row) => [row.status, row.attempts, row.claimed_until]),
    subjects.map(() => ['sent', 1, null]),
    'each sent on its first attempt, no claim left',
  );

  // Every replica starts again: nothing is pending, nothing is sent.
  const restarted = storages.map((storage) => mailerOn(t, storage, clock, smtp, { claimBatch: 3 }));
  await Promise.all(restarted.map((mailer) => mailer.resumePending()));
  // close() waits for every send a resume started.
  await Promise.all(restarted.map((mailer) => mailer.close()));
  t.equal(smtp.transactions, subjects.length, 'no mail went through SMTP again');
});

onBothEngines('a claim only its holder may use: taken again only once it lapses, and the former holder’s ticket is dead then', async (t, engine) => {
  const clock = new ManualClock();
  const [onA, onB] = (await replicaStorages(t, engine, 2)).map((storage) => createOutboxStore(storage, clock)) as [ReturnType<typeof createOutboxStore>, ReturnType<typeof createOutboxStore>];
  const mail = await onA.add({ userId: null, recipient: 'a@example.com', subject: 'Held', body: 'x', status: 'pending', ttlMs: DAY_MS, claimMs: CLAIM_MS });
  const free = await onA.add({ userId: null, recipient: 'b@example.com', subject: 'Free', body: 'y', status: 'pending', ttlMs: DAY_MS });
  t.equal(free.claimedUntil, null, 'stored without a claim: anyone may take it');
  const stored = await onA.add({ userId: null, recipient: 'c@example.com', subject: 'Kept', body: 'z', status: 'stored', ttlMs: DAY_MS, claimMs: CLAIM_MS });
  t.equal(stored.claimedUntil, null, 'mail kept for the operator (no SMTP) is never claimed');

  t.same((await onB.claimPending(CLAIM_MS, 10)).map((m) => m.subject), ['Free'], 'a held mail is skipped, a free one taken');
  clock.advance(CLAIM_MS);
  t.same(await onB.claimPending(CLAIM_MS, 10), [], 'not taken while the claim lasts (up to its last millisecond)');
  clock.advance(1);
  const lapsed = await onB.claimPending(CLAIM_MS, 10);
  t.same(lapsed.map((m) => m.subject).sort(), ['Free', 'Held'], 'taken once the claim lapsed (with the other, whose claim lapsed too)');
  const taken = lapsed.find((m) => m.id === mail.id);
  t.not(taken!.claimedUntil, mail.claimedUntil, 'under a new ticket');

  t.equal(await onA.renewClaim(mail.id, mail.claimedUntil!, CLAIM_MS), null, 'the former holder cannot renew');
  t.equal(await onA.markFailedAttempt(mail.id, mail.claimedUntil!, 'late failure', 1000), null, 'nor record an attempt');
  const renewed = await onB.renewClaim(mail.id, taken!.claimedUntil!, CLAIM_MS);
  t.equal(renewed?.attempts, 0, 'the new holder renews; nothing of the former holder was written');

  const failed = await onB.markFailedAttempt(mail.id, renewed!.claimedUntil!, 'refused', 5_000 + CLAIM_MS);
  t.equal(failed?.attempts, 1);
  clock.advance(5_000 + CLAIM_MS);
  t.same(
    (await onA.claimPending(CLAIM_MS, 10)).map((m) => m.subject),
    ['Free'],
    'held until its retry is due, and a claim’s length after (only the other mail, whose claim lapsed, is taken)',
  );
  await onB.releaseClaim(mail.id, failed!.claimedUntil!);
  t.same((await onA.claimPending(CLAIM_MS, 10)).map((m) => m.id), [mail.id], 'a released claim is free at once');
});

onBothEngines('a replica that died holding claims: its mail is swept by another replica once the claims lapse, and sent once', async (t, engine) => {
  const smtp = await startSmtp(t);
  const clock = new ManualClock();
  const [onDead, onLive] = await replicaStorages(t, engine, 2);
  // The dead replica stored one mail (claimed as it was stored) and claimed another at its start, then sent neither.
  await storePending(onDead!, clock, 'Stored then died', CLAIM_MS);
  await storePending(onDead!, clock, 'Claimed then died');
  t.equal((await createOutboxStore(onDead!, clock).claimPending(CLAIM_MS, 10)).length, 1);

  clock.advance(CLAIM_MS);
  const early = mailerOn(t, onLive!, clock, smtp);
  await early.resumePending();
  await early.close();
  t.equal(smtp.transactions, 0, 'a start while the claims last sends nothing');

  const live = mailerOn(t, onLive!, clock, smtp, { sweepIntervalMs: 20 });
  await live.resumePending();
  clock.advance(1);
  // No restart: the periodic sweep finds the lapsed claims.
  await until('both mails sent', async () => smtp.received.length >= 2 && (await sentCount(onLive!)) === 2);
  await live.close();
  t.same([...smtp.received].sort(), ['Claimed then died', 'Stored then died'], 'each sent once');
  t.equal(smtp.transactions, 2);
});

onBothEngines('a mail stored on replica A is not sent by replica B while A sends it or waits to retry it', async (t, engine) => {
  const smtp = await startSmtp(t);
  const clock = new ManualClock();
  const [onA, onB, onC] = await replicaStorages(t, engine, 3);

  // A's first send is in flight (the server holds its answer) while B starts.
  const gate = smtp.hold();
  const a = mailerOn(t, onA!, clock, smtp);
  await a.send({ userId: null, to: 'someone@example.com', subject: 'Sent by A', text: 'one', ttlMs: DAY_MS });
  await until('A’s send to reach the server', () => smtp.transactions === 1);
  const b = mailerOn(t, onB!, clock, smtp);
  await b.resumePending();
  gate.open();
  await until('A’s mail sent', async () => smtp.received.length >= 1 && (await sentCount(onA!)) === 1);
  await b.close();
  await a.close();
  t.same(smtp.received, ['Sent by A'], 'sent once, by A');
  t.equal(smtp.transactions, 1, 'B never sent it');

  // A's first attempt is refused; its retry is a minute away when B starts.
  smtp.refuseNext(1);
  const retrying = mailerOn(t, onA!, clock, smtp, { retryDelaysMs: [60_000] });
  await retrying.send({ userId: null, to: 'someone@example.com', subject: 'Retried', text: 'two', ttlMs: DAY_MS });
  const retried = async () => (await rows(onA!)).find((row) => row.subject === 'Retried')!;
  await until('the refused attempt to be recorded', async () => (await retried()).attempts === 1);
  const other = mailerOn(t, onB!, clock, smtp);
  await other.resumePending();
  await other.close();
  t.equal(smtp.transactions, 2, 'B did not send what A holds for its retry');
  t.equal((await retried()).status, 'pending');

  // A shuts down: its claim is released, and the next replica to start sends the mail.
  await retrying.close();
  const next = mailerOn(t, onC!, clock, smtp);
  await next.resumePending();
  await until('the retried mail sent', async () => (await retried()).status === 'sent');
  await next.close();
  t.same(smtp.received, ['Sent by A', 'Retried'], 'each mail arrived once');
  t.same(await retried(), { subject: 'Retried', status: 'sent', attempts: 2, claimed_until: null });
});
