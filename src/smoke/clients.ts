import createClient from 'openapi-fetch';
import type { paths as AuthPaths } from './generated/auth.js';
import type { paths as ManagerPaths } from './generated/manager.js';
import type { paths as ThreatCloudPaths } from './generated/threat-cloud.js';
import type { SmokeOptions } from './options.js';
import { fetchFor } from './tls-fetch.js';

/** One openapi-fetch client per service, typed only by what its /docs/json says. */
export function createClients(options: SmokeOptions) {
  const clientFor = <Paths extends object>(service: keyof SmokeOptions['urls']) =>
    createClient<Paths>({ baseUrl: options.urls[service], fetch: fetchFor(options.tls[service], options.timeoutMs) });
  return {
    auth: clientFor<AuthPaths>('auth'),
    manager: clientFor<ManagerPaths>('manager'),
    threatCloud: clientFor<ThreatCloudPaths>('threatCloud'),
  };
}

export type Clients = ReturnType<typeof createClients>;
