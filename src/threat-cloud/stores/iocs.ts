import { defineStatement, type Queryable, type Storage, type Transaction } from '../../shared/db/storage.js';
import { createTurnBatch } from '../../shared/turn-batch.js';
import type { IocType } from '../normalise.js';
import type { Severity } from '../reputation.js';
import type { StixLineageEntry } from '../stix.js';

export const CATEGORIES = ['malware', 'botnet', 'phishing', 'bruteforce', 'scanner', 'exploit', 'c2'] as const;
export type Category = (typeof CATEGORIES)[number];
export const IOC_STATUSES = ['active', 'expired', 'whitelisted', 'revoked'] as const;
export type IocStatus = (typeof IOC_STATUSES)[number];
export type ReportKind = 'upload' | 'sighting' | 'trap';
export type Metadata = Record<string, unknown>;

export interface IocRow {
  id: string;
  type: IocType;
  value: string;
  reputation: number;
  status: IocStatus;
  category: Category | null;
  severity: Severity;
  confidence: number;
  sightings: number;
  reporters: number;
  trap: number;
  source: string;
  sources: string;
  metadata: string;
  country: string | null;
  first_seen: string;
  last_seen: string;
  updated_at: string;
  change_seq: number;
}

export interface Ioc {
  id: string;
  type: IocType;
  value: string;
  reputation: number;
  status: IocStatus;
  category: Category | null;
  severity: Severity;
  confidence: number;
  sightings: number;
  reporters: number;
  trap: boolean;
  source: string;
  sources: string[];
  metadata: Metadata;
  country: string | null;
  firstSeen: string;
  lastSeen: string;
  updatedAt: string;
  changeSeq: number;
}

export function toIoc(row: IocRow): Ioc {
  return {
    id: row.id,
    type: row.type,
    value: row.value,
    reputation: row.reputation,
    status: row.status,
    category: row.category,
    severity: row.severity,
    confidence: row.confidence,
    sightings: row.sightings,
    reporters: row.reporters,
    trap: row.trap === 1,
    source: row.source,
    sources: JSON.parse(row.sources) as string[],
    metadata: JSON.parse(row.metadata) as Metadata,
    country: row.country,
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    updatedAt: row.updated_at,
    changeSeq: row.change_seq,
  };
}

type IocWrite = {
  id: string;
  type: IocType;
  value: string;
  reputation: number;
  status: IocStatus;
  category: Category | null;
  severity: Severity;
  confidence: number;
  sightings: number;
  reporters: number;
  trap: number;
  source: string;
  sources: string;
  metadata: string;
  country: string | null;
  firstSeen: string;
  lastSeen: string;
  updatedAt: string;
  changeSeq: number;
};

/** What a lookup answers with: the IoC without its stored country, update time and change position. */
export type IocView = Omit<Ioc, 'country' | 'updatedAt' | 'changeSeq'>;

export interface LookupResult {
  ioc: IocView;
  /** The formed campaign the IoC belongs to (campaigns are disjoint: at most one). */
  campaignId: string | null;
  /** Whether the relation read would find anything. */
  related: boolean;
}

/** A lookup's row: LOOKUP_COLUMNS in order (the hottest read of the service comes back as an array). */
type LookupRow = [
  id: string, type: IocType, value: string, reputation: number, status: IocStatus, category: Category | null, severity: Severity,
  confidence: number, sightings: number, reporters: number, trap: number, source: string, sources: string, metadata: string,
  firstSeen: string, lastSeen: string, campaignId: string | null, related: number,
];

function toLookupResult(row: LookupRow): LookupResult {
  const [id, type, value, reputation, status, category, severity, confidence, sightings, reporters, trap, source, sources, metadata, firstSeen, lastSeen, campaignId, related] = row;
  return {
    ioc: {
      id, type, value, reputation, status, category, severity, confidence, sightings, reporters, trap: trap === 1,
      source, sources: JSON.parse(sources) as string[], metadata: JSON.parse(metadata) as Metadata, firstSeen, lastSeen,
    },
    campaignId,
    related: related === 1,
  };
}

/** `type` and `value` of an IoC, as the batch read takes them. */
export type IocKey = readonly [type: IocType, value: string];

/** A new IoC with its first report: the row and its reporter, source and sighting. */
/** A report's IoC as the merge left it, with the reporter, source and sighting the report adds. */
export type ReportEntry = {
  ioc: Ioc;
  /** True for the report that created the IoC (it is inserted; later reports of it write it back). */
  isNew: boolean;
  reporterId: string;
  source: string;
  sighting: { id: string; kind: ReportKind; context: string | null };
  nowIso: string;
};

/** An IoC's row after a merge or a status change: everything but its identity and first sighting. */
const WRITE_BACK_SQLITE = `UPDATE iocs SET reputation = @reputation, status = @status, category = @category, severity = @severity,
     confidence = @confidence, sightings = @sightings, reporters = @reporters, trap = @trap, sources = @sources,
     metadata = @metadata, country = @country, last_seen = @lastSeen, updated_at = @updatedAt, change_seq = @changeSeq
   WHERE id = @id`;

/** The statements of the `iocs` table and the tables that hang off it. */
const LOOKUP_COLUMNS = `id, type, value, reputation, status, category, severity, confidence, sightings, reporters, trap, source, sources, metadata,
       first_seen, last_seen,
       (SELECT c.id FROM campaign_iocs m JOIN campaigns c ON c.id = m.campaign_id WHERE m.ioc_id = i.id AND c.formed_at IS NOT NULL) AS campaign_id`;

export const IOC_STATEMENTS = {
  reserveSeq: defineStatement<[count: number, nowIso: string], { value: number }>(
    `UPDATE tc_state SET value = value + ?, updated_at = ? WHERE name = 'seq' RETURNING value`,
  ),
  state: defineStatement<[name: string], { value: number; updated_at: string | null }>(`SELECT value, updated_at FROM tc_state WHERE name = ?`),
  byKey: defineStatement<[type: string, value: string], IocRow>(`SELECT * FROM iocs WHERE type = ? AND value = ?`),
  // The IoC, its formed campaign (the primary key of campaign_iocs: at most one) and whether the
  // relation read would find anything: most IoCs have no relations, and then one statement answers.
  // SQLite answers EXISTS with 0 or 1, PostgreSQL with a boolean: cast there, so both give 0 or 1.
  lookup: defineStatement<[type: string, value: string], LookupRow>(
    {
      sqlite: `SELECT ${LOOKUP_COLUMNS},
         EXISTS (SELECT 1 FROM ioc_relations r WHERE r.from_id = i.id) OR EXISTS (SELECT 1 FROM ioc_relations r WHERE r.to_id = i.id) AS related
       FROM iocs i WHERE i.type = ? AND i.value = ?`,
      postgres: `SELECT ${LOOKUP_COLUMNS},
         CAST(EXISTS (SELECT 1 FROM ioc_relations r WHERE r.from_id = i.id) OR EXISTS (SELECT 1 FROM ioc_relations r WHERE r.to_id = i.id) AS integer) AS related
       FROM iocs i WHERE i.type = ? AND i.value = ?`,
    },
    { asArrays: true },
  ),
  // A batch's IoCs in one statement: each (type, value) of the JSON array probes the unique index.
  // PostgreSQL's json_each takes objects only; an array's elements come from json_array_elements.
  byKeys: defineStatement<[keys: string], IocRow>({
    sqlite: `SELECT i.* FROM json_each(?) k CROSS JOIN iocs i ON i.type = k.value ->> 0 AND i.value = k.value ->> 1`,
    postgres: `SELECT i.* FROM json_array_elements(CAST(? AS json)) AS k JOIN iocs i ON i.type = k.value ->> 0 AND i.value = k.value ->> 1`,
  }),
  byId: defineStatement<[id: string], IocRow>(`SELECT * FROM iocs WHERE id = ?`),
  // Prepared on first use, like every port statement: the reporter-identity migration's tests
  // write their "before" data through this store on a file at schema version 7, which has no stix_lineage.
  // PostgreSQL appends to the text itself: its jsonb would reorder keys, and the stored arrays
  // are compact (SQLite's json functions and JSON.stringify write them), so the texts match.
  addLineage: defineStatement<{ entry: string; iocId: string }>({
    sqlite: `UPDATE iocs SET stix_lineage = json_insert(stix_lineage, '$[#]', json(@entry)) WHERE id = @iocId`,
    postgres: `UPDATE iocs SET stix_lineage = CASE WHEN stix_lineage = '[]' THEN '[' || CAST(CAST(@entry AS json) AS text) || ']'
               ELSE left(stix_lineage, -1) || ',' || CAST(CAST(@entry AS json) AS text) || ']' END WHERE id = @iocId`,
  }),
  insert: defineStatement<IocWrite>(
    `INSERT INTO iocs (id, type, value, reputation, status, category, severity, confidence, sightings, reporters, trap,
       source, sources, metadata, country, first_seen, last_seen, updated_at, change_seq)
     VALUES (@id, @type, @value, @reputation, @status, @category, @severity, @confidence, @sightings, @reporters, @trap,
       @source, @sources, @metadata, @country, @firstSeen, @lastSeen, @updatedAt, @changeSeq)`,
  ),
  // A stored IoC written back. On PostgreSQL the row joins its values from a VALUES list (typed
  // there, as nothing else tells PostgreSQL their types), so that `runBatch` can write many
  // rows in one statement; the same SET list, so the same AFTER UPDATE OF triggers fire.
  writeBack: defineStatement<IocWrite>({
    sqlite: WRITE_BACK_SQLITE,
    postgres: `UPDATE iocs SET reputation = v.reputation, status = v.status, category = v.category, severity = v.severity,
       confidence = v.confidence, sightings = v.sightings, reporters = v.reporters, trap = v.trap, sources = v.sources,
       metadata = v.metadata, country = v.country, last_seen = v.last_seen, updated_at = v.updated_at, change_seq = v.change_seq
     FROM (VALUES (CAST(@id AS text), CAST(@reputation AS bigint), CAST(@status AS text), CAST(@category AS text),
       CAST(@severity AS text), CAST(@confidence AS double precision), CAST(@sightings AS bigint), CAST(@reporters AS bigint),
       CAST(@trap AS bigint), CAST(@sources AS text), CAST(@metadata AS text), CAST(@country AS text), CAST(@lastSeen AS text),
       CAST(@updatedAt AS text), CAST(@changeSeq AS bigint)))
       AS v(id, reputation, status, category, severity, confidence, sightings, reporters, trap, sources, metadata, country,
         last_seen, updated_at, change_seq)
     WHERE iocs.id = v.id`,
  }),
  // Which of these IoCs (a JSON array of ids) the reporter has reported before, in one statement.
  reportedBy: defineStatement<[reporterId: string, iocIds: string], { ioc_id: string }>({
    sqlite: `SELECT ioc_id FROM ioc_reporters WHERE reporter_id = ? AND ioc_id IN (SELECT value FROM json_each(?))`,
    postgres: `SELECT ioc_id FROM ioc_reporters WHERE reporter_id = ? AND ioc_id IN (SELECT json_array_elements_text(CAST(? AS json)))`,
  }),
  addReporter: defineStatement<[iocId: string, reporterId: string, nowIso: string]>(
    `INSERT INTO ioc_reporters (ioc_id, reporter_id, first_seen) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
  ),
  addSource: defineStatement<[source: string, iocId: string]>(`INSERT INTO ioc_sources (source, ioc_id) VALUES (?, ?) ON CONFLICT DO NOTHING`),
  addKnownSource: defineStatement<[source: string, nowIso: string]>(`INSERT INTO tc_sources (source, first_seen) VALUES (?, ?) ON CONFLICT DO NOTHING`),
  addSighting: defineStatement<[id: string, iocId: string, kind: ReportKind, source: string, reporterId: string, context: string | null, nowIso: string]>(
    `INSERT INTO sightings (id, ioc_id, kind, source, reporter_id, context, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  ),
  addRelation: defineStatement<[fromId: string, toId: string, relation: string, nowIso: string]>(
    `INSERT INTO ioc_relations (from_id, to_id, relation, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  ),
  relationsOf: defineStatement<[fromId: string, toId: string], { value: string; type: IocType; relation: string }>(
    `SELECT i.value, i.type, r.relation FROM ioc_relations r JOIN iocs i ON i.id = r.to_id WHERE r.from_id = ?
     UNION
     SELECT i.value, i.type, r.relation FROM ioc_relations r JOIN iocs i ON i.id = r.from_id WHERE r.to_id = ?
     ORDER BY 3, 2, 1 LIMIT 200`,
  ),
};

/**
 * SQL of the `iocs` table and the tables that hang off it, through the storage port. Methods
 * that run inside a caller's transaction take the Queryable first (`tx` there); the reads of
 * the lookup and the feed validators run on their own, on the store's storage.
 */
export function createIocStore(storage: Storage) {
  const s = IOC_STATEMENTS;
  // Lookups arrive many per turn under load; read together they cost about a third less server CPU each (turn-batch.ts).
  const readLookupRow = createTurnBatch((type: IocType, value: string) => storage.get(s.lookup, [type, value]));

  return {
    /** The next position in the one change sequence (IoCs and rules share it). */
    async nextSeq(q: Queryable, nowIso: string): Promise<number> {
      return (await q.get(s.reserveSeq, [1, nowIso]))!.value;
    },
    /**
     * The first of `count` consecutive positions, taken at once: what `count` calls of nextSeq
     * inside the same transaction would hand out, in one statement.
     */
    async reserveSeqs(q: Queryable, count: number, nowIso: string): Promise<number> {
      return (await q.get(s.reserveSeq, [count, nowIso]))!.value - count + 1;
    },
    async state(name: 'seq' | 'refresh'): Promise<{ value: number; updatedAt: string | null }> {
      const row = (await storage.get(s.state, [name]))!;
      return { value: row.value, updatedAt: row.updated_at };
    },
    async find(q: Queryable, type: IocType, value: string): Promise<Ioc | null> {
      const row = await q.get(s.byKey, [type, value]);
      return row ? toIoc(row) : null;
    },
    /** The IoC a lookup shows, with its campaign and whether it has relations. */
    async lookup(type: IocType, value: string): Promise<LookupResult | null> {
      const row = await readLookupRow(type, value);
      return row ? toLookupResult(row) : null;
    },
    /** The stored IoCs among these keys (each at most once), in no particular order. */
    async findMany(q: Queryable, keys: readonly IocKey[]): Promise<Ioc[]> {
      return keys.length === 0 ? [] : (await q.all(s.byKeys, [JSON.stringify(keys)])).map(toIoc);
    },
    async get(q: Queryable, id: string): Promise<Ioc | null> {
      const row = await q.get(s.byId, [id]);
      return row ? toIoc(row) : null;
    },
    async insert(q: Queryable, ioc: Omit<Ioc, 'updatedAt'> & { updatedAt?: string }): Promise<void> {
      await q.run(s.insert, toWrite(ioc));
    },
    async update(q: Queryable, ioc: Omit<Ioc, 'updatedAt'> & { updatedAt?: string }): Promise<void> {
      await q.run(s.writeBack, toWrite(ioc));
    },
    /** Records that the IoC's current STIX id ended revoked and a new one began (see migrations/013-stix-lineage.ts). */
    async addStixLineage(q: Queryable, iocId: string, entry: StixLineageEntry): Promise<void> {
      await q.run(s.addLineage, { entry: JSON.stringify(entry), iocId });
    },
    /** The IoCs among these the reporter has reported before. */
    async reportedBy(q: Queryable, reporterId: string, iocIds: readonly string[]): Promise<Set<string>> {
      if (iocIds.length === 0) return new Set();
      return new Set((await q.all(s.reportedBy, [reporterId, JSON.stringify(iocIds)])).map((row) => row.ioc_id));
    },
    /**
     * A batch's reports as merged, in report order: the new IoCs inserted, the stored ones
     * written back, then every report's reporter, source and sighting — one batch per table
     * (one round trip per 500 rows on PostgreSQL however many IoCs an upload names). An IoC
     * named twice is written back once per report, in order, never twice in one statement.
     */
    async writeReports(tx: Transaction, entries: readonly ReportEntry[]): Promise<void> {
      if (entries.length === 0) return;
      await tx.runBatch(s.insert, entries.filter((entry) => entry.isNew).map((entry) => toWrite(entry.ioc)));
      for (const round of writeBackRounds(entries)) await tx.runBatch(s.writeBack, round.map((entry) => toWrite(entry.ioc)));
      await tx.runBatch(s.addReporter, entries.map((entry) => [entry.ioc.id, entry.reporterId, entry.nowIso] as [string, string, string]));
      await tx.runBatch(s.addSource, entries.map((entry) => [entry.source, entry.ioc.id] as [string, string]));
      await tx.runBatch(
        s.addSighting,
        entries.map(({ ioc, reporterId, source, sighting, nowIso }) => [sighting.id, ioc.id, sighting.kind, source, reporterId, sighting.context, nowIso] as [string, string, ReportKind, string, string, string | null, string]),
      );
    },
    async addKnownSource(q: Queryable, source: string, nowIso: string): Promise<void> {
      await q.run(s.addKnownSource, [source, nowIso]);
    },
    async addRelation(q: Queryable, fromId: string, toId: string, relation: 'dropped' | 'contacted', nowIso: string): Promise<void> {
      await q.run(s.addRelation, [fromId, toId, relation, nowIso]);
    },
    async relations(iocId: string) {
      return await storage.all(s.relationsOf, [iocId, iocId]);
    },
  };
}
export type IocStore = ReturnType<typeof createIocStore>;

/**
 * The writes back of a batch in rounds, each in report order: an IoC's n-th write back is in
 * round n, so no multi-row statement names a row twice.
 */
function writeBackRounds(entries: readonly ReportEntry[]): ReportEntry[][] {
  const rounds: ReportEntry[][] = [];
  const written = new Map<string, number>();
  for (const entry of entries) {
    if (entry.isNew) continue;
    const round = written.get(entry.ioc.id) ?? 0;
    written.set(entry.ioc.id, round + 1);
    (rounds[round] ??= []).push(entry);
  }
  return rounds;
}

function toWrite(ioc: Omit<Ioc, 'updatedAt'> & { updatedAt?: string }): IocWrite {
  return {
    id: ioc.id,
    type: ioc.type,
    value: ioc.value,
    reputation: ioc.reputation,
    status: ioc.status,
    category: ioc.category,
    severity: ioc.severity,
    confidence: ioc.confidence,
    sightings: ioc.sightings,
    reporters: ioc.reporters,
    trap: ioc.trap ? 1 : 0,
    source: ioc.source,
    sources: JSON.stringify(ioc.sources),
    metadata: JSON.stringify(ioc.metadata),
    country: ioc.country,
    firstSeen: ioc.firstSeen,
    lastSeen: ioc.lastSeen,
    updatedAt: ioc.updatedAt ?? ioc.lastSeen,
    changeSeq: ioc.changeSeq,
  };
}
