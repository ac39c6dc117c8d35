// @ts-check
/**
 * A thread that answers oracle calls with cedar-wasm's `isAuthorized`, so the oracle runs
 * beside Verity instead of on its event loop. Plain JavaScript, so it starts without a
 * TypeScript loader. Messages: `{id, call}` → `{id, answer}`; bigint values arrive by
 * structured clone and are written digit for digit (cedar-wasm serializes with JSON.stringify).
 */
import { parentPort } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { stringify as stringifyLossless } from 'lossless-json';

if (parentPort === null) throw new Error('oracle-worker.mjs runs only as a worker thread');
const port = parentPort;
setFlagsFromString('--no-turbo-inline-js-wasm-calls');

const nativeStringify = JSON.stringify;
JSON.stringify = /** @type {typeof JSON.stringify} */ (
  function stringify(/** @type {unknown} */ value, /** @type {any} */ replacer, /** @type {any} */ space) {
    try {
      return nativeStringify(value, replacer, space);
    } catch (error) {
      if (!(error instanceof TypeError) || !/BigInt/i.test(error.message)) throw error;
      return /** @type {string} */ (stringifyLossless(value, replacer, space));
    }
  }
);

/** @type {Record<string, (...args: unknown[]) => any>} */
const cedar = createRequire(import.meta.url)('@cedar-policy/cedar-wasm/nodejs');

/**
 * The complete entity set with the request's attributes for `uid` laid over the stored ones
 * (request wins per attribute; stored parents and tags kept; a new entity has no parents).
 */
function withOverlay(/** @type {any[]} */ entities, /** @type {{type: string, id: string}} */ uid, /** @type {Record<string, unknown>} */ attrs) {
  const at = entities.findIndex((e) => e.uid.type === uid.type && e.uid.id === uid.id);
  const base = at < 0 ? undefined : entities[at];
  const merged = { uid, attrs: { ...(base?.attrs ?? {}), ...attrs }, parents: base?.parents ?? [], ...(base?.tags ? { tags: base.tags } : {}) };
  return at < 0 ? [...entities, merged] : entities.map((e, i) => (i === at ? merged : e));
}

/** The store part of calls (schema, policies, entities), sent once per store. */
const stores = new Map();

port.on('message', (/** @type {any} */ message) => {
  if (message.store !== undefined) {
    if (message.drop) stores.delete(message.store);
    else stores.set(message.store, message.parts);
    return;
  }
  let answer;
  try {
    const parts = stores.get(message.call.store);
    if (parts === undefined) throw new Error(`no store ${message.call.store}`);
    const { principal, action, resource, context, validateRequest, overlay } = message.call;
    const result = cedar.isAuthorized({
      principal,
      action,
      resource,
      context,
      policies: parts.policies,
      entities: overlay ? withOverlay(parts.entities, overlay.on === 'principal' ? principal : resource, overlay.attrs) : parts.entities,
      ...(parts.schema === undefined ? {} : { schema: parts.schema, validateRequest }),
    });
    if (result.type !== 'success') answer = { ok: false, message: result.errors.map((/** @type {any} */ e) => e.message).join('; ') };
    else {
      const sorted = (/** @type {string[]} */ ids) => [...new Set(ids)].sort();
      answer = {
        ok: true,
        decision: result.response.decision,
        reasons: sorted(result.response.diagnostics.reason),
        errors: sorted(result.response.diagnostics.errors.map((/** @type {any} */ e) => e.policyId)),
      };
    }
  } catch (error) {
    // Not an answer from Cedar: the caller fails the run rather than count it as a refusal.
    port.postMessage({ id: message.id, crash: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    return;
  }
  port.postMessage({ id: message.id, answer });
});
