import { NormaliseError, normaliseIp } from '../threat-cloud/normalise.js';

/**
 * An address in the form the Threat Cloud stores it, or null when the Threat Cloud could
 * never hold it (not an IP, private, reserved): such an address is neither reported nor
 * looked up.
 */
export function publicIpOrNull(raw: string | null): string | null {
  if (!raw) return null;
  try {
    return normaliseIp(raw);
  } catch (error) {
    if (error instanceof NormaliseError) return null;
    throw error;
  }
}
