/**
 * Copying records on the decision path without object spread.
 *
 * Node.js 20's V8 makes an object that begins as the spread of a non-empty object slow to
 * extend (V8 issue 11536): `{...a, b}`, `{...a, ...b}` and `o = {...a}; o.b = 1` each cost
 * about 1 µs on this project's machines against tens of nanoseconds written out
 * (`bench/object-spread.ts`; bench/RESULTS.md, "Object spread on the decision path"). ESLint
 * refuses such a spread in the files a decision runs through (eslint.config.js,
 * `HOT_PATH_FILES`); these helpers are what to write instead (about 0.2 µs for a small object).
 *
 * They keep the spread's semantics for data from the wire: own enumerable string keys, later
 * sources win, and an own `__proto__` key (JSON.parse makes one) stays a plain key
 * (CreateDataProperty, ECMA-262 §7.3.5), never the prototype setter.
 */

/**
 * `record[key] = value` as a data property, whatever `key` is: `__proto__` (a key JSON.parse
 * gives as any other) becomes an own key instead of setting the prototype, which would drop the
 * entry (CreateDataProperty, ECMA-262 §7.3.5). Use it wherever a key comes from data: a
 * request's context, a token's claims, a configured mapping, a form.
 */
export function setEntry<T>(record: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  else record[key] = value;
}

const put = setEntry as (record: object, key: string, value: unknown) => void;

/**
 * `{...a, ...b}`: a new plain object with `a`'s own enumerable string keys, then `b`'s (which
 * win). A pure copy (`{...a}`, V8's fast clone) when one side is empty.
 */
export function mergeRecords<T>(a: Readonly<Record<string, T>>, b: Readonly<Record<string, T>>): Record<string, T> {
  const bKeys = Object.keys(b);
  if (bKeys.length === 0) return { ...a };
  const aKeys = Object.keys(a);
  if (aKeys.length === 0) return { ...b };
  const merged: Record<string, T> = {};
  for (const key of aKeys) put(merged, key, a[key] as T);
  for (const key of bKeys) put(merged, key, b[key] as T);
  return merged;
}

/**
 * `{...record, [key]: value}`: a new plain object with `record`'s own enumerable string keys and
 * `key` set to `value` (which wins). For wire records (`Record<string, T>`) and for typed
 * objects alike (a decision record, its meta): `key` is one of the object's fields.
 */
export function withEntry<R extends object, K extends keyof R & string>(record: R, key: K, value: R[K]): R {
  const copy = {} as R;
  for (const k of Object.keys(record)) put(copy, k, (record as Record<string, unknown>)[k]);
  put(copy, key, value);
  return copy;
}
