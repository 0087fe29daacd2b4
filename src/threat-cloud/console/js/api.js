// Every read goes through here: the key travels only in the Authorization header, and every
// failure becomes an ApiError that the banners can explain.

const KEY_STORAGE = 'panguard.tcApiKey';

export const session = {
  key: () => sessionStorage.getItem(KEY_STORAGE),
  remember: (key) => sessionStorage.setItem(KEY_STORAGE, key),
  forget: () => sessionStorage.removeItem(KEY_STORAGE),
};

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the server could not be reached
   * @param {string} message the API's own `error` text
   * @param {{path: string, retryAfter?: number, requestId?: string}} detail
   */
  constructor(status, message, detail) {
    super(message);
    this.status = status;
    this.path = detail.path;
    this.retryAfter = detail.retryAfter;
    this.requestId = detail.requestId;
  }
}

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params ?? {})) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

async function send(path, params, key) {
  const url = path + query(params);
  let response;
  try {
    response = await fetch(url, { headers: { authorization: `Bearer ${key ?? session.key() ?? ''}` }, cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'The Threat Cloud could not be reached', { path });
  }
  if (response.ok) return response;
  let message = `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body && typeof body.error === 'string') message = body.error;
  } catch {
    // A proxy's HTML error page: the status says enough.
  }
  const retryAfter = Number(response.headers.get('retry-after'));
  throw new ApiError(response.status, message, {
    path,
    retryAfter: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
    requestId: response.headers.get('x-request-id') ?? undefined,
  });
}

/** The `data` of an enveloped answer (with `pagination` alongside when the route pages). */
export async function getJson(path, params, key) {
  const body = await (await send(path, params, key)).json();
  return body.pagination ? { items: body.data, pagination: body.pagination } : body.data;
}

/**
 * Fetches a feed with the key in the header and saves it through an object URL: a bare link
 * could not carry the header. Navigating to blob: is a download, not a fetch, so the page's
 * `default-src 'self'` does not stand in its way.
 */
export async function download(path, params, filename) {
  const response = await send(path, params);
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has its own reference by now; the page's copy can go.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return blob.size;
}
