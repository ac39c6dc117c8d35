// @ts-check
/**
 * The thread that runs cedar-wasm for the Cedar adapter (cedar-engine.ts). It answers batches
 * of cedar-wasm calls and nothing else: every decision about what to call lives in the adapter.
 *
 * A Wasm trap (a stack overflow, an out-of-bounds access) can leave cedar-wasm's memory in a
 * state no later call survives, so after one this thread answers nothing more and exits; the
 * adapter starts a fresh one. Plain JavaScript so it starts without a TypeScript loader.
 */
import { parentPort } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { stringify as stringifyLossless } from 'lossless-json';

if (parentPort === null) throw new Error('cedar-worker.mjs runs only as a worker thread');
const port = parentPort;

// cedar-wasm's Node glue hands every argument to Wasm as `JSON.stringify(arg)`. JSON.stringify
// refuses bigint, which is how Verity holds a Cedar Long beyond ±2^53: write those digit for
// digit, and leave every other value to the native serializer.
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

/** @type {Record<string, (...args: unknown[]) => unknown>} */
const cedar = createRequire(import.meta.url)('@cedar-policy/cedar-wasm/nodejs');
let broken = false;

port.on('message', (/** @type {{ id: number, calls: Array<[string, ...unknown[]]> }} */ message) => {
  // After a trap nothing is answered: the adapter sends these calls to the next instance.
  if (broken) return;
  const results = [];
  try {
    for (const [name, ...args] of message.calls) {
      const fn = cedar[name];
      if (typeof fn !== 'function') throw new TypeError(`cedar-wasm has no function ${name}`);
      results.push(fn(...args));
    }
  } catch (error) {
    broken = true;
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    port.postMessage({ id: message.id, trap: text.slice(0, 500) });
    // Give the message a turn to leave, then end this thread and its Wasm instance.
    setImmediate(() => process.exit(1));
    return;
  }
  port.postMessage({ id: message.id, results });
});

port.postMessage({ ready: true, version: cedar.getCedarVersion?.() });
