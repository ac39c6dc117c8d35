/** Turns any thrown error into Verity's stable `{code, message}` body and HTTP status. */
import { VerityError, isVerityError } from '@verity/core';

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
