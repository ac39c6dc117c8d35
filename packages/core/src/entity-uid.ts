/** Entity uid helpers: the `Type::"id"` form used as a key and in the audit. */
import type { EntityUid } from './types.js';
import { quoteJson } from './audit-hash.mjs';

/** `Type::"id"`, with the id JSON-escaped, as Cedar writes it. Unambiguous, so usable as a key. */
export function formatEntityUid(uid: EntityUid): string {
  return `${uid.type}::${quoteJson(uid.id)}`;
}

/** Parse `Type::"id"` (as formatted above) or the CLI shorthand `Type:id`. Null when neither. */
export function parseEntityUid(text: string): EntityUid | null {
  const quoted = /^(.+?)::("(?:[^"\\]|\\.)*")$/.exec(text);
  if (quoted?.[1] && quoted[2]) {
    try {
      return { type: quoted[1], id: JSON.parse(quoted[2]) as string };
    } catch {
      return null;
    }
  }
  const colon = text.lastIndexOf(':');
  if (colon <= 0 || colon === text.length - 1 || text[colon - 1] === ':') return null;
  return { type: text.slice(0, colon), id: text.slice(colon + 1) };
}

/**
 * A map keyed by entity uid, by type and then by id, without building the uid's `Type::"id"`
 * text: on the decision path the types and ids are the request's and the stored entities' own
 * strings, whose hashes V8 keeps in the string, so a look-up makes and hashes no new string.
 * Two uids are the same key exactly when their types and ids are equal strings.
 */
export class UidMap<V> {
  readonly #byType = new Map<string, Map<string, V>>();
  #size = 0;

  get(uid: EntityUid): V | undefined {
    return this.#byType.get(uid.type)?.get(uid.id);
  }

  has(uid: EntityUid): boolean {
    return this.#byType.get(uid.type)?.has(uid.id) === true;
  }

  set(uid: EntityUid, value: V): this {
    let ids = this.#byType.get(uid.type);
    if (ids === undefined) this.#byType.set(uid.type, (ids = new Map()));
    const before = ids.size;
    ids.set(uid.id, value);
    this.#size += ids.size - before;
    return this;
  }

  delete(uid: EntityUid): boolean {
    const ids = this.#byType.get(uid.type);
    if (ids === undefined || !ids.delete(uid.id)) return false;
    this.#size--;
    if (ids.size === 0) this.#byType.delete(uid.type);
    return true;
  }

  clear(): void {
    this.#byType.clear();
    this.#size = 0;
  }

  get size(): number {
    return this.#size;
  }
}
