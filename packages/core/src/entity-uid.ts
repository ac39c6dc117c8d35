/** Entity uid helpers: the `Type::"id"` form used as a key and in the audit. */
import type { EntityUid } from './types.js';

/** Ids JSON.stringify writes as they are: no quote, backslash, control character or surrogate. */
const PLAIN_ID = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/** `Type::"id"`, with the id JSON-escaped, as Cedar writes it. Unambiguous, so usable as a key. */
export function formatEntityUid(uid: EntityUid): string {
  // The common id needs no escaping: skip the serializer (this runs many times per decision).
  return PLAIN_ID.test(uid.id) ? `${uid.type}::"${uid.id}"` : `${uid.type}::${JSON.stringify(uid.id)}`;
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
