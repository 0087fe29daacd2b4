/**
 * The listing counters' fills and trigger names, shared by the step that created them
 * (src/migrations/010-threat-cloud-listing.ts) and the seed's bulk load (seed.ts), which sets
 * the triggers aside and fills the counters for the rows it added in one statement each.
 */

/** Every trigger of the listing step starts so, so the seed can set them aside during a bulk load. */
export const LISTING_TRIGGER_PREFIX = 'tc_list_';

/** The key columns of `ioc_rank_counts` and `ioc_source_counts` ('' for no category). */
export const COUNT_KEY = 'type, category, status, reputation';

/** The rows `ioc_source_rank` holds for IoCs of `iocs` matching `where` (the migration and the seed fill it so). */
export const SOURCE_RANK_FROM_IOCS = (where: string) => `
  INSERT INTO ioc_source_rank (source, reputation, last_seen, change_seq, type, category, status, updated_at, value)
  SELECT s.source, i.reputation, i.last_seen, i.change_seq, i.type, i.category, i.status, i.updated_at, i.value
  FROM iocs i CROSS JOIN ioc_sources s INDEXED BY ioc_sources_ioc ON s.ioc_id = i.id WHERE ${where}
  ORDER BY 1, 2, 3 DESC, 4`;
export const SOURCE_COUNTS_FROM_IOCS = (where: string) => `
  INSERT INTO ioc_source_counts (source, ${COUNT_KEY}, n)
  SELECT s.source, i.type, coalesce(i.category, ''), i.status, i.reputation, count(*)
  FROM iocs i CROSS JOIN ioc_sources s INDEXED BY ioc_sources_ioc ON s.ioc_id = i.id WHERE ${where} GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT (source, ${COUNT_KEY}) DO UPDATE SET n = n + excluded.n`;
export const RANK_COUNTS_FROM_IOCS = (where: string) => `
  INSERT INTO ioc_rank_counts (${COUNT_KEY}, n)
  SELECT type, coalesce(category, ''), status, reputation, count(*) FROM iocs WHERE ${where} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (${COUNT_KEY}) DO UPDATE SET n = n + excluded.n`;
