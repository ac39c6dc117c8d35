/** Per-subject activity of the risk engine: each subject's last location, request counts and names used. */
import { mergeActivity, type SubjectActivity } from '@verity/core';
import { isForeignKeyViolation } from './sql-errors.js';
import { fromJson, toJsonParam, toNumber } from './sql-values.js';
import { tenantNotFound } from './tenant-guard.js';
import type { Database, SqlClient, Store, StoredActivity } from './types.js';

interface ActivityRow {
  tenant_id: string;
  subject: string;
  last_seen_ms: unknown;
  state: unknown;
  seq: unknown;
}

/** The jsonb `state` column: everything but the subject and its last-seen time (columns of their own). */
type ActivityState = Pick<SubjectActivity, 'location' | 'windowSec' | 'windows' | 'actions' | 'resourceTypes'>;

const COLUMNS = 'tenant_id, subject, last_seen_ms, state, seq';

const toActivity = (row: ActivityRow): StoredActivity => {
  const state = fromJson<ActivityState>(row.state);
  return {
    tenant: row.tenant_id,
    subject: row.subject,
    lastSeenMs: toNumber(row.last_seen_ms),
    location: state.location,
    windowSec: state.windowSec,
    windows: state.windows,
    actions: state.actions,
    resourceTypes: state.resourceTypes,
    seq: toNumber(row.seq),
  };
};

const stateOf = (activity: SubjectActivity): string =>
  toJsonParam({ location: activity.location, windowSec: activity.windowSec, windows: activity.windows, actions: activity.actions, resourceTypes: activity.resourceTypes } satisfies ActivityState);

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Merge one delta into its row: read it locked, merge, write. When there is no row yet, insert;
 * another replica inserting the same subject meanwhile makes the insert do nothing, and the
 * next round reads (and merges into) that replica's row instead.
 */
async function recordOne(tx: SqlClient, tenant: string, delta: SubjectActivity, bounds: Parameters<Store['activity']['record']>[2]): Promise<StoredActivity> {
  for (;;) {
    const existing = await tx.query<ActivityRow>(`SELECT ${COLUMNS} FROM subject_activity WHERE tenant_id = $1 AND subject = $2 FOR UPDATE`, [tenant, delta.subject]);
    const current = existing.rows[0] === undefined ? null : toActivity(existing.rows[0]);
    const merged = mergeActivity(current, delta, bounds);
    const { rows } =
      current === null
        ? await tx.query<ActivityRow>(
            `INSERT INTO subject_activity (tenant_id, subject, last_seen_ms, state) VALUES ($1, $2, $3, $4::jsonb)
             ON CONFLICT (tenant_id, subject) DO NOTHING RETURNING ${COLUMNS}`,
            [tenant, delta.subject, merged.lastSeenMs, stateOf(merged)],
          )
        : await tx.query<ActivityRow>(
            `UPDATE subject_activity SET last_seen_ms = $3, state = $4::jsonb, seq = nextval('subject_activity_seq')
             WHERE tenant_id = $1 AND subject = $2 RETURNING ${COLUMNS}`,
            [tenant, delta.subject, merged.lastSeenMs, stateOf(merged)],
          );
    if (rows[0] !== undefined) return toActivity(rows[0]);
  }
}

/** The `activity` repository of a {@link Store}. */
export function createActivityRepository(db: Database): Store['activity'] {
  return {
    async get(tenant, subject) {
      const { rows } = await db.query<ActivityRow>(`SELECT ${COLUMNS} FROM subject_activity WHERE tenant_id = $1 AND subject = $2`, [tenant, subject]);
      return rows[0] === undefined ? null : toActivity(rows[0]);
    },

    async listSince(tenant, afterSeq, subjects) {
      if (subjects.length === 0) return [];
      const { rows } = await db.query<ActivityRow>(`SELECT ${COLUMNS} FROM subject_activity WHERE tenant_id = $1 AND seq > $2 AND subject = ANY($3::text[]) ORDER BY seq`, [
        tenant,
        afterSeq,
        [...subjects],
      ]);
      return rows.map(toActivity);
    },

    async record(tenant, deltas, bounds) {
      // One delta per subject, merged first; rows are locked in subject order (no deadlock between replicas).
      const bySubject = new Map<string, SubjectActivity>();
      for (const delta of deltas) bySubject.set(delta.subject, mergeActivity(bySubject.get(delta.subject) ?? null, delta, bounds));
      const ordered = [...bySubject.values()].sort((a, b) => byText(a.subject, b.subject));
      try {
        return await db.transaction(async (tx) => {
          const written: StoredActivity[] = [];
          for (const delta of ordered) written.push(await recordOne(tx, tenant, delta, bounds));
          return written;
        });
      } catch (error) {
        if (isForeignKeyViolation(error)) throw tenantNotFound(tenant);
        throw error;
      }
    },

    async prune(tenant, beforeMs) {
      const { rows } = await db.query('DELETE FROM subject_activity WHERE tenant_id = $1 AND last_seen_ms < $2 RETURNING subject', [tenant, beforeMs]);
      return rows.length;
    },

    async erase(tenant, subject) {
      // Emptied, not deleted: replicas re-read it by seq and drop what they hold; the next prune deletes it.
      const empty: ActivityState = { location: null, windowSec: 0, windows: [], actions: [], resourceTypes: [] };
      const { rows } = await db.query(
        `UPDATE subject_activity SET last_seen_ms = 0, state = $3::jsonb, seq = nextval('subject_activity_seq')
         WHERE tenant_id = $1 AND subject = $2 AND last_seen_ms > 0 RETURNING subject`,
        [tenant, subject, toJsonParam(empty)],
      );
      return rows.length > 0;
    },

    async tenants() {
      const { rows } = await db.query<{ tenant_id: string }>('SELECT DISTINCT tenant_id FROM subject_activity ORDER BY tenant_id');
      return rows.map((row) => row.tenant_id);
    },
  };
}
