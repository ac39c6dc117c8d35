/** Revocations through the identity service: a job revocation stored by one replica reaches another through the change feed. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteDatabase, createStore, type Store } from '@verity/store';
import { createSecretBox, generateMasterKey, parseMasterKey } from '@verity/identity';
import type { Change } from '../change-feed.js';
import { createAuditWriter, type AuditWriter } from '../audit-writer.js';
import { createIdentityService, type IdentityService } from './identity-service.js';
import { createTokenServices, type TokenServices } from './token-services.js';

const T0 = Date.UTC(2026, 11, 1, 12);
const TENANT = 'jobs';
const meta = { requestId: null, tier: null };
let store: Store;
let tokens: TokenServices;
let audit: AuditWriter;

beforeAll(async () => {
  store = await createStore(await createPgliteDatabase());
  await store.tenants.create({ id: TENANT, name: TENANT, settings: {} });
  tokens = createTokenServices({ store, box: createSecretBox(parseMasterKey(generateMasterKey())), now: () => T0 });
  tokens.setBaseUrl('https://pdp.example.com');
  audit = createAuditWriter(store, { flushMs: 5, batchSize: 10, maxQueue: 100 });
});
afterAll(async () => {
  await audit.close();
  await store.close();
});

/** Two replicas over one store; a published change reaches the other one only when delivered, as over the feed. */
async function replicas(): Promise<{ a: IdentityService; b: IdentityService; changes: Change[]; deliver: () => Promise<void> }> {
  const changes: Change[] = [];
  const services: IdentityService[] = [];
  const make = async () => {
    const service = await createIdentityService({ store, tokens, audit, now: () => T0, publish: async (change) => {
      changes.push(change);
      await service.onChange(change.tenant, 'revocation');
    } });
    services.push(service);
    return service;
  };
  const a = await make();
  const b = await make();
  return { a, b, changes, deliver: async () => {
    for (const change of changes.splice(0)) for (const service of services) await service.onChange(change.tenant, 'revocation');
  } };
}

async function jobToken(job: string): Promise<string> {
  const issuer = await tokens.issuer(TENANT);
  return (await issuer.issue({ subject: 'nightly', principalType: 'Client', audience: issuer.issuer, scopes: ['orders:read'], clientId: 'nightly', job })).token;
}

const outcome = (service: IdentityService, token: string) =>
  service.verifySubjectToken(TENANT, token, meta).then((verified) => verified.job, (error: { code?: string }) => error.code);

describe('job revocation across replicas', () => {
  it('refuses the job on the revoking replica at once and on another when the revocation change arrives; other jobs stay', async () => {
    const { a, b, changes, deliver } = await replicas();
    const [one, other] = [await jobToken('run-1'), await jobToken('run-2')];
    expect([await outcome(a, one), await outcome(b, one)]).toEqual(['run-1', 'run-1']);

    await a.revoke(TENANT, { job: 'run-1' });
    expect(changes).toEqual([{ tenant: TENANT, kind: 'revocation' }]);
    expect(await outcome(a, one)).toBe('ERR_TOKEN_REVOKED');
    // b verified the token before and has not heard the change yet: its view is the one it loaded.
    expect(await outcome(b, one)).toBe('run-1');
    await deliver();
    expect([await outcome(b, one), await outcome(b, other)]).toEqual(['ERR_TOKEN_REVOKED', 'run-2']);
    expect(b.revocationsOf(TENANT)).toEqual([{ kind: 'job', tenant: TENANT, job: 'run-1', issuedBefore: T0 / 1000 }]);

    // A replica started later reads the stored revocation (kind job, migration 15).
    const { a: fresh } = await replicas();
    expect(await outcome(fresh, one)).toBe('ERR_TOKEN_REVOKED');
  });
});
