import { randomBytes, randomInt } from 'node:crypto';

/** A non-zero 16-bit group in hex, so the address below is already in RFC 5952 form. */
const group = () => randomInt(1, 0x10000).toString(16);

/** Names that are new on every run, so a run never meets what an earlier one left behind. */
export function newRunNames() {
  const runId = `smoke-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  return {
    runId,
    email: `${runId}@example.com`,
    password: `${randomBytes(18).toString('base64url')}-Aa1`,
    hostname: `${runId}.smoke.example`,
    // Documentation addresses and example.com names: on a real blocklist they never block anyone.
    iocIp: `2001:db8:${group()}:${group()}::${group()}`,
    iocDomain: `${runId}.example.com`,
  };
}

export type RunNames = ReturnType<typeof newRunNames>;

/** What earlier steps learnt and later ones need. */
export interface RunState {
  names: RunNames;
  userId?: string;
  session?: string;
  enrollToken?: string;
  agent?: { id: string; token: string };
  iocsUploaded?: boolean;
  /** The server's `firstSeen` of the uploaded IP: the JSON feed is read from there. */
  iocFirstSeen?: string;
}

/** A value an earlier step stored; steps stop at the first failure, so its absence is a bug here. */
export function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`no ${what} from an earlier step`);
  return value;
}
