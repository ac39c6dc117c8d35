/**
 * attack11: workload identity on `verity serve --workers 2`: one-time join tokens, single-use
 * SVID proofs (renew, jwt-svid), bundles/JWKS identical on every worker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCsr, createSvidProof, generateSvidKey, verifyCsr, type X509Svid } from '@verity/workload';
import { fresh, startCluster, type Started } from './helpers/attack11.js';

let c: Started;
const wl = (path: string) => `/workload/v1/tenants/acme/${path}`;
const adm = (path: string) => `/admin/v1/tenants/acme/${path}`;

async function newKey() {
  const { privateKeyPem } = await generateSvidKey();
  const csr = await createCsr(privateKeyPem);
  return { privateKeyPem, csr, der: (await verifyCsr(csr)).der };
}

beforeAll(async () => {
  c = await startCluster();
  const t = await fresh(c.url, 'POST', '/admin/v1/tenants', { body: { id: 'acme', settings: { trust_domain: 'acme.example' } } });
  expect(t.status, t.text).toBe(201);
});

afterAll(async () => {
  await c?.close();
});

async function register(name: string): Promise<string> {
  const created = await fresh(c.url, 'POST', adm('workloads'), { body: { spiffe_id: `spiffe://acme.example/${name}` } });
  expect(created.status, created.text).toBe(201);
  return created.body.id as string;
}

async function enrol(name: string): Promise<X509Svid> {
  const id = await register(name);
  const minted = await fresh(c.url, 'POST', adm(`workloads/${id}/join-tokens`), { body: {} });
  const key = await newKey();
  const attested = await fresh(c.url, 'POST', wl('attest'), { token: null, body: { attestor: 'join_token', join_token: minted.body.join_token, csr: key.csr } });
  expect(attested.status, attested.text).toBe(200);
  return { spiffeId: `spiffe://acme.example/${name}`, certChainPem: attested.body.x509_svid, privateKeyPem: key.privateKeyPem, expiresAtMs: Date.parse(attested.body.expires_at), issuedAtMs: Date.now() };
}

describe('workload identity across workers', () => {
  it('a join token is good once: sequential uses over fresh connections', async () => {
    const id = await register('seq');
    const minted = await fresh(c.url, 'POST', adm(`workloads/${id}/join-tokens`), { body: {} });
    expect(minted.status).toBe(201);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const key = await newKey();
      statuses.push((await fresh(c.url, 'POST', wl('attest'), { token: null, body: { attestor: 'join_token', join_token: minted.body.join_token, csr: key.csr } })).status);
    }
    expect(statuses).toEqual([200, 401, 401, 401]);
  });

  it('a join token is good once: concurrent uses over fresh connections', async () => {
    for (let round = 0; round < 3; round++) {
      const id = await register(`conc${round}`);
      const minted = await fresh(c.url, 'POST', adm(`workloads/${id}/join-tokens`), { body: {} });
      const keys = await Promise.all(Array.from({ length: 6 }, newKey));
      const answers = await Promise.all(keys.map((key) => fresh(c.url, 'POST', wl('attest'), { token: null, body: { attestor: 'join_token', join_token: minted.body.join_token, csr: key.csr } })));
      expect(answers.filter((a) => a.status === 200).length, JSON.stringify(answers.map((a) => [a.status, a.body?.code]))).toBe(1);
    }
  });

  it('a jwt-svid proof is good once across workers (sequential and concurrent)', async () => {
    const svid = await enrol('jwt');
    const proof = await createSvidProof({ svid, audience: `${c.url}${wl('jwt-svid')}` });
    const statuses: Array<[number, string | undefined]> = [];
    for (let i = 0; i < 4; i++) {
      const a = await fresh(c.url, 'POST', wl('jwt-svid'), { token: null, body: { proof, audience: [`https://svc${i}.acme.example`] } });
      statuses.push([a.status, a.body?.code]);
    }
    expect(statuses.filter(([s]) => s === 200).length, JSON.stringify(statuses)).toBe(1);
    const proof2 = await createSvidProof({ svid, audience: `${c.url}${wl('jwt-svid')}` });
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => fresh(c.url, 'POST', wl('jwt-svid'), { token: null, body: { proof: proof2, audience: [`https://c${i}.acme.example`] } })));
    expect(answers.filter((a) => a.status === 200).length, JSON.stringify(answers.map((a) => [a.status, a.body?.code]))).toBe(1);
  });

  it('a renew proof is good once across workers (sequential and concurrent)', async () => {
    const svid = await enrol('renew');
    const key = await newKey();
    const proof = await createSvidProof({ svid, audience: `${c.url}${wl('renew')}`, csrDer: key.der });
    const statuses: Array<[number, string | undefined]> = [];
    for (let i = 0; i < 4; i++) {
      const a = await fresh(c.url, 'POST', wl('renew'), { token: null, body: { proof, csr: key.csr } });
      statuses.push([a.status, a.body?.code]);
    }
    expect(statuses.filter(([s]) => s === 200).length, JSON.stringify(statuses)).toBe(1);
    const key2 = await newKey();
    const proof2 = await createSvidProof({ svid, audience: `${c.url}${wl('renew')}`, csrDer: key2.der });
    const answers = await Promise.all(Array.from({ length: 6 }, () => fresh(c.url, 'POST', wl('renew'), { token: null, body: { proof: proof2, csr: key2.csr } })));
    expect(answers.filter((a) => a.status === 200).length, JSON.stringify(answers.map((a) => [a.status, a.body?.code]))).toBe(1);
  });

  it('every worker serves the same workload bundle, tenant JWKS and bundle keys', async () => {
    const texts = new Map<string, Set<string>>();
    for (const path of [wl('bundle'), '/tenants/acme/.well-known/jwks.json', '/tenants/acme/bundle/keys', '/tenants/acme/.well-known/openid-configuration']) {
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const a = await fresh(c.url, 'GET', path);
        expect(a.status, `${path} ${a.text}`).toBe(200);
        seen.add(JSON.stringify(a.body));
      }
      texts.set(path, seen);
    }
    for (const [path, seen] of texts) expect(seen.size, path).toBe(1);
  });

  it('removal through one worker: renew and jwt-svid refused on every worker at once', async () => {
    const svid = await enrol('gone');
    const list = await fresh(c.url, 'GET', adm('workloads'));
    const id = list.body.workloads.find((w: any) => w.spiffe_id === svid.spiffeId).id;
    const removed = await fresh(c.url, 'DELETE', adm(`workloads/${id}`));
    expect(removed.status, removed.text).toBe(200);
    const out: Array<[number, string | undefined]> = [];
    for (let i = 0; i < 4; i++) {
      const proof = await createSvidProof({ svid, audience: `${c.url}${wl('jwt-svid')}` });
      const a = await fresh(c.url, 'POST', wl('jwt-svid'), { token: null, body: { proof, audience: ['https://x.acme.example'] } });
      out.push([a.status, a.body?.code]);
      const key = await newKey();
      const rp = await createSvidProof({ svid, audience: `${c.url}${wl('renew')}`, csrDer: key.der });
      const r = await fresh(c.url, 'POST', wl('renew'), { token: null, body: { proof: rp, csr: key.csr } });
      out.push([r.status, r.body?.code]);
    }
    expect(out.every(([s]) => s === 401), JSON.stringify(out)).toBe(true);
  });

  it('CA rotation through one worker: SVIDs any worker issues next verify against every worker\'s bundle, which lists the new root', async () => {
    const rotated = await fresh(c.url, 'POST', adm('ca/rotate'), { body: {} });
    expect(rotated.status, rotated.text).toBe(200);
    const active = rotated.body.authorities.find((a: any) => a.state === 'active');
    for (let i = 0; i < 4; i++) {
      const svid = await enrol(`post${i}`);
      expect(svid.certChainPem[1]).toBe(active.intermediate_pem);
      const b = await fresh(c.url, 'GET', wl('bundle'), { token: null });
      expect(JSON.stringify(b.body)).toContain(active.root_pem.split('\n')[1].slice(0, 40));
    }
  });
});
