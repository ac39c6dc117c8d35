/** One HTTP exchange with the PDP for the local mode (bundle, JWKS, audit), failures as EnforceErrors. */
import { EnforceError } from './errors.js';

export interface PdpRequestOptions {
  fetch: typeof fetch;
  method: 'GET' | 'POST';
  credential: string | undefined;
  timeoutMs: number;
  body?: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Send one request and read its JSON answer. Resolves only for a 2xx; the rest rejects with the
 * code the remote source uses for the same failure (unreachable, timeout, 5xx, other 4xx).
 */
export async function requestPdp(url: string, options: PdpRequestOptions): Promise<unknown> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  const headers: Record<string, string> = {
    accept: 'application/json',
    ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(options.credential === undefined ? {} : { authorization: `Bearer ${options.credential}` }),
  };
  let status: number;
  let text: string;
  try {
    const response = await options.fetch(url, { method: options.method, headers, signal, ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }) });
    status = response.status;
    text = await response.text();
  } catch (error) {
    if (signal.aborted) throw new EnforceError('ERR_ENFORCE_PDP_TIMEOUT', `the PDP did not answer within ${options.timeoutMs} ms`, { cause: error });
    throw new EnforceError('ERR_ENFORCE_PDP_UNREACHABLE', 'the PDP could not be reached', { cause: error });
  }
  let body: unknown;
  try {
    body = text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    body = undefined;
  }
  if (status >= 200 && status < 300) return body;
  const pdpCode = isRecord(body) && typeof body.code === 'string' ? body.code : undefined;
  const detail = { pdpStatus: status, ...(pdpCode === undefined ? {} : { pdpCode }) };
  if (status >= 500) throw new EnforceError('ERR_ENFORCE_PDP_FAILED', `the PDP failed (${status})`, detail);
  throw new EnforceError('ERR_ENFORCE_PDP_REFUSED', `the PDP refused the request (${status}${pdpCode ? ` ${pdpCode}` : ''})`, detail);
}

/** `{url}/tenants/{tenant}` without a trailing slash: the tenant's base, and its issuer. */
export function tenantBase(url: string, tenant: string, caller: string): string {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new TypeError(`${caller}: url must be an absolute http(s) URL`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError(`${caller}: url must be http(s)`);
  if (typeof tenant !== 'string' || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(tenant)) throw new TypeError(`${caller}: tenant must be a tenant id`);
  return `${base.href.replace(/\/$/, '')}/tenants/${tenant}`;
}

/** Validate the options every local-mode factory shares. */
export function checkCommonOptions(options: { credential?: unknown; fetch?: unknown; now?: unknown }, caller: string): void {
  if (options.credential !== undefined && (typeof options.credential !== 'string' || options.credential === '')) throw new TypeError(`${caller}: credential must be a non-empty string`);
  if (options.fetch !== undefined && typeof options.fetch !== 'function') throw new TypeError(`${caller}: fetch must be a function`);
  if (options.now !== undefined && typeof options.now !== 'function') throw new TypeError(`${caller}: now must be a function`);
}

/** A positive number option, or its default. */
export function positive(value: number | undefined, fallback: number, name: string, caller: string, integer = false): number {
  const result = value ?? fallback;
  if (typeof result !== 'number' || !Number.isFinite(result) || result <= 0 || (integer && !Number.isInteger(result))) {
    throw new TypeError(`${caller}: ${name} must be a positive ${integer ? 'integer' : 'number'}`);
  }
  return result;
}
