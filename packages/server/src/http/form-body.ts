/**
 * `application/x-www-form-urlencoded` bodies, for the OAuth endpoints only (RFC 6749 §4, RFC 7009
 * §2.1, RFC 8693 §2.1). Registered inside their plugin scope, so every other route still
 * answers a form body with ERR_REQUEST_CONTENT_TYPE.
 */
import type { FastifyInstance } from 'fastify';
import { isStorableText, setEntry, VerityError } from '@verity/core';

/** The bodies parseForm made: only these are forms (every value a string), whatever else a scope parses. */
const FORMS = new WeakSet<object>();

/** Parse a form body into single-valued parameters. RFC 6749 §3.2: a parameter may appear once. */
export function parseForm(text: string): Record<string, string> {
  const params = new URLSearchParams(text);
  const form: Record<string, string> = {};
  for (const [key, value] of params) {
    // Neither PostgreSQL nor UTF-8 can hold a NUL or an unpaired surrogate: no parameter has one.
    if (!isStorableText(key) || !isStorableText(value)) throw new VerityError('ERR_STS_INVALID_REQUEST', 'a parameter holds a NUL or an unpaired surrogate');
    if (Object.hasOwn(form, key)) throw new VerityError('ERR_STS_INVALID_REQUEST', `parameter "${key.slice(0, 64)}" is repeated`);
    setEntry(form, key, value);
  }
  FORMS.add(form);
  return form;
}

/**
 * A request body as form parameters: the body parseForm made, or `ERR_STS_INVALID_REQUEST`
 * (RFC 6749 §3.2, RFC 7009 §2.1: these endpoints take `application/x-www-form-urlencoded` only).
 * A JSON body never passes for a form: its values need not be strings.
 */
export function formOf(body: unknown): Record<string, string> {
  if (typeof body !== 'object' || body === null || !FORMS.has(body)) throw new VerityError('ERR_STS_INVALID_REQUEST', 'the body must be application/x-www-form-urlencoded');
  return body as Record<string, string>;
}

export function registerFormBody(scope: FastifyInstance): void {
  scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseForm(body.toString()));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}
