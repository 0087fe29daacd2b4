import { isIP } from 'node:net';
import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import { badRequest, notFound } from '../../shared/errors.js';
import { newId, newSecretToken, sha256Hex } from '../../shared/tokens.js';
import type { AgentRow, AgentStore, HeartbeatUpdate } from '../stores/agents.js';
import type { EnrollmentRules, Registrant } from './enrollment.js';
import type { EventStore } from '../stores/events.js';
import type { PolicyStore } from '../stores/policies.js';
import type { Static } from '@sinclair/typebox';
import type { Agent, AgentDetail, AgentListQuery, HeartbeatBody, HeartbeatReply, RegisterBody } from '../schemas.js';
import type { SseHub } from './sse-hub.js';
import { heartbeatRange, statusAt, type StatusTimeouts } from './status.js';
import type { Transaction, Storage } from '../../shared/db/storage.js';
import { DAY_MS } from '../../shared/time.js';

export const DEFAULT_ORG = 'default';

export const agentNotFound = () => notFound('Agent not found', 'AGENT_NOT_FOUND');

type HeartbeatAnswer = Static<typeof HeartbeatReply>;

export function policyVersionName(version: number): string {
  return `v${version}`;
}

export function toAgent(row: AgentRow, now: number, timeouts: StatusTimeouts): Agent {
  return {
    id: row.id,
    hostname: row.hostname,
    os: row.os,
    version: row.version,
    ip: row.ip,
    orgId: row.org_id,
    tags: JSON.parse(row.tags) as string[],
    status: statusAt(row.last_heartbeat_ms, now, timeouts),
    lastHeartbeat: toIso(row.last_heartbeat_ms),
    registeredAt: row.registered_at,
  };
}

/**
 * Runs inside the registration transaction, on its `tx`, before a NEW agent row is written
 * (re-registering a known hostname does not call it); rejecting with an AppError (e.g. a 403
 * quota) stores nothing. The transaction holds `registrationLocks` of the agent.
 */
export type RegistrationHook = (tx: Transaction, agent: { orgId: string; hostname: string }) => Promise<void>;

/**
 * What a registration must not interleave with on PostgreSQL: the org's quota (counted, then
 * spent) and the (org, hostname) pair (looked up, then inserted: one agent per pair).
 */
export function registrationLocks(orgId: string, hostname: string): string[] {
  return [`org:${orgId}:quota`, `manager:agent:${orgId}:${hostname}`];
}

/** What a heartbeat batch holds for each agent it writes: its read-then-write of the agent's status. */
export const agentStatusLock = (agentId: string) => `manager:agent-status:${agentId}`;

interface AgentServiceDeps {
  storage: Storage;
  clock: Clock;
  timeouts: StatusTimeouts;
  agents: AgentStore;
  events: EventStore;
  policies: PolicyStore;
  hub: SseHub;
  enrollment: EnrollmentRules;
  registrationHooks?: RegistrationHook[];
}

/** Registration, heartbeats, fleet reads and deregistration of Guard agents. */
export function createAgentService(deps: AgentServiceDeps) {
  const { storage, clock, timeouts, agents, events, policies, hub, enrollment } = deps;
  const registrationHooks = deps.registrationHooks ?? [];

  // The agent's token is a credential: its registration is synced like the Auth Server's.
  // Who may register where, the quota and the write are decided in this one transaction.
  const upsert = (body: RegisterBody, who: Registrant, ip: string, tokenHash: string, now: number) =>
    storage.transaction(
      { durable: true, locks: registrationLocks(enrollment.requestedOrg(who, body.org_id), body.hostname) },
      async (tx) => {
        const orgId = await enrollment.orgFor(tx, who, body.org_id);
        const tags = [...new Set(body.tags ?? [])];
        const common = { os: body.os, version: body.version, ip, tags, tokenHash, nowMs: now, nowIso: toIso(now) };
        const existing = await agents.findByOrgHostname(tx, orgId, body.hostname);
        if (existing) {
          enrollment.mayReRegister(who);
          await agents.reRegister(tx, { id: existing.id, ...common });
          await enrollment.registered(tx, who, false);
          return { id: existing.id, created: false };
        }
        for (const hook of registrationHooks) await hook(tx, { orgId, hostname: body.hostname });
        const id = newId('agent-');
        await agents.insert(tx, { id, orgId, hostname: body.hostname, ...common });
        await enrollment.registered(tx, who, true);
        return { id, created: true };
      },
    );

  interface WaitingBeat {
    id: string;
    body: HeartbeatBody;
    at: number;
    resolve: (reply: HeartbeatAnswer) => void;
    reject: (error: unknown) => void;
  }
  type Written = { reply: HeartbeatAnswer; cameOnline: { agentId: string; hostname: string; ip: string } | null } | null;
  /** One agent's beats of this turn: its row as the last of them leaves it, and the write that does so. */
  interface Beating {
    row: AgentRow;
    /** The version of the policy that applies to it (policies do not change inside the transaction). */
    applicable: string | null;
    update: HeartbeatUpdate | null;
  }

  /**
   * Heartbeats are written in groups: those that arrive in one turn of the event loop wait for
   * its end (setImmediate) and commit in one transaction, then each is answered; none is
   * answered before it is committed. A commit per beat was most of a heartbeat's cost. Each
   * beat is judged against the row as the beats before it left it, and an agent's beats of one
   * turn become one row write with the values one-at-a-time writes would leave (the last
   * beat's metrics and time, the last version and policyVersion sent), so status, agent_online
   * and pendingPolicies are exactly what one-at-a-time writes would give. Heartbeats commit
   * with the connection's level (NORMAL by default): telemetry, not credentials.
   */
  const writeBeats = (beats: WaitingBeat[]): Promise<Written[]> =>
    // One lock per agent: a batch waits only for batches beating for the same agents.
    storage.transaction({ durable: false, locks: [...new Set(beats.map((beat) => agentStatusLock(beat.id)))] }, async (tx) => {
      const beating = new Map<string, Beating | null>();
      const written: Written[] = [];
      for (const { id, body, at } of beats) {
        let agent = beating.get(id);
        if (agent === undefined) {
          const row = await agents.findById(tx, id);
          const policy = row ? await policies.applicableTo(tx, id, row.org_id) : undefined;
          agent = row ? { row, applicable: policy ? policyVersionName(policy.version) : null, update: null } : null;
          beating.set(id, agent);
        }
        if (!agent) {
          written.push(null);
          continue;
        }
        const { row } = agent;
        const lastHeartbeat = toIso(at);
        const cameOnline = statusAt(row.last_heartbeat_ms, at, timeouts) !== 'online';
        const applied = body.policyVersion ?? row.policy_version;
        const previous = agent.update;
        agent.update = {
          id,
          nowMs: at,
          onlineSinceIso: previous?.onlineSinceIso ?? lastHeartbeat,
          cpu: body.cpu ?? null,
          memory: body.memory ?? null,
          uptime: body.uptime ?? null,
          version: body.version ?? previous?.version ?? null,
          policyVersion: body.policyVersion ?? previous?.policyVersion ?? null,
        };
        row.last_heartbeat_ms = at;
        row.policy_version = applied;
        written.push({
          reply: { id, status: 'online', lastHeartbeat, pendingPolicies: agent.applicable !== null && agent.applicable !== applied ? 1 : 0 },
          cameOnline: cameOnline ? { agentId: id, hostname: row.hostname, ip: row.ip } : null,
        });
      }
      for (const agent of beating.values()) if (agent?.update) await agents.heartbeat(tx, agent.update);
      return written;
    });
  let waiting: WaitingBeat[] = [];
  /** Flushes started and not finished: closing waits for them too (on PostgreSQL one spans round trips). */
  const inFlight = new Set<Promise<void>>();
  const flushBeats = (): Promise<void> => {
    if (waiting.length === 0) return Promise.resolve();
    const beats = waiting;
    waiting = [];
    const flush = writeAndAnswer(beats).finally(() => inFlight.delete(flush));
    inFlight.add(flush);
    return flush;
  };
  const writeAndAnswer = async (beats: WaitingBeat[]): Promise<void> => {
    let written: Written[];
    try {
      // The port begins IMMEDIATE: the write lock at BEGIN rather than an upgrade from the first read.
      written = await writeBeats(beats);
    } catch (error) {
      // Rolled back as a whole: each heartbeat gets the error (503 for a full or locked file).
      for (const beat of beats) beat.reject(error);
      return;
    }
    // Announced after the commit, each before its heartbeat is answered.
    for (const [i, beat] of beats.entries()) {
      const result = written[i];
      if (!result) {
        beat.reject(agentNotFound());
        continue;
      }
      try {
        if (result.cameOnline) await hub.publish('agent_online', result.cameOnline);
        beat.resolve(result.reply);
      } catch (error) {
        beat.reject(error);
      }
    }
  };

  const requireAgent = async (id: string) => {
    const row = await agents.findById(storage, id);
    if (!row) throw agentNotFound();
    return row;
  };

  return {
    requireAgent,
    /**
     * Idempotent per hostname + org: a known agent keeps its id and gets a fresh token,
     * which invalidates the old one (only its SHA-256 is stored) — for the operator and the
     * org owner's token; the installer's token gets 409 instead (see enrollment.ts).
     */
    async register(body: RegisterBody, who: Registrant, clientIp: string) {
      const ip = body.ip ?? clientIp;
      if (isIP(ip) === 0) throw badRequest('ip must be a valid IPv4 or IPv6 address');
      const token = newSecretToken('pga_');
      const now = clock.now();
      const { id, created } = await upsert(body, who, ip, sha256Hex(token), now);
      const row = await requireAgent(id);
      await hub.publish('agent_online', { agentId: row.id, hostname: row.hostname, ip: row.ip });
      return { agent: { ...toAgent(row, now, timeouts), agentToken: token }, created };
    },

    /**
     * Stores a heartbeat; resolves once it is committed (see writeBeats: heartbeats arriving
     * together share one commit), so an answered heartbeat is in the file and in every read.
     */
    heartbeat(id: string, body: HeartbeatBody): Promise<HeartbeatAnswer> {
      return new Promise((resolve, reject) => {
        waiting.push({ id, body, at: clock.now(), resolve, reject });
        if (waiting.length === 1) setImmediate(() => void flushBeats());
      });
    },

    /** Commits heartbeats still waiting for their turn and waits for those being committed (the app is closing). */
    flushHeartbeats: async () => {
      await Promise.all([...inFlight, flushBeats()]);
    },

    async list(query: AgentListQuery) {
      const now = clock.now();
      const range = query.status ? heartbeatRange(query.status, now, timeouts) : { from: null, to: null };
      const limit = query.limit ?? 50;
      const page = query.page ?? 1;
      const sort = query.sort ?? 'registeredAt';
      const { rows, total } = await agents.list(
        { orgId: query.org_id ?? null, heartbeatFrom: range.from, heartbeatTo: range.to, tags: query.tag ?? [], q: query.q ?? null },
        limit,
        (page - 1) * limit,
        { sort, order: query.order ?? (sort === 'hostname' ? 'asc' : 'desc') },
      );
      return { items: rows.map((row) => toAgent(row, now, timeouts)), total, page, limit };
    },

    async detail(id: string): Promise<AgentDetail> {
      const row = await requireAgent(id);
      const now = clock.now();
      const policy = await policies.applicableTo(storage, id, row.org_id);
      return {
        ...toAgent(row, now, timeouts),
        cpu: row.cpu,
        memory: row.memory,
        uptime: row.uptime,
        recentThreats: await events.recentCountForAgent(id, now - DAY_MS),
        activePolicyVersion: policy ? policyVersionName(policy.version) : null,
        appliedPolicyVersion: row.policy_version,
      };
    },

    /** Removes the agent (its token dies with the row); its threat events stay. */
    async deregister(id: string): Promise<void> {
      if (!(await agents.remove(id))) throw agentNotFound();
    },
  };
}

export type AgentService = ReturnType<typeof createAgentService>;
