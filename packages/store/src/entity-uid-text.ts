/** The `Type::"id"` text form of an entity uid, as stored in audit columns and matched by queries. */
import type { EntityUid } from '@verity/core';

/** `User::"alice"`; the id is JSON-quoted so quotes and backslashes in it stay unambiguous. */
export function formatEntityUid(uid: EntityUid): string {
  return `${uid.type}::${JSON.stringify(uid.id)}`;
}
