/**
 * The three-tier example (examples/three-tier) run in-process: gateway (the real nginx, and the
 * Node gateway on the SDK) → orders service (Fastify + SDK) → data-access layer (PGlite with
 * row-level security), against a real Verity PDP. Each attack of the script is stopped where the
 * example says, and the PDP's audit holds exactly one record per tier that decided, under the
 * attack's own request id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTACKS, call, formatTable, runAttacks, verifyAudit, type AttackResult, type Tier } from '../examples/three-tier/attacks.js';
import { findNginx } from '../examples/three-tier/gateway.js';
import { startStack, type Stack } from '../examples/three-tier/stack.js';

const ALL_TIERS: readonly Tier[] = ['gateway', 'orders', 'sts', 'orders-db'];

describe.each(['nginx', 'node'] as const)('three-tier example, %s gateway', (gateway) => {
  let stack: Stack;
  let results: AttackResult[];
  const result = (id: string): AttackResult => {
    const found = results.find((entry) => entry.attack.id === id);
    if (!found) throw new Error(`no attack ${id}`);
    return found;
  };

  beforeAll(async () => {
    stack = await startStack({ gateway });
    results = await runAttacks(stack);
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('runs the requested gateway', () => {
    // nginx is installed by `npm test`'s pretest; without it the example falls back to Node.
    expect(stack.gateway.kind).toBe(gateway === 'nginx' && findNginx() === undefined ? 'node' : gateway);
  });

  it.each(ATTACKS.map((attack) => [attack.id, attack] as const))('%s: stopped where expected, one audit record per tier', (id, attack) => {
    const { outcome, records, requestId } = result(id);
    expect(outcome.status, JSON.stringify(outcome.body)).toBe(attack.expect.status);
    for (const record of records) expect(record.requestId).toBe(requestId);
    for (const tier of ALL_TIERS) {
      const ofTier = records.filter((record) => record.tier === tier);
      const expected = attack.expect.tiers[tier];
      expect(ofTier.map((record) => record.decision), `${id} at ${tier}`).toEqual(expected === undefined ? [] : [expected]);
    }
    expect(records).toHaveLength(Object.keys(attack.expect.tiers).length);
    expect(result(id).ok).toBe(true);
  });

  it('the legitimate request reads its order through all three tiers', () => {
    expect(result('baseline').outcome.body).toMatchObject({ tenant: 'acme', orders: [{ id: 'o-a1', tenant_id: 'acme' }] });
  });

  it('a forged x-tenant-id changes nothing: acme rows only', () => {
    const body = result('forged-tenant-header').outcome.body as { tenant: string; orders: Array<{ id: string; tenant_id: string }> };
    expect(body.tenant).toBe('acme');
    expect(body.orders.map((order) => order.id)).toEqual(['o-a1', 'o-a2']);
  });

  it('records why each token was refused', () => {
    const errorOf = (id: string) => result(id).records.flatMap((record) => record.errors.map((error) => error.message));
    expect(errorOf('compromised-gateway')).toEqual(['ERR_TOKEN_SIGNATURE']);
    expect(errorOf('revoked-via-gateway')).toEqual(['ERR_TOKEN_REVOKED']);
    expect(errorOf('revoked-direct')).toEqual(['ERR_TOKEN_REVOKED']);
    expect(errorOf('wrong-audience')).toEqual(['ERR_TOKEN_AUDIENCE']);
    expect(result('direct-no-token').outcome.body).toMatchObject({ code: 'ERR_TOKEN_MISSING' });
  });

  it('denies another tenant\'s order on its stored tenant, and RLS hides the row from a service that did not ask', () => {
    const denied = result('other-tenants-order').records.find((record) => record.tier === 'orders');
    expect(denied).toMatchObject({ decision: 'deny', principal: { type: 'User', id: 'alice' }, action: { id: 'read' }, resource: { type: 'Order', id: 'o-g1' } });
    expect(result('other-tenants-order-unchecked').outcome.body).toEqual({ tenant: 'acme', rows: [] });
  });

  it('a tenant\'s gateway refuses another tenant\'s user: the host picks the PDP, the PDP decides', async () => {
    const token = await stack.idp.mint({ sub: 'alice', tenant: 'acme', scope: 'orders:read' });
    const answer = await call(stack.gateway.url, { tenant: 'globex', path: '/orders/o-g1', token, requestId: `cross-host-${gateway}` });
    expect(answer.status).toBe(401);
  });

  it('the token service refuses a wider scope than the user\'s', () => {
    expect(result('over-scoped-exchange').outcome.body).toMatchObject({ code: 'ERR_STS_INVALID_SCOPE', error: 'invalid_scope' });
  });

  it('the database admits nothing of another tenant to a compromised data-access layer', async () => {
    expect(result('compromised-service-sets-tenant').outcome.body).toEqual({ rows: [] });
    expect(result('compromised-service-replays-receipt').outcome.body).toEqual({ rows: [] });
    expect(result('compromised-service-forges-receipt').outcome.body).toMatchObject({ sqlstate: '28000', message: 'verity: receipt rejected: bad signature' });
    expect(result('compromised-service-writes-with-read-receipt').outcome.body).toEqual({ deleted: [] });
    // …and the rows are all still there for the tenant's own receipt.
    const token = await stack.idp.mint({ sub: 'alice', tenant: 'acme', scope: 'orders:read' });
    const answer = await call(stack.gateway.url, { tenant: 'acme', path: '/orders', token, requestId: `after-attacks-${gateway}` });
    expect((answer.body as { orders: Array<{ id: string }> }).orders.map((order) => order.id)).toEqual(['o-a1', 'o-a2']);
  });

  it('the database took the tenant and the decision from the receipt of the orders-db decision', async () => {
    const { exchangeToken } = await import('../examples/three-tier/orders-service.js');
    const exchanged = await exchangeToken({ pdpUrl: stack.pdp.url, tenant: 'acme', clientId: 'orders', clientSecret: stack.stsSecrets.acme, subjectToken: await stack.idp.mint({ sub: 'alice', tenant: 'acme', scope: 'orders:read' }), audience: 'orders-db', scope: 'orders:read', requestId: `receipt-${gateway}` });
    const answer = await stack.dataTier.select({ token: exchanged.body.access_token, requestId: `receipt-${gateway}` });
    if (answer.status !== 200) throw new Error(`select failed: ${answer.status}`);
    expect(answer.tenant).toBe('acme');
    expect(answer.receiptDecisionId).not.toBeNull();
    expect(answer.receiptDecisionId).toBe(answer.decisionId);
    expect(answer.rows.map((row) => row.id)).toEqual(['o-a1', 'o-a2']);
  });

  it('prints the table, and the audit chains verify', async () => {
    const table = formatTable(results);
    for (const entry of results) {
      expect(table).toContain(entry.attack.title);
      for (const record of entry.records) expect(table).toContain(record.decisionId);
    }
    const audit = await verifyAudit(stack);
    expect(audit.acme).toMatchObject({ ok: true });
    expect(audit.acme.checked).toBeGreaterThanOrEqual(results.reduce((sum, entry) => sum + entry.records.length, 0));
    expect(audit.globex).toMatchObject({ ok: true });
  });
});
