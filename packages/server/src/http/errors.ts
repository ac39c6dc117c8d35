/** Turns any thrown error into Verity's stable `{code, message}` body and HTTP status, and logs it. */
import type { FastifyRequest } from 'fastify';
import { VerityError, isVerityError } from '@verity/core';

/**
 * Log a failed request: every 5xx at error with its cause (the client gets only the safe
 * message), refusals (401/403) at warn as security events. Neither carries the request's
 * headers, query or body, so no token reaches the log.
 */
export function logFailure(request: FastifyRequest, verityError: VerityError, error: unknown): void {
  const where = { method: request.method, path: request.url.split('?')[0] ?? '', code: verityError.code };
  if (verityError.status >= 500) request.log.error({ ...where, err: error }, 'request failed');
  else if (verityError.status === 401 || verityError.status === 403) request.log.warn(where, 'request refused');
}

const FASTIFY_CODES: Record<string, VerityError['code']> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'ERR_REQUEST_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'ERR_REQUEST_CONTENT_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'ERR_REQUEST_MALFORMED_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'ERR_REQUEST_MALFORMED_JSON',
};

/** Connection-level failures of the store: the PDP cannot decide, so it says so (503), never allows. */
const STORE_DOWN = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P03', '08006', '08001', '08003']);

export function toVerityError(error: unknown): VerityError {
  if (isVerityError(error)) return error;
  const code = (error as { code?: unknown }).code;
  const statusCode = (error as { statusCode?: unknown }).statusCode;
  if (typeof code === 'string' && code in FASTIFY_CODES) {
    return new VerityError(FASTIFY_CODES[code] as VerityError['code'], (error as Error).message);
  }
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    return new VerityError('ERR_REQUEST_INVALID', 'the request could not be read');
  }
  if (typeof code === 'string' && STORE_DOWN.has(code)) return new VerityError('ERR_STORE_UNAVAILABLE', 'the policy store is unavailable');
  return new VerityError('ERR_INTERNAL', 'internal error', { cause: error });
}
