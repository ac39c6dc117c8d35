import { appendFile, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyAuditChain, type DecisionRecord } from '@verity/core';
import { createPgliteDatabase, createStore, type Store } from '@verity/store';
import { recoverAuditSpool, writeAuditSpool } from './audit-spool.js';

function record(i: number): DecisionRecord {
  return { decisionId: `d-${i}`, time: new Date(1_700_000_000_000 + i).toISOString(), tenant: 't', requestId: null, tier: null, principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: String(i) }, decision: 'allow', reasons: ['p'], errors: [], policyVersion: 1, latencyUs: 5 };
}

let store: Store | undefined;
let folder: string | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
  if (folder) await rm(folder, { recursive: true, force: true });
});

describe('audit spool', () => {
  it('writes a private file, and appends it at recovery once, skipping ids already audited, then removes it', async () => {
    folder = await mkdtemp(join(tmpdir(), 'verity-spool-'));
    const dir = join(folder, 'spool');
    store = await createStore(await createPgliteDatabase());
    await store.tenants.create({ id: 't', name: 't', settings: {} });
    // d-0 was committed after all (a write whose answer was lost): it must be chained once.
    await store.audit.append([record(0)]);
    const file = await writeAuditSpool(dir, [record(0), record(1), record(2)]);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await readFile(file, 'utf8')).trim().split('\n')).toHaveLength(3);
    // A crash while spooling leaves a torn last line: the whole lines still count.
    await appendFile(file, '{"decisionId":"d-3","ti');

    expect(await recoverAuditSpool(dir, store, 2)).toEqual({ files: 1, records: 3, torn: 1 });
    expect(await readdir(dir)).toEqual([]);
    const events = await store.audit.readChain('t', 0, 100);
    expect(events.map((e) => e.decisionId)).toEqual(['d-0', 'd-1', 'd-2']);
    expect(verifyAuditChain(events).ok).toBe(true);
    // Nothing left, and no folder at all, are both nothing to do.
    expect(await recoverAuditSpool(dir, store, 2)).toEqual({ files: 0, records: 0, torn: 0 });
    expect(await recoverAuditSpool(join(folder, 'none'), store, 2)).toEqual({ files: 0, records: 0, torn: 0 });
  });

  it('keeps the file when the append fails', async () => {
    folder = await mkdtemp(join(tmpdir(), 'verity-spool-'));
    store = await createStore(await createPgliteDatabase());
    await store.tenants.create({ id: 't', name: 't', settings: {} });
    await writeAuditSpool(folder, [record(1)]);
    const failing: Store = { ...store, audit: { ...store.audit, append: () => Promise.reject(new Error('connection refused')) } };
    await expect(recoverAuditSpool(folder, failing, 10)).rejects.toThrow('connection refused');
    expect(await readdir(folder)).toHaveLength(1);
  });
});
