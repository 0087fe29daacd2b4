import type { App } from '../../shared/base-app.js';
import { toIso } from '../../shared/clock.js';
import { createdReplies, ok } from '../../shared/envelope.js';
import { newId, sha256Hex } from '../../shared/tokens.js';
import { actor, apiRoute, BEARER, type ThreatCloudContext } from '../context.js';
import type { IocReport } from '../ioc-service.js';
import type { Category } from '../ioc-store.js';
import { normaliseDomain, normaliseIp, normaliseUrl } from '../normalise.js';
import { TrapIntelBody, TrapIntelResult } from '../schemas.js';
import { normalisedOr400 } from './iocs.js';
import { durableTransaction } from '../../shared/db/durable.js';

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

export function registerTrapIntelRoutes(app: App, context: ThreatCloudContext): void {
  const { db, iocs, audit, clock } = context;
  const addEvent = db.prepare<[string, string, string, string, number, number, number, string, string]>(
    `INSERT INTO trap_events (id, trap_id, honeypot_type, attacker_ioc_id, interactions, credentials, payloads, reporter_id, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const countCredential = db.prepare<{ trapId: string; usernameHash: string; at: string }>(
    `INSERT INTO trap_credentials (trap_id, username_hash, attempts, last_seen) VALUES (@trapId, @usernameHash, 1, @at)
     ON CONFLICT (trap_id, username_hash) DO UPDATE SET attempts = attempts + 1, last_seen = @at`,
  );

  app.post(
    '/api/trap-intel',
    {
      ...apiRoute(context, 'write'),
      schema: {
        operationId: 'reportTrapIntel',
        tags: ['trap-intel'],
        summary: 'Report a honeypot observation',
        security: BEARER,
        body: TrapIntelBody,
        response: createdReplies(TrapIntelResult),
      },
    },
    async (request, reply) => {
      const body = request.body;
      const key = request.tcKey!;
      const attackerIp = normalisedOr400('attackerIp', 'ip', body.attackerIp);
      const source = `trap:${body.trapId}`;
      const trapReport = (type: IocReport['type'], value: string, category: Category): IocReport => ({
        type, value, source, kind: 'trap', category, severity: 'high', confidence: 0.9, trap: true,
      });
      const payloads = [...new Set((body.payloads ?? []).map((hash) => hash.toLowerCase()))];
      const contacted = contactedIndicators(body.interactions ?? []).filter((item) => !(item.type === 'ip' && item.value === attackerIp));

      const result = durableTransaction(db, () => {
        const [attacker] = iocs.mergeReports([trapReport('ip', attackerIp, attackerCategory(body))], key.reporterId);
        const related = new Set<string>();
        for (const hash of payloads) {
          const [outcome] = iocs.mergeReports([trapReport('hash', hash, 'malware')], key.reporterId);
          iocs.relate(attacker!.ioc.id, outcome!.ioc.id, 'dropped');
          related.add(outcome!.ioc.id);
        }
        for (const item of contacted) {
          const [outcome] = iocs.mergeReports([trapReport(item.type, item.value, 'malware')], key.reporterId);
          iocs.relate(attacker!.ioc.id, outcome!.ioc.id, 'contacted');
          related.add(outcome!.ioc.id);
        }
        const nowIso = toIso(clock.now());
        for (const credential of body.credentials ?? []) countCredential.run({ trapId: body.trapId, usernameHash: sha256Hex(credential.username), at: nowIso });
        addEvent.run(
          newId('trap_'), body.trapId, body.honeypotType, attacker!.ioc.id,
          (body.interactions ?? []).length, (body.credentials ?? []).length, payloads.length, key.reporterId, nowIso,
        );
        audit.record({
          action: 'create',
          resource: 'trap-intel',
          details: { trapId: body.trapId, honeypotType: body.honeypotType, iocId: attacker!.ioc.id, relatedIocs: related.size },
          ...actor(request),
        });
        return {
          iocId: attacker!.ioc.id,
          reputationDelta: attacker!.ioc.reputation - attacker!.before,
          relatedIocs: related.size,
          campaignMatch: context.campaigns.correlateNow([attacker!.ioc.id, ...related]),
        };
      })();
      return reply.code(201).send(ok(result));
    },
  );
}
