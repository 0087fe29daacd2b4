import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Registry } from 'prom-client';
import t from 'tap';
import { openDatabase, type Db } from '../../src/shared/db/open.js';
import { poolMetrics } from '../../src/shared/db/pool-metrics.js';
import { openPostgresStorage } from '../../src/shared/db/postgres-storage.js';
import { multiRowText, toNumberedParameters, withoutPlannerHints } from '../../src/shared/db/sql-params.js';
import { createSqliteStorage, SPANNED_TURNS } from '../../src/shared/db/sqlite-storage.js';
import { BATCH_ROWS, defineStatement, type Storage, type Transaction } from '../../src/shared/db/storage.js';
import { tempDir, type Teardown } from '../helper.js';
import { startPostgres } from '../postgres.js';

const cluster = await startPostgres(t);

// Written once, in SQLite's dialect, exactly as a store would declare them.
const createItems = defineStatement('CREATE TABLE items (name TEXT PRIMARY KEY, value INTEGER NOT NULL)');
const insertItem = defineStatement<{ name: string; value: number }>('INSERT INTO items (name, value) VALUES (@name, @value)');
const itemNames = defineStatement<void, { name: string }>('SELECT name FROM items ORDER BY name');
const itemByName = defineStatement<{ name: string }, { name: string; value: number }>('SELECT name, value FROM items WHERE name = @name');
const setValue = defineStatement<{ name: string; value: number }>('UPDATE items SET value = @value WHERE name = @name');
const doubleAll = defineStatement('UPDATE items SET value = value * 2');
const totals = defineStatement<void, { n: number; total: number; mean: number }>(
  'SELECT count(*) AS n, sum(value) AS total, avg(value) AS mean FROM items',
);
const repeated = defineStatement<{ a: number; b: string }, Record<string, unknown>>(
  `SELECT CAST(@a AS INTEGER) * 2 AS twice, CAST(@b AS TEXT) AS b, '@a ? it''s @b' AS literal, 7 AS "at@a?" -- @a ? in a comment
   , /* @b ? */ CAST(@a AS INTEGER) * 3 AS thrice`,
);
const itemAsArray = defineStatement<[name: string], [name: string, value: number, next: number]>('SELECT name, value, value + 1 AS next FROM items WHERE name = ?', { asArrays: true });
const itemsAsArrays = defineStatement<void, Array<[string, number, number]>[number]>('SELECT name, value, value + 1 AS next FROM items ORDER BY name', { asArrays: true });
const positional = defineStatement<[number, string], { first: number; second: string }>('SELECT ? + 1 AS first, ? AS second');
/** Case-insensitive prefix order, written per engine: NOCASE on SQLite, the ASCII fold on PostgreSQL. */
const namesFolded = defineStatement<{ from: string }, { name: string }>({
  sqlite: 'SELECT name FROM items WHERE name COLLATE NOCASE >= @from ORDER BY name COLLATE NOCASE, name',
  postgres: "SELECT name FROM items WHERE translate(name, 'ABC', 'abc') >= @from ORDER BY translate(name, 'ABC', 'abc'), name",
});

interface Opened {
  storage: Storage;
  /** What the engine reports as the commit level inside a transaction: 'durable' or 'normal'. */
  commitLevel(tx: Transaction): Promise<'durable' | 'normal'>;
  /** Resolves once another transaction waits for a lock this one holds, or once the rival settled. */
  rivalWaits(rival: () => Promise<unknown>): Promise<void>;
}

const sqliteLevel = defineStatement<void, { synchronous: number }>('PRAGMA synchronous');
const pgLevel = defineStatement<void, { synchronous_commit: string }>('SHOW synchronous_commit');
const lockWaiters = defineStatement<void, { n: number }>(
  `SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`,
);

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
/**
 * Lets every other pending continuation run without leaving the event-loop turn: a SQLite
 * transaction must finish within its turn (it is rolled back otherwise), so the SQLite tests
 * give rivals their chance this way.
 */
const yieldWithinTurn = async (times = 20) => {
  for (let i = 0; i < times; i++) await Promise.resolve();
};

function settledFlag(promise: Promise<unknown>) {
  const state = { settled: false };
  promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

async function openSqlite(t: Teardown): Promise<Opened & { db: Db }> {
  const db = openDatabase(path.join(tempDir(t), 'port.db'));
  const storage = createSqliteStorage(db);
  t.teardown(() => storage.close());
  return {
    db,
    storage,
    commitLevel: async (tx) => ((await tx.get(sqliteLevel))!.synchronous === 2 ? 'durable' : 'normal'),
    // The gate queues the rival where nothing can be observed; many yields give it every chance to slip in.
    rivalWaits: () => yieldWithinTurn(),
  };
}

async function openPostgres(t: Teardown, poolSize = 4): Promise<Opened> {
  const storage = await openPostgresStorage({ connectionString: await cluster.freshDatabase(), poolSize, statementTimeoutMs: 60_000, ssl: false });
  t.teardown(() => storage.close());
  return {
    storage,
    commitLevel: async (tx) => ((await tx.get(pgLevel))!.synchronous_commit === 'on' ? 'durable' : 'normal'),
    rivalWaits: async (rival) => {
      await turn();
      const state = settledFlag(rival());
      while (!state.settled && (await storage.get(lockWaiters))!.n === 0) await turn();
    },
  };
}

const engines = { sqlite: openSqlite, postgres: openPostgres } as const;

t.test('@name parameters become $n once per name; quotes and comments are left alone', async (t) => {
  const { text, names } = toNumberedParameters(repeated.sql);
  t.match(text, /CAST\(\$1 AS INTEGER\) \* 2 AS twice, CAST\(\$2 AS TEXT\) AS b, '@a \? it''s @b' AS literal, 7 AS "at@a\?" -- @a \? in a comment/);
  t.match(text, /\/\* @b \? \*\/ CAST\(\$1 AS INTEGER\) \* 3 AS thrice/);
  t.same(names, ['a', 'b']);
  t.same(toNumberedParameters(positional.sql), { text: 'SELECT $1 + 1 AS first, $2 AS second', names: null, count: 2 });
  t.throws(() => toNumberedParameters('SELECT @a, ?'), /mixes/);
  t.same(toNumberedParameters('SELECT :now - x::float8 AS age, @now AS at').text, 'SELECT $1 - x::float8 AS age, $1 AS at', ':name is a named parameter too; :: stays a cast');
});

t.test("SQLite's planner hints are dropped for PostgreSQL, outside quotes only", async (t) => {
  t.equal(withoutPlannerHints('SELECT * FROM t INDEXED BY t_at WHERE +org = @org'), 'SELECT * FROM t WHERE org = @org');
  t.equal(withoutPlannerHints('SELECT a FROM t NOT INDEXED WHERE (+a > 1)'), 'SELECT a FROM t WHERE (a > 1)');
  t.equal(withoutPlannerHints('SELECT i.id FROM json_each(?) k CROSS JOIN iocs i ON i.id = k.value'), 'SELECT i.id FROM json_each(?) k JOIN iocs i ON i.id = k.value');
  t.equal(withoutPlannerHints('SELECT a + b, a+b, 1 + 2 FROM t'), 'SELECT a + b, a+b, 1 + 2 FROM t', 'a binary plus stays');
  t.equal(withoutPlannerHints("SELECT ' INDEXED BY x +y' AS s -- NOT INDEXED +z"), "SELECT ' INDEXED BY x +y' AS s -- NOT INDEXED +z", 'literals and comments untouched');
});

t.test('a batched INSERT repeats its one VALUES tuple with shifted numbers; anything else is refused', async (t) => {
  const upsert = toNumberedParameters("INSERT INTO t (a, b, c) VALUES (@a, lower(@b), 'x(y)') ON CONFLICT (a) DO NOTHING");
  t.equal(multiRowText(upsert, 3), "INSERT INTO t (a, b, c) VALUES ($1, lower($2), 'x(y)'), ($3, lower($4), 'x(y)'), ($5, lower($6), 'x(y)') ON CONFLICT (a) DO NOTHING");
  const repeatedName = toNumberedParameters('INSERT INTO t (a, b, c) VALUES (@now, @id, @now)');
  t.equal(multiRowText(repeatedName, 2), 'INSERT INTO t (a, b, c) VALUES ($1, $2, $1), ($3, $4, $3)', 'a repeated name repeats within its own row');
  t.throws(() => multiRowText(toNumberedParameters('UPDATE t SET a = ? WHERE b = ?'), 2), /Only INSERT/);
  const joined = toNumberedParameters('UPDATE t SET a = v.a FROM (VALUES (CAST(@id AS text), CAST(@a AS bigint))) AS v(id, a) WHERE t.id = v.id');
  t.equal(multiRowText(joined, 2), 'UPDATE t SET a = v.a FROM (VALUES (CAST($1 AS text), CAST($2 AS bigint)), (CAST($3 AS text), CAST($4 AS bigint))) AS v(id, a) WHERE t.id = v.id', 'an UPDATE joining its rows from VALUES');
  t.throws(() => multiRowText(toNumberedParameters('INSERT INTO t (a) VALUES (@a) ON CONFLICT (a) DO UPDATE SET b = @b'), 2), /VALUES tuple only/, 'a value outside the tuple cannot be repeated per row');
});

for (const [engine, open] of Object.entries(engines)) {
  t.test(engine, async (t) => {
    t.test('runBatch inserts every row in order, sums the changes, and is all or nothing with its transaction', async (t) => {
      const { storage } = await open(t);
      await storage.run(createItems);
      const ignoreDuplicates = defineStatement<{ name: string; value: number }>('INSERT INTO items (name, value) VALUES (@name, @value) ON CONFLICT (name) DO NOTHING');
      // More rows than one PostgreSQL statement takes, so the chunks are exercised too.
      const rows = Array.from({ length: BATCH_ROWS + 7 }, (_, i) => ({ name: `n${String(i).padStart(4, '0')}`, value: i }));
      t.same(await storage.transaction({ durable: false }, (tx) => tx.runBatch(insertItem, rows)), { changes: rows.length });
      t.same((await storage.all(itemNames)).map((row) => row.name), rows.map((row) => row.name));
      t.same(await storage.get(totals), { n: rows.length, total: ((rows.length - 1) * rows.length) / 2, mean: (rows.length - 1) / 2 });
      const again = [{ name: 'n0000', value: 99 }, { name: 'new-a', value: 1 }, { name: 'new-a', value: 2 }, { name: 'new-b', value: 3 }];
      t.same(await storage.transaction({ durable: false }, (tx) => tx.runBatch(ignoreDuplicates, again)), { changes: 2 }, 'existing and repeated rows are skipped, as row by row');
      t.same(await storage.get(itemByName, { name: 'new-a' }), { name: 'new-a', value: 1 }, 'the first of two equal keys wins');
      const failing = [{ name: 'ok-1', value: 1 }, { name: 'n0001', value: 5 }];
      await t.rejects(storage.transaction({ durable: false }, (tx) => tx.runBatch(insertItem, failing)), 'a duplicate key fails the batch');
      t.equal(await storage.get(itemByName, { name: 'ok-1' }), undefined, 'and nothing of it is stored');
      t.same(await storage.transaction({ durable: false }, (tx) => tx.runBatch(insertItem, [])), { changes: 0 });
    });

    t.test('a statement declared asArrays answers its columns in select order, inside and outside a transaction', async (t) => {
      const { storage } = await open(t);
      await storage.run(createItems);
      await storage.run(insertItem, { name: 'a', value: 1 });
      await storage.run(insertItem, { name: 'b', value: 2 });
      t.same(await storage.get(itemAsArray, ['b']), ['b', 2, 3]);
      t.same(await storage.all(itemsAsArrays), [['a', 1, 2], ['b', 2, 3]]);
      t.equal(await storage.get(itemAsArray, ['none']), undefined);
      t.same(await storage.transaction({ durable: false }, (tx) => tx.get(itemAsArray, ['a'])), ['a', 1, 2]);
      t.same(await storage.get(itemByName, { name: 'a' }), { name: 'a', value: 1 }, 'other statements still answer objects');
    });

    t.test('parameters: repeated names, literals untouched, positional values, a missing name refused', async (t) => {
      const { storage } = await open(t);
      t.same(await storage.get(repeated, { a: 2, b: 'x' }), { twice: 4, b: 'x', literal: "@a ? it's @b", 'at@a?': 7, thrice: 6 });
      t.same(await storage.get(positional, [41, 'two']), { first: 42, second: 'two' });
      await t.rejects(storage.get(repeated, { a: 1 } as never), /Missing named parameter/);
      // better-sqlite3 takes an empty object for a statement without parameters; so must the other engine.
      await storage.run(createItems);
      const allWithParams = storage.all.bind(storage) as (statement: typeof itemNames, params: object) => Promise<Array<{ name: string }>>;
      t.same(await allWithParams(itemNames, {}), []);
    });

    t.test('get, all and run answer alike; counts and sums are numbers', async (t) => {
      const { storage } = await open(t);
      await storage.run(createItems);
      for (const [name, value] of [['b', 2], ['a', 1], ['c', 3]] as const) {
        t.same(await storage.run(insertItem, { name, value }), { changes: 1 });
      }
      t.same(await storage.all(itemNames), [{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
      t.same(await storage.get(itemByName, { name: 'b' }), { name: 'b', value: 2 });
      t.equal(await storage.get(itemByName, { name: 'none' }), undefined, 'no row is undefined');
      t.same(await storage.run(doubleAll), { changes: 3 });
      t.same(await storage.run(setValue, { name: 'none', value: 1 }), { changes: 0 });
      t.strictSame(await storage.get(totals), { n: 3, total: 12, mean: 4 }, 'count(*), sum and avg as JS numbers');
    });

    t.test("a statement written per engine runs each engine's own text, with the same parameters and rows", async (t) => {
      const { storage } = await open(t);
      await storage.run(createItems);
      for (const [name, value] of [['b', 1], ['A', 2], ['C', 3], ['a', 4]] as const) await storage.run(insertItem, { name, value });
      t.same(await storage.all(namesFolded, { from: 'b' }), [{ name: 'b' }, { name: 'C' }]);
      t.same(await storage.all(namesFolded, { from: 'a' }), [{ name: 'A' }, { name: 'a' }, { name: 'b' }, { name: 'C' }]);
    });

    t.test('a transaction commits what its work wrote, and an error inside leaves nothing', async (t) => {
      const { storage } = await open(t);
      await storage.run(createItems);
      const answer = await storage.transaction({ durable: false }, async (tx) => {
        await tx.run(insertItem, { name: 'kept', value: 1 });
        return 'done';
      });
      t.equal(answer, 'done');
      await t.rejects(
        storage.transaction({ durable: true }, async (tx) => {
          await tx.run(insertItem, { name: 'lost', value: 1 });
          throw new Error('refused');
        }),
        /refused/,
      );
      await t.rejects(
        storage.transaction({ durable: false }, async (tx) => {
          await tx.run(insertItem, { name: 'lost too', value: 1 });
          await tx.run(insertItem, { name: 'kept', value: 2 });
        }),
        /UNIQUE|unique/,
        'a failing statement rolls back the earlier ones',
      );
      t.same(await storage.all(itemNames), [{ name: 'kept' }]);
    });

    t.test('a failing savepoint undoes only its own work', async (t) => {
      const { storage } = await open(t);
      await storage.run(createItems);
      await storage.transaction({ durable: false }, async (tx) => {
        await tx.run(insertItem, { name: 'before', value: 1 });
        await t.rejects(
          tx.savepoint(async (nested) => {
            await nested.run(insertItem, { name: 'nested', value: 1 });
            throw new Error('nested failure');
          }),
          /nested failure/,
        );
        await t.rejects(
          tx.savepoint((nested) => nested.run(insertItem, { name: 'before', value: 2 })),
          /UNIQUE|unique/,
          'a failing statement too, and the transaction goes on',
        );
        t.equal(await tx.savepoint(async (nested) => (await nested.run(insertItem, { name: 'nested ok', value: 1 })).changes), 1);
        await tx.run(insertItem, { name: 'after', value: 1 });
      });
      t.same(await storage.all(itemNames), [{ name: 'after' }, { name: 'before' }, { name: 'nested ok' }]);
    });

    t.test('durable transactions commit at the durable level, others at the normal one', async (t) => {
      const { storage, commitLevel } = await open(t);
      t.equal(await storage.transaction({ durable: true }, commitLevel), 'durable');
      t.equal(await storage.transaction({ durable: false }, commitLevel), 'normal');
      t.equal(await storage.transaction({ durable: true }, commitLevel), 'durable');
    });

    t.test('a handle used after its transaction ended is refused', async (t) => {
      const { storage } = await open(t);
      await storage.run(createItems);
      const leaked = await storage.transaction({ durable: false }, async (tx) => tx);
      await t.rejects(leaked.run(insertItem, { name: 'late', value: 1 }), /ended/);
      t.same(await storage.all(itemNames), []);
    });

    t.test('two read-then-write increments under the same lock never lose an update', async (t) => {
      const { storage, rivalWaits } = await open(t);
      await storage.run(createItems);
      await storage.run(insertItem, { name: 'counter', value: 0 });
      let firstHasRead!: () => void;
      const read = new Promise<void>((resolve) => (firstHasRead = resolve));
      let second: Promise<void> = Promise.resolve();
      const increment = async (tx: Transaction, beforeWrite: () => Promise<void>) => {
        const { value } = (await tx.get(itemByName, { name: 'counter' }))!;
        await beforeWrite();
        await tx.run(setValue, { name: 'counter', value: value + 1 });
      };
      const locks = ['items:counter'];
      const first = storage.transaction({ durable: false, locks }, (tx) =>
        increment(tx, async () => {
          firstHasRead();
          await rivalWaits(() => second);
        }),
      );
      await read;
      second = storage.transaction({ durable: false, locks }, (tx) => increment(tx, async () => {}));
      await Promise.all([first, second]);
      t.same(await storage.get(itemByName, { name: 'counter' }), { name: 'counter', value: 2 });
    });
  });
}

t.test('postgres only', async (t) => {
  t.test('different locks do not wait for each other', async (t) => {
    const { storage } = await openPostgres(t);
    const outcome = await storage.transaction({ durable: false, locks: ['domain:a'] }, async () => {
      const other = storage.transaction({ durable: false, locks: ['domain:b', 'domain:c'] }, async () => 'ran');
      const state = settledFlag(other);
      while (!state.settled) {
        if ((await storage.get(lockWaiters))!.n > 0) return 'blocked';
        await turn();
      }
      return other;
    });
    t.equal(outcome, 'ran');
  });

  t.test('transactions naming overlapping sets of locks, in any order, queue instead of deadlocking', async (t) => {
    const { storage } = await openPostgres(t);
    const names = Array.from({ length: 60 }, (_, i) => `agent:${i}`);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 12 }, (_, round) => {
        const locks = round % 2 === 0 ? names.slice(round) : [...names].reverse().slice(0, 60 - round);
        return storage.transaction({ durable: false, locks }, async (tx) => {
          await tx.get(positional, [round, 'x']);
          await turn();
          return round;
        });
      }),
    );
    t.same(outcomes.map((outcome) => outcome.status), Array(12).fill('fulfilled'), 'every transaction committed (PostgreSQL aborts one of a deadlocked pair)');
  });

  t.test('the server cancels a statement that runs longer than the statement timeout', async (t) => {
    const storage = await openPostgresStorage({ connectionString: await cluster.freshDatabase(), poolSize: 1, statementTimeoutMs: 100, ssl: false });
    t.teardown(() => storage.close());
    await t.rejects(storage.get(defineStatement('SELECT pg_sleep(30)')), /statement timeout/);
  });

  t.test('a database that orders text linguistically is refused with the fix', async (t) => {
    const url = await cluster.freshDatabase({ icuLocale: 'en-US' });
    await t.rejects(
      openPostgresStorage({ connectionString: url, poolSize: 1, statementTimeoutMs: 0, ssl: false }),
      /collation en-US \(ICU\).*LC_COLLATE 'C'.*TEMPLATE template0/,
    );
  });

  t.test('/metrics shows the pool: connections in use and idle, and what waits for one', async (t) => {
    const { storage } = await openPostgres(t, 2);
    const registry = new Registry();
    poolMetrics(storage)(registry);
    const gauges = async () => {
      const text = await registry.metrics();
      const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1]);
      return { inUse: value('panguard_db_pool_connections{state="in_use"}'), idle: value('panguard_db_pool_connections{state="idle"}'), waiting: value('panguard_db_pool_waiting') };
    };
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const holders = [0, 1].map(() => storage.transaction({ durable: false }, async (tx) => {
      await tx.get(positional, [1, 'x']);
      await held;
    }));
    while ((await gauges()).inUse < 2) await turn();
    const waitingRead = storage.get(positional, [2, 'y']);
    t.same(await gauges(), { inUse: 2, idle: 0, waiting: 1 }, 'both connections held by transactions, a read waiting');
    release();
    await Promise.all(holders);
    t.same(await waitingRead, { first: 3, second: 'y' }, 'the waiting read ran once a connection was free');
    t.same(await gauges(), { inUse: 0, idle: 2, waiting: 0 });
    const check = spawnSync('promtool', ['check', 'metrics'], { input: await registry.metrics(), encoding: 'utf8' });
    t.equal(`${check.stdout}${check.stderr}`.trim(), '', 'promtool check metrics reports nothing');
  });

  t.test('a statement is prepared once per connection, however often it runs', async (t) => {
    const { storage } = await openPostgres(t, 1);
    const prepared = defineStatement<{ text: string }, { name: string; runs: number }>(
      'SELECT name, generic_plans + custom_plans AS runs FROM pg_prepared_statements WHERE statement = @text',
    );
    for (let i = 0; i < 10; i++) await storage.get(positional, [i, 'x']);
    await storage.transaction({ durable: false }, async (tx) => {
      for (let i = 0; i < 5; i++) await tx.get(positional, [i, 'x']);
    });
    const rows = await storage.all(prepared, { text: toNumberedParameters(positional.sql).text });
    t.equal(rows.length, 1, 'one prepared statement on the connection');
    t.equal(rows[0]!.runs, 15, 'and it ran every time');
  });
});

t.test('sqlite only', async (t) => {
  t.test('each statement is prepared once on the connection', async (t) => {
    const { db, storage } = await openSqlite(t);
    const prepareSql = db.prepare.bind(db);
    const prepared: string[] = [];
    db.prepare = ((sql: string) => (prepared.push(sql), prepareSql(sql))) as Db['prepare'];
    for (let i = 0; i < 10; i++) await storage.get(positional, [i, 'x']);
    await storage.transaction({ durable: false }, async (tx) => {
      for (let i = 0; i < 5; i++) await tx.get(positional, [i, 'x']);
    });
    t.same(prepared, [positional.sql]);
  });

  t.test('transactions started together run one after the other', async (t) => {
    const { storage } = await openSqlite(t);
    await storage.run(createItems);
    const steps: string[] = [];
    const work = (id: string) => async (tx: Transaction) => {
      await tx.run(insertItem, { name: `${id}1`, value: 1 });
      steps.push(`${id} wrote`);
      await yieldWithinTurn();
      await tx.run(insertItem, { name: `${id}2`, value: 2 });
      steps.push(`${id} done`);
    };
    await Promise.all([
      storage.transaction({ durable: false }, work('a')),
      storage.transaction({ durable: true }, work('b')),
      storage.transaction({ durable: false }, work('c')),
    ]);
    t.same(steps, ['a wrote', 'a done', 'b wrote', 'b done', 'c wrote', 'c done']);
    t.equal((await storage.all(itemNames)).length, 6);
  });

  t.test('code still on the connection directly never runs inside a transaction, so a rollback never undoes it', async (t) => {
    const { db, storage } = await openSqlite(t);
    await storage.run(createItems);
    const direct = db.prepare<[string]>('INSERT INTO items (name, value) VALUES (?, 0)');
    const seenInsideTransaction: string[] = [];
    const writeDirectly = (name: string) => {
      if (db.inTransaction) seenInsideTransaction.push(name);
      direct.run(name);
    };
    const afterHops = async (name: string, hops: number) => {
      await yieldWithinTurn(hops);
      writeDirectly(name);
    };
    // Requests of the rest of the process, started in the same turn as the transactions and
    // continuing in every way a handler can: after promise hops, next ticks and turns.
    const others: Array<Promise<void>> = [];
    const rolledBack: Array<Promise<string>> = [];
    for (let round = 0; round < 5; round++) {
      for (let hops = 0; hops <= 40; hops += 4) others.push(afterHops(`r${round}-hops${hops}`, hops));
      others.push(new Promise((resolve) => process.nextTick(() => resolve(writeDirectly(`r${round}-tick`)))));
      others.push(new Promise((resolve) => setImmediate(() => resolve(writeDirectly(`r${round}-turn`)))));
      rolledBack.push(
        storage.transaction({ durable: false }, async (tx) => {
          await tx.run(insertItem, { name: `tx${round}`, value: 1 });
          await yieldWithinTurn(60);
          throw new Error('rolled back');
        }).then(
          () => 'committed',
          (error: Error) => error.message,
        ),
      );
      others.push(new Promise((resolve) => setImmediate(() => resolve(writeDirectly(`r${round}-later-turn`)))));
    }
    await Promise.all(others);
    t.same(await Promise.all(rolledBack), Array(5).fill('rolled back'));
    t.same(seenInsideTransaction, [], 'no direct statement ran while a transaction was open');
    const names = (await storage.all(itemNames)).map((row) => row.name);
    t.equal(names.length, others.length, 'every direct write is kept');
    t.notOk(names.some((name) => name.startsWith('tx')), 'and the transactions left nothing');
  });

  t.test('a read outside waits for the open transaction and never sees its uncommitted rows', async (t) => {
    const { storage } = await openSqlite(t);
    await storage.run(createItems);
    for (const outcome of ['rollback', 'commit'] as const) {
      let read!: Promise<Array<{ name: string }>>;
      const transaction = storage.transaction({ durable: false }, async (tx) => {
        await tx.run(insertItem, { name: outcome, value: 1 });
        read = storage.all(itemNames);
        const state = settledFlag(read);
        await yieldWithinTurn();
        t.notOk(state.settled, `the read waits while the transaction is open (${outcome})`);
        if (outcome === 'rollback') throw new Error('rolled back');
      });
      await transaction.catch(() => {});
      t.same(await read, outcome === 'commit' ? [{ name: 'commit' }] : [], `and sees only committed rows (${outcome})`);
    }
  });

  t.test('a transaction that waits for anything but the database is rolled back, with what ran meanwhile', async (t) => {
    const { db, storage } = await openSqlite(t);
    await storage.run(createItems);
    const attempt = storage.transaction({ durable: false }, async (tx) => {
      await tx.run(insertItem, { name: 'inside', value: 1 });
      // Meanwhile the rest of the process, still on the connection directly, writes too.
      setImmediate(() => db.prepare(`INSERT INTO items (name, value) VALUES ('meanwhile', 2)`).run());
      await turn();
      await turn();
    });
    await t.rejects(attempt, { message: SPANNED_TURNS });
    t.same(await storage.all(itemNames), [], 'neither its write nor the one that slipped into it is kept');
    t.same(await storage.transaction({ durable: false }, async (tx) => tx.run(insertItem, { name: 'next', value: 3 })), { changes: 1 }, 'the next transaction runs normally');
  });

  t.test('no pool gauges: the one connection is never waited for', async (t) => {
    const { storage } = await openSqlite(t);
    const registry = new Registry();
    poolMetrics(storage)(registry);
    t.equal(await registry.metrics(), '\n');
  });

  t.test('the durable level is put back once the transaction ends', async (t) => {
    const { storage } = await openSqlite(t);
    await storage.transaction({ durable: true }, async () => {});
    await t.rejects(storage.transaction({ durable: true }, async () => Promise.reject(new Error('x'))), /x/);
    t.same(await storage.get(sqliteLevel), { synchronous: 1 });
  });
});
