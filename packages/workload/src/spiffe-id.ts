/** SPIFFE ids and trust domain names, parsed strictly (SPIFFE-ID specification §2). */
import { VerityError } from '@verity/core';

/** A parsed SPIFFE id: `spiffe://<trustDomain><path>`. */
export interface SpiffeId {
  /** The whole id, exactly as given (it is already canonical: parsing refuses every variant). */
  id: string;
  /** Lowercase trust domain name, e.g. `acme.internal`. */
  trustDomain: string;
  /** `''` for the trust domain's own id, else `/seg/seg…` (no trailing slash). */
  path: string;
}

/** SPIFFE-ID §2.3: a SPIFFE id is at most 2048 bytes. */
export const MAX_SPIFFE_ID_BYTES = 2048;
/** SPIFFE-ID §2.1: a trust domain name is at most 255 bytes. */
export const MAX_TRUST_DOMAIN_BYTES = 255;

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const SCHEME = 'spiffe://';

/**
 * Check a trust domain name (SPIFFE-ID §2.1): lowercase letters, digits, `.`, `-`, `_`; 1–255
 * bytes. No scheme, port, userinfo or uppercase. Returns it unchanged.
 * @throws VerityError `ERR_TRUST_DOMAIN_INVALID`
 */
export function assertTrustDomain(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_TRUST_DOMAIN_BYTES || !TRUST_DOMAIN.test(name)) {
    throw new VerityError('ERR_TRUST_DOMAIN_INVALID', 'a trust domain name is 1-255 characters of a-z, 0-9, ".", "-" and "_"');
  }
  return name;
}

/**
 * Parse a SPIFFE id (SPIFFE-ID §2): scheme exactly `spiffe`, a valid trust domain, then an
 * optional path of `/`-separated segments of `[A-Za-z0-9._-]`, none empty, `.` or `..`; no
 * trailing slash, query, fragment, port, userinfo or percent-encoding; at most 2048 bytes.
 * @throws VerityError `ERR_SPIFFE_ID_INVALID`
 */
export function parseSpiffeId(text: unknown): SpiffeId {
  const invalid = (why: string): VerityError => new VerityError('ERR_SPIFFE_ID_INVALID', `invalid SPIFFE id: ${why}`);
  if (typeof text !== 'string') throw invalid('not a string');
  if (text.length > MAX_SPIFFE_ID_BYTES) throw invalid(`longer than ${MAX_SPIFFE_ID_BYTES} bytes`);
  if (!text.startsWith(SCHEME)) throw invalid('the scheme must be "spiffe://"');
  const rest = text.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  if (trustDomain.length === 0) throw invalid('the trust domain is empty');
  if (trustDomain.length > MAX_TRUST_DOMAIN_BYTES || !TRUST_DOMAIN.test(trustDomain)) {
    throw invalid('the trust domain may hold only a-z, 0-9, ".", "-" and "_"');
  }
  if (path !== '') {
    for (const segment of path.slice(1).split('/')) {
      if (segment === '') throw invalid('a path segment is empty');
      if (segment === '.' || segment === '..') throw invalid('a path segment is "." or ".."');
      if (!SEGMENT.test(segment)) throw invalid('a path segment may hold only A-Z, a-z, 0-9, ".", "-" and "_"');
    }
  }
  return { id: text, trustDomain, path };
}

/**
 * Parse a workload's SPIFFE id: as {@link parseSpiffeId}, and the path must be non-empty (the
 * trust domain's own id `spiffe://td` names the CA, never a workload), and, when `trustDomain`
 * is given, the id must belong to it.
 * @throws VerityError `ERR_SPIFFE_ID_INVALID`
 */
export function parseWorkloadSpiffeId(text: unknown, trustDomain?: string): SpiffeId {
  const id = parseSpiffeId(text);
  if (id.path === '') throw new VerityError('ERR_SPIFFE_ID_INVALID', 'invalid SPIFFE id: a workload id needs a path');
  if (trustDomain !== undefined && id.trustDomain !== trustDomain) {
    throw new VerityError('ERR_SPIFFE_ID_INVALID', 'invalid SPIFFE id: not in the trust domain');
  }
  return id;
}

/** The SPIFFE id of a trust domain itself (`spiffe://<name>`), the URI SAN of its CA certificates. */
export function trustDomainId(trustDomain: string): string {
  return SCHEME + assertTrustDomain(trustDomain);
}
