/**
 * IP reputation: threat-intelligence lists a tenant imports (CIDR ranges by source, with an
 * optional expiry), and the risk engine's `maliciousIp` signal. Each replica holds a tenant's
 * lists in memory as CIDR matchers (read on the tenant's first decision that has a client IP), so
 * a decision never waits on the store for them; this replica's own imports apply at once, every
 * replica reads the tenant again on its `threat` change and on a resync. An expired list is
 * skipped from its expiry on, with no change needed.
 */
import { formatCidr, holdThreatList, holdThreatLists, isPlainObject, matchThreatLists, parseCidr, VerityError, type CidrRange, type HeldThreatList, type IpAddress, type ThreatMatch } from '@verity/core';
import type { Store, ThreatListSummary } from '@verity/store';
import type { PublishChange } from '../change-feed.js';
import { createTenantViews } from '../tenant-views.js';

/** The most entries one import may hold. */
export const MAX_THREAT_LIST_ENTRIES = 100_000;

/** A list as the admin API shows it (never its entries: they can be large). */
export interface ThreatListView {
  source: string;
  entries: number;
  /** ISO 8601; null: it does not expire. */
  expires_at: string | null;
  imported_at: string;
  /** The list has expired at the time of the call and is ignored. */
  expired: boolean;
}

export interface ThreatListService {
  /** Import `{entries, expires_at?}` as the source's list, replacing it whole. ERR_THREAT_LIST_INVALID, ERR_TENANT_NOT_FOUND. */
  import(tenant: string, source: string, body: unknown): Promise<ThreatListView>;
  list(tenant: string): Promise<ThreatListView[]>;
  /** ERR_THREAT_LIST_NOT_FOUND when there is no list of that source. */
  remove(tenant: string, source: string): Promise<void>;
  /** The risk engine's signal: the lists, unexpired at `nowMs`, holding `address`; null when none. Reads memory once loaded. */
  match(tenant: string, address: IpAddress, nowMs: number): Promise<ThreatMatch | null>;
  /** The tenant's `threat` change arrived: read its lists again (if this replica holds them). */
  /** Resolves once the tenant's new view is held (decisions meanwhile wait for it). */
  onChange(tenant: string): Promise<void>;
  /** Notifications may have been missed: read every tenant held again. */
  onResync(): void;
}

export interface ThreatListServiceOptions {
  store: Store;
  publish: PublishChange;
  /** Clock in epoch ms (default `Date.now`). */
  now?: () => number;
  /** A reload after a change failed (the tenant's lists are dropped and read at its next decision). */
  onReloadError?: (error: unknown) => void;
}

/** A tenant's lists, by source (sorted: the first match is stable). */
type TenantLists = Map<string, HeldThreatList>;

const SOURCE = /^[A-Za-z0-9._-]{1,64}$/;
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const invalid = (message: string) => new VerityError('ERR_THREAT_LIST_INVALID', message);

function checkSource(source: string): string {
  if (!SOURCE.test(source)) throw invalid('a threat-list source is 1–64 characters of A–Z, a–z, 0–9, ".", "_" and "-"');
  return source;
}

/** `{entries, expires_at?}` checked: the ranges (canonical), and the expiry in ms (null: none). */
function parseImport(body: unknown, nowMs: number): { ranges: CidrRange[]; expiresAtMs: number | null } {
  if (!isPlainObject(body)) throw invalid('an import is {entries: [CIDR, …], expires_at?: ISO date-time}');
  const unknown = Object.keys(body).find((key) => key !== 'entries' && key !== 'expires_at');
  if (unknown !== undefined) throw invalid(`an import has an unknown key: ${unknown.slice(0, 40)}`);
  const { entries, expires_at: expiresAt } = body;
  if (!Array.isArray(entries)) throw invalid('entries must be an array of IPv4/IPv6 addresses or CIDR ranges');
  if (entries.length > MAX_THREAT_LIST_ENTRIES) throw invalid(`a list holds at most ${MAX_THREAT_LIST_ENTRIES} entries`);
  const ranges = entries.map((entry: unknown, index) => {
    const range = parseCidr(entry);
    // The index only: an entry is the caller's text, never echoed.
    if (range === null) throw invalid(`entries[${index}] is not an IPv4/IPv6 address or CIDR range`);
    return range;
  });
  let expiresAtMs: number | null = null;
  if (expiresAt !== undefined && expiresAt !== null) {
    const parsed = typeof expiresAt === 'string' && ISO_DATE_TIME.test(expiresAt) ? Date.parse(expiresAt) : Number.NaN;
    if (!Number.isFinite(parsed)) throw invalid('expires_at must be an ISO 8601 date-time with a zone, such as 2027-01-01T00:00:00Z');
    if (parsed <= nowMs) throw invalid('expires_at is not in the future: the list would never apply');
    expiresAtMs = parsed;
  }
  return { ranges, expiresAtMs };
}

function toView(list: ThreatListSummary, nowMs: number): ThreatListView {
  return {
    source: list.source,
    entries: list.entryCount,
    expires_at: list.expiresAtMs === null ? null : new Date(list.expiresAtMs).toISOString(),
    imported_at: new Date(list.importedAtMs).toISOString(),
    expired: list.expiresAtMs !== null && list.expiresAtMs <= nowMs,
  };
}

/** Sources sorted by name (the order `match` reports the first of). */
const sorted = (lists: TenantLists): TenantLists => new Map([...lists.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

export function createThreatListService(options: ThreatListServiceOptions): ThreatListService {
  const { store, publish } = options;
  const now = options.now ?? Date.now;

  async function read(tenant: string): Promise<TenantLists> {
    return new Map(holdThreatLists(await store.threatLists.load(tenant)).map((list) => [list.source, list]));
  }

  const views = createTenantViews({ read, ...(options.onReloadError === undefined ? {} : { onReloadError: options.onReloadError }) });

  /** This replica's own write, applied to what it holds at once, then published to every replica. */
  async function applyAndPublish(tenant: string, source: string, list: HeldThreatList | null): Promise<void> {
    views.update(tenant, (lists) => {
      const next = new Map(lists);
      if (list === null) next.delete(source);
      else next.set(source, list);
      return sorted(next);
    });
    await publish({ tenant, kind: 'threat' });
  }

  return {
    async import(tenant, source, body) {
      checkSource(source);
      const nowMs = now();
      const { ranges, expiresAtMs } = parseImport(body, nowMs);
      const summary = await store.threatLists.put(tenant, { source, entries: ranges.map(formatCidr), expiresAtMs }, nowMs);
      await applyAndPublish(tenant, source, holdThreatList(source, ranges, expiresAtMs));
      return toView(summary, nowMs);
    },

    async list(tenant) {
      const nowMs = now();
      return (await store.threatLists.list(tenant)).map((list) => toView(list, nowMs));
    },

    async remove(tenant, source) {
      if (!SOURCE.test(source) || !(await store.threatLists.remove(tenant, source))) throw new VerityError('ERR_THREAT_LIST_NOT_FOUND', 'no threat list of that source');
      await applyAndPublish(tenant, source, null);
    },

    match: async (tenant, address, nowMs) => matchThreatLists((await views.get(tenant)).values(), address, nowMs),

    onChange: (tenant) => views.reload(tenant),
    onResync: () => views.reloadAll(),
  };
}
