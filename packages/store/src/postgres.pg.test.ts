/** Runs the store conformance suite on PostgreSQL, each test in its own freshly created database. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyAuditChain, type DecisionRecord } from '@verity/core';
import { startFaultProxy } from '../../../e2e/helpers/fault-proxy.js';
import { createPostgresDatabase } from './postgres-driver.js';
import { createStore } from './store.js';
import { describeStoreConformance } from '../test/store-conformance.js';
import type { Database } from './types.js';

const adminUrl = process.env.VERITY_TEST_DATABASE_URL;
if (adminUrl === undefined || adminUrl === '') {
  throw new Error('VERITY_TEST_DATABASE_URL is not set: point it at a PostgreSQL database whose user may CREATE DATABASE (e.g. postgres://postgres@127.0.0.1:5432/test)');
}

const admin = new pg.Pool({ connectionString: adminUrl, max: 2 });
const created: string[] = [];

/** A new empty database on the same server, dropped after the run. */
async function makeDatabase(): Promise<Database> {
  const name = `verity_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  created.push(name);
  const url = new URL(adminUrl as string);
  url.pathname = `/${name}`;
  return createPostgresDatabase({ connectionString: url.toString(), max: 8 });
}

// One database per test (about 50): each DROP DATABASE checkpoints, which takes seconds on a
// loaded machine, so the drops run two at a time (the admin pool's size) with room to finish.
afterAll(async () => {
  await Promise.all(created.map((name) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)));
  await admin.end();
}, 180_000);

describeStoreConformance('postgres', makeDatabase);

function auditRecord(i: number): DecisionRecord {
  return { decisionId: `d-${i}`, time: new Date(1_700_000_000_000 + i).toISOString(), tenant: 't', requestId: null, tier: null, principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: String(i) }, decision: 'allow', reasons: [], errors: [], policyVersion: 1, latencyUs: 5 };
}

describe('postgres driver', () => {
  it('rolls back a failed transaction and keeps the pool usable', async () => {
    const store = await createStore(await makeDatabase());
    try {
      await expect(
        store.db.transaction(async (tx) => {
          await tx.query("INSERT INTO tenants (id, name) VALUES ('t', 'T')");
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      expect(await store.tenants.get('t')).toBeNull();
      expect(store.db.kind).toBe('postgres');
    } finally {
      await store.close();
    }
  });

  it('reports an unreachable server as ERR_STORE_UNAVAILABLE', async () => {
    const db = await createPostgresDatabase({ connectionString: 'postgres://postgres@127.0.0.1:1/none' });
    try {
      await expect(db.query('SELECT 1')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      await expect(db.transaction(async (tx) => tx.query('SELECT 1'))).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      // The audit thread's own connection too.
      await expect(db.appendAudit?.([auditRecord(1)], { skipExisting: false })).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    } finally {
      await db.close();
    }
  });

  it('chains audit records on its audit thread: a connection reset fails the append with ERR_STORE_UNAVAILABLE, the next one reconnects, and the chain verifies', async () => {
    const direct = await makeDatabase();
    const target = new URL(adminUrl as string);
    const proxy = await startFaultProxy({ target: { host: target.hostname, port: Number(target.port || 5432) } });
    // The same database through the proxy, so only the audit thread's connection is cut.
    const url = new URL(adminUrl as string);
    url.pathname = (await direct.query<{ db: string }>('SELECT current_database() AS db')).rows[0]?.db ?? '';
    const store = await createStore(direct);
    const db = await createPostgresDatabase({ connectionString: proxy.url(url.toString()), timeoutMs: 2000 });
    try {
      await store.tenants.create({ id: 't', name: 'T', settings: {} });
      await db.appendAudit?.([auditRecord(1), auditRecord(2)], { skipExisting: false });
      proxy.mode('reset');
      await expect(db.appendAudit?.([auditRecord(3)], { skipExisting: false })).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      proxy.mode('pass');
      await db.appendAudit?.([auditRecord(3), auditRecord(4)], { skipExisting: true });
      await db.appendAudit?.([auditRecord(5)], { skipExisting: false });
      // An unknown tenant is the caller's error, not the store's: ERR_TENANT_NOT_FOUND.
      await expect(store.audit.append([{ ...auditRecord(6), tenant: 'nobody' }])).rejects.toMatchObject({ code: 'ERR_TENANT_NOT_FOUND', status: 404 });
      const events = await store.audit.readChain('t', 0, 100);
      expect(events.map((e) => e.decisionId)).toEqual(['d-1', 'd-2', 'd-3', 'd-4', 'd-5']);
      expect(verifyAuditChain(events, await store.audit.head('t')).ok).toBe(true);
    } finally {
      await db.close();
      await store.close();
      await proxy.close();
    }
  });
});
