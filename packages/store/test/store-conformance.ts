/** The one conformance suite every Database driver must pass (the Cerbos store-suite habit). */
import { afterAll, describe } from 'vitest';
import { describeActivity } from './conformance/activity-cases.js';
import { describeAudit } from './conformance/audit-cases.js';
import { describeDevices } from './conformance/devices-cases.js';
import { describeCredentialsAndMigrations } from './conformance/credentials-migrations-cases.js';
import { describeEntities } from './conformance/entities-cases.js';
import { describeIdentity } from './conformance/identity-cases.js';
import { reusedDatabase, type ConformanceDatabases, type MakeDatabase } from './conformance/fixtures.js';
import { describeReceiptKeys } from './conformance/receipt-keys-cases.js';
import { describeSsf } from './conformance/ssf-cases.js';
import { describeTenantsAndPolicies } from './conformance/tenants-policies-cases.js';
import { describeThreatLists } from './conformance/threat-lists-cases.js';
import { describeWorkloads } from './conformance/workloads-cases.js';

export type { MakeDatabase } from './conformance/fixtures.js';

/** Options of {@link describeStoreConformance}. */
export interface StoreConformanceOptions {
  /**
   * Give the cases one database from `makeDatabase`, its schema dropped and created again
   * before each case (see reusedDatabase), instead of a new database per case. For drivers
   * where a new database costs seconds; the cases that migrate two processes' way into a new
   * database still get one from `makeDatabase`. Default false.
   */
  reuseDatabase?: boolean;
  /**
   * Only these groups of cases (default every one): for a driver that is a relay over one
   * already under the whole suite, the groups that exercise what the relay carries.
   */
  only?: ReadonlyArray<'tenants and policies' | 'entities' | 'audit' | 'credentials and migrations' | 'identity' | 'receipt keys' | 'workloads' | 'devices' | 'ssf' | 'threat lists' | 'activity'>;
}

/**
 * Define the vitest cases covering every Store method against databases from `makeDatabase`.
 * Each test gets an empty database (a fresh one, or with `reuseDatabase` a reused one whose
 * schema was emptied) and closes it when done.
 *
 * @example
 * describeStoreConformance('pglite', () => createPgliteDatabase());
 */
export function describeStoreConformance(name: string, makeDatabase: MakeDatabase, options: StoreConformanceOptions = {}): void {
  describe(`store conformance: ${name}`, () => {
    let databases: ConformanceDatabases = { fresh: makeDatabase, empty: makeDatabase };
    if (options.reuseDatabase === true) {
      const reused = reusedDatabase(makeDatabase);
      databases = { fresh: makeDatabase, empty: reused.empty };
      afterAll(() => reused.close());
    }
    const groups: Array<[NonNullable<StoreConformanceOptions['only']>[number], (databases: ConformanceDatabases) => void]> = [
      ['tenants and policies', describeTenantsAndPolicies],
      ['entities', describeEntities],
      ['audit', describeAudit],
      ['credentials and migrations', describeCredentialsAndMigrations],
      ['identity', describeIdentity],
      ['receipt keys', describeReceiptKeys],
      ['workloads', describeWorkloads],
      ['devices', describeDevices],
      ['ssf', describeSsf],
      ['threat lists', describeThreatLists],
      ['activity', describeActivity],
    ];
    for (const [group, describeGroup] of groups) if (options.only === undefined || options.only.includes(group)) describe(group, () => describeGroup(databases));
  });
}
