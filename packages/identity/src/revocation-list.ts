/** Revoked tokens, subjects, clients and jobs per tenant, checked in O(1) on every verified token. */
import type { Revocation } from './types.js';

/** The facts about a token that revocation looks at (a `VerifiedToken` has them all). */
export interface RevocationCheck {
  tenant: string;
  tokenId: string | null;
  /** The principal id the identity source mapped the token to (not the raw `sub`). */
  subject: string;
  clientId: string | null;
  /** The token's job (`VerifiedToken.job`), when it was exchanged for one (revocation by job). */
  job?: string;
  /** Seconds; a token without `iat` cannot prove it postdates a subject/client/job revocation, so it counts as revoked. */
  issuedAt: number | null;
  /**
   * How far the issuer's clock may run ahead of ours (the source's tolerance, default 0). A token
   * minted just before a cutoff may carry an `iat` up to this much after it, so a cutoff revokes
   * every `iat` up to cutoff + tolerance: a token minted within the tolerance after a revocation
   * is refused too, until the issuer's clock has passed the cutoff by the tolerance.
   */
  clockToleranceSec?: number;
}

export interface RevocationList {
  /** Records a revocation. Revoking an unknown or already-expired token is not an error (RFC 7009 §2.2). */
  add(revocation: Revocation): void;
  isRevoked(token: RevocationCheck): boolean;
  /** Drops entries that can no longer match a live token; returns how many were dropped. */
  forgetExpired(): number;
  /** Every live revocation, for persistence. */
  snapshot(): Revocation[];
  /** Replaces the whole list with these revocations (e.g. after a restart). */
  load(revocations: readonly Revocation[]): void;
}

export interface RevocationListOptions {
  /** Clock in milliseconds (default `Date.now`). */
  now?: () => number;
  /**
   * How long a token revocation is kept past the token's `exp` (default 300 s). Verifiers
   * tolerate clock skew, so a just-expired token can still be accepted for a while.
   */
  graceSec?: number;
  /**
   * The longest lifetime (plus skew) of any token checked against this list. Subject and client
   * revocations older than this are forgotten. Default: they are kept until removed by `load`.
   */
  maxTokenLifetimeSec?: number;
}

interface TenantEntries {
  /** jti → expiresAt */
  tokens: Map<string, number>;
  /** subject → issuedBefore */
  subjects: Map<string, number>;
  /** client id → issuedBefore */
  clients: Map<string, number>;
  /** job id → issuedBefore */
  jobs: Map<string, number>;
}

const OPTION_KEYS: ReadonlySet<string> = new Set(['now', 'graceSec', 'maxTokenLifetimeSec']);

/**
 * Creates an in-memory revocation list. The caller persists `snapshot()` and restores with `load()`.
 *
 * @example
 * const revocations = createRevocationList();
 * revocations.add({ kind: 'subject', tenant: 'acme', subject: 'alice', issuedBefore: Math.floor(Date.now() / 1000) });
 */
export function createRevocationList(options: RevocationListOptions = {}): RevocationList {
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw new TypeError(`unknown revocation list option "${key}"`);
  const now = options.now ?? Date.now;
  const graceSec = options.graceSec ?? 300;
  if (!Number.isFinite(graceSec) || graceSec < 0) throw new TypeError('revocation list: graceSec must be a non-negative number');
  const maxLifetimeSec = options.maxTokenLifetimeSec;
  if (maxLifetimeSec !== undefined && (!Number.isFinite(maxLifetimeSec) || maxLifetimeSec <= 0)) throw new TypeError('revocation list: maxTokenLifetimeSec must be a positive number');

  let tenants = new Map<string, TenantEntries>();
  const nowSec = (): number => now() / 1000;

  const entriesOf = (tenant: string): TenantEntries => {
    let entries = tenants.get(tenant);
    if (entries === undefined) {
      entries = { tokens: new Map(), subjects: new Map(), clients: new Map(), jobs: new Map() };
      tenants.set(tenant, entries);
    }
    return entries;
  };
  const keepMax = (map: Map<string, number>, key: string, value: number): void => {
    const known = map.get(key);
    if (known === undefined || value > known) map.set(key, value);
  };
  const tokenLive = (expiresAt: number, at: number): boolean => expiresAt + graceSec >= at;
  const cutoffLive = (issuedBefore: number, at: number): boolean => maxLifetimeSec === undefined || issuedBefore + maxLifetimeSec >= at;

  function add(revocation: Revocation): void {
    checkRevocation(revocation);
    const at = nowSec();
    switch (revocation.kind) {
      case 'token':
        if (tokenLive(revocation.expiresAt, at)) keepMax(entriesOf(revocation.tenant).tokens, revocation.tokenId, revocation.expiresAt);
        return;
      case 'subject':
        if (cutoffLive(revocation.issuedBefore, at)) keepMax(entriesOf(revocation.tenant).subjects, revocation.subject, revocation.issuedBefore);
        return;
      case 'client':
        if (cutoffLive(revocation.issuedBefore, at)) keepMax(entriesOf(revocation.tenant).clients, revocation.clientId, revocation.issuedBefore);
        return;
      case 'job':
        if (cutoffLive(revocation.issuedBefore, at)) keepMax(entriesOf(revocation.tenant).jobs, revocation.job, revocation.issuedBefore);
        return;
    }
  }

  function isRevoked(token: RevocationCheck): boolean {
    const entries = tenants.get(token.tenant);
    if (entries === undefined) return false;
    if (token.tokenId !== null && entries.tokens.has(token.tokenId)) return true;
    // "Issued at or before the cutoff" is revoked; a token without iat cannot show it came later.
    const skew = token.clockToleranceSec ?? 0;
    const revokedByCutoff = (cutoff: number | undefined): boolean => cutoff !== undefined && (token.issuedAt === null || token.issuedAt <= cutoff + skew);
    if (revokedByCutoff(entries.subjects.get(token.subject))) return true;
    if (token.job !== undefined && revokedByCutoff(entries.jobs.get(token.job))) return true;
    return token.clientId !== null && revokedByCutoff(entries.clients.get(token.clientId));
  }

  function forgetExpired(): number {
    const at = nowSec();
    let dropped = 0;
    const sweep = (map: Map<string, number>, live: (value: number) => boolean): void => {
      for (const [key, value] of map) {
        if (!live(value)) {
          map.delete(key);
          dropped += 1;
        }
      }
    };
    for (const [tenant, entries] of tenants) {
      sweep(entries.tokens, (expiresAt) => tokenLive(expiresAt, at));
      sweep(entries.subjects, (cutoff) => cutoffLive(cutoff, at));
      sweep(entries.clients, (cutoff) => cutoffLive(cutoff, at));
      sweep(entries.jobs, (cutoff) => cutoffLive(cutoff, at));
      if (entries.tokens.size + entries.subjects.size + entries.clients.size + entries.jobs.size === 0) tenants.delete(tenant);
    }
    return dropped;
  }

  function snapshot(): Revocation[] {
    const result: Revocation[] = [];
    for (const [tenant, entries] of tenants) {
      for (const [tokenId, expiresAt] of entries.tokens) result.push({ kind: 'token', tenant, tokenId, expiresAt });
      for (const [subject, issuedBefore] of entries.subjects) result.push({ kind: 'subject', tenant, subject, issuedBefore });
      for (const [clientId, issuedBefore] of entries.clients) result.push({ kind: 'client', tenant, clientId, issuedBefore });
      for (const [job, issuedBefore] of entries.jobs) result.push({ kind: 'job', tenant, job, issuedBefore });
    }
    return result;
  }

  function load(revocations: readonly Revocation[]): void {
    // Validate everything before replacing, so a bad snapshot leaves the current list intact.
    revocations.forEach(checkRevocation);
    const previous = tenants;
    tenants = new Map();
    try {
      revocations.forEach(add);
    } catch (error) {
      tenants = previous;
      throw error;
    }
  }

  return Object.freeze({ add, isRevoked, forgetExpired, snapshot, load });
}

/** Revocations come from our own admin code or storage; a malformed one is a programming error. */
function checkRevocation(revocation: Revocation): void {
  const text = (value: unknown): boolean => typeof value === 'string' && value !== '';
  const time = (value: unknown): boolean => typeof value === 'number' && Number.isFinite(value);
  const ok =
    typeof revocation === 'object' &&
    revocation !== null &&
    text(revocation.tenant) &&
    ((revocation.kind === 'token' && text(revocation.tokenId) && time(revocation.expiresAt)) ||
      (revocation.kind === 'subject' && text(revocation.subject) && time(revocation.issuedBefore)) ||
      (revocation.kind === 'client' && text(revocation.clientId) && time(revocation.issuedBefore)) ||
      (revocation.kind === 'job' && text(revocation.job) && time(revocation.issuedBefore)));
  if (!ok) throw new TypeError('revocation list: malformed revocation');
}
