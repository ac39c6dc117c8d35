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
