/** Test support for the local mode: a small fake PDP on a real socket (bundle, its keys, JWKS, change stream, audit ingest, evaluation). */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DecisionRecord } from '@verity/core';
import { bundleKeyThumbprints, createMemorySigningKeyStore, createSigningKeyRing, signBundle, type PolicyBundle, type SigningKeyRing } from '@verity/identity';

export interface FakePdp {
  url: string;
  tenant: string;
  /** `{url}/tenants/{tenant}`. */
  issuer: string;
  /** The token service's keys (`/.well-known/jwks.json`). */
  ring: SigningKeyRing;
  /** The keys bundles are signed with (`/bundle/keys`); replace it to play a PDP that signs with another key. */
  bundleRing: SigningKeyRing;
  /** RFC 7638 thumbprints of `bundleRing`'s keys when the PDP started: what a PEP pins. */
  pinned: string[];
  /** What the next bundle request is served (signed on each request). */
  bundle: PolicyBundle;
  /** Lifetime of the bundles served, seconds (default 600). */
  ttlSec: number;
  /** The clock bundles are signed with (default `Date.now`): set it back to sign an "older" bundle. */
  signNow: () => number;
  /** `up` answers; `down` answers 503 to everything; `tamper` alters the bundle after signing it. */
  mode: 'up' | 'down' | 'tamper';
  /** Answer the audit ingest with this status (default 200). */
  auditStatus: number;
  /** Request paths, in order. */
  paths: string[];
  /** Audit records accepted, in order. */
  audited: DecisionRecord[];
  /** Bodies of `POST {base}/access/v1/evaluation`, in order, with their `authorization` header. */
  evaluations: Array<{ body: unknown; authorization: string | undefined }>;
  /** How the evaluation endpoint answers (default 404). */
  evaluate: (body: unknown) => Promise<{ status: number; body: unknown }>;
  /** Send one change event to every open change stream. */
  publish(kind: string): void;
  /** Drop every open change stream. */
  dropStreams(): void;
  /** Send the heartbeat comment the PDP sends every 15 s to every open change stream. */
  heartbeat(): void;
  close(): Promise<void>;
}

/** Start a fake PDP for `bundle.tenant` on a free loopback port. */
export async function startFakePdp(bundle: PolicyBundle): Promise<FakePdp> {
  const ring = createSigningKeyRing({ store: createMemorySigningKeyStore() });
  const bundleRing = createSigningKeyRing({ store: createMemorySigningKeyStore() });
  const streams = new Set<ServerResponse>();
  const server = createServer((request, response) => {
    const path = request.url ?? '';
    pdp.paths.push(path);
    const json = (status: number, body: unknown) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (pdp.mode === 'down') return json(503, { code: 'ERR_STORE_UNAVAILABLE', message: 'down' });
    const base = `/tenants/${pdp.tenant}`;
    if (path === `${base}/.well-known/jwks.json`) return void ring.jwks().then((jwks) => json(200, jwks));
    if (path === `${base}/bundle/keys`) return void pdp.bundleRing.jwks().then(async (jwks) => json(200, { ...jwks, thumbprints: await bundleKeyThumbprints(jwks) }));
    if (path === `${base}/bundle`) {
      return void signBundle(pdp.bundleRing, { issuer: pdp.issuer, bundle: pdp.bundle, ttlSec: pdp.ttlSec, now: pdp.signNow }).then((token) => {
        if (pdp.mode !== 'tamper') return json(200, { tenant: pdp.tenant, version: pdp.bundle.version, bundle: token });
        const [header, payload, signature] = token.split('.');
        const claims = JSON.parse(Buffer.from(payload as string, 'base64url').toString('utf8'));
        // The bundle travels as JSON text in its claim.
        const inner = JSON.parse(claims.bundle);
        inner.content.policies.backdoor = 'permit(principal, action, resource);';
        claims.bundle = JSON.stringify(inner);
        json(200, { tenant: pdp.tenant, version: pdp.bundle.version, bundle: `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}` });
      });
    }
    if (path === `${base}/changes`) {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      response.write(': connected\n\n');
      streams.add(response);
      response.on('close', () => streams.delete(response));
      return;
    }
    if (path === `${base}/access/v1/evaluation` && request.method === 'POST') {
      let text = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (text += chunk));
      request.on('end', () => {
        const body: unknown = JSON.parse(text);
        pdp.evaluations.push({ body, authorization: request.headers.authorization });
        void pdp.evaluate(body).then((answer) => json(answer.status, answer.body));
      });
      return;
    }
    if (path === `${base}/audit/v1/decisions` && request.method === 'POST') {
      let text = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (text += chunk));
      request.on('end', () => {
        if (pdp.auditStatus !== 200) return json(pdp.auditStatus, { code: 'ERR_STORE_UNAVAILABLE', message: 'not now' });
        const { records } = JSON.parse(text) as { records: DecisionRecord[] };
        pdp.audited.push(...records);
        json(200, { accepted: records.length });
      });
      return;
    }
    json(404, { code: 'ERR_REQUEST_NOT_FOUND', message: 'no such route' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const pdp: FakePdp = {
    url,
    tenant: bundle.tenant,
    issuer: `${url}/tenants/${bundle.tenant}`,
    ring,
    bundleRing,
    pinned: await bundleKeyThumbprints(await bundleRing.jwks()),
    bundle,
    ttlSec: 600,
    signNow: Date.now,
    mode: 'up',
    auditStatus: 200,
    paths: [],
    audited: [],
    evaluations: [],
    evaluate: async () => ({ status: 404, body: { code: 'ERR_REQUEST_NOT_FOUND', message: 'no such route' } }),
    publish(kind) {
      for (const stream of streams) stream.write(`event: change\ndata: ${JSON.stringify({ tenant: pdp.tenant, kind })}\n\n`);
    },
    dropStreams() {
      for (const stream of streams) stream.destroy();
    },
    heartbeat() {
      for (const stream of streams) stream.write(': heartbeat\n\n');
    },
    async close() {
      for (const stream of streams) stream.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return pdp;
}

/** Wait until `check` returns true, polling; false after `withinMs`. */
export async function until(check: () => boolean | Promise<boolean>, withinMs = 2000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return check();
}
