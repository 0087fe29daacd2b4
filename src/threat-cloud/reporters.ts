/**
 * Reporter ids: who the reputation's corroboration counts (threat-cloud.md "Reputation").
 * Keys get theirs in `src/shared/api-keys.ts` (`user:<id>` for a user's keys, `key:<id>` for
 * each operator or bootstrap key); the Manager's fleet gets one of these.
 */

/** Everything a user contributes, through any of their keys or any agent in their org. */
export const userReporter = (userId: string) => `user:${userId}`;

/** Every Manager agent outside a user's org: the operator's fleet, one reporter however many orgs it names. */
export const MANAGER_REPORTER = 'manager';
