/** IP reputation: threat-intelligence lists a tenant imported, one row per source. */
import { isForeignKeyViolation } from './sql-errors.js';
import { fromJson, toJsonParam, toNumber } from './sql-values.js';
import { tenantNotFound } from './tenant-guard.js';
import type { Database, Store, StoredThreatList, ThreatListSummary } from './types.js';

interface SummaryRow {
  tenant_id: string;
  source: string;
  entry_count: unknown;
  expires_at_ms: unknown;
  imported_at_ms: unknown;
}

interface ListRow extends SummaryRow {
  entries: unknown;
}

const SUMMARY = 'tenant_id, source, entry_count, expires_at_ms, imported_at_ms';

const toSummary = (row: SummaryRow): ThreatListSummary => ({
  tenant: row.tenant_id,
  source: row.source,
  entryCount: toNumber(row.entry_count),
  expiresAtMs: row.expires_at_ms === null ? null : toNumber(row.expires_at_ms),
  importedAtMs: toNumber(row.imported_at_ms),
});

/** The `threatLists` repository of a {@link Store}. */
export function createThreatListsRepository(db: Database): Store['threatLists'] {
  return {
    async put(tenant, list, nowMs) {
      try {
        // One statement: a reader sees the old list or the new one, never a mix.
        const { rows } = await db.query<SummaryRow>(
          `INSERT INTO threat_lists (tenant_id, source, entries, entry_count, expires_at_ms, imported_at_ms) VALUES ($1, $2, $3::jsonb, $4, $5, $6)
           ON CONFLICT (tenant_id, source) DO UPDATE SET entries = EXCLUDED.entries, entry_count = EXCLUDED.entry_count,
             expires_at_ms = EXCLUDED.expires_at_ms, imported_at_ms = EXCLUDED.imported_at_ms
           RETURNING ${SUMMARY}`,
          [tenant, list.source, toJsonParam(list.entries), list.entries.length, list.expiresAtMs, nowMs],
        );
        // The statement returns its row: insert or update.
        return toSummary(rows[0] as SummaryRow);
      } catch (error) {
        if (isForeignKeyViolation(error)) throw tenantNotFound(tenant);
        throw error;
      }
    },

    async list(tenant) {
      const { rows } = await db.query<SummaryRow>(`SELECT ${SUMMARY} FROM threat_lists WHERE tenant_id = $1 ORDER BY source`, [tenant]);
      return rows.map(toSummary);
    },

    async load(tenant) {
      const { rows } = await db.query<ListRow>(`SELECT ${SUMMARY}, entries FROM threat_lists WHERE tenant_id = $1 ORDER BY source`, [tenant]);
      return rows.map((row): StoredThreatList => ({ ...toSummary(row), entries: fromJson<string[]>(row.entries) }));
    },

    async remove(tenant, source) {
      const { rows } = await db.query('DELETE FROM threat_lists WHERE tenant_id = $1 AND source = $2 RETURNING source', [tenant, source]);
      return rows.length > 0;
    },
  };
}
