import { defineStatement, type Transaction } from '../../shared/db/storage.js';
import type { EnrollTokenVerifier } from '../../shared/enroll-tokens.js';
import { conflict, forbidden, unauthorized } from '../../shared/errors.js';
import { DEFAULT_ORG } from './agents.js';

export const OWNER_TOKEN_NEEDED = "This organisation needs its owner's enrollment token";
export const ANOTHER_ORGANISATION = 'Enrollment token is for another organisation';
export const ALREADY_REGISTERED = 'Agent already registered';

/**
 * Who registers an agent: the operator (anywhere), the installer's MANAGER_ENROLL_TOKEN (new
 * agents, orgs that are no user's) or a user's own enrollment token (the owner's org only).
 */
export type Registrant = { kind: 'operator' } | { kind: 'installer' } | { kind: 'owner'; userId: string; tokenId: string };

const IS_USER = defineStatement<[id: string], { one: number }>('SELECT 1 AS one FROM users WHERE id = ?');

/**
 * The rules of who may put an agent where. An org whose id is an Auth user's id belongs to
 * that user: only the operator and the owner's tokens reach it, so nobody else can spend the
 * owner's quota or put agents into their GDPR export. Every method runs inside the
 * registration transaction, so the decision and the write see the same rows.
 */
export function createEnrollmentRules(enrollTokens: EnrollTokenVerifier) {
  return {
    /**
     * The org a registration asks for, before any check: what `orgFor` answers unless it
     * refuses (the registration's locks are taken on it before the transaction begins).
     */
    requestedOrg(who: Registrant, requested: string | undefined): string {
      return who.kind === 'owner' ? who.userId : (requested ?? DEFAULT_ORG);
    },
    /** The org the agent goes to, or a 401/403 for a registrant that may not put it there. */
    async orgFor(tx: Transaction, who: Registrant, requested: string | undefined): Promise<string> {
      switch (who.kind) {
        case 'operator':
          return requested ?? DEFAULT_ORG;
        case 'installer': {
          const orgId = requested ?? DEFAULT_ORG;
          if (await tx.get(IS_USER, [orgId])) throw forbidden(OWNER_TOKEN_NEEDED);
          return orgId;
        }
        case 'owner':
          // Checked again here: a revocation, suspension or deletion since the request began wins.
          if (!(await enrollTokens.stillLive(tx, who.tokenId))) throw unauthorized('Unauthorized');
          if (requested !== undefined && requested !== who.userId) throw forbidden(ANOTHER_ORGANISATION);
          return who.userId;
      }
    },
    /** A known hostname: the installer's token must not take over a running agent (it would rotate its token). */
    mayReRegister(who: Registrant): void {
      if (who.kind === 'installer') throw conflict(ALREADY_REGISTERED);
    },
    /** Counts the registration on the user's token (last use, agents it enrolled). */
    async registered(tx: Transaction, who: Registrant, newAgent: boolean): Promise<void> {
      if (who.kind === 'owner') await enrollTokens.recordUse(tx, who.tokenId, newAgent);
    },
  };
}
export type EnrollmentRules = ReturnType<typeof createEnrollmentRules>;
