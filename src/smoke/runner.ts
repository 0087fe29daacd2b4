import { SmokeFailure } from './check.js';
import type { RunState } from './run-state.js';
import type { Step } from './steps/index.js';

/** Node's codes for a certificate nobody vouched for: the Manager's self-signed one by default. */
const UNTRUSTED_CERTIFICATE = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);

/** Why a step failed, in one line an operator can act on. */
export function reasonOf(error: unknown): string {
  if (error instanceof SmokeFailure) return error.message;
  if (!(error instanceof Error)) return String(error);
  const code = 'code' in error && typeof error.code === 'string' ? error.code : '';
  if (UNTRUSTED_CERTIFICATE.has(code)) return `${error.message}: pass the service's certificate with --manager-ca (or --auth-ca, --tc-ca)`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `${error.message}: use the host name the certificate was made for`;
  return error.message;
}

/**
 * Runs the steps in order and writes one line each. Later steps build on earlier ones, so
 * after the first failure the rest are listed as skipped rather than failing for its reason;
 * clean-up steps still run, to remove whatever the run did create.
 */
export async function runSteps(steps: Step[], state: RunState, write: (line: string) => void): Promise<RunSummary> {
  const summary: RunSummary = { ok: 0, skipped: 0, failed: 0 };
  for (const step of steps) {
    if (summary.failed > 0 && !step.cleanUp) {
      summary.skipped++;
      write(`skip ${step.name}: an earlier step failed`);
      continue;
    }
    const started = performance.now();
    try {
      const outcome = await step.run(state);
      if (outcome) {
        summary.skipped++;
        write(`skip ${step.name}: ${outcome.skipped}`);
      } else {
        summary.ok++;
        write(`ok   ${step.name} (${Math.round(performance.now() - started)} ms)`);
      }
    } catch (error) {
      summary.failed++;
      write(`FAIL ${step.name}: ${reasonOf(error)}`);
    }
  }
  return summary;
}

export interface RunSummary {
  ok: number;
  skipped: number;
  failed: number;
}
