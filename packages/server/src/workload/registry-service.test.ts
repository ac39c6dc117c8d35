/** Registrations (checked input, trust domain), removal and the in-memory deny list, one-time join tokens. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJoinTokenAttestor } from './attestor.js';
import { createWorkloadFixture, idIn, type WorkloadFixture } from './test-fixtures.js';

let fx: WorkloadFixture;
beforeAll(async () => {
  fx = await createWorkloadFixture();
});
afterAll(async () => {
  await fx.close();
});

/** payments/api in the default trust domain of `tenant` (one without a `trust_domain` setting). */
const apiIn = (tenant: string) => idIn(tenant, 'ns/payments/sa/api');

describe('registrations', () => {
  it('registers with defaults, publishes, lists, and refuses the same SPIFFE id twice and in another tenant', async () => {
    const tenant = await fx.tenant();
    const API = apiIn(tenant);
    const { registry } = await fx.workloads();
    const created = await registry.register(tenant, { spiffe_id: API });
    expect(created).toEqual({ id: expect.any(String), tenant, spiffe_id: API, selectors: [], attestor: 'join_token', x509_ttl_sec: 3600, jwt_ttl_sec: 300, created_at: expect.any(String) });
    expect(fx.changes.at(-1)).toEqual({ tenant, kind: 'workload' });
    expect(await registry.list(tenant)).toEqual([created]);
    await expect(registry.register(tenant, { spiffe_id: API })).rejects.toMatchObject({ code: 'ERR_WORKLOAD_EXISTS' });
    // Each tenant without a setting has its own trust domain: the id is not another tenant's to register.
    const neighbour = await fx.tenant();
    await expect(registry.register(neighbour, { spiffe_id: API })).rejects.toMatchObject({ code: 'ERR_WORKLOAD_INVALID' });
  });

  it('checks the body: trust domain, SPIFFE id, attestor, selectors, lifetimes, unknown keys', async () => {
    const tenant = await fx.tenant({ trust_domain: 'prod.example' });
    const { registry } = await fx.workloads();
    const refused = async (body: unknown, code = 'ERR_WORKLOAD_INVALID') => expect(registry.register(tenant, body), JSON.stringify(body)).rejects.toMatchObject({ code });
    await refused({ spiffe_id: 'spiffe://verity.internal/ns/payments/sa/api' }); // the deployment's trust domain, not this tenant's
    await refused({ spiffe_id: apiIn(tenant) }); // its default name is not its trust domain once it sets one
    await refused({ spiffe_id: 'spiffe://prod.example' }, 'ERR_SPIFFE_ID_INVALID');
    await refused({ spiffe_id: 'spiffe://prod.example/a/../b' }, 'ERR_SPIFFE_ID_INVALID');
    await refused({ spiffe_id: 'https://prod.example/api' }, 'ERR_SPIFFE_ID_INVALID');
    await refused({ spiffe_id: 'spiffe://prod.example/api', extra: 1 });
    await refused({ spiffe_id: 'spiffe://prod.example/api', attestor: 'aws_iid' });
    await refused({ spiffe_id: 'spiffe://prod.example/api', x509_ttl_sec: 86_401 });
    await refused({ spiffe_id: 'spiffe://prod.example/api', x509_ttl_sec: 4 });
    await refused({ spiffe_id: 'spiffe://prod.example/api', jwt_ttl_sec: 3601 });
    await refused({ spiffe_id: 'spiffe://prod.example/api', jwt_ttl_sec: 1.5 });
    await refused({ spiffe_id: 'spiffe://prod.example/api', selectors: ['no-colon'] });
    await refused({ spiffe_id: 'spiffe://prod.example/api', selectors: ['unix:uid:1', 'unix:uid:1'] });
    await refused({ spiffe_id: 'spiffe://prod.example/api', selectors: Array.from({ length: 33 }, (_, i) => `unix:uid:${i}`) });
    // A k8s_psat registration names exactly one namespace and one service account, and k8s selectors only.
    await refused({ spiffe_id: 'spiffe://prod.example/api', attestor: 'k8s_psat', selectors: ['k8s:ns:payments'] });
    await refused({ spiffe_id: 'spiffe://prod.example/api', attestor: 'k8s_psat', selectors: ['k8s:ns:a', 'k8s:ns:b', 'k8s:sa:api'] });
    await refused({ spiffe_id: 'spiffe://prod.example/api', attestor: 'k8s_psat', selectors: ['k8s:ns:a', 'k8s:sa:api', 'unix:uid:1'] });
    const ok = await registry.register(tenant, { spiffe_id: 'spiffe://prod.example/api', attestor: 'k8s_psat', selectors: ['k8s:ns:a', 'k8s:sa:api', 'k8s:pod-name:x'], x509_ttl_sec: 600, jwt_ttl_sec: 60 });
    expect(ok).toMatchObject({ attestor: 'k8s_psat', x509_ttl_sec: 600, jwt_ttl_sec: 60 });
    await expect(registry.register('nope', { spiffe_id: apiIn('nope') })).rejects.toMatchObject({ code: 'ERR_TENANT_NOT_FOUND' });
  });
});

describe('removal and the deny list', () => {
  it('denies the id at once until its last SVID expires; another replica after the change; then forgets it', async () => {
    const tenant = await fx.tenant();
    const API = apiIn(tenant);
    const here = await fx.workloads();
    const created = await here.registry.register(tenant, { spiffe_id: API });
    // An SVID was issued to it that expires in 2 h.
    const expiresAtMs = fx.now() + 2 * 3600 * 1000;
    const signers = await here.ca.signers(tenant);
    await fx.store.workloads.recordIssued(tenant, { registrationId: created.id, authority: { x509: signers.x509.id }, expiresAtMs });
    const other = await fx.workloads();
    expect(here.isDenied(tenant, API)).toBe(false);

    const removed = await here.registry.remove(tenant, created.id);
    expect(removed).toEqual({ spiffeId: API, untilMs: expiresAtMs });
    expect(here.isDenied(tenant, API)).toBe(true);
    expect(here.isDenied(tenant, idIn(tenant, 'other'))).toBe(false);
    expect(here.isDenied('t-other', API)).toBe(false);
    // Its owner's removal denies it for the decisions of every tenant (only the owner registers it).
    expect(here.registry.isDeniedAnywhere(API)).toBe(true);
    expect(here.registry.isDeniedAnywhere(idIn(tenant, 'other'))).toBe(false);
    expect(here.denied(tenant)).toEqual([{ spiffeId: API, untilMs: expiresAtMs }]);
    // The other replica heard the change; its reload finishes in the background.
    await expect.poll(() => other.isDenied(tenant, API)).toBe(true);
    expect(await other.deniedList(tenant)).toEqual({ denied: [{ spiffeId: API, untilMs: expiresAtMs }], sequence: await fx.store.workloads.sequence(tenant) });
    await expect(here.registry.remove(tenant, created.id)).rejects.toMatchObject({ code: 'ERR_WORKLOAD_NOT_FOUND' });
    await expect(here.registry.register(tenant, { spiffe_id: API })).rejects.toMatchObject({ code: 'ERR_WORKLOAD_EXISTS' });

    fx.clock.now = expiresAtMs;
    expect(here.isDenied(tenant, API)).toBe(false);
    expect(here.denied(tenant)).toEqual([]);
    expect(here.registry.isDeniedAnywhere(API)).toBe(false);
    expect((await here.deniedList(tenant)).denied).toEqual([]);
    expect((await here.registry.register(tenant, { spiffe_id: API })).spiffe_id).toBe(API);
  });

  it('reads every tenant\'s deny list at start (a replica started after the removal)', async () => {
    const tenant = await fx.tenant();
    const API = apiIn(tenant);
    const here = await fx.workloads();
    const created = await here.registry.register(tenant, { spiffe_id: API });
    await fx.store.workloads.recordIssued(tenant, { registrationId: created.id, authority: { x509: (await here.ca.signers(tenant)).x509.id }, expiresAtMs: fx.now() + 60_000 });
    await here.registry.remove(tenant, created.id);
    expect((await fx.workloads()).isDenied(tenant, API)).toBe(true);
  });
});

describe('join tokens', () => {
  it('are shown once, kept hashed, used once, refused when expired or for a k8s_psat registration', async () => {
    const tenant = await fx.tenant();
    const API = apiIn(tenant);
    const { registry } = await fx.workloads();
    const attestor = createJoinTokenAttestor({ store: fx.store, now: fx.now });
    const created = await registry.register(tenant, { spiffe_id: API });
    const { token, expiresAtMs } = await registry.createJoinToken(tenant, created.id, undefined);
    expect(token).toMatch(/^vjt_[A-Za-z0-9_-]{43}$/);
    expect(expiresAtMs).toBe(fx.now() + 300_000);
    const { rows } = await fx.store.db.query<{ token_hash: string }>('SELECT token_hash FROM workload_join_tokens');
    expect(JSON.stringify(rows)).not.toContain(token.slice(4));

    const invalid = { code: 'ERR_JOIN_TOKEN_INVALID' };
    await expect(attestor.attest('t-other', { join_token: token })).rejects.toMatchObject(invalid);
    expect(await attestor.attest(tenant, { join_token: token })).toEqual({ registrationId: created.id });
    await expect(attestor.attest(tenant, { join_token: token })).rejects.toMatchObject(invalid);
    await expect(attestor.attest(tenant, { join_token: `${token.slice(0, -1)}A` })).rejects.toMatchObject(invalid);
    await expect(attestor.attest(tenant, { join_token: 42 })).rejects.toMatchObject(invalid);

    const short = await registry.createJoinToken(tenant, created.id, { ttl_sec: 10 });
    fx.clock.now += 10_000;
    await expect(attestor.attest(tenant, { join_token: short.token })).rejects.toMatchObject(invalid);

    for (const body of [{ ttl_sec: 0 }, { ttl_sec: 3601 }, { ttl: 5 }, 'x']) {
      await expect(registry.createJoinToken(tenant, created.id, body), JSON.stringify(body)).rejects.toMatchObject({ code: 'ERR_WORKLOAD_INVALID' });
    }
    await expect(registry.createJoinToken(tenant, 'nope', {})).rejects.toMatchObject({ code: 'ERR_WORKLOAD_NOT_FOUND' });
    const k8s = await registry.register(tenant, { spiffe_id: idIn(tenant, 'k8s'), attestor: 'k8s_psat', selectors: ['k8s:ns:a', 'k8s:sa:b'] });
    await expect(registry.createJoinToken(tenant, k8s.id, {})).rejects.toMatchObject({ code: 'ERR_WORKLOAD_INVALID' });
  });
});
