import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { TlsTrust } from './tls-fetch.js';

export type ServiceName = 'auth' | 'manager' | 'threatCloud';

export interface SmokeOptions {
  kind: 'run';
  urls: Record<ServiceName, string>;
  tls: Record<ServiceName, TlsTrust>;
  /** Threat Cloud key with read and write scopes; the Threat Cloud steps need it. */
  tcKey: string | null;
  /** Operator or installer token for the Manager; null: an enrollment token made for the smoke user. */
  managerToken: string | null;
  timeoutMs: number;
}

export type ParsedArgs = SmokeOptions | { kind: 'help' } | { kind: 'error'; message: string };

export const HELP = `Usage: npm run smoke -- --auth URL --manager URL --tc URL [options]

Drives a running deployment through a client generated from its OpenAPI documents and checks
every answer: register and log in on the Auth Server, enrol an agent on the Manager, send a
heartbeat and threat events, upload IoCs to the Threat Cloud, look one up, read the IP
blocklist and the JSON feed. Prints one line per step; exits 0 when every step passes, 1 otherwise.
Each run uses new names (a new account, agent host name and IoC values), so it can be repeated
against the same server; the IoCs are documentation addresses (2001:db8::/32) and example.com
names, which never block real traffic. At the end (also after a failure) the run removes what
it made as far as its credentials allow: it revokes the IoCs (needs a key with the admin scope),
deregisters the agent (only when --manager-token is the operator token) and deletes the account
with its org's agents and events (not the only admin: on a fresh server the first account is it).
The Auth Server allows 5 registrations per hour per address (times RATE_LIMIT_SCALE).

Exit status: 0 every step passed or had nothing to do, 1 a step failed, 2 bad arguments.

  --auth URL              Auth Server base URL, e.g. http://localhost:3000
  --manager URL           Manager base URL, e.g. https://localhost:8443
  --tc URL                Threat Cloud base URL, e.g. http://localhost:8080
  --tc-key KEY            Threat Cloud API key with the read and write scopes: a TC_API_KEYS
                          bootstrap key or one made with \`npm run keys -- create --tier pro\`
                          (default: $PANGUARD_SMOKE_TC_KEY). Without it the Threat Cloud steps fail.
  --manager-token TOKEN   register the agent with this Manager token (MANAGER_AUTH_TOKEN or
                          MANAGER_ENROLL_TOKEN) instead of an enrollment token the smoke user
                          makes on the Auth Server (default: $PANGUARD_SMOKE_MANAGER_TOKEN)
  --manager-ca FILE       trust exactly this certificate for the Manager (its self-signed
                          certificate, certs/manager.crt by default)
  --auth-ca FILE, --tc-ca FILE
                          the same for the Auth Server and the Threat Cloud when they use TLS
  --insecure              do not verify any TLS certificate (says so in the output)
  --timeout MS            give up on a request after this long (default 15000)
  -h, --help              this text

Keys and tokens are better passed through the environment variables than on the command line,
where other users of the machine can read them.`;

function trustFrom(file: string | undefined, insecure: boolean): TlsTrust {
  if (insecure) return { kind: 'insecure' };
  if (file === undefined) return { kind: 'system' };
  return { kind: 'ca', file, pem: readFileSync(file) };
}

function baseUrl(name: string, value: string | undefined): string {
  if (value === undefined) throw new Error(`--${name} URL is required`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`--${name} must be a URL such as http://localhost:3000, not "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--${name} must be an http or https URL`);
  return url.origin;
}

/** The command line (and the secrets' environment variables) as options, or why not. */
export function parseSmokeArgs(args: string[], env: NodeJS.ProcessEnv = process.env): ParsedArgs {
  try {
    const { values } = parseArgs({
      args,
      strict: true,
      options: {
        auth: { type: 'string' },
        manager: { type: 'string' },
        tc: { type: 'string' },
        'tc-key': { type: 'string' },
        'manager-token': { type: 'string' },
        'manager-ca': { type: 'string' },
        'auth-ca': { type: 'string' },
        'tc-ca': { type: 'string' },
        insecure: { type: 'boolean', default: false },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) return { kind: 'help' };
    const timeoutMs = values.timeout === undefined ? 15_000 : Number(values.timeout);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new Error('--timeout must be a whole number of milliseconds');
    return {
      kind: 'run',
      urls: { auth: baseUrl('auth', values.auth), manager: baseUrl('manager', values.manager), threatCloud: baseUrl('tc', values.tc) },
      tls: {
        auth: trustFrom(values['auth-ca'], values.insecure),
        manager: trustFrom(values['manager-ca'], values.insecure),
        threatCloud: trustFrom(values['tc-ca'], values.insecure),
      },
      tcKey: values['tc-key'] ?? env.PANGUARD_SMOKE_TC_KEY ?? null,
      managerToken: values['manager-token'] ?? env.PANGUARD_SMOKE_MANAGER_TOKEN ?? null,
      timeoutMs,
    };
  } catch (error) {
    return { kind: 'error', message: error instanceof Error ? error.message : String(error) };
  }
}
