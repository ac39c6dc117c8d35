/**
 * Identity propagation to the next tier: the caller's token, the Txn-Token, the request id and
 * the W3C trace context — never a bare tenant or user header, and incoming ones are stripped.
 */
import { randomBytes } from 'node:crypto';

export interface DownstreamIdentity {
  /** The caller's token (or one exchanged for the next audience). */
  token?: string;
  /** The Txn-Token, passed on unchanged as `Txn-Token` (draft-ietf-oauth-transaction-tokens §9.2). */
  txnToken?: string;
  requestId: string;
  /** The incoming `traceparent`, if any. */
  traceparent?: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * The `traceparent` for the next hop (W3C Trace Context §3.2): the same trace id and flags with
 * a new parent id for this hop, or a new trace when the incoming one is absent or invalid.
 *
 * @example
 * ```ts
 * nextTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
 * // '00-4bf92f3577b34da6a3ce929d0e0e4736-<new span id>-01'
 * ```
 */
export function nextTraceparent(incoming: string | undefined): string {
  const match = incoming === undefined ? null : TRACEPARENT.exec(incoming.trim());
  const span = randomBytes(8).toString('hex');
  if (match) {
    const [, version, traceId, parentId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
    // Version ff is invalid; version 00 has no trailing fields; all-zero ids are invalid.
    const valid = version !== 'ff' && !(version === '00' && rest !== undefined) && !/^0+$/.test(traceId) && !/^0+$/.test(parentId);
    if (valid) return `00-${traceId}-${span}-${flags}`;
  }
  return `00-${randomBytes(16).toString('hex')}-${span}-00`;
}

/**
 * Headers for a call to the next tier, so that tier can verify the caller itself.
 *
 * @example
 * ```ts
 * // inside a handler wrapped by withVerity
 * await fetch('http://inventory.internal/stock/42', { headers: downstreamHeaders(request.verity) });
 * ```
 */
export function downstreamHeaders(identity: DownstreamIdentity): Record<string, string> {
  return {
    ...(identity.token === undefined ? {} : { authorization: `Bearer ${identity.token}` }),
    ...(identity.txnToken === undefined ? {} : { 'txn-token': identity.txnToken }),
    'x-request-id': identity.requestId,
    traceparent: nextTraceparent(identity.traceparent),
  };
}

/**
 * Headers that claim an identity without proof. Whatever sent them, nothing behind a PEP may
 * take them for authorization, so they are removed before the handler runs.
 */
export const SPOOFABLE_HEADERS: readonly string[] = Object.freeze([
  'x-tenant-id',
  'x-tenant',
  'x-org-id',
  'x-user-id',
  'x-user',
  'x-user-email',
  'x-user-roles',
  'x-user-groups',
  'x-roles',
  'x-groups',
  'x-scopes',
  'x-principal',
  'x-subject',
  'x-remote-user',
  'remote-user',
  'x-authenticated-user',
  'x-auth-user',
  'x-forwarded-user',
  'x-forwarded-email',
  'x-forwarded-groups',
  'x-forwarded-preferred-username',
  'x-auth-request-user',
  'x-auth-request-email',
  'x-auth-request-groups',
]);

function isSpoofable(name: string, also: ReadonlySet<string>): boolean {
  const lower = name.toLowerCase();
  // Every x-verity-* header is Verity's own; none of them may arrive from a caller.
  return lower.startsWith('x-verity-') || SPOOFABLE_HEADERS.includes(lower) || also.has(lower);
}

/**
 * Whether a header name claims an identity without proof (see {@link SPOOFABLE_HEADERS}).
 *
 * @example
 * ```ts
 * isSpoofableHeader('X-Tenant-Id'); // true
 * isSpoofableHeader('x-acme-account', { also: ['x-acme-account'] }); // true
 * ```
 */
export function isSpoofableHeader(name: string, options: { also?: readonly string[] } = {}): boolean {
  return isSpoofable(name, new Set((options.also ?? []).map((item) => item.toLowerCase())));
}

/**
 * A copy of `headers` without identity-claiming headers (`x-tenant-id`, `x-user-id`,
 * `x-verity-*`, …, plus `options.also`).
 *
 * @example
 * ```ts
 * request.headers = stripSpoofableHeaders(request.headers, { also: ['x-acme-account'] });
 * ```
 */
export function stripSpoofableHeaders<H extends Record<string, string | string[] | undefined>>(headers: H, options?: { also?: readonly string[] }): H;
export function stripSpoofableHeaders(headers: Headers, options?: { also?: readonly string[] }): Headers;
export function stripSpoofableHeaders(headers: Headers | Record<string, string | string[] | undefined>, options: { also?: readonly string[] } = {}): unknown {
  const also = new Set((options.also ?? []).map((name) => name.toLowerCase()));
  if (headers instanceof Headers) {
    const copy = new Headers();
    headers.forEach((value, name) => {
      if (!isSpoofable(name, also)) copy.append(name, value);
    });
    return copy;
  }
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !isSpoofable(name, also)));
}

/** A node request kept beside a framework's own (Fastify's `request.raw`, @hono/node-server's `c.env.incoming`). */
export interface NodeRequestHeaders {
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
}

/** Strip identity-claiming headers from a node request in place, `headers` and `rawHeaders` alike. */
export function stripNodeHeaders(message: NodeRequestHeaders, options: { stripHeaders?: readonly string[] } = {}): void {
  const strip = options.stripHeaders ? { also: options.stripHeaders } : {};
  message.headers = stripSpoofableHeaders(message.headers, strip);
  message.rawHeaders = message.rawHeaders.flatMap((value, index, raw) => (index % 2 === 1 || isSpoofableHeader(value, strip) ? [] : [value, raw[index + 1] ?? '']));
}
