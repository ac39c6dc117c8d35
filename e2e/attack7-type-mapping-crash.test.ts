/**
 * attack7: on a tenant with any `settings.typeMapping`, an AuthZEN subject or resource type
 * named after an Object.prototype member (`toString`, `constructor`) is mapped through
 * `typeMapping[type] ?? type` to the prototype's *function*; the request handed to the shared
 * Cedar engine worker then holds a function, `postMessage` throws DataCloneError, and (when the
 * worker is restarted and the in-flight job re-sent) it is thrown outside any handler. In a real
 * `verity serve` that is an uncaught exception: the whole server — every tenant — must not go down
 * because one open-decision caller sent `"type": "toString"`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { killAll, startServeProcess, type ServeProcess } from './helpers/serve-process.js';
import { createClient } from './helpers/verity.js';

const started: ServeProcess[] = [];
afterAll(async () => { await killAll(started); });

it('a subject type "toString" on a tenant with a typeMapping neither crashes the server nor stops other tenants', async () => {
  const serve = await startServeProcess(['--data', mkdtempSync(join(tmpdir(), 'a7-typemap-')), '--request-timeout', '1000']);
  started.push(serve);
  const admin = createClient(serve.url);
  expect((await admin.post('/admin/v1/tenants', { id: 'mapped', settings: { typeMapping: { identity: 'User' } } })).status).toBe(201);
  expect((await admin.post('/admin/v1/tenants/mapped/policies', { files: { 'p.cedar': 'permit(principal, action, resource);' } })).status).toBe(201);
  const statuses: number[] = [];
  for (const type of ['toString', 'constructor']) {
    const r = await fetch(`${serve.url}/tenants/mapped/access/v1/evaluation`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ subject: { type, id: 'u' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } }) }).catch(() => null);
    statuses.push(r?.status ?? -1);
  }
  // Give the engine's watchdog time to restart its worker.
  await new Promise((resolve) => setTimeout(resolve, 3500));
  const alive = serve.child.exitCode === null && serve.child.signalCode === null;
  const demo = await fetch(`${serve.url}/access/v1/evaluation`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ subject: { type: 'identity', id: 'CiRmZDE2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs' }, action: { name: 'GET' }, resource: { type: 'route', id: '/todos' } }) }).then((r) => r.status).catch((e) => String(e));
  const exit = alive ? null : await serve.exited;
  expect({ alive, demo, statuses, stderr: exit?.stderr.slice(-400) }).toEqual({ alive: true, demo: 200, statuses: [200, 200], stderr: undefined });
}, 20_000);
