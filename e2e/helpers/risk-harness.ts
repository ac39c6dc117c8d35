/**
 * A PDP for risk-engine tests: tenants with the risk engine set as asked, one inline identity
 * provider, an SSF transmitter key, and a decision call that finds its audit record.
 */
import { expect } from 'vitest';
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { startTestServer } from './verity.js';
import { auditRecordOf } from './audit-record.js';
import { createInlineIdp, type InlineIdp } from './inline-idp.js';

export interface RiskHarness {
  pdp: Awaited<ReturnType<typeof startTestServer>>;
  idp: InlineIdp;
  /** The SSF transmitter's signing key (its public key is registered by {@link RiskHarness.transmitter}). */
  txKey: CryptoKey;
  /** A tenant with `settings.risk = risk`, the harness's policies and the identity provider. */
  tenant(id: string, risk: Record<string, unknown>): Promise<void>;
  /** Register the SSF transmitter (`issuer`, key id `tx1`) on the tenant. */
  transmitter(tenant: string, issuer: string): Promise<void>;
  /** One AuthZEN evaluation of `token` on `Doc::"d1"`, and a reader of its audit record. */
  decide(tenant: string, token: string, action?: string, context?: Record<string, unknown>): Promise<{ status: number; body: any; decision: unknown; record: () => Promise<any> }>;
  close(): Promise<void>;
}

export async function startRiskHarness(options: { issuer: string; audience: string; policies: string }): Promise<RiskHarness> {
  const pdp = await startTestServer({ decisionAuth: 'open' });
  const idp = await createInlineIdp({ issuer: options.issuer, audience: options.audience });
  const tx = await generateKeyPair('ES256', { extractable: true });
  return {
    pdp,
    idp,
    txKey: tx.privateKey,
    async tenant(id, risk) {
      expect((await pdp.admin.post('/admin/v1/tenants', { id, settings: { risk } })).status).toBe(201);
      expect((await pdp.admin.post(`/admin/v1/tenants/${id}/policies`, { files: { 'p.cedar': options.policies } })).status).toBe(201);
      expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${id}/identity-sources/corp`, idp.source())).status).toBe(200);
    },
    async transmitter(tenant, issuer) {
      const jwk = { ...(await exportJWK(tx.publicKey)), kid: 'tx1', alg: 'ES256' };
      expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${tenant}/ssf/transmitters/tx`, { issuer, jwks: { keys: [jwk] } })).status).toBe(201);
    },
    async decide(tenant, token, action = 'read', context = {}) {
      const requestId = `risk-${crypto.randomUUID()}`;
      const answer = await pdp.admin.post(`/tenants/${tenant}/access/v1/evaluation`, { token, audience: options.audience, action: { name: action }, resource: { type: 'Doc', id: 'd1' }, context }, { 'x-request-id': requestId });
      return { status: answer.status, body: answer.body, decision: answer.body?.decision, record: () => auditRecordOf(pdp.admin, tenant, requestId) };
    },
    async close() {
      await pdp.close();
    },
  };
}

/** Wait (a few ms at a time) until the clock is in the first `withinMs` of a second. */
export async function atSecondStart(withinMs = 30): Promise<void> {
  while (Date.now() % 1000 > withinMs) await new Promise((resolve) => setTimeout(resolve, 3));
}
