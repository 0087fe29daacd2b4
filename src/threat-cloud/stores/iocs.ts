import type { Statement } from 'better-sqlite3';
import type { Db } from '../../shared/db/open.js';
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

interface IocWrite {
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
}

/** What a lookup answers with: the IoC without its stored country, update time and change position. */
export type IocView = Omit<Ioc, 'country' | 'updatedAt' | 'changeSeq'>;

export interface LookupResult {
  ioc: IocView;
  /** The formed campaign the IoC belongs to (campaigns are disjoint: at most one). */
  campaignId: string | null;
  /** Whether the relation read would find anything. */
  related: boolean;
}

type LookupRow = [
  id: string, type: IocType, value: string, reputation: number, status: IocStatus, category: Category | null, severity: Severity,
  confidence: number, sightings: number, reporters: number, trap: number, source: string, sources: string, metadata: string,
  firstSeen: string, lastSeen: string, campaignId: string | null, related: number,
];

function toLookupResult(row: LookupRow): LookupResult {
  const [id, type, value, reputation, status, category, severity, confidence, sightings, reporters, trap, source, sources, metadata, firstSeen, lastSeen, campaignId, related] = row;
  return {
    ioc: {
      id, type, value, reputation, status, category, severity, confidence, sightings, reporters, trap: trap === 1, source,
      sources: JSON.parse(sources) as string[], metadata: JSON.parse(metadata) as Metadata, firstSeen, lastSeen,
    },
    campaignId,
    related: related === 1,
  };
}

/** `type` and `value` of an IoC, as the batch read takes them. */
export type IocKey = readonly [type: IocType, value: string];

/** SQL of the `iocs` table and the tables that hang off it; every statement prepared once. */
export function createIocStore(db: Db) {
  const reserveSeqStmt = db.prepare<[number, string], { value: number }>(
    `UPDATE tc_state SET value = value + ?, updated_at = ? WHERE name = 'seq' RETURNING value`,
  );
  const stateStmt = db.prepare<[string], { value: number; updated_at: string | null }>(`SELECT value, updated_at FROM tc_state WHERE name = ?`);
  const byKey = db.prepare<[string, string], IocRow>(`SELECT * FROM iocs WHERE type = ? AND value = ?`);
  // The IoC, its formed campaign (the primary key of campaign_iocs: at most one) and whether the
  // relation read would find anything: most IoCs have no relations, and then one statement
  // answers. Rows as arrays: building a 20-property object per lookup costs more than the read.
  const lookupStmt = db.prepare<[string, string], LookupRow>(
    `SELECT id, type, value, reputation, status, category, severity, confidence, sightings, reporters, trap, source, sources, metadata,
       first_seen, last_seen,
       (SELECT c.id FROM campaign_iocs m JOIN campaigns c ON c.id = m.campaign_id WHERE m.ioc_id = i.id AND c.formed_at IS NOT NULL),
       EXISTS (SELECT 1 FROM ioc_relations r WHERE r.from_id = i.id) OR EXISTS (SELECT 1 FROM ioc_relations r WHERE r.to_id = i.id)
     FROM iocs i WHERE i.type = ? AND i.value = ?`,
  ).raw();
  // A batch's IoCs in one statement: each (type, value) of the JSON array probes the unique index.
  const byKeys = db.prepare<[string], IocRow>(
    `SELECT i.* FROM json_each(?) k CROSS JOIN iocs i ON i.type = k.value ->> 0 AND i.value = k.value ->> 1`,
  );
  const byId = db.prepare<[string], IocRow>(`SELECT * FROM iocs WHERE id = ?`);
  // Prepared on first use (still once): the reporter-identity migration's tests write their
  // "before" data through this store on a file at schema version 7, which has no stix_lineage.
  let addLineage: Statement<[string, string]> | undefined;
  const insert = db.prepare<IocWrite>(
    `INSERT INTO iocs (id, type, value, reputation, status, category, severity, confidence, sightings, reporters, trap,
       source, sources, metadata, country, first_seen, last_seen, updated_at, change_seq)
     VALUES (@id, @type, @value, @reputation, @status, @category, @severity, @confidence, @sightings, @reporters, @trap,
       @source, @sources, @metadata, @country, @firstSeen, @lastSeen, @updatedAt, @changeSeq)`,
  );
  const update = db.prepare<IocWrite>(
    `UPDATE iocs SET reputation = @reputation, status = @status, category = @category, severity = @severity,
       confidence = @confidence, sightings = @sightings, reporters = @reporters, trap = @trap, sources = @sources,
       metadata = @metadata, country = @country, last_seen = @lastSeen, updated_at = @updatedAt, change_seq = @changeSeq
     WHERE id = @id`,
  );
  const addReporter = db.prepare<[string, string, string]>(
    `INSERT INTO ioc_reporters (ioc_id, reporter_id, first_seen) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
  );
  const addSource = db.prepare<[string, string]>(`INSERT INTO ioc_sources (source, ioc_id) VALUES (?, ?) ON CONFLICT DO NOTHING`);
  const addKnownSource = db.prepare<[string, string]>(`INSERT INTO tc_sources (source, first_seen) VALUES (?, ?) ON CONFLICT DO NOTHING`);
  const addSighting = db.prepare<[string, string, ReportKind, string, string, string | null, string]>(
    `INSERT INTO sightings (id, ioc_id, kind, source, reporter_id, context, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const addRelation = db.prepare<[string, string, string, string]>(
    `INSERT INTO ioc_relations (from_id, to_id, relation, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  );
  const relationsOf = db.prepare<[string, string], { value: string; type: IocType; relation: string }>(
    `SELECT i.value, i.type, r.relation FROM ioc_relations r JOIN iocs i ON i.id = r.to_id WHERE r.from_id = ?
     UNION
     SELECT i.value, i.type, r.relation FROM ioc_relations r JOIN iocs i ON i.id = r.from_id WHERE r.to_id = ?
     ORDER BY 3, 2, 1 LIMIT 200`,
  );
  const activeCount = db.prepare<[], { n: number }>(`SELECT coalesce(sum(n), 0) AS n FROM ioc_counts WHERE status = 'active'`);

  return {
    /** The next position in the one change sequence (IoCs and rules share it). */
    nextSeq(nowIso: string): number {
      return reserveSeqStmt.get(1, nowIso)!.value;
    },
    /**
     * The first of `count` consecutive positions, taken at once: what `count` calls of nextSeq
     * inside the same transaction would hand out, in one statement.
     */
    reserveSeqs(count: number, nowIso: string): number {
      return reserveSeqStmt.get(count, nowIso)!.value - count + 1;
    },
    state(name: 'seq' | 'refresh'): { value: number; updatedAt: string | null } {
      const row = stateStmt.get(name)!;
      return { value: row.value, updatedAt: row.updated_at };
    },
    find(type: IocType, value: string): Ioc | null {
      const row = byKey.get(type, value);
      return row ? toIoc(row) : null;
    },
    /** The IoC a lookup shows, with its campaign and whether it has relations. */
    lookup(type: IocType, value: string): LookupResult | null {
      const row = lookupStmt.get(type, value);
      return row ? toLookupResult(row) : null;
    },
    /** The stored IoCs among these keys (each at most once), in no particular order. */
    findMany(keys: readonly IocKey[]): Ioc[] {
      return keys.length === 0 ? [] : byKeys.all(JSON.stringify(keys)).map(toIoc);
    },
    get(id: string): Ioc | null {
      const row = byId.get(id);
      return row ? toIoc(row) : null;
    },
    insert(ioc: Omit<Ioc, 'updatedAt'> & { updatedAt?: string }): void {
      insert.run(toWrite(ioc));
    },
    update(ioc: Omit<Ioc, 'updatedAt'> & { updatedAt?: string }): void {
      update.run(toWrite(ioc));
    },
    /** Records that the IoC's current STIX id ended revoked and a new one began (see migrations/013-stix-lineage.ts). */
    addStixLineage(iocId: string, entry: StixLineageEntry): void {
      addLineage ??= db.prepare<[string, string]>(`UPDATE iocs SET stix_lineage = json_insert(stix_lineage, '$[#]', json(?)) WHERE id = ?`);
      addLineage.run(JSON.stringify(entry), iocId);
    },
    /** True when this reporter had not reported the IoC before. */
    addReporter(iocId: string, reporterId: string, nowIso: string): boolean {
      return addReporter.run(iocId, reporterId, nowIso).changes === 1;
    },
    /** The IoC's row of a source; the distinct source itself is `addKnownSource`'s. */
    addIocSource(iocId: string, source: string): void {
      addSource.run(source, iocId);
    },
    addKnownSource(source: string, nowIso: string): void {
      addKnownSource.run(source, nowIso);
    },
    addSighting(id: string, iocId: string, kind: ReportKind, source: string, reporterId: string, context: string | null, nowIso: string): void {
      addSighting.run(id, iocId, kind, source, reporterId, context, nowIso);
    },
    addRelation(fromId: string, toId: string, relation: 'dropped' | 'contacted', nowIso: string): void {
      addRelation.run(fromId, toId, relation, nowIso);
    },
    relations(iocId: string) {
      return relationsOf.all(iocId, iocId);
    },
    activeCount(): number {
      return activeCount.get()!.n;
    },
  };
}
export type IocStore = ReturnType<typeof createIocStore>;

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
