/** What a benchmark scenario reports: one row of the printed table. */
export interface BenchRow {
  scenario: string;
  /** Requests (or items) per second measured for the scenario. */
  perSecond: number;
  unit: 'req/s' | 'events/s' | 'iocs/s' | 'ms' | 'MiB' | 'rows';
  p50Ms?: number;
  p99Ms?: number;
  /** perSecond divided by the baseline's in the same run, when a baseline applies. */
  ratio?: number;
  /** The target, e.g. '>= 0.5' or '< 20 ms', and whether it was met. */
  target?: string;
  met?: boolean;
  /** Worst latency of a /health probe on another service while the row's request ran. */
  probeMs?: number;
  /** Worst event-loop delay the server process itself recorded meanwhile. */
  loopMs?: number;
  note?: string;
}

export interface LoadResult {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  headers?: Record<string, string>;
  body?: string;
  /** Different request per call (autocannon `requests` with setupRequest). */
  bodies?: () => string;
  /** A different path (and query) per call, e.g. rotating IoC values. */
  paths?: () => string;
  connections?: number;
  durationSeconds?: number;
}

/**
 * Connections of every load measured against the bare route (`/health`, heartbeats, lookups):
 * the targets were measured with autocannon at 50 connections.
 */
export const COMPARED_CONNECTIONS = 50;

/** The project's load and the bare route's in interleaved rounds: medians, and each round's ratio. */
export interface Comparison {
  /** Median rate, p50 and p99 of the project's rounds; errors and non-2xx summed. */
  result: LoadResult;
  /** The same of the bare route's rounds. */
  baseline: LoadResult;
  /** Median of the per-round ratios (each round's project rate over the bare rate next to it). */
  ratio: number;
  ratios: number[];
  /** `median of N interleaved rounds (r1, r2, …)`, for a row's note. */
  rounds: string;
}

/**
 * The bare server's routes: `/` answers constant JSON and nothing else (every target's
 * yardstick); `/with-headers` adds the contract's response headers, to tell what they cost
 * from what the kernel costs.
 */
export type BarePath = '/' | '/with-headers';

/** Handed to every scenario: the real process's URLs and secrets, and measurement helpers. */
export interface BenchContext {
  urls: { auth: string; manager: string; threatCloud: string };
  secrets: { managerAuthToken: string; tcAdminToken: string; tcApiKey: string };
  dataDir: string;
  databasePath: string;
  /** Every `--name=value` argument of the run, for scenario-specific sizes. */
  flags: Record<string, string>;
  /** A folder of this run, removed when the run ends (for a scenario's own data folder). */
  scratchDir: string;
  /** Migrates a data folder's database and bulk-loads `count` IoCs, as the runner does before start. */
  seedIocs(dataDir: string, count: number): void;
  pid: number;
  /** autocannon against a URL of the real process. */
  load(options: LoadOptions): Promise<LoadResult>;
  /** autocannon against the bare Fastify constant-JSON route, same connections and duration. */
  baseline(https: boolean, options?: Pick<LoadOptions, 'connections' | 'durationSeconds' | 'method' | 'body'>): Promise<LoadResult>;
  /**
   * `rounds` alternating rounds (project then bare, then bare then project, …) of `load` and
   * of the bare route with the same connections, duration, method and body. On a shared
   * machine one pair of runs minutes apart can swing 30–50 %; medians of neighbouring rounds
   * are what the ratios mean.
   */
  compare(load: LoadOptions, bare: { https: boolean; method?: LoadOptions['method']; body?: string; path?: BarePath }, rounds?: number): Promise<Comparison>;
  /** Resident set size of the real process in MiB (from /proc). */
  rssMiB(): number;
  /**
   * Starts another real process (e.g. on a pre-seeded database) with the bench settings plus
   * `env`; it is stopped when the run ends. Resolves once its three /health answer.
   */
  spawnServer(dataDir: string, env?: Record<string, string>): Promise<import('../process.js').ServerProcess>;
}

export type Scenario = (context: BenchContext) => Promise<BenchRow[]>;
