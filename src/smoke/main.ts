/**
 * `npm run smoke -- --auth URL --manager URL --tc URL`: a CI smoke test of a deployment,
 * built only on the types generated from its OpenAPI documents (see --help).
 */
import { createClients } from './clients.js';
import { HELP, parseSmokeArgs } from './options.js';
import { newRunNames } from './run-state.js';
import { runSteps } from './runner.js';
import { smokeSteps } from './steps/index.js';

/** Bad arguments, as distinct from a deployment that failed a step (1). */
const USAGE_ERROR = 2;

async function main(): Promise<number> {
  const parsed = parseSmokeArgs(process.argv.slice(2));
  if (parsed.kind === 'help') {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(`smoke: ${parsed.message}\nRun with --help for the options.\n`);
    return USAGE_ERROR;
  }
  const write = (line: string) => process.stdout.write(`${line}\n`);
  if (Object.values(parsed.tls).some((trust) => trust.kind === 'insecure')) write('warn TLS certificates are not verified (--insecure)');
  const state = { names: newRunNames() };
  const steps = smokeSteps(createClients(parsed), parsed);
  const { ok, skipped, failed } = await runSteps(steps, state, write);
  write(`${failed === 0 ? 'passed' : 'FAILED'}: ${ok} ok, ${skipped} skipped, ${failed} failed (run ${state.names.runId})`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(`smoke: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
