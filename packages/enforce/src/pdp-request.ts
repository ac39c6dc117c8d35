/** One HTTP exchange with the PDP for the local mode (bundle, JWKS, audit), failures as EnforceErrors. */
import { isPlainObject, isTenantId } from '@verity/core';
import { EnforceError } from './errors.js';

export interface PdpRequestOptions {
  fetch: typeof fetch;
  method: 'GET' | 'POST';
  credential: string | undefined;
  timeoutMs: number;
  body?: unknown;
  /** More request headers (request id, tier, …). */
  headers?: Record<string, string>;
  /** A deadline shared by several attempts; otherwise one of `timeoutMs` for this request. */
  signal?: AbortSignal;
}

/** What the PDP answered: its status, its JSON body (if any), its error code and `Retry-After` (if any). */
export interface PdpAnswer {
  status: number;
  body: unknown;
  pdpCode: string | undefined;
  /** `Retry-After` in seconds (RFC 9110 §10.2.3, delay-seconds form), when sent. */
  retryAfterSec: number | undefined;
}

/** `Retry-After` as whole seconds; an HTTP-date or anything else is ignored (Verity sends seconds). */
function retryAfterOf(value: string | null): number | undefined {
  if (value === null || !/^\d{1,9}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

/**
 * `work`, or a rejection once `signal` aborts, whichever comes first. The budget must not depend
 * on the transport honouring `signal` (a custom `fetch` may ignore it): an answer that arrives
 * after the deadline is dropped, never used.
 */
function withinDeadline<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => (signal.removeEventListener('abort', onAbort), resolve(value)),
      (error: unknown) => (signal.removeEventListener('abort', onAbort), reject(error)),
    );
  });
}

/**
 * Send one request and read its answer, whatever its status. Only a failure to get an answer
 * rejects: `ERR_ENFORCE_PDP_TIMEOUT` past the deadline, `ERR_ENFORCE_PDP_UNREACHABLE` otherwise.
 */
export async function sendPdp(url: string, options: PdpRequestOptions): Promise<PdpAnswer> {
  const signal = options.signal ?? AbortSignal.timeout(options.timeoutMs);
  const headers: Record<string, string> = {
    accept: 'application/json',
    ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(options.credential === undefined ? {} : { authorization: `Bearer ${options.credential}` }),
    ...options.headers,
  };
  let status: number;
  let text: string;
  let retryAfterSec: number | undefined;
  try {
    const exchange = async () => {
      const response = await options.fetch(url, { method: options.method, headers, signal, ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }) });
      return { status: response.status, retryAfterSec: retryAfterOf(response.headers.get('retry-after')), text: await response.text() };
    };
    ({ status, text, retryAfterSec } = await withinDeadline(exchange(), signal));
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
  return { status, body, pdpCode: isPlainObject(body) && typeof body.code === 'string' ? body.code : undefined, retryAfterSec };
}

/**
 * The error for an answer that is not a success: 5xx failed, anything else refused. The message
 * names the PDP's status and code (`the PDP failed (503 ERR_OVERLOADED)`): never a decision.
 */
export function pdpFailure(answer: PdpAnswer): EnforceError {
  const detail = {
    pdpStatus: answer.status,
    ...(answer.pdpCode === undefined ? {} : { pdpCode: answer.pdpCode }),
    ...(answer.retryAfterSec === undefined ? {} : { retryAfterSec: answer.retryAfterSec }),
  };
  const what = `${answer.status}${answer.pdpCode ? ` ${answer.pdpCode}` : ''}`;
  if (answer.status >= 500) return new EnforceError('ERR_ENFORCE_PDP_FAILED', `the PDP failed (${what})`, detail);
  return new EnforceError('ERR_ENFORCE_PDP_REFUSED', `the PDP refused the request (${what})`, detail);
}

/** Send one request and resolve with its JSON body for a 2xx; reject otherwise (see above). */
export async function requestPdp(url: string, options: PdpRequestOptions): Promise<unknown> {
  const answer = await sendPdp(url, options);
  if (answer.status >= 200 && answer.status < 300) return answer.body;
  throw pdpFailure(answer);
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
  if (!isTenantId(tenant)) throw new TypeError(`${caller}: tenant must be a tenant id`);
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
