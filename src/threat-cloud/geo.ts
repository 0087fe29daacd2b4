import { createRequire } from 'node:module';

interface GeoIpModule {
  lookup(ip: string): { country?: string } | null;
}

/**
 * Country of a public IP from the GeoLite2 data bundled with geoip-country (MaxMind
 * GeoLite2, CC BY-SA 4.0). The data (~8 MB) is loaded on first use, not at start-up, so
 * the process starts listening quickly. The loaded module is process-wide read-only data.
 */
export function createCountryResolver(): (ip: string) => string | null {
  let geoip: GeoIpModule | null = null;
  return (ip) => {
    geoip ??= createRequire(import.meta.url)('geoip-country') as GeoIpModule;
    const country = geoip.lookup(ip)?.country;
    return country && /^[A-Z]{2}$/.test(country) ? country : null;
  };
}
export type CountryResolver = ReturnType<typeof createCountryResolver>;
