/**
 * Assurance levels from CAEP `assurance-level-change` events, per (tenant, subject): stored, and
 * held in memory on every replica so a decision reads them synchronously. Read whole at start,
 * a tenant again on its `assurance` change (the change feed: within a second), all on a resync.
 */
import type { Store } from '@verity/store';
import type { PublishChange } from '../change-feed.js';

/** A subject's latest reported assurance level: the `current_level` and when it changed (ms). */
export interface Assurance {
  acr: string;
  atMs: number;
}

export interface AssuranceService {
  /**
   * The latest assurance level reported for the principal id `subject` of `tenant`, or undefined.
   * An event newer than a token's `auth_time` replaces the token's `acr` (applied by the risk context).
   */
  of(tenant: string, subject: string): Assurance | undefined;
  /** Record a change (kept only if newer than the one held) and tell every replica. */
  set(tenant: string, subject: string, assurance: Assurance): Promise<void>;
  /** The tenant's `assurance` change arrived: read it again. */
  /** Resolves once the tenant's levels are read again (or the read failed, reported). */
  onChange(tenant: string): Promise<void>;
  /** Notifications may have been missed: read everything again. */
  onResync(): void;
}

export interface AssuranceServiceOptions {
  store: Store;
  publish: PublishChange;
  /** A reload failed (what was held stays until the next change or resync). */
  onReloadError?: (error: unknown) => void;
}

/**
 * Create the service, having read every tenant's assurance levels.
 *
 * @example
 * const assurance = await createAssuranceService({ store, publish: feed.publish });
 * assurance.of('acme', 'alice'); // { acr: 'aal1', atMs: 1764600000000 } | undefined
 */
export async function createAssuranceService(options: AssuranceServiceOptions): Promise<AssuranceService> {
  const { store, publish } = options;
  let held = new Map<string, Map<string, Assurance>>();
  /** Raised by every read begun: only the latest read of a tenant (or of all) is applied. */
  let generation = 0;
  const tenantGeneration = new Map<string, number>();

  const group = (rows: Awaited<ReturnType<Store['ssf']['listAssurance']>>) => {
    const byTenant = new Map<string, Map<string, Assurance>>();
    for (const row of rows) {
      let subjects = byTenant.get(row.tenant);
      if (subjects === undefined) byTenant.set(row.tenant, (subjects = new Map()));
      subjects.set(row.subject, { acr: row.acr, atMs: row.atMs });
    }
    return byTenant;
  };

  let latestAll = 0;
  async function readAll(): Promise<void> {
    const mine = (latestAll = ++generation);
    const rows = await store.ssf.listAssurance(null);
    if (mine !== latestAll) return;
    const fresh = group(rows);
    // A tenant read begun after this one is newer for that tenant: keep what it gives.
    for (const [tenant, began] of tenantGeneration) {
      if (began < mine) continue;
      const current = held.get(tenant);
      if (current === undefined) fresh.delete(tenant);
      else fresh.set(tenant, current);
    }
    held = fresh;
  }

  async function readTenant(tenant: string): Promise<void> {
    const mine = ++generation;
    tenantGeneration.set(tenant, mine);
    const rows = await store.ssf.listAssurance(tenant);
    // A later read of this tenant (or of all) began meanwhile: it reflects at least as much.
    if (tenantGeneration.get(tenant) !== mine) return;
    const subjects = group(rows).get(tenant);
    if (subjects === undefined) held.delete(tenant);
    else held.set(tenant, subjects);
  }

  const report = (error: unknown) => options.onReloadError?.(error);
  await readAll();

  return {
    of: (tenant, subject) => held.get(tenant)?.get(subject),

    async set(tenant, subject, assurance) {
      if (await store.ssf.setAssurance({ tenant, subject, acr: assurance.acr, atMs: assurance.atMs })) {
        let subjects = held.get(tenant);
        if (subjects === undefined) held.set(tenant, (subjects = new Map()));
        subjects.set(subject, { ...assurance });
        await publish({ tenant, kind: 'assurance' });
      }
    },

    onChange: (tenant) => readTenant(tenant).catch(report),
    onResync: () => void readAll().catch(report),
  };
}
