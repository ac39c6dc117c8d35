/**
 * The console's client of the admin API (docs/http-api.md). The credential the user typed is held
 * in this tab's sessionStorage and sent as `Authorization: Bearer …`, as the CLI sends it; the
 * server authorizes every call with its `_system` policies. Nothing else is stored.
 */

const CREDENTIAL_KEY = 'verity.console.credential';

/** A refused or failed call: the server's `{code, message}` (and `diagnostics`), and the status. */
export class ApiError extends Error {
  constructor(status, code, message, diagnostics = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.diagnostics = diagnostics;
  }
}

export const credential = {
  get: () => sessionStorage.getItem(CREDENTIAL_KEY),
  set: (token) => sessionStorage.setItem(CREDENTIAL_KEY, token),
  clear: () => sessionStorage.removeItem(CREDENTIAL_KEY),
};

/** `/admin/v1/tenants/{t}{rest}` with the tenant id escaped. */
export function tenantPath(tenant, rest = '') {
  return `/admin/v1/tenants/${encodeURIComponent(tenant)}${rest}`;
}

/**
 * One call: resolves to the parsed JSON answer, or rejects with an ApiError. A body that is not
 * Verity's error JSON (a proxy's page) becomes `HTTP_<status>`; no answer at all `NETWORK_ERROR`.
 */
export async function api(method, path, { query = {}, body } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, String(value));
  const headers = { accept: 'application/json' };
  const token = credential.get();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit', cache: 'no-store' });
  } catch (error) {
    throw new ApiError(0, 'NETWORK_ERROR', `the server did not answer (${error.message})`);
  }
  const text = await response.text();
  let json;
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const code = typeof json?.code === 'string' ? json.code : `HTTP_${response.status}`;
    const message = typeof json?.message === 'string' ? json.message : `HTTP ${response.status} ${response.statusText}`.trim();
    throw new ApiError(response.status, code, message, Array.isArray(json?.diagnostics) ? json.diagnostics : []);
  }
  if (json === undefined) throw new ApiError(response.status, 'HTTP_INVALID_JSON', 'the server answered something that is not JSON');
  return json;
}
