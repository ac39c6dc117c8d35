/**
 * The three-tier example (examples/three-tier) run in-process: gateway (the real nginx, and the
 * Node gateway on the SDK) → orders service (Fastify + SDK, strict mTLS with SVIDs from the
 * Workload API) → data-access layer (PGlite with row-level security), against a real Verity PDP.
 * Each attack of the script is stopped where the example says, and the PDP's audit holds exactly
 * one record per tier that decided, under the attack's own request id.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTACKS, call, expectedOf, formatTable, runAttacks, verifyAudit, type AttackResult, type Tier } from '../examples/three-tier/attacks.js';
import { findNginx } from '../examples/three-tier/gateway.js';
import { startStack, type Stack } from '../examples/three-tier/stack.js';
import { GATEWAY_ID, REPORTS_ID } from '../examples/three-tier/workloads.js';

const ALL_TIERS: readonly Tier[] = ['gateway', 'orders', 'sts', 'orders-db'];

it('the example\'s policy tests pass (`verity policy test examples/three-tier/policy`)', () => {
  const cli = fileURLToPath(new URL('../packages/cli/bin/verity.mjs', import.meta.url));
  const run = spawnSync(process.execPath, [cli, 'policy', 'test', fileURLToPath(new URL('../examples/three-tier/policy', import.meta.url))], { encoding: 'utf8' });
  expect(run.status, run.stdout + run.stderr).toBe(0);
  expect(run.stdout).toContain('the reports workload may not call the orders service');
  expect(run.stdout).toMatch(/\b0 failed\b/);
});

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
      expect(ofTier.map((record) => record.decision).sort(), `${id} at ${tier}`).toEqual(expectedOf(attack, tier));
    }
    expect(records).toHaveLength(ALL_TIERS.reduce((sum, tier) => sum + expectedOf(attack, tier).length, 0));
    expect(result(id).ok).toBe(true);
  });

  it('a device that falls out of compliance mid-session is refused at every tier, on the risk the PDP measured', () => {
    for (const id of ['noncompliant-device-via-gateway', 'noncompliant-device-direct', 'noncompliant-device-database']) {
      const { records } = result(id);
      expect(records).toHaveLength(1);
      expect(records[0]?.decision).toBe('deny');
      expect(records[0]?.reasons, id).toEqual(['device.noncompliant']);
      expect(records[0]?.risk?.factors, id).toContainEqual({ name: 'device_noncompliant', weight: 25, detail: 'disk_encryption' });
    }
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

  it('the gateway calls the orders service over mTLS as its workload: every orders record names it', () => {
    expect(stack.orders.url).toMatch(/^https:/);
    for (const id of ['baseline', 'forged-tenant-header', 'other-tenants-order']) {
      const records = result(id).records.filter((record) => record.tier === 'orders');
      expect(records.map((record) => record.caller), id).toEqual([GATEWAY_ID]);
    }
    // The tiers that are not called over mTLS name no caller; the edge's Txn-Token names the workload whose JWT-SVID asked for it.
    const others = result('baseline').records.filter((record) => record.tier !== 'orders');
    expect(others.filter((record) => record.action.id !== 'txn_token').map((record) => record.caller ?? null)).toEqual([null, null, null]);
    expect(others.filter((record) => record.action.id === 'txn_token').map((record) => record.caller)).toEqual([GATEWAY_ID]);
  });

  it('one Txn-Token carries the call: the edge\'s issuance, the orders tier and the database share its txn', async () => {
    for (const id of ['baseline', 'forged-tenant-header']) {
      const records = result(id).records;
      const issued = records.find((record) => record.action.id === 'txn_token');
      expect(issued, id).toMatchObject({ tier: 'sts', decision: 'allow', principal: { type: 'Workload', id: GATEWAY_ID }, resource: { type: 'TrustDomain', id: 'acme.verity.internal' } });
      const txn = issued?.txn;
      expect(txn, id).toMatch(/^[0-9a-f-]{36}$/);
      expect(records.filter((record) => record.txn === txn).map((record) => record.tier).sort(), id).toEqual(['orders', 'orders-db', 'sts']);
      // The gateway decided before the transaction began; the exchange carries no Txn-Token.
      expect(records.filter((record) => record.txn === undefined || record.txn === null).map((record) => `${record.tier} ${record.action.id}`).sort(), id).toEqual(['gateway GET', 'sts exchange']);
      // …and the audit finds the whole chain by its txn.
      const byTxn = await stack.admin<{ events: Array<{ requestId: string }> }>('GET', `/admin/v1/tenants/acme/audit?txn=${txn as string}&limit=100`);
      expect(byTxn.body.events.map((event) => event.requestId)).toEqual([result(id).requestId, result(id).requestId, result(id).requestId]);
    }
    // Every allowed call through the gateway carried a distinct transaction.
    expect(result('baseline').records.find((record) => record.tier === 'orders')?.txn).not.toBe(result('forged-tenant-header').records.find((record) => record.tier === 'orders')?.txn);
  });

  it('without the Txn-Token, or with another user\'s, the orders tier denies', () => {
    const missing = result('no-txn-token').records;
    expect(missing).toMatchObject([{ tier: 'orders', decision: 'deny', caller: GATEWAY_ID, errors: [] }]);
    expect(missing[0]?.txn ?? null).toBeNull();
    const mixed = result('other-subjects-txn-token').records.find((record) => record.tier === 'orders');
    expect(mixed).toMatchObject({ decision: 'deny', principal: { id: 'alice' }, errors: [{ policyId: 'verity:txn', message: expect.stringContaining('another subject') }] });
    expect(mixed?.txn).toBe(result('other-subjects-txn-token').records.find((record) => record.tier === 'sts')?.txn);
  });

  it('a workload the policy does not allow is denied at the orders tier, and the audit names it', async () => {
    expect(result('workload-not-allowed').outcome.body).toMatchObject({ code: 'ERR_ENFORCE_DENIED' });
    const [record] = result('workload-not-allowed').records;
    expect(record).toMatchObject({ tier: 'orders', decision: 'deny', caller: REPORTS_ID, principal: { type: 'User', id: 'alice' }, action: { id: 'read' }, resource: { type: 'Order', id: 'o-a1' }, errors: [] });
    // The audit by caller finds it too.
    const byCaller = await stack.admin<{ events: Array<{ requestId: string; caller: string; decision: string }> }>('GET', `/admin/v1/tenants/acme/audit?caller=${encodeURIComponent(REPORTS_ID)}&limit=100`);
    expect(byCaller.status).toBe(200);
    expect(byCaller.body.events.every((event) => event.caller === REPORTS_ID && event.decision === 'deny')).toBe(true);
    expect(byCaller.body.events.map((event) => event.requestId)).toContain(result('workload-not-allowed').requestId);
  });

  it('a forged caller header is denied by the PDP (verity:workload); the caller stays the mTLS peer', () => {
    const [record] = result('forged-caller-header').records;
    expect(record).toMatchObject({ tier: 'orders', decision: 'deny', caller: REPORTS_ID, errors: [{ policyId: 'verity:workload' }] });
    expect(record?.errors[0]?.message).toContain('x-forwarded-client-cert');
  });

  it('a caller without a client certificate cannot connect to the orders service (strict mTLS)', () => {
    expect(result('no-client-certificate').outcome).toMatchObject({ status: 0, body: { error: expect.any(String) } });
    expect(result('no-client-certificate').records).toEqual([]);
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
