/** A step's expectation that the deployment did not meet; its message is the step's FAIL line. */
export class SmokeFailure extends Error {}

export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new SmokeFailure(message);
}

/** `error` of an error envelope, or the start of a text body. */
function describeBody(body: unknown): string {
  if (typeof body === 'object' && body !== null && 'error' in body && typeof body.error === 'string') return `"${body.error}"`;
  if (typeof body === 'string' && body.length > 0) return `"${body.slice(0, 120)}"`;
  return 'no error message';
}

/**
 * The body of an openapi-fetch result once its status is the expected one. The result is
 * either `{data}` or `{error}`; both are typed from the document, so this only narrows them.
 */
export function expectStatus<T>(result: { data?: T; error?: unknown; response: Response }, status: number, what: string): T {
  const { response } = result;
  check(response.status === status, `expected ${what} to answer ${status}, got ${response.status} (${describeBody(result.error ?? result.data)})`);
  check(result.data !== undefined, `expected a body from ${what}`);
  return result.data;
}
