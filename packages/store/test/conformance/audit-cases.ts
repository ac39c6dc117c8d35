/** Conformance cases for the audit repository: chaining, queries, tamper detection, concurrency. */
import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, computeAuditHash, verifyAuditChain } from '@verity/core';
import type { AuditEvent, DecisionRecord } from '@verity/core';
import { appendAuditRecords } from '../../src/audit-append.mjs';
import type { Store } from '../../src/types.js';
import { createTenants, decision, expectVerityError, useFreshStore } from './fixtures.js';
import type { ConformanceDatabases } from './fixtures.js';

/** The tenant's whole chain, read in small pages the way a verifier does. */
async function readAll(store: Store, tenant: string): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  for (;;) {
    const page = await store.audit.readChain(tenant, events.at(-1)?.seq ?? 0, 4);
    if (page.length === 0) return events;
    events.push(...page);
  }
}

/** Verify the tenant's stored chain the way the server does: every event, then the stored head. */
async function verifyStored(store: Store, tenant: string): Promise<ReturnType<typeof verifyAuditChain>> {
  return verifyAuditChain(await readAll(store, tenant), await store.audit.head(tenant));
}

/** Every stored column of an event and a raw-SQL edit of it that a verifier must find. */
const COLUMN_EDITS: Array<[string, string]> = [
  ['decision_id', "decision_id = 'forged'"],
  ['time', "time = '2031-01-01T00:00:00Z'"],
  ['request_id', "request_id = 'req-forged'"],
  ['tier', "tier = 'forged'"],
  ['principal_json', `principal_json = '{"type":"User","id":"mallory"}'`],
  ['action_json', `action_json = '{"type":"Action","id":"delete"}'`],
  ['resource_json', `resource_json = '{"type":"Document","id":"secret"}'`],
  ['decision', "decision = 'deny'"],
  ['reasons', `reasons = '[]'`],
  ['errors', `errors = '[{"policyId":"p","message":"m"}]'`],
  ['policy_version', 'policy_version = 99'],
  ['latency_us', 'latency_us = 1'],
  ['observed', 'observed = true'],
  ['reported_by', "reported_by = 'cred_forged'"],
  ['caller', "caller = 'spiffe://verity.internal/forged'"],
  ['txn', "txn = 'txn-forged'"],
  ['actors', `actors = '["spiffe://verity.internal/forged"]'`],
  ['risk', `risk = '{"score":0,"level":"low","factors":[]}'`],
  ['input', `input = '{"context":{},"overlays":[],"provided":[],"v":1}'`],
  ['prev_hash', `prev_hash = '${'f'.repeat(64)}'`],
  ['hash', `hash = '${'f'.repeat(64)}'`],
];

/** The decision-record part of an event, to compare with what was appended. */
function recordOf(event: AuditEvent): DecisionRecord {
  const { seq: _seq, prevHash: _prevHash, hash: _hash, ...record } = event;
  return record;
}

/** Register the audit cases. */
export function describeAudit(databases: ConformanceDatabases): void {
  const handle = useFreshStore(databases);

  describe('audit', () => {
    it('chains several appends into one valid chain that round-trips every field', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      const batches = [
        [decision('a'), decision('a', { requestId: null, tier: null, decision: 'deny', reasons: [] })],
        [decision('a', { errors: [{ policyId: 'p-2', message: 'attribute "x" missing' }], latencyUs: 0.1 + 0.2, policyVersion: 7 })],
        [decision('a', { time: '2025-01-01T00:00:00Z' }), decision('a', { principal: { type: 'App::User', id: 'quote"and\\slash' } }), decision('a')],
        [decision('a', { caller: 'spiffe://verity.internal/orders', txn: 'txn-1', actors: ['spiffe://verity.internal/gateway', 'User::"alice"'] })],
        // The decision input is JSON text: kept character for character (a Long past 2^53, escapes).
        [decision('a', { input: '{"context":{"big":9007199254740993,"s":"\\u0000\\ud800"},"overlays":[],"provided":[],"v":1}' })],
        [decision('a', { decision: 'deny', reasons: [], risk: { score: 55, level: 'high', factors: [{ name: 'stale_authentication', weight: 30, detail: '46800 s' }, { name: 'device_noncompliant', weight: 25, detail: 'disk_encryption' }], stepUp: { acr: 'urn:verity:acr:mfa', maxAgeSec: 300 } } })],
      ];
      for (const batch of batches) await store.audit.append(batch);
      const events = await readAll(store, 'a');
      expect(events.map((event) => event.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(events.map(recordOf)).toEqual(batches.flat());
      expect(events[0]?.prevHash).toBe(GENESIS_HASH);
      expect(events.slice(1).map((event) => event.prevHash)).toEqual(events.slice(0, -1).map((event) => event.hash));
      expect(verifyAuditChain(events)).toEqual({ ok: true, checked: 9, problems: [] });
      expect((await store.audit.readChain('a', 4, 10)).map((event) => event.seq)).toEqual([5, 6, 7, 8, 9]);
      expect(await store.audit.readChain('a', 9, 10)).toEqual([]);
    });

    it('chains each tenant separately within one append and never shows one tenant another’s events', async () => {
      const { store } = handle;
      await createTenants(store, 'a', 'b');
      await store.audit.append([decision('a'), decision('b'), decision('a'), decision('b'), decision('a')]);
      const a = await readAll(store, 'a');
      const b = await readAll(store, 'b');
      expect(a.map((event) => event.seq)).toEqual([1, 2, 3]);
      expect(b.map((event) => event.seq)).toEqual([1, 2]);
      expect(a.every((event) => event.tenant === 'a') && b.every((event) => event.tenant === 'b')).toBe(true);
      expect(verifyAuditChain(a).ok && verifyAuditChain(b).ok).toBe(true);
      expect(await store.audit.query('b', { limit: 100, principal: 'User::"alice"' })).toHaveLength(2);
      await createTenants(store, 'c');
      expect(await store.audit.query('c', { limit: 100 })).toEqual([]);
      expect(await store.audit.readChain('c', 0, 100)).toEqual([]);
    });

    it('chains a batch delivered twice only once when asked to skip existing decisions', async () => {
      const { store } = handle;
      await createTenants(store, 'acme');
      const batch = [decision('acme'), decision('acme')];
      await store.audit.append(batch, { skipExisting: true });
      await store.audit.append([...batch, decision('acme')], { skipExisting: true });
      const events = await store.audit.readChain('acme', 0, 100);
      expect(events.map((e) => e.decisionId)).toEqual([batch[0]?.decisionId, batch[1]?.decisionId, events[2]?.decisionId]);
      expect(new Set(events.map((e) => e.decisionId)).size).toBe(3);
      expect(verifyAuditChain(events).ok).toBe(true);
    });

    it('filters queries by decision, principal, request id, seq and limit', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      await store.audit.append([
        decision('a', { requestId: 'r-1' }),
        decision('a', { requestId: 'r-2', decision: 'deny', principal: { type: 'User', id: 'bob' } }),
        decision('a', { requestId: 'r-1', decision: 'deny' }),
        decision('a', { requestId: 'r-3', principal: { type: 'User', id: 'bob' } }),
      ]);
      const seqs = async (query: Parameters<Store['audit']['query']>[1]): Promise<number[]> =>
        (await store.audit.query('a', query)).map((event) => event.seq);
      expect(await seqs({ limit: 10 })).toEqual([1, 2, 3, 4]);
      expect(await seqs({ limit: 2 })).toEqual([1, 2]);
      expect(await seqs({ limit: 10, after: 2 })).toEqual([3, 4]);
      expect(await seqs({ limit: 10, decision: 'deny' })).toEqual([2, 3]);
      expect(await seqs({ limit: 10, principal: 'User::"bob"' })).toEqual([2, 4]);
      expect(await seqs({ limit: 10, principal: 'User::bob' })).toEqual([]);
      expect(await seqs({ limit: 10, requestId: 'r-1' })).toEqual([1, 3]);
      expect(await seqs({ limit: 10, requestId: 'r-1', decision: 'allow', principal: 'User::"alice"' })).toEqual([1]);
    });

    it('detects a row edited through raw SQL', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      await store.audit.append([decision('a'), decision('a'), decision('a', { decision: 'deny' }), decision('a')]);
      expect(verifyAuditChain(await readAll(store, 'a')).ok).toBe(true);
      await store.db.query("UPDATE audit_events SET decision = 'allow' WHERE tenant_id = $1 AND seq = 3", ['a']);
      const result = verifyAuditChain(await readAll(store, 'a'));
      expect(result.ok).toBe(false);
      expect(result.problems).toEqual([{ seq: 3, kind: 'edited' }]);
    });

    it('detects a row deleted through raw SQL', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      await store.audit.append([decision('a'), decision('a'), decision('a')]);
      await store.db.query('DELETE FROM audit_events WHERE tenant_id = $1 AND seq = 2', ['a']);
      const result = verifyAuditChain(await readAll(store, 'a'));
      expect(result.ok).toBe(false);
      expect(result.problems).toContainEqual({ seq: 2, kind: 'gap' });
    });

    it('reads the chain head: genesis before any event, then the newest event', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      expect(await store.audit.head('a')).toEqual({ seq: 0, hash: GENESIS_HASH });
      await store.audit.append([decision('a'), decision('a')]);
      const last = (await readAll(store, 'a')).at(-1);
      expect(await store.audit.head('a')).toEqual({ seq: 2, hash: last?.hash });
    });

    it('detects a raw SQL edit of every stored column (one column edited in each row)', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      // Every row carries reportedBy so that editing reported_by changes a value, not adds one.
      await store.audit.append(Array.from({ length: COLUMN_EDITS.length + 1 }, () => decision('a', { reportedBy: 'cred_pep', caller: 'spiffe://verity.internal/orders', txn: 'txn-1', actors: ['spiffe://verity.internal/gateway'], risk: { score: 40, level: 'medium', factors: [{ name: 'unknown_device', weight: 40 }] }, input: '{"context":{"n":1},"overlays":[],"provided":[],"v":1}' })));
      expect((await verifyStored(store, 'a')).ok).toBe(true);
      for (const [index, [, assignment]] of COLUMN_EDITS.entries()) {
        await store.db.query(`UPDATE audit_events SET ${assignment} WHERE tenant_id = $1 AND seq = $2`, ['a', index + 1]);
      }
      const found = new Set((await verifyStored(store, 'a')).problems.map((problem) => problem.seq));
      const missed = COLUMN_EDITS.filter((_, index) => !found.has(index + 1)).map(([column]) => column);
      expect(missed).toEqual([]);
    });

    it('lists who calls whom from the records that carry a calling workload, and finds one call chain by its txn', async () => {
      const { store } = handle;
      await createTenants(store, 'a', 'b');
      const orders = 'spiffe://verity.internal/orders';
      const read = { type: 'Action', id: 'read' };
      await store.audit.append([
        decision('a', { caller: orders, tier: 'inventory', action: read, time: '2026-01-01T00:00:01.000Z', txn: 't-1' }),
        decision('a', { caller: orders, tier: 'inventory', action: read, decision: 'deny', time: '2026-01-01T00:00:02.000Z', txn: 't-2' }),
        decision('a', { caller: 'spiffe://verity.internal/billing', tier: 'inventory', action: read, time: '2026-01-01T00:00:00.500Z' }),
        decision('a', { tier: 'gateway', txn: 't-1' }),
        decision('b', { caller: orders, tier: 'inventory', action: read }),
      ]);
      expect(await store.audit.workloadCalls('a', 10)).toEqual([
        { caller: orders, callee: 'inventory', action: 'Action::"read"', allowed: 1, denied: 1, lastSeen: '2026-01-01T00:00:02.000Z' },
        { caller: 'spiffe://verity.internal/billing', callee: 'inventory', action: 'Action::"read"', allowed: 1, denied: 0, lastSeen: '2026-01-01T00:00:00.500Z' },
      ]);
      expect((await store.audit.query('a', { limit: 10, txn: 't-1' })).map((e) => e.tier)).toEqual(['inventory', 'gateway']);
      expect(await store.audit.query('a', { limit: 10, caller: 'spiffe://verity.internal/billing' })).toHaveLength(1);
    });

    it('reports a jsonb column edited to another JSON type as edited, never failing to read it', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      await store.audit.append([decision('a', { actors: ['spiffe://verity.internal/gw'] }), decision('a'), decision('a'), decision('a', { risk: { score: 40, level: 'medium', factors: [{ name: 'unknown_device', weight: 40 }] } })]);
      await store.db.query(`UPDATE audit_events SET actors = '"spiffe://verity.internal/gw"'::jsonb WHERE tenant_id = $1 AND seq = 1`, ['a']);
      await store.db.query(`UPDATE audit_events SET risk = '"low"'::jsonb WHERE tenant_id = $1 AND seq = 4`, ['a']);
      await store.db.query(`UPDATE audit_events SET reasons = '"not json: {"'::jsonb WHERE tenant_id = $1 AND seq = 2`, ['a']);
      await store.db.query(`UPDATE audit_events SET errors = 'null'::jsonb WHERE tenant_id = $1 AND seq = 3`, ['a']);
      expect(await store.audit.query('a', { limit: 10 })).toHaveLength(4);
      expect((await verifyStored(store, 'a')).problems).toEqual([
        { seq: 1, kind: 'edited' },
        { seq: 2, kind: 'edited' },
        { seq: 3, kind: 'edited' },
        { seq: 4, kind: 'edited' },
      ]);
    });

    it('derives the principal, action and resource columns queries filter on from the hashed JSON', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      await store.audit.append([decision('a', { principal: { type: 'User', id: 'quote"and\\slash' } })]);
      for (const column of ['principal', 'action', 'resource']) {
        await expect(store.db.query(`UPDATE audit_events SET ${column} = 'User::"mallory"' WHERE tenant_id = $1`, ['a'])).rejects.toThrow();
      }
      expect(await store.audit.query('a', { limit: 10, principal: 'User::"quote\\"and\\\\slash"' })).toHaveLength(1);
      // Editing the hashed JSON moves the filter column with it, and the edit is found.
      await store.db.query(`UPDATE audit_events SET principal_json = '{"type":"User","id":"mallory"}' WHERE tenant_id = $1`, ['a']);
      expect(await store.audit.query('a', { limit: 10, principal: 'User::"mallory"' })).toHaveLength(1);
      expect((await verifyStored(store, 'a')).problems).toEqual([{ seq: 1, kind: 'edited' }]);
    });

    it('detects the newest rows deleted through raw SQL', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      await store.audit.append([decision('a'), decision('a'), decision('a'), decision('a')]);
      await store.db.query('DELETE FROM audit_events WHERE tenant_id = $1 AND seq > 2', ['a']);
      expect(verifyAuditChain(await readAll(store, 'a')).ok).toBe(true);
      expect((await verifyStored(store, 'a')).problems).toEqual([{ seq: 3, kind: 'truncated' }]);
    });

    it('detects the newest row edited through raw SQL with its hash recomputed', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      await store.audit.append([decision('a'), decision('a'), decision('a', { decision: 'deny' })]);
      const newest = (await readAll(store, 'a')).at(-1)!;
      const { seq, prevHash, hash: _hash, ...record } = newest;
      const forged = computeAuditHash({ ...record, decision: 'allow' }, seq, prevHash);
      await store.db.query("UPDATE audit_events SET decision = 'allow', hash = $2 WHERE tenant_id = $1 AND seq = 3", ['a', forged]);
      expect(verifyAuditChain(await readAll(store, 'a')).ok).toBe(true);
      expect((await verifyStored(store, 'a')).problems).toEqual([{ seq: 3, kind: 'head-mismatch' }]);
    });

    it('stores a record whose text no builder made storable (NUL, lone surrogates in every text field), as U+FFFD, and the chain verifies: one bad record never stops the audit', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      const bad = 'x\u0000y\ud800z\udc00';
      const good = 'x\ufffdy\ufffdz\ufffd';
      // Every text field of a record, holding `text`.
      const texts = (text: string): Partial<DecisionRecord> => ({
        requestId: text,
        tier: text,
        principal: { type: 'User', id: text },
        resource: { type: 'Document', id: text },
        decision: 'deny',
        reasons: [text],
        errors: [{ policyId: text, message: text }],
        reportedBy: text,
        caller: text,
        txn: text,
        actors: [text],
        risk: { score: 1, level: text, factors: [{ name: text, weight: 1, detail: text }], stepUp: { acr: text, maxAgeSec: 60 } },
      });
      const record = decision('a', texts(bad));
      const after = decision('a');
      await store.audit.append([record]);
      await store.audit.append([after]);
      const events = await readAll(store, 'a');
      expect(events.map(recordOf)).toEqual([{ ...record, ...texts(good) }, after]);
      expect((await verifyStored(store, 'a')).ok).toBe(true);
    });

    it('round-trips reportedBy and chains it', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      const records = [decision('a', { reportedBy: 'cred_pep' }), decision('a')];
      await store.audit.append(records);
      const events = await readAll(store, 'a');
      expect(events.map(recordOf)).toEqual(records);
      expect((await verifyStored(store, 'a')).ok).toBe(true);
    });

    it('keeps signed checkpoints per tenant and returns the latest', async () => {
      const { store } = handle;
      await createTenants(store, 'a', 'b');
      expect(await store.audit.latestCheckpoint('a')).toBeNull();
      const first = { tenant: 'a', seq: 2, hash: 'h2', time: '2025-01-01T00:00:00.000Z', jws: 'jws-2' };
      const second = { tenant: 'a', seq: 5, hash: 'h5', time: '2025-01-01T01:00:00.000Z', jws: 'jws-5' };
      await store.audit.saveCheckpoint(first);
      await store.audit.saveCheckpoint(second);
      // Another replica checkpointing the same head: kept once.
      await store.audit.saveCheckpoint({ ...second, jws: 'jws-5-again' });
      expect(await store.audit.latestCheckpoint('a')).toEqual(second);
      expect(await store.audit.latestCheckpoint('b')).toBeNull();
      await expectVerityError(store.audit.saveCheckpoint({ ...first, tenant: 'nobody' }), 'ERR_TENANT_NOT_FOUND');
    });

    it('keeps checkpoint signing keys; the first one added under a kid wins', async () => {
      const { store } = handle;
      expect(await store.audit.loadCheckpointKeys()).toEqual([]);
      const key = { kid: 'k1', sealedKey: 'sealed-1', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'abc' }, createdAtMs: 1000 };
      await store.audit.addCheckpointKey(key);
      await store.audit.addCheckpointKey({ ...key, sealedKey: 'sealed-other' });
      await store.audit.addCheckpointKey({ ...key, kid: 'k2', createdAtMs: 2000 });
      expect(await store.audit.loadCheckpointKeys()).toEqual([key, { ...key, kid: 'k2', createdAtMs: 2000 }]);
    });

    it('does not fork the chain under concurrent appends', async () => {
      const { store } = handle;
      await createTenants(store, 'a', 'b');
      const appends = Array.from({ length: 10 }, (_, index) =>
        store.audit.append(Array.from({ length: 5 }, () => decision(index % 3 === 0 ? 'b' : 'a'))).then(() => undefined),
      );
      await Promise.all(appends);
      const a = await readAll(store, 'a');
      const b = await readAll(store, 'b');
      expect(a.map((event) => event.seq)).toEqual(Array.from({ length: 30 }, (_, index) => index + 1));
      expect(b.map((event) => event.seq)).toEqual(Array.from({ length: 20 }, (_, index) => index + 1));
      expect(verifyAuditChain(a)).toMatchObject({ ok: true, checked: 30 });
      expect(verifyAuditChain(b)).toMatchObject({ ok: true, checked: 20 });
      expect(new Set(a.map((event) => event.decisionId)).size).toBe(30);
    });

    it('chains after the real head when another writer moved it since this store last appended (another replica, a restored copy)', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      await store.audit.append([decision('a'), decision('a')]);
      // Another writer appends through the locking path, behind this store's back.
      await appendAuditRecords((work) => store.db.transaction((tx) => work({ query: (sql, params) => tx.query(sql, params) })), [decision('a')], false);
      await store.audit.append([decision('a')]);
      expect((await readAll(store, 'a')).map((event) => event.seq)).toEqual([1, 2, 3, 4]);
      expect(await verifyStored(store, 'a')).toMatchObject({ ok: true, checked: 4 });
      // The chain cut back to its first event (an older copy restored), head and all.
      await store.db.query("DELETE FROM audit_events WHERE tenant_id = 'a' AND seq > 1");
      await store.db.query("UPDATE audit_heads SET seq = 1, hash = (SELECT hash FROM audit_events WHERE tenant_id = 'a' AND seq = 1) WHERE tenant_id = 'a'");
      await store.audit.append([decision('a'), decision('a')]);
      expect((await readAll(store, 'a')).map((event) => event.seq)).toEqual([1, 2, 3]);
      expect(await verifyStored(store, 'a')).toMatchObject({ ok: true, checked: 3 });
    });

    it('rejects records of an unknown tenant with ERR_TENANT_NOT_FOUND', async () => {
      await expectVerityError(handle.store.audit.append([decision('nobody')]), 'ERR_TENANT_NOT_FOUND');
      await handle.store.audit.append([]);
    });
  });
}
