import type { RunState } from '../run-state.js';

/** A step passes (nothing), fails (throws) or had nothing to do here (why, not a failure). */
export type StepOutcome = void | { skipped: string };

export interface Step {
  name: string;
  run(state: RunState): Promise<StepOutcome>;
  /** Runs after a failure too: it removes what earlier steps made, as far as they got. */
  cleanUp?: boolean;
}

/** The header a bearer token travels in. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
