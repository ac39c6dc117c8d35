/**
 * `node --import @verity/cli/loader bench/workload.ts [--json]`: what workload identity costs (bench/RESULTS.md).
 *
 * 1. SVID issuance: `issueX509Svid` alone (the CA's signature), and what the PDP does per attest
 *    or renew before its store write: `verifyCsr` (the CSR's proof of possession) then issue.
 * 2. Handshakes: a fresh TLS 1.3 connection to a node:tls server holding an X.509-SVID (P-256),
 *    with the client presenting its SVID (mTLS: `requestCert`, chain checked against the bundle)
 *    against the same server without client certificates (plain TLS). Ratio = mTLS / plain.
 * 3. Decisions: the PDP in-process (`components.decisions.decide`, PGlite in memory, batched
 *    audit) with a `Workload` principal and `context.caller` (the deny-list check included),
 *    against the same policy shape with a `User` principal and no caller. Ratio = workload / user.
 *
 * Samples alternate nothing: each scenario runs alone after a warm-up; the machine is shared, so
 * read the ratios, which are measured in the same run.
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { startServer } from '@verity/server';
import { createCsr, generateCaAuthority, generateSvidKey, issueX509Svid, verifyCsr, type CaAuthority } from '@verity/workload';
import { measure, printReport, summarize, type Summary } from './stats.js';

const json = process.argv.includes('--json');
const log = (line: string) => process.stderr.write(`${line}\n`);
const TD = 'bench.verity.internal';

async function svidFor(authority: CaAuthority, path: string): Promise<{ cert: string; key: string }> {
  const key = await generateSvidKey();
  const issued = await issueX509Svid({ authority, spiffeId: `spiffe://${TD}/${path}`, publicKeyPem: key.publicKeyPem, ttlSec: 3600 });
  return { cert: issued.certChainPem.join(''), key: key.privateKeyPem };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** One fresh handshake (no session resumption), then close. */
function handshake(port: number, ca: string, client?: { cert: string; key: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', ca, ...(client ?? {}), checkServerIdentity: () => undefined, minVersion: 'TLSv1.3' }, () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

async function issuance(authority: CaAuthority, summaries: Summary[]): Promise<void> {
  const key = await generateSvidKey();
  const csr = await createCsr(key.privateKeyPem);
  const spiffeId = `spiffe://${TD}/orders`;
  log('issueX509Svid…');
  const issue = await measure(() => issueX509Svid({ authority, spiffeId, publicKeyPem: key.publicKeyPem, ttlSec: 3600 }), { warmup: 200, n: 5000, budgetMs: 6000 });
  summaries.push(summarize('X.509-SVID issuance (sign)', issue.samples, issue.wallNs));
  log('verifyCsr + issueX509Svid…');
  const withCsr = await measure(
    async () => {
      const checked = await verifyCsr(csr);
      return issueX509Svid({ authority, spiffeId, publicKeyPem: checked.publicKeyPem, ttlSec: 3600 });
    },
    { warmup: 200, n: 5000, budgetMs: 6000 },
  );
  summaries.push(summarize('X.509-SVID issuance (CSR check + sign)', withCsr.samples, withCsr.wallNs));
}

async function handshakes(authority: CaAuthority, summaries: Summary[]): Promise<void> {
  const server = await svidFor(authority, 'server');
  const client = await svidFor(authority, 'client');
  const mtls = createServer({ ...server, ca: authority.rootPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, (socket) => socket.end());
  const plain = createServer({ ...server, minVersion: 'TLSv1.3' }, (socket) => socket.end());
  try {
    const [mtlsPort, plainPort] = [await listen(mtls), await listen(plain)];
    log('plain TLS handshakes…');
    const p = await measure(() => handshake(plainPort, authority.rootPem), { warmup: 100, n: 3000, budgetMs: 6000 });
    summaries.push(summarize('TLS 1.3 handshake, server SVID only', p.samples, p.wallNs));
    log('mTLS handshakes…');
    const m = await measure(() => handshake(mtlsPort, authority.rootPem, client), { warmup: 100, n: 3000, budgetMs: 6000 });
    summaries.push(summarize('TLS 1.3 handshake, mTLS (both SVIDs)', m.samples, m.wallNs));
  } finally {
    mtls.close();
    plain.close();
  }
}

const POLICIES = `
permit (principal is User, action == Action::"read", resource is Item) when { resource.owner == principal };
permit (principal is Workload, action == Action::"read", resource is Item) when { context has caller && context.caller == "spiffe://${TD}/orders" };
`;

async function decisions(summaries: Summary[]): Promise<void> {
  const adminToken = `vrt_${randomBytes(24).toString('base64url')}`;
  const server = await startServer({ port: 0, dataDir: null, adminToken, print: () => {}, logLevel: 'warn', auditDurability: 'batched', maxAuditLagMs: 2 ** 31 - 1 });
  try {
    const admin = (method: string, path: string, body: unknown) =>
      fetch(server.url + path, { method, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => {
        if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
      });
    await admin('POST', '/admin/v1/tenants', { id: 'bench' });
    await admin('POST', '/admin/v1/tenants/bench/policies', { files: { 'policies.cedar': POLICIES }, message: 'bench' });
    await admin('PUT', '/admin/v1/tenants/bench/entities', {
      mode: 'replace',
      entities: [{ uid: { type: 'Item', id: 'i1' }, attrs: { owner: { __entity: { type: 'User', id: 'alice' } } }, parents: [] }],
    });
    const { decisions: service } = server.components;
    const meta = { requestId: null, tier: 'inventory' };
    const user = { subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Item', id: 'i1' }, context: {} };
    const workload = { subject: { type: 'Workload', id: `spiffe://${TD}/orders` }, action: { name: 'read' }, resource: { type: 'Item', id: 'i1' }, context: { caller: `spiffe://${TD}/orders` } };
    for (const request of [user, workload]) {
      const record = await service.decide({ tenant: 'bench', request: { kind: 'authzen', request }, meta });
      if (record.decision !== 'allow') throw new Error(`bench setup: ${request.subject.type} was denied: ${JSON.stringify(record.errors)}`);
    }
    log('decisions, User principal…');
    const u = await measure(() => service.decide({ tenant: 'bench', request: { kind: 'authzen', request: user }, meta }), { warmup: 2000, n: 30_000, budgetMs: 6000 });
    summaries.push(summarize('decision, User principal', u.samples, u.wallNs));
    log('decisions, Workload principal + context.caller…');
    const w = await measure(() => service.decide({ tenant: 'bench', request: { kind: 'authzen', request: workload }, meta }), { warmup: 2000, n: 30_000, budgetMs: 6000 });
    summaries.push(summarize('decision, Workload principal + caller', w.samples, w.wallNs));
  } finally {
    await server.close();
  }
}

const summaries: Summary[] = [];
const authority = await generateCaAuthority({ trustDomain: TD });
await issuance(authority, summaries);
await handshakes(authority, summaries);
await decisions(summaries);

const by = (name: string) => summaries.find((s) => s.scenario === name) as Summary;
const ratios = {
  'mTLS / plain TLS handshake (p50)': by('TLS 1.3 handshake, mTLS (both SVIDs)').p50Us / by('TLS 1.3 handshake, server SVID only').p50Us,
  'Workload / User decision (p50)': by('decision, Workload principal + caller').p50Us / by('decision, User principal').p50Us,
};
printReport(summaries, ratios, json);
