/** OAuth scope parsing and narrowing, shared by the token service's grants (never re-exported). */
import { VerityError } from '@verity/core';

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** A space-separated `scope` as a list without duplicates, or `ERR_STS_INVALID_SCOPE` when malformed. */
export function parseScope(scope: string | undefined): string[] | undefined {
  if (scope === undefined) return undefined;
  const tokens = scope.split(' ');
  if (tokens.some((token) => !SCOPE_TOKEN.test(token))) throw new VerityError('ERR_STS_INVALID_SCOPE', 'The scope is malformed');
  return [...new Set(tokens)];
}

/**
 * Requested scopes must lie inside every allowed set; with none requested, the intersection of
 * them all is granted. An empty grant is refused: it would carry identity without any purpose.
 */
export function grantScopes(requested: string[] | undefined, allowedSets: readonly (readonly string[])[]): string[] {
  const allowed = allowedSets.map((set) => new Set(set));
  const inAll = (scope: string): boolean => allowed.every((set) => set.has(scope));
  if (requested !== undefined) {
    if (!requested.every(inAll)) throw new VerityError('ERR_STS_INVALID_SCOPE', 'The requested scope exceeds what may be granted');
    return requested;
  }
  const granted = [...new Set(allowedSets[0] ?? [])].filter(inAll);
  if (granted.length === 0) throw new VerityError('ERR_STS_INVALID_SCOPE', 'No scope can be granted');
  return granted;
}
