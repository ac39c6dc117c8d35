import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import { Socket, type AddressInfo } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { Agent, request, type Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMtlsAgent } from './mtls-client.js';
import { createMtlsContext, type MtlsContext } from './mtls-server.js';
import { peerIdentityOfSocket } from './peer-identity.js';
import { createStaticSvidSource, type StaticSvidSource, type X509Svid } from './svid-source.js';
import { makeSvid, makeTrustDomain } from './test-helpers.js';
import type { TrustBundle } from './trust-bundle.js';
import type { CaAuthority } from './x509-ca.js';

const TD = 'acme.internal';
const SERVER_ID = 'spiffe://acme.internal/orders';
const CLIENT_ID = 'spiffe://acme.internal/api';

let authority: CaAuthority;
let bundle: TrustBundle;
let other: { authority: CaAuthority; bundle: TrustBundle };
let serverSvid: X509Svid;
let clientSvid: X509Svid;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  ({ authority, bundle } = await makeTrustDomain(TD));
  other = await makeTrustDomain('other.internal');
  serverSvid = await makeSvid(authority, SERVER_ID);
  clientSvid = await makeSvid(authority, CLIENT_ID);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Running {
  url: string;
  port: number;
  source: StaticSvidSource;
  ctx: MtlsContext;
  server: Server;
}

/** A node:https server echoing the verified peer, the peer's serial and the connection's port. */
async function startServer(mode: 'strict' | 'permissive', options: { authorizePeer?: (id: string) => boolean; bundle?: TrustBundle } = {}): Promise<Running> {
  const source = createStaticSvidSource({ svid: serverSvid, bundle: options.bundle ?? bundle });
  const ctx = createMtlsContext({ source, mode, ...(options.authorizePeer ? { authorizePeer: options.authorizePeer } : {}) });
  const server = createServer(ctx.serverOptions(), (req, res) => {
    const peer = ctx.requireAuthorizedPeer(req, res);
    if (peer === null) return;
    const cert = (req.socket as TLSSocket).getPeerCertificate();
    if (req.url === '/close') res.setHeader('connection', 'close');
    res.end(JSON.stringify({ peer, serial: cert?.serialNumber ?? null, port: req.socket.remotePort }));
  });
  const detach = ctx.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  cleanups.push(() => {
    detach();
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { url: `https://127.0.0.1:${port}/`, port, source, ctx, server };
}

function agentFor(svid: X509Svid, options: { expectServerId?: string | ((id: string) => boolean); bundle?: TrustBundle } = {}): { agent: Dispatcher; source: StaticSvidSource } {
  const source = createStaticSvidSource({ svid, bundle: options.bundle ?? bundle });
  const agent = createMtlsAgent({ source, ...(options.expectServerId ? { expectServerId: options.expectServerId } : {}) });
  cleanups.push(() => agent.destroy());
  return { agent, source };
}

async function get(url: string, agent?: Dispatcher): Promise<{ status: number; body: any }> {
  const res = await request(url, agent ? { dispatcher: agent } : {});
  const text = await res.body.text();
  return { status: res.statusCode, body: text.startsWith('{') ? JSON.parse(text) : text };
}

/** The serial of the certificate a server presents now, over a fresh connection. */
async function servedSerial(port: number, svid: X509Svid): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port, cert: svid.certChainPem.join(''), key: svid.privateKeyPem, ca: bundle.x509Authorities, checkServerIdentity: () => undefined });
  await once(socket, 'secureConnect');
  const serial = socket.getPeerCertificate().serialNumber;
  socket.destroy();
  return serial;
}

async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return (error as { code?: string }).code ?? cause?.code ?? String(error);
  }
  return 'no failure';
}

describe('mTLS between workloads (node:https + undici)', () => {
  it('strict: the server sees the client SPIFFE id and the client checks the server id', async () => {
    const srv = await startServer('strict');
    const { agent } = agentFor(clientSvid, { expectServerId: SERVER_ID });
    const { status, body } = await get(srv.url, agent);
    expect(status).toBe(200);
    expect(body.peer).toEqual({ spiffeId: CLIENT_ID, authenticated: true, via: 'mtls' });
  });

  it('the client refuses a server that is not the expected workload, or of another trust domain', async () => {
    const srv = await startServer('strict');
    const wrong = agentFor(clientSvid, { expectServerId: 'spiffe://acme.internal/payments' });
    expect(await failure(get(srv.url, wrong.agent))).toBe('ERR_SVID_UNTRUSTED');
    const byPredicate = agentFor(clientSvid, { expectServerId: (id) => id.endsWith('/payments') });
    expect(await failure(get(srv.url, byPredicate.agent))).toBe('ERR_SVID_UNTRUSTED');
    const denied = agentFor(clientSvid);
    denied.source.update({ denied: new Set([SERVER_ID]) });
    expect(await failure(get(srv.url, denied.agent))).toBe('ERR_SVID_REVOKED');
    // a client trusting only another trust domain: OpenSSL refuses the chain
    const foreign = agentFor(await makeSvid(other.authority, 'spiffe://other.internal/x'), { bundle: other.bundle });
    expect(await failure(get(srv.url, foreign.agent))).not.toBe('no failure');
  });

  it('strict: refuses a client without a certificate or with one of another trust domain', async () => {
    const srv = await startServer('strict');
    expect(await failure(request(srv.url, { dispatcher: createMtlsAgentWithoutCert() }))).not.toBe('no failure');
    const foreign = agentFor(await makeSvid(other.authority, 'spiffe://other.internal/api'), { bundle: { ...other.bundle, x509Authorities: [...other.bundle.x509Authorities, ...bundle.x509Authorities] } });
    expect(await failure(get(srv.url, foreign.agent))).not.toBe('no failure');
  });

  it('re-checks the SPIFFE rules itself: a chain OpenSSL accepts but of another trust domain is refused', async () => {
    // the server trusts both roots, so OpenSSL says "authorized"; the bundle's trust domain is still acme.internal
    const mixed = { ...bundle, x509Authorities: [...bundle.x509Authorities, ...other.bundle.x509Authorities] };
    const foreignSvid = await makeSvid(other.authority, 'spiffe://other.internal/api');
    const permissive = await startServer('permissive', { bundle: mixed });
    const client = agentFor(foreignSvid, { bundle: mixed });
    const { body } = await get(permissive.url, client.agent);
    expect(body.peer).toEqual({ spiffeId: null, authenticated: false, via: 'none' });
    expect(body.serial).not.toBeNull(); // it did present a certificate node accepted
    const strict = await startServer('strict', { bundle: mixed });
    expect(await failure(get(strict.url, client.agent))).not.toBe('no failure');
  });

  it('permissive: a caller without a certificate is unauthenticated, and authorizePeer answers 403', async () => {
    const srv = await startServer('permissive');
    const plain = await request(srv.url, { dispatcher: createMtlsAgentWithoutCert() });
    expect(JSON.parse(await plain.body.text()).peer).toEqual({ spiffeId: null, authenticated: false, via: 'none' });
    const guarded = await startServer('strict', { authorizePeer: (id) => id === 'spiffe://acme.internal/admin' });
    const { agent } = agentFor(clientSvid);
    const { status, body } = await get(guarded.url, agent);
    expect(status).toBe(403);
    expect(body.code).toBe('ERR_AUTH_FORBIDDEN');
  });

  it('rotation: new connections get the new SVID, live ones continue; deny-listing closes live ones', async () => {
    const srv = await startServer('strict');
    const client = agentFor(clientSvid, { expectServerId: SERVER_ID });
    const first = await get(srv.url, client.agent);
    expect(first.body.serial.toLowerCase()).toBe(verifySerial(clientSvid));

    // server rotation: the keep-alive connection continues; a new handshake sees the new certificate
    const nextServer = await makeSvid(authority, SERVER_ID);
    srv.source.update({ svid: nextServer });
    const second = await get(srv.url, client.agent);
    expect([second.status, second.body.port]).toEqual([200, first.body.port]);
    expect((await servedSerial(srv.port, clientSvid)).toLowerCase()).toBe(verifySerial(nextServer));

    // client rotation: the agent retires its kept-alive connection (which presented the old SVID),
    // so the very next request goes on a new connection presenting the new one
    const nextClient = await makeSvid(authority, CLIENT_ID);
    client.source.update({ svid: nextClient });
    const reconnected = await get(srv.url, client.agent);
    expect(reconnected.body.port).not.toBe(first.body.port);
    expect(reconnected.body.serial.toLowerCase()).toBe(verifySerial(nextClient));
    const fresh = agentFor(nextClient, { expectServerId: SERVER_ID });
    expect((await get(srv.url, fresh.agent)).status).toBe(200);

    // deny-listing the client: its live connection is closed, and a new one is refused
    srv.source.update({ denied: new Set([CLIENT_ID]) });
    expect(await failure(get(srv.url, client.agent))).not.toBe('no failure');
    expect(await failure(get(srv.url, fresh.agent))).not.toBe('no failure');
  });

  it('strict: no handler ever runs for a refused peer, even one that does not call requireAuthorizedPeer', async () => {
    const source = createStaticSvidSource({ svid: serverSvid, bundle });
    const ctx = createMtlsContext({ source, mode: 'strict', authorizePeer: (id) => id === CLIENT_ID });
    const handled: string[] = [];
    // A handler that trusts the transport and checks nothing itself (the attack: a side effect).
    const server = createServer(ctx.serverOptions(), (req, res) => {
      handled.push(`${req.method} ${req.url}`);
      res.end('done');
    });
    const detach = ctx.attach(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/transfer`;
    cleanups.push(() => {
      detach();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    });
    expect((await get(url, agentFor(clientSvid, { expectServerId: SERVER_ID }).agent)).status).toBe(200);
    expect(handled).toEqual(['GET /transfer']);
    // Another workload of the trust domain: the chain is fine, authorizePeer says no (403).
    const other = await makeSvid(authority, 'spiffe://acme.internal/other');
    expect((await get(url, agentFor(other, { expectServerId: SERVER_ID }).agent)).status).toBe(403);
    // The client is deny-listed: its SVID still chains, so the handshake passes; the request must not.
    source.update({ denied: new Set([CLIENT_ID]) });
    expect(await failure(get(url, agentFor(clientSvid, { expectServerId: SERVER_ID }).agent).then((r) => (r.status === 401 ? Promise.reject(new Error('401')) : r)))).not.toBe('no failure');
    expect(handled).toEqual(['GET /transfer']);
  });

  it('peerIdentityOfSocket: a plain socket is unauthenticated', async () => {
    expect(peerIdentityOfSocket(new Socket(), { svid: serverSvid, bundle, denied: new Set() })).toEqual({ spiffeId: null, authenticated: false, via: 'none' });
  });
});

function verifySerial(svid: X509Svid): string {
  return new X509Certificate(svid.certChainPem[0] as string).serialNumber.toLowerCase();
}

/** An undici agent that trusts the bundle but presents no client certificate. */
function createMtlsAgentWithoutCert(): Agent {
  const agent = new Agent({ connect: { ca: bundle.x509Authorities, rejectUnauthorized: false } });
  cleanups.push(() => agent.destroy());
  return agent;
}
