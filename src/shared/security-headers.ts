/** Headers every response of every service carries (the contract's "Common behaviour"). */
export const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};
export const CSP = "default-src 'self'";
/**
 * The docs UI (and only it) needs inline style attributes, which swagger-ui sets from its
 * script; scripts stay same-origin. The contract allows /docs this relaxation.
 */
export const DOCS_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'";
export const HSTS = 'max-age=31536000; includeSubDomains';

/** The full set for a response outside the /docs UI, HSTS only on TLS listeners. */
export function securityHeaders(tls: boolean): Record<string, string> {
  return { ...SECURITY_HEADERS, 'content-security-policy': CSP, ...(tls ? { 'strict-transport-security': HSTS } : {}) };
}
