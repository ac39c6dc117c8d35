/**
 * /healthz says the process is alive; /readyz says it can decide now. When the engine cannot
 * decide, readiness fails (an orchestrator stops routing to this replica) while liveness holds
 * (no crash loop), and decisions fail closed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedCedarEngine } from '@verity/core/cedar';
import { SCHEMA_VERSION } from '@verity/store';
import { createClient, startTestServer, type Client } from './helpers/verity.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
let pdp: Client;

beforeAll(async () => {
  server = await startTestServer({ decisionAuth: 'open' });
  pdp = createClient(server.url, null);
  await server.admin.post('/admin/v1/tenants', { id: 'acme' });
  await server.admin.post('/admin/v1/tenants/acme/policies', { files: { 'p.cedar': 'permit(principal, action, resource);' } });
});

afterAll(async () => {
  await server?.close();
});

const ask = () => pdp.post('/tenants/acme/access/v1/evaluation', { subject: { type: 'User', id: 'u' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });

describe('readiness', () => {
  it('is ready when the engine decides and the store answers', async () => {
    const ready = (await pdp.get('/readyz')).body;
    expect(ready).toEqual({ ready: true, checks: { engine: true, store: true, migrations: true, audit: true, fresh: true, started: true }, freshness: { confirmedAt: expect.any(String), ageMs: expect.any(Number) } });
    // PGlite is one process holding its data folder: always fresh (no heartbeat, age 0).
    expect(ready.freshness.ageMs).toBe(0);
    expect((await ask()).body.decision).toBe(true);
  });

  it('is not ready while the database lacks a migration this code needs, nor on a newer schema it does not know', async () => {
    const db = server.components.store.db;
    const [latest] = (await db.query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations WHERE version = $1', [SCHEMA_VERSION])).rows;
    expect(latest).toBeDefined();
    await db.query('DELETE FROM schema_migrations WHERE version = $1', [SCHEMA_VERSION]);
    try {
      const behind = await pdp.get('/readyz');
      expect(behind.status).toBe(503);
      expect(behind.body.checks).toMatchObject({ store: true, migrations: false });
    } finally {
      await db.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [latest!.version, latest!.name]);
    }
    await db.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [SCHEMA_VERSION + 1, 'from a newer Verity']);
    try {
      const ahead = await pdp.get('/readyz');
      expect(ahead.status).toBe(503);
      expect(ahead.body.checks).toMatchObject({ store: true, migrations: false });
    } finally {
      await db.query('DELETE FROM schema_migrations WHERE version = $1', [SCHEMA_VERSION + 1]);
    }
  });

  it('fails readiness, not liveness, while the engine cannot decide; decisions fail closed', async () => {
    // This file's process shares one engine with its server: stopping it stands for an engine
    // that cannot decide.
    await sharedCedarEngine().close();
    const ready = await pdp.get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks).toEqual({ engine: false, store: true, migrations: true, audit: true, fresh: true, started: true });
    expect((await pdp.get('/healthz')).status).toBe(200);
    const answer = await ask();
    expect(answer.status).toBe(500);
    expect(answer.body.code).toBe('ERR_DECISION_FAILED');
  });
});
