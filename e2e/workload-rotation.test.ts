/**
 * Rotation without drops: a real Verity PDP, two registered workloads (a client and a server)
 * with short-lived X.509-SVIDs, a workload agent and a Workload API socket for each, an https
 * server with createMtlsContext and an undici client with createMtlsAgent, both fed by the
 * Workload API. A steady stream of requests (on kept-alive connections and on fresh ones) runs
 * while the SVIDs rotate at half-life and the tenant's CA is rotated through the admin API
 * mid-stream: not one request may fail, both peers see each other's SPIFFE id, each side rotates
 * at least twice, and by the end both present SVIDs under the new root. The stream runs until
 * both do and each has renewed once more under it (bounded by STREAM_MAX_MS, not a fixed time).
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { request, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMtlsAgent,
  createMtlsContext,
  createWorkloadAgent,
  createWorkloadApiSource,
  serveWorkloadApi,
  type WorkloadAgent,
  type WorkloadApiServer,
  type WorkloadApiSource,
} from '@verity/workload';
import { eventually } from './helpers/eventually.js';
import { startTestServer } from './helpers/verity.js';

const TENANT = 'rotation';
const SERVER_ID = 'spiffe://rotation.verity.internal/orders';
const CLIENT_ID = 'spiffe://rotation.verity.internal/checkout';
/** Short enough for two rotations (at half-life) in the stream; the PDP's minimum must allow it. */
const X509_TTL_SEC = 8;
/**
 * The stream's bound: it ends as soon as everything it must show has happened (about 15 s: the
 * CA rotates about 8 s in, then each side renews under the new root); this is only the limit.
 */
const STREAM_MAX_MS = 60_000;
/** The CA rotates at the first server renewal after this, plus nearly half a lifetime (see below). */
const CA_ROTATION_AFTER_MS = 4_000;
/** Agents re-read the bundle this often; a renewed SVID under a new root waits twice this. */
const POLL_MS = 1_000;

let pdp: Awaited<ReturnType<typeof startTestServer>>;
let dir: string;
const agents: WorkloadAgent[] = [];
const apis: WorkloadApiServer[] = [];
const sources: WorkloadApiSource[] = [];
let httpsServer: Server | undefined;

async function workload(spiffeId: string, pepCredential: string): Promise<WorkloadApiSource> {
  const registered = await pdp.admin.post(`/admin/v1/tenants/${TENANT}/workloads`, { spiffe_id: spiffeId, x509_ttl_sec: X509_TTL_SEC });
  expect(registered.status, JSON.stringify(registered.body)).toBe(201);
  const token = await pdp.admin.post(`/admin/v1/tenants/${TENANT}/workloads/${registered.body.id}/join-tokens`, {});
  expect(token.status).toBe(201);
  const agent = createWorkloadAgent({ pdpUrl: pdp.url, tenant: TENANT, attestation: { attestor: 'join_token', joinToken: token.body.join_token }, pepCredential, pollIntervalMs: POLL_MS });
  agents.push(agent);
  await agent.start();
  const socketPath = join(dir, `${spiffeId.split('/').at(-1)}.sock`);
  apis.push(await serveWorkloadApi({ socketPath, agent }));
  const source = createWorkloadApiSource({ socketPath });
  sources.push(source);
  await source.ready();
  return source;
}

/** Serials of the SVIDs a source has held, in order. */
function trackSerials(source: WorkloadApiSource): string[] {
  const serials: string[] = [];
  const note = () => {
    const serial = new X509Certificate(source.current().svid.certChainPem[0] ?? '').serialNumber;
    if (serials.at(-1) !== serial) serials.push(serial);
  };
  note();
  source.subscribe(() => {
    try {
      note();
    } catch {
      // No SVID at this moment: the stream's failure counts would show it.
    }
  });
  return serials;
}

/**
 * The client's dispatcher as the SDK gives it: createMtlsAgent moves to a new connection pool
 * whenever the SVID or the bundle changes and closes the old one gracefully, so no kept-alive
 * connection outlives the SVID it presented (the server re-checks the peer on every request).
 */
function mtlsDispatcher(source: WorkloadApiSource): { current(): Dispatcher; close(): Promise<void> } {
  const dispatcher = createMtlsAgent({ source, expectServerId: SERVER_ID });
  return { current: () => dispatcher, close: () => dispatcher.close() };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-rotation-'));
  pdp = await startTestServer();
  expect((await pdp.admin.post('/admin/v1/tenants', { id: TENANT })).status).toBe(201);
}, 60_000);

afterAll(async () => {
  const closed = new Promise<void>((done) => (httpsServer ? httpsServer.close(() => done()) : done()));
  httpsServer?.closeAllConnections();
  await closed;
  for (const source of sources) await source.close();
  for (const api of apis) await api.close();
  for (const agent of agents) await agent.close();
  await pdp?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('workload identity: rotation without drops', () => {
  it('serves a steady mTLS request stream while SVIDs rotate at half-life and the CA rotates mid-stream', { timeout: 120_000 }, async () => {
    // A PEP credential lets the agents read the tenant's deny list.
    const pepToken = (await pdp.admin.post(`/admin/v1/tenants/${TENANT}/credentials`, { role: 'pep', label: 'workload agents' })).body.token as string;
    const serverSource = await workload(SERVER_ID, pepToken);
    const clientSource = await workload(CLIENT_ID, pepToken);
    const serverSerials = trackSerials(serverSource);
    const clientSerials = trackSerials(clientSource);

    // The server: strict mTLS from the Workload API, rotated in place by attach().
    const mtls = createMtlsContext({ source: serverSource, mode: 'strict' });
    const callers = new Set<string>();
    const requestsPerSocket = new Map<TLSSocket, number>();
    httpsServer = createServer(mtls.serverOptions(), (req, res) => {
      const peer = mtls.requireAuthorizedPeer(req, res);
      if (peer === null) return;
      callers.add(peer.spiffeId ?? '');
      const socket = req.socket as TLSSocket;
      requestsPerSocket.set(socket, (requestsPerSocket.get(socket) ?? 0) + 1);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ server: serverSource.current().svid.spiffeId, caller: peer.spiffeId }));
    });
    mtls.attach(httpsServer);
    await new Promise<void>((ready) => httpsServer?.listen(0, '127.0.0.1', ready));
    const url = `https://127.0.0.1:${(httpsServer.address() as AddressInfo).port}/orders`;

    // Separate pools, so the back-to-back stream keeps its one connection between client rotations.
    const keptAliveDispatcher = mtlsDispatcher(clientSource);
    const freshDispatcher = mtlsDispatcher(clientSource);
    const failures: string[] = [];
    const servers = new Set<string>();
    let ok = 0;
    let fresh = 0;
    async function call(reset: boolean): Promise<void> {
      try {
        const dispatcher = (reset ? freshDispatcher : keptAliveDispatcher).current();
        const response = await request(url, { dispatcher, reset });
        const body = (await response.body.json()) as { server: string; caller: string };
        if (response.statusCode !== 200) failures.push(`HTTP ${response.statusCode} ${JSON.stringify(body)}`);
        else {
          ok++;
          if (reset) fresh++;
          servers.add(body.server);
        }
      } catch (error) {
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        failures.push(`${(error as Error).message}${cause ? ` (${cause.code ?? ''} ${cause.message ?? ''})` : ''}`);
      }
    }
    const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));
    const end = Date.now() + STREAM_MAX_MS;
    /** Set once the stream has shown everything (below); the loops then finish their request. */
    let enough = false;
    const streaming = () => !enough && Date.now() < end;
    /** Back-to-back requests: most ride a kept-alive connection. */
    const keptAlive = (async () => {
      while (streaming()) {
        await call(false);
        await sleep(10);
      }
    })();
    /** A new TLS handshake per request: these meet each rotation first. */
    const handshakes = (async () => {
      while (streaming()) {
        await call(true);
        await sleep(50);
      }
    })();
    // The worst moment for a CA rotation: just before the server's agent renews, so the server is
    // about to present an SVID under a root the client has most likely not fetched yet.
    await sleep(CA_ROTATION_AFTER_MS);
    const before = serverSerials.at(-1);
    await eventually(async () => expect(serverSerials.at(-1)).not.toBe(before), 10_000, 10);
    const renewedAt = Date.now();
    const nextRenewalAt = renewedAt + (serverSource.current().svid.expiresAtMs - renewedAt) / 2;
    await sleep(nextRenewalAt - 300 - Date.now());
    const rotated = await pdp.admin.post(`/admin/v1/tenants/${TENANT}/ca/rotate`, {});
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);

    const activeIntermediate = (rotated.body.authorities as Array<{ state: string; intermediate_pem: string }>).find((a) => a.state === 'active')?.intermediate_pem ?? '';
    const sameCert = (a: string | undefined, b: string) => a !== undefined && new X509Certificate(a).fingerprint256 === new X509Certificate(b).fingerprint256;
    const underNewRoot = (source: WorkloadApiSource) => {
      try {
        return sameCert(source.current().svid.certChainPem[1], activeIntermediate);
      } catch {
        return false; // No SVID at this moment.
      }
    };
    // The stream goes on until both sides present SVIDs signed under the new CA generation, then
    // each renews once more (a rotation with both roots trusted), and it has carried enough
    // requests on both kinds of connection; a loaded machine just streams longer, up to the bound.
    let serverSerialsAtNewRoot: number | undefined;
    let clientSerialsAtNewRoot: number | undefined;
    while (streaming()) {
      if (serverSerialsAtNewRoot === undefined && underNewRoot(serverSource)) serverSerialsAtNewRoot = serverSerials.length;
      if (clientSerialsAtNewRoot === undefined && underNewRoot(clientSource)) clientSerialsAtNewRoot = clientSerials.length;
      enough =
        serverSerialsAtNewRoot !== undefined &&
        clientSerialsAtNewRoot !== undefined &&
        serverSerials.length > serverSerialsAtNewRoot &&
        clientSerials.length > clientSerialsAtNewRoot &&
        ok - fresh > 100 &&
        fresh > 50;
      if (!enough) await sleep(50);
    }
    await Promise.all([keptAlive, handshakes]);

    // By the end both sides present SVIDs under the new CA generation, each renewed once more.
    expect(underNewRoot(serverSource)).toBe(true);
    expect(underNewRoot(clientSource)).toBe(true);
    expect(serverSerials.length).toBeGreaterThan(serverSerialsAtNewRoot ?? Infinity);
    expect(clientSerials.length).toBeGreaterThan(clientSerialsAtNewRoot ?? Infinity);
    await Promise.all([keptAliveDispatcher.close(), freshDispatcher.close()]);

    expect(failures).toEqual([]);
    // A loaded machine serves fewer; these only show the stream was steady throughout.
    expect(ok - fresh).toBeGreaterThan(100);
    expect(fresh).toBeGreaterThan(50);
    expect([...callers]).toEqual([CLIENT_ID]);
    expect([...servers]).toEqual([SERVER_ID]);
    // Most back-to-back requests rode a connection that had carried others before.
    const reused = [...requestsPerSocket.values()].reduce((sum, count) => sum + count - 1, 0);
    expect(reused).toBeGreaterThan((ok - fresh) / 2);
    expect(serverSerials.length).toBeGreaterThanOrEqual(3);
    expect(clientSerials.length).toBeGreaterThanOrEqual(3);
  });
});
