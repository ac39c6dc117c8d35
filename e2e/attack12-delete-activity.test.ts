/**
 * attack12: per-subject activity recorded just before a tenant's deletion is written after it.
 * docs/http-api.md (DELETE /tenants/{t}): in one transaction every row of the tenant goes,
 * activity included. The activity service queues each decision's activity in memory and flushes
 * it every 250 ms; a `tenant` change only re-reads, so the queue is flushed into subject_activity
 * after the delete returned (the tombstone row satisfies the foreign key).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type Client } from './helpers/verity.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
let admin: Client;
beforeAll(async () => {
  server = await startTestServer();
  admin = server.admin;
});
afterAll(async () => {
  await server?.close();
});

describe('DELETE /admin/v1/tenants/{t} and per-subject activity', () => {
  it('leaves no activity of the deleted tenant behind', async () => {
    expect((await admin.post('/admin/v1/tenants', { id: 'watched', settings: { risk: { enabled: true, activity: {} } } })).status).toBe(201);
    expect((await admin.post('/admin/v1/tenants/watched/policies', { files: { 'p.cedar': 'permit(principal, action, resource);' } })).status).toBe(201);
    const answer = await admin.post('/tenants/watched/access/v1/evaluation', { subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });
    expect(answer.body.decision).toBe(true);
    expect((await admin.request('DELETE', '/admin/v1/tenants/watched')).status).toBe(200);
    await new Promise((wait) => setTimeout(wait, 800)); // past the 250 ms flush
    expect(await server.components.store.activity.tenants()).not.toContain('watched');
  });
});
