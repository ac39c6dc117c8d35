/**
 * Opt-in measurement for test runs: with VERITY_SLOW_REQUEST_MS set, every `fetch` a test
 * makes whose response headers take longer than that many milliseconds is reported (to the
 * file in VERITY_SLOW_REQUEST_LOG, else stderr) with the test's name. Used to check that two
 * `npm test` runs side by side never stall a request (docs/design-notes.md); it asserts
 * nothing, so a loaded machine cannot turn it into a flaky failure.
 */
import { appendFileSync } from 'node:fs';
import { expect } from 'vitest';

const threshold = Number(process.env.VERITY_SLOW_REQUEST_MS);
const target = process.env.VERITY_SLOW_REQUEST_LOG;
const patched = globalThis as typeof globalThis & { __veritySlowRequests?: true };

if (Number.isFinite(threshold) && threshold > 0 && !patched.__veritySlowRequests) {
  patched.__veritySlowRequests = true;
  const original = globalThis.fetch;
  const report = (line: string) => (target ? appendFileSync(target, `${line}\n`) : process.stderr.write(`${line}\n`));
  globalThis.fetch = async (input, init) => {
    const started = performance.now();
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    try {
      return await original(input, init);
    } finally {
      const ms = performance.now() - started;
      if (ms > threshold) {
        const state = expect.getState();
        report(`SLOW-REQUEST ${ms.toFixed(0)} ms ${init?.method ?? 'GET'} ${url.replace(/^https?:\/\/[^/]+/, '')} [${state.testPath?.split('/').slice(-2).join('/') ?? ''} > ${state.currentTestName ?? ''}]`);
      }
    }
  };
}
