// The worker of worker-host.test.ts: ready at once; each call answers where this thread resolves
// `@verity/core/audit-hash` (as audit-append.mjs imports it) and the flags it was started with.
import { parentPort } from 'node:worker_threads';

parentPort.postMessage({ type: 'ready' });
parentPort.on('message', ({ id }) => {
  parentPort.postMessage({ id, ok: true, value: { resolved: import.meta.resolve('@verity/core/audit-hash'), execArgv: process.execArgv } });
});
