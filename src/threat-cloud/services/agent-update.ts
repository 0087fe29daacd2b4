import { Readable } from 'node:stream';
import type { IocType } from '../normalise.js';
import { DEFAULT_THRESHOLD } from '../reputation.js';
import type { FeedStore } from '../stores/feeds.js';
import type { RuleStore } from '../stores/rules.js';
import { isListed } from './feeds.js';

async function* mapChunks<T, U>(source: AsyncGenerator<T>, map: (chunk: T) => U): AsyncGenerator<U> {
  for await (const chunk of source) yield map(chunk);
}

/** Rules and blocklists for Guard agents: everything, or with a version only what changed since. */
export function createAgentUpdateService(deps: { feeds: FeedStore; rules: RuleStore }) {
  const { feeds, rules } = deps;

  /**
   * The agent update streamed as the enveloped JSON of the `AgentUpdate` schema: the
   * blocklists of a full update can hold a million entries, so they are written chunk by
   * chunk instead of being serialised from one in-memory object.
   */
  async function* agentUpdateJson(since: number | null, until: number): AsyncGenerator<string> {
    const rulesPart =
      since === null
        ? await (async () => {
            const live = await rules.live();
            return { added: live.map((rule) => rule.id), updated: [] as string[], removed: [] as string[], files: live.map(({ id, name, content }) => ({ id, name, content })) };
          })()
        : await (async () => {
            const changed = (await rules.changedAfter(since)).filter((rule) => rule.changeSeq <= until);
            const live = changed.filter((rule) => rule.deletedAt === null);
            return {
              added: live.filter((rule) => rule.createdAt === rule.updatedAt).map((rule) => rule.id),
              updated: live.filter((rule) => rule.createdAt !== rule.updatedAt).map((rule) => rule.id),
              removed: changed.filter((rule) => rule.deletedAt !== null).map((rule) => rule.id),
              files: live.map(({ id, name, content }) => ({ id, name, content })),
            };
          })();
    yield `{"ok":true,"data":{"version":${JSON.stringify(`v${until}`)},"rules":{"atr":${JSON.stringify(rulesPart)}},"iocs":{`;
    const lists: Array<[string, IocType]> = [['ipBlocklist', 'ip'], ['domainBlocklist', 'domain'], ['hashBlocklist', 'hash']];
    for (const [index, [name, type]] of lists.entries()) {
      yield `${index > 0 ? ',' : ''}${JSON.stringify(name)}:[`;
      let first = true;
      const chunks =
        since === null
          ? feeds.listedValues({ type, threshold: DEFAULT_THRESHOLD, category: null })
          : mapChunks(feeds.changesBetween(since, until, type), (rows) => rows.filter((row) => isListed(row, DEFAULT_THRESHOLD)).map((row) => row.value));
      for await (const values of chunks) {
        if (values.length === 0) continue;
        yield `${first ? '' : ','}${JSON.stringify(values).slice(1, -1)}`;
        first = false;
      }
      yield ']';
    }
    yield ',"removed":[';
    if (since !== null) {
      let first = true;
      for await (const rows of feeds.changesBetween(since, until, null)) {
        const removed = rows.filter((row) => !isListed(row, DEFAULT_THRESHOLD)).map((row) => ({ value: row.value, type: row.type }));
        if (removed.length === 0) continue;
        yield `${first ? '' : ','}${JSON.stringify(removed).slice(1, -1)}`;
        first = false;
      }
    }
    yield `]},"config":{"heartbeatInterval":60,"logLevel":"info"}}}`;
  }

  return {
    /** The update for an agent at `currentVersion` (`v<seq>`), as a stream of JSON text. */
    async stream(currentVersion: string | undefined): Promise<Readable> {
      const until = await feeds.lastSeq();
      const requested = currentVersion === undefined ? null : Number(currentVersion.slice(1));
      // A version from the future (another server, a reset database) gets a full update.
      const since = requested !== null && requested <= until ? requested : null;
      return Readable.from(agentUpdateJson(since, until));
    },
  };
}
export type AgentUpdateService = ReturnType<typeof createAgentUpdateService>;
