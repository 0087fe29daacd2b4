import type { Clients } from '../clients.js';
import type { SmokeOptions } from '../options.js';
import { authSteps } from './auth.js';
import { cleanUpSteps } from './clean-up.js';
import { managerSteps } from './manager.js';
import type { Step } from './step.js';
import { threatCloudSteps } from './threat-cloud.js';

export type { Step, StepOutcome } from './step.js';

/** Every step, in the order a deployment is exercised, then the clean-up. */
export function smokeSteps(clients: Clients, options: SmokeOptions): Step[] {
  return [...authSteps(clients, options), ...managerSteps(clients, options), ...threatCloudSteps(clients, options), ...cleanUpSteps(clients, options)];
}
