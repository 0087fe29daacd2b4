import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/clock.js';
import type { Storage, Transaction } from '../../shared/db/storage.js';
import { newId, sha256Hex } from '../../shared/tokens.js';
import { normaliseDomain, normaliseIp, normaliseUrl } from '../normalise.js';
import type { TrapIntelBody } from '../schemas.js';
import type { AuditActor, AuditStore } from '../stores/audit.js';
import type { Category } from '../stores/iocs.js';
import type { TrapIntelStore } from '../stores/trap-intel.js';
import { TC_CHANGES, type IocReport, type IocService } from './ioc-merge.js';
import { normalisedOr400 } from './iocs.js';
import { CAMPAIGNS_LOCK } from '../intel/services/correlation.js';

/** Contacted hosts and payloads taken from one observation: bounds the work per request. */
const MAX_RELATED = 500;
const URL_IN_TEXT = /\bhttps?:\/\/[^\s'"<>`|;)]+/gi;

type Interaction = NonNullable<TrapIntelBody['interactions']>[number];

export function attackerCategory(body: Pick<TrapIntelBody, 'interactions' | 'credentials'>): Category {
  const actions = new Set((body.interactions ?? []).map((interaction) => interaction.action));
  if (actions.has('command') || actions.has('download')) return 'exploit';
  if (actions.has('login_attempt') || (body.credentials ?? []).length > 0) return 'bruteforce';
  return 'scanner';
}

/** http(s) URLs in `data.command` / `data.url`, each with its host as a domain or public IP; unparseable ones are skipped. */
export function contactedIndicators(interactions: readonly Interaction[]): Array<{ type: 'url' | 'domain' | 'ip'; value: string }> {
  const found = new Map<string, { type: 'url' | 'domain' | 'ip'; value: string }>();
  const add = (type: 'url' | 'domain' | 'ip', value: string) => {
    if (found.size < MAX_RELATED) found.set(`${type}:${value}`, { type, value });
  };
  for (const interaction of interactions) {
    const texts = [interaction.data.command, interaction.data.url].filter((text): text is string => typeof text === 'string');
    for (const text of texts) {
      for (const match of text.matchAll(URL_IN_TEXT)) {
        let url: string;
        try {
          url = normaliseUrl(match[0]);
        } catch {
          continue;
        }
        add('url', url);
        const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
        try {
          add('ip', normaliseIp(host));
        } catch {
          try {
            add('domain', normaliseDomain(host));
          } catch {
            // A host that is neither a public IP nor a valid domain adds nothing to block.
          }
        }
      }
    }
  }
  return [...found.values()];
}

export interface TrapIntelDeps {
  storage: Storage;
  clock: Clock;
  merge: IocService;
  store: TrapIntelStore;
  audit: AuditStore;
  /** Campaign correlation of the IoCs an observation touched, inside its transaction; the attacker's campaign. */
  correlateNow: (tx: Transaction, iocIds: readonly string[]) => Promise<string | null>;
}

/** Honeypot observations: the attacker, its payloads and contacted hosts merged, related and correlated at once. */
export function createTrapIntelService(deps: TrapIntelDeps) {
  const { storage, clock, merge, store, audit } = deps;

  return {
    async report(body: TrapIntelBody, reporterId: string, actor: AuditActor) {
      const attackerIp = normalisedOr400('attackerIp', 'ip', body.attackerIp);
      const source = `trap:${body.trapId}`;
      const trapReport = (type: IocReport['type'], value: string, category: Category): IocReport => ({
        type, value, source, kind: 'trap', category, severity: 'high', confidence: 0.9, trap: true,
      });
      const payloads = [...new Set((body.payloads ?? []).map((hash) => hash.toLowerCase()))];
      const contacted = contactedIndicators(body.interactions ?? []).filter((item) => !(item.type === 'ip' && item.value === attackerIp));

      return await storage.transaction({ durable: true, locks: [TC_CHANGES, CAMPAIGNS_LOCK] }, async (tx) => {
        const [attacker] = await merge.mergeReports(tx, [trapReport('ip', attackerIp, attackerCategory(body))], reporterId);
        const related = new Set<string>();
        for (const hash of payloads) {
          const [outcome] = await merge.mergeReports(tx, [trapReport('hash', hash, 'malware')], reporterId);
          await merge.relate(tx, attacker!.ioc.id, outcome!.ioc.id, 'dropped');
          related.add(outcome!.ioc.id);
        }
        for (const item of contacted) {
          const [outcome] = await merge.mergeReports(tx, [trapReport(item.type, item.value, 'malware')], reporterId);
          await merge.relate(tx, attacker!.ioc.id, outcome!.ioc.id, 'contacted');
          related.add(outcome!.ioc.id);
        }
        const nowIso = toIso(clock.now());
        for (const credential of body.credentials ?? []) await store.countCredential(tx, body.trapId, sha256Hex(credential.username), nowIso);
        await store.addEvent(tx, {
          id: newId('trap_'),
          trapId: body.trapId,
          honeypotType: body.honeypotType,
          attackerIocId: attacker!.ioc.id,
          interactions: (body.interactions ?? []).length,
          credentials: (body.credentials ?? []).length,
          payloads: payloads.length,
          reporterId,
          at: nowIso,
        });
        await audit.record(tx, {
          action: 'create',
          resource: 'trap-intel',
          details: { trapId: body.trapId, honeypotType: body.honeypotType, iocId: attacker!.ioc.id, relatedIocs: related.size },
          ...actor,
        });
        return {
          iocId: attacker!.ioc.id,
          reputationDelta: attacker!.ioc.reputation - attacker!.before,
          relatedIocs: related.size,
          campaignMatch: await deps.correlateNow(tx, [attacker!.ioc.id, ...related]),
        };
      });
    },
  };
}
export type TrapIntelService = ReturnType<typeof createTrapIntelService>;
