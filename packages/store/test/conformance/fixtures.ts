/** Test data and helpers shared by the store conformance suite. */
import { afterEach, beforeEach, expect } from 'vitest';
import type { DecisionRecord, Entity, PolicyStoreContent } from '@verity/core';
import { createStore } from '../../src/store.js';
import type { CreateVersionInput, Database, SqlClient, Store } from '../../src/types.js';

/** Produces a fresh, empty database for each test. */
export type MakeDatabase = () => Promise<Database>;

/** Where the cases get their databases. */
export interface ConformanceDatabases {
  /** A new database of its own, never used before (the migration cases start from one). */
  readonly fresh: MakeDatabase;
  /** An empty database for one case: a new one, or a reused one whose schema was emptied. */
  readonly empty: MakeDatabase;
}

/** The store of the running test, created fresh before it and closed after it. */
export interface StoreHandle {
  readonly store: Store;
  /** A new database of its own (as {@link ConformanceDatabases.fresh}). */
  readonly makeDatabase: MakeDatabase;
}

/** Register beforeEach/afterEach hooks giving every test of the current block its own store. */
export function useFreshStore(databases: ConformanceDatabases): StoreHandle {
  let current: Store | undefined;
  beforeEach(async () => {
    current = await createStore(await databases.empty());
  });
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  return {
    get store() {
      if (current === undefined) throw new Error('the store exists only while a test runs');
      return current;
    },
    makeDatabase: databases.fresh,
  };
}

/**
 * One database from `makeDatabase` for every case that asks, emptied before each: its `public`
 * schema is dropped (every table, index and row with it) and created again, so each case still
 * starts from an empty, unmigrated schema that its createStore migrates. For drivers where a new
 * database is the slow part (PGlite starts a new instance, seconds on a loaded machine, where
 * the migrations take about 0.1 s). Each case gets its own handle, which stops working (calls
 * through it fail) once it is closed or the next case takes the database; `close` closes the
 * database itself.
 */
export function reusedDatabase(makeDatabase: MakeDatabase): { empty: MakeDatabase; close(): Promise<void> } {
  let shared: Promise<Database> | undefined;
  let lent: { closed: boolean } | undefined;
  return {
    async empty() {
      // The previous case's handle stops working, also when that case never closed it.
      if (lent !== undefined) lent.closed = true;
      shared ??= makeDatabase();
      const db = await shared;
      await db.query('DROP SCHEMA public CASCADE');
      await db.query('CREATE SCHEMA public');
      const loan = { closed: false };
      lent = loan;
      const open = (): Database => {
        if (loan.closed) throw new Error('this case has closed its database');
        return db;
      };
      return {
        kind: db.kind,
        query: async <R>(sql: string, params?: readonly unknown[]) => open().query<R>(sql, params),
        transaction: async <T>(fn: (tx: SqlClient) => Promise<T>) => open().transaction(fn),
        listen: async (channel, onPayload) => open().listen(channel, onPayload),
        // The driver's own audit path (its thread chains and inserts), not the fallback over `transaction`.
        ...(db.appendAudit === undefined ? {} : { appendAudit: async (records, options) => void (await open().appendAudit?.(records, options)) }),
        close: async () => void (loan.closed = true),
      };
    },
    async close() {
      const db = await shared;
      shared = undefined;
      await db?.close();
    },
  };
}

/** Create tenants with default names and empty settings. */
export async function createTenants(store: Store, ...ids: string[]): Promise<void> {
  for (const id of ids) await store.tenants.create({ id, name: `Tenant ${id}`, settings: {} });
}

/** Policy-store content whose single policy text is tagged with `label`. */
export function policyContent(label: string, schema?: string): PolicyStoreContent {
  const content: PolicyStoreContent = {
    validationMode: schema === undefined ? 'off' : 'strict',
    policies: { [`p-${label}`]: `permit (principal, action, resource) when { context.label == "${label}" };` },
    templates: {},
    links: [],
  };
  if (schema !== undefined) content.schema = schema;
  return content;
}

/** A createVersion input for `label` (hash derived from the label; not checked by the store). */
export function versionInput(label: string, overrides: Partial<CreateVersionInput> = {}): CreateVersionInput {
  return { content: policyContent(label), hash: label.padEnd(64, '0').slice(0, 64), createdBy: 'tester', message: `version ${label}`, activate: true, ...overrides };
}

/** A User entity with one attribute, one parent group and optional tags. */
export function user(id: string, extra: Partial<Entity> = {}): Entity {
  return { uid: { type: 'User', id }, attrs: { name: id, level: 3 }, parents: [{ type: 'Group', id: 'staff' }], ...extra };
}

let decisionCounter = 0;

/** A decision record for `tenant`; vary it with `overrides`. */
export function decision(tenant: string, overrides: Partial<DecisionRecord> = {}): DecisionRecord {
  decisionCounter += 1;
  return {
    decisionId: `00000000-0000-4000-8000-${decisionCounter.toString().padStart(12, '0')}`,
    // Microseconds and an offset on purpose: the stored time must round-trip byte for byte.
    time: '2025-03-04T05:06:07.123456+02:00',
    tenant,
    requestId: `req-${decisionCounter}`,
    tier: 'gateway',
    principal: { type: 'User', id: 'alice' },
    action: { type: 'Action', id: 'read' },
    resource: { type: 'Document', id: `doc-${decisionCounter}` },
    decision: 'allow',
    reasons: ['p-1'],
    errors: [],
    policyVersion: 1,
    latencyUs: 42.5,
    ...overrides,
  };
}

/** Assert that `promise` rejects with a VerityError carrying `code`. */
export async function expectVerityError(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toMatchObject({ name: 'VerityError', code });
}

/** ISO-8601 UTC with milliseconds, the one time format both drivers must return. */
export const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
