// Every call to the Manager goes through here, so no failure can be silent: each error is
// classified (what the operator can do about it differs) and handed to the banner unless
// the caller shows it itself (a 400 next to the input that caused it).

export class ApiError extends Error {
  constructor(kind, status, message, extra = {}) {
    super(message);
    this.kind = kind; // unauthorized | forbidden | rate_limited | server | network | client
    this.status = status;
    this.retryAfter = extra.retryAfter ?? null;
    this.requestId = extra.requestId ?? null;
  }
}

function kindOf(status) {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server';
  return 'client';
}

/**
 * `hooks.onSuccess()` after every answered request, `hooks.onError(error)` after every
 * failure the caller did not take over with `{ quiet: true }`.
 */
export function createApi(token, hooks) {
  async function request(path, options = {}) {
    const headers = { Authorization: `Bearer ${token}` };
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method: options.method || 'GET',
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        cache: 'no-store',
      });
    } catch {
      return fail(new ApiError('network', 0, 'The Manager cannot be reached.'), options);
    }
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    if (!res.ok || !body || body.ok !== true) {
      const retryAfter = Number(res.headers.get('retry-after')) || null;
      const message = (body && body.error) || `HTTP ${res.status}`;
      return fail(new ApiError(kindOf(res.status), res.status, message, { retryAfter, requestId: res.headers.get('x-request-id') }), options);
    }
    hooks.onSuccess();
    return { data: body.data, pagination: body.pagination ?? null };
  }

  function fail(error, options) {
    if (!options.quiet) hooks.onError(error);
    throw error;
  }

  /** Query string from an object: empty values are left out, arrays repeat the key. */
  function query(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (Array.isArray(value)) value.forEach((v) => search.append(key, v));
      else if (value !== '' && value !== null && value !== undefined) search.set(key, String(value));
    }
    const text = search.toString();
    return text ? `?${text}` : '';
  }

  /** Hands a failure the caller took over with `quiet` to the banner after all. */
  const report = (error) => hooks.onError(error);

  return { request, query, report };
}
