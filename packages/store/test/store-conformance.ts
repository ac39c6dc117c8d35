/** The one conformance suite every Database driver must pass (the Cerbos store-suite habit). */
import { describe } from 'vitest';
import { describeAudit } from './conformance/audit-cases.js';
import { describeDevices } from './conformance/devices-cases.js';
import { describeCredentialsAndMigrations } from './conformance/credentials-migrations-cases.js';
import { describeEntities } from './conformance/entities-cases.js';
import { describeIdentity } from './conformance/identity-cases.js';
import type { MakeDatabase } from './conformance/fixtures.js';
import { describeReceiptKeys } from './conformance/receipt-keys-cases.js';
import { describeTenantsAndPolicies } from './conformance/tenants-policies-cases.js';
import { describeWorkloads } from './conformance/workloads-cases.js';

export type { MakeDatabase } from './conformance/fixtures.js';

/**
 * Define the vitest cases covering every Store method against databases from `makeDatabase`.
 * Each test gets a fresh, empty database and closes it when done.
 *
 * @example
 * describeStoreConformance('pglite', () => createPgliteDatabase());
 */
export function describeStoreConformance(name: string, makeDatabase: MakeDatabase): void {
  describe(`store conformance: ${name}`, () => {
    describe('tenants and policies', () => describeTenantsAndPolicies(makeDatabase));
    describe('entities', () => describeEntities(makeDatabase));
    describe('audit', () => describeAudit(makeDatabase));
    describe('credentials and migrations', () => describeCredentialsAndMigrations(makeDatabase));
    describe('identity', () => describeIdentity(makeDatabase));
    describe('receipt keys', () => describeReceiptKeys(makeDatabase));
    describe('workloads', () => describeWorkloads(makeDatabase));
    describe('devices', () => describeDevices(makeDatabase));
  });
}
