/**
 * Fixtures for the workload services' tests (tests only): one PGlite store per test file, a
 * frozen clock, the changes published and the audit records written. Keys are generated here.
 */
import { randomBytes } from 'node:crypto';
import type { DecisionRecord, TenantSettings } from '@verity/core';
import { createSecretBox, createSourceFetch, type FetchFunction, type SecretBox } from '@verity/identity';
import { createPgliteDatabase, createStore, type Store } from '@verity/store';
import { createCsr, createSvidProof, generateSvidKey, verifyCsr, type X509Svid } from '@verity/workload/core';
import type { AuditWriter } from '../audit-writer.js';
import type { Change, PublishChange } from '../change-feed.js';
import { createWorkloadService, type WorkloadService } from './workload-service.js';
import type { IssuedSvid } from './svid-service.js';

export const BASE_URL = 'https://pdp.example';

/** The deployment's trust domain in these tests (the workload service's `defaultTrustDomain`). */
export const DEPLOYMENT_TRUST_DOMAIN = 'verity.internal';

/** The trust domain of a tenant without a `trust_domain` setting: `<tenant>.verity.internal`. */
export const defaultDomainOf = (tenant: string) => `${tenant}.${DEPLOYMENT_TRUST_DOMAIN}`;

/** A SPIFFE id in the default trust domain of `tenant` (one without a `trust_domain` setting). */
export const idIn = (tenant: string, path: string) => `spiffe://${defaultDomainOf(tenant)}/${path}`;

export interface WorkloadFixture {
  store: Store;
  box: SecretBox;
  /** The frozen clock (epoch ms); tests move it. */
  clock: { now: number };
  now: () => number;
  /** Every change published, in order. */
  changes: Change[];
  /** Every audit record enqueued, in order. */
  records: DecisionRecord[];
  audit: AuditWriter;
  publish: PublishChange;
  /** A new tenant with these settings; its id is unique in the fixture. */
  tenant(settings?: TenantSettings): Promise<string>;
  /** The composed workload service over this fixture (one per call: a replica). */
  workloads(options?: { fetch?: FetchFunction }): Promise<WorkloadService>;
  close(): Promise<void>;
}

export async function createWorkloadFixture(): Promise<WorkloadFixture> {
  const store = await createStore(await createPgliteDatabase());
  const box = createSecretBox(randomBytes(32));
  const clock = { now: Date.UTC(2030, 0, 1) };
  const now = () => clock.now;
  const changes: Change[] = [];
  const records: DecisionRecord[] = [];
  // Only `enqueue` is used by the services under test (security events).
  const audit = { enqueue: (record: DecisionRecord) => void records.push(record) } as unknown as AuditWriter;
  let services: WorkloadService[] = [];
  // Like the change feed: every replica hears every change (its own included) at once.
  const publish: PublishChange = async (change) => {
    changes.push(change);
    for (const service of services) service.onChange(change.tenant, change.kind);
  };
  let count = 0;
  return {
    store,
    box,
    clock,
    now,
    changes,
    records,
    audit,
    publish,
    async tenant(settings = {}) {
      count += 1;
      const id = `t${count}`;
      await store.tenants.create({ id, name: id, settings });
      return id;
    },
    async workloads(options = {}) {
      const service = await createWorkloadService({
        store,
        box,
        audit,
        publish,
        sourceFetch: options.fetch ?? createSourceFetch({ allowInsecure: true }),
        baseUrl: () => BASE_URL,
        defaultTrustDomain: DEPLOYMENT_TRUST_DOMAIN,
        now,
      });
      services = [...services, service];
      return service;
    },
    async close() {
      services = [];
      await store.close();
    },
  };
}

/** A new key and its CSR (PEM) with the CSR's DER, as a workload makes them. */
export async function newKeyAndCsr(): Promise<{ privateKeyPem: string; csr: string; der: Uint8Array }> {
  const { privateKeyPem } = await generateSvidKey();
  const csr = await createCsr(privateKeyPem);
  return { privateKeyPem, csr, der: (await verifyCsr(csr)).der };
}

/** What a workload holds after an issue: the SVID with the key it asked with. */
export function heldSvid(issued: IssuedSvid, privateKeyPem: string, issuedAtMs: number): X509Svid {
  return { spiffeId: issued.spiffeId, certChainPem: issued.certChainPem, privateKeyPem, expiresAtMs: issued.expiresAtMs, issuedAtMs };
}

/** A renew request signed with `svid`'s key for a fresh key's CSR. */
export async function renewRequest(tenant: string, svid: X509Svid, now: () => number, audience = `${BASE_URL}/workload/v1/tenants/${tenant}/renew`) {
  const next = await newKeyAndCsr();
  const proof = await createSvidProof({ svid, audience, csrDer: next.der, now });
  return { request: { proof, csr: next.csr }, next };
}
