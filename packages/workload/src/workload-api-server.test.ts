/** Tests for the Workload API server on a real Unix domain socket: routes, the watch stream, the socket file. */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { request, type IncomingMessage } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VerityError } from '@verity/core';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createFakeAgent, type FakeAgent } from './agent-test-helpers.js';
import type { X509Svid } from './svid-source.js';
import { makeSvid, makeTrustDomain } from './test-helpers.js';
import { parseSpiffeBundleJson, type TrustBundle } from './trust-bundle.js';
import { serveWorkloadApi, type WorkloadApiServer } from './workload-api-server.js';

const ID = 'spiffe://acme.test/billing';
let bundle: TrustBundle;
let svid: X509Svid;
let renewed: X509Svid;
let dir: string;
let socketPath: string;
let agent: FakeAgent;
let api: WorkloadApiServer | undefined;

beforeAll(async () => {
  const domain = await makeTrustDomain('acme.test');
  bundle = domain.bundle;
  svid = await makeSvid(domain.authority, ID);
  renewed = await makeSvid(domain.authority, ID);
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-wapi-'));
  socketPath = join(dir, 'agent.sock');
  agent = createFakeAgent({ svid, bundle });
});
afterEach(async () => {
  await api?.close();
  api = undefined;
  await rm(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: any;
}

function call(method: string, path: string, options: { body?: string; header?: boolean } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = options.header === false ? {} : { 'workload.spiffe.io': 'true' };
    const req = request({ socketPath, method, path, headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Opens the watch stream; `lines` fills as documents (and keep-alive blank lines) arrive. */
function watch(): Promise<{ lines: string[]; res: IncomingMessage; close(): void }> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    const req = request({ socketPath, path: '/v1/x509-svid?watch=1', headers: { 'workload.spiffe.io': 'true' } }, (res) => {
      let buffer = '';
      res.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        let end: number;
        while ((end = buffer.indexOf('\n')) >= 0) {
          lines.push(buffer.slice(0, end));
          buffer = buffer.slice(end + 1);
        }
      });
      resolve({ lines, res, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serveWorkloadApi', () => {
  it('GET /v1/x509-svid: the SVID, its key, the bundle and the deny list, from a 0600 socket', async () => {
    agent.set({ denied: new Set(['spiffe://acme.test/z', 'spiffe://acme.test/a']) });
    api = await serveWorkloadApi({ socketPath, agent });
    expect((await stat(socketPath)).mode & 0o777).toBe(0o600);
    const { status, headers, body } = await call('GET', '/v1/x509-svid');
    expect(status).toBe(200);
    expect(headers['cache-control']).toBe('no-store');
    expect(body).toMatchObject({ spiffe_id: ID, x509_svid: svid.certChainPem, private_key: svid.privateKeyPem, expires_at: new Date(svid.expiresAtMs).toISOString(), bundle_sequence: 1 });
    expect(body.denied).toEqual(['spiffe://acme.test/a', 'spiffe://acme.test/z']);
    expect(parseSpiffeBundleJson('acme.test', body.bundle).x509Authorities).toEqual(bundle.x509Authorities);
  });

  it('GET /v1/x509-svid?watch=1: the state at once, then one document per change, keep-alive newlines between', async () => {
    api = await serveWorkloadApi({ socketPath, agent, keepAliveMs: 50 });
    const stream = await watch();
    try {
      await vi.waitFor(() => expect(stream.lines.filter(Boolean)).toHaveLength(1));
      agent.set({ svid: renewed });
      agent.set({ svid: renewed }); // Nothing changed: no document.
      agent.set({ denied: new Set(['spiffe://acme.test/gone']) });
      agent.set({ svid: null, error: new VerityError('ERR_SVID_EXPIRED', 'the SVID expired') });
      await vi.waitFor(() => expect(stream.lines.filter(Boolean)).toHaveLength(4));
      const docs = stream.lines.filter(Boolean).map((line) => JSON.parse(line));
      expect(docs.map((d) => d.private_key ?? d.error?.code)).toEqual([svid.privateKeyPem, renewed.privateKeyPem, renewed.privateKeyPem, 'ERR_SVID_EXPIRED']);
      expect(docs[2].denied).toEqual(['spiffe://acme.test/gone']);
      expect(stream.res.headers['content-type']).toBe('application/x-ndjson');
      await vi.waitFor(() => expect(stream.lines.filter((line) => line === '').length).toBeGreaterThanOrEqual(1));
    } finally {
      stream.close();
    }
  });

  it('answers {code, message} while there is no SVID: 503 before the first, 401 once it expired', async () => {
    agent = createFakeAgent();
    api = await serveWorkloadApi({ socketPath, agent });
    expect(await call('GET', '/v1/x509-svid')).toMatchObject({ status: 503, body: { code: 'ERR_STARTING' } });
    expect(await call('GET', '/v1/bundle')).toMatchObject({ status: 503, body: { code: 'ERR_STARTING' } });
    agent.set({ bundle, error: new VerityError('ERR_SVID_EXPIRED', 'the SVID expired') });
    expect(await call('GET', '/v1/x509-svid')).toMatchObject({ status: 401, body: { code: 'ERR_SVID_EXPIRED' } });
  });

  it('POST /v1/jwt-svid and GET /v1/bundle', async () => {
    api = await serveWorkloadApi({ socketPath, agent });
    const jwt = await call('POST', '/v1/jwt-svid', { body: JSON.stringify({ audience: ['spiffe://acme.test/orders'] }) });
    expect(jwt).toMatchObject({ status: 200, body: { token: 'jwt-for-spiffe://acme.test/orders' } });
    expect(Date.parse(jwt.body.expires_at)).toBeGreaterThan(Date.now());
    expect(agent.jwtCalls).toEqual([['spiffe://acme.test/orders']]);
    for (const bad of ['{}', '{"audience":[]}', '{"audience":"x"}', '{"audience":[""]}', 'null']) {
      expect(await call('POST', '/v1/jwt-svid', { body: bad }), bad).toMatchObject({ status: 400, body: { code: 'ERR_REQUEST_INVALID' } });
    }
    expect(await call('POST', '/v1/jwt-svid', { body: '{' })).toMatchObject({ status: 400, body: { code: 'ERR_REQUEST_MALFORMED_JSON' } });
    expect(await call('POST', '/v1/jwt-svid', { body: 'x'.repeat(70_000) })).toMatchObject({ status: 413, body: { code: 'ERR_REQUEST_TOO_LARGE' } });
    const got = await call('GET', '/v1/bundle');
    expect(got.status).toBe(200);
    expect(got.headers['x-verity-bundle-sequence']).toBe('1');
    expect(got.headers['x-verity-trust-domain']).toBe('acme.test');
    expect(parseSpiffeBundleJson('acme.test', got.body)).toEqual(bundle);
  });

  it('refuses anything else: 404, 405 with Allow, 400 without the workload.spiffe.io header', async () => {
    api = await serveWorkloadApi({ socketPath, agent });
    expect(await call('GET', '/v1/jwt-svid')).toMatchObject({ status: 405, headers: { allow: 'POST' }, body: { code: 'ERR_METHOD_NOT_ALLOWED' } });
    expect(await call('DELETE', '/v1/x509-svid')).toMatchObject({ status: 405, headers: { allow: 'GET' } });
    expect(await call('GET', '/v1/x509-svids')).toMatchObject({ status: 404, body: { code: 'ERR_REQUEST_NOT_FOUND' } });
    expect(await call('GET', '/')).toMatchObject({ status: 404 });
    const bare = await call('GET', '/v1/x509-svid', { header: false });
    expect(bare).toMatchObject({ status: 400, body: { code: 'ERR_REQUEST_INVALID' } });
    expect(JSON.stringify(bare.body)).not.toContain('PRIVATE KEY');
  });

  it('refuses a live socket and a file that is not a socket; removes a stale socket; applies the mode', async () => {
    const live = createServer();
    await new Promise<void>((ready) => live.listen(socketPath, ready));
    await expect(serveWorkloadApi({ socketPath, agent })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await new Promise<void>((done) => live.close(() => done()));

    const path = join(dir, 'precious.txt');
    await writeFile(path, 'keep me');
    await expect(serveWorkloadApi({ socketPath: path, agent })).rejects.toMatchObject({ code: 'EEXIST' });
    expect((await stat(path)).isFile()).toBe(true);

    // A crashed agent leaves its socket file behind (a clean close removes it): kill one.
    const child = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`]);
    await new Promise((ready) => child.stdout.once('data', ready));
    child.kill('SIGKILL');
    await new Promise((gone) => child.once('exit', gone));
    expect((await stat(socketPath)).isSocket()).toBe(true);
    api = await serveWorkloadApi({ socketPath, agent, mode: 0o660 });
    expect((await stat(socketPath)).mode & 0o777).toBe(0o660);
    expect((await call('GET', '/v1/x509-svid')).status).toBe(200);
  });

  it('close() ends the watch streams and removes the socket', async () => {
    api = await serveWorkloadApi({ socketPath, agent });
    const stream = await watch();
    const ended = new Promise<void>((done) => stream.res.on('close', () => done()));
    await api.close();
    api = undefined;
    await ended;
    await expect(stat(socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('throws TypeError for bad options', async () => {
    await expect(serveWorkloadApi({ socketPath: '', agent })).rejects.toThrow(TypeError);
    await expect(serveWorkloadApi({ socketPath, agent, mode: 0o1777 })).rejects.toThrow(TypeError);
    await expect(serveWorkloadApi({ socketPath, agent: {} as FakeAgent })).rejects.toThrow(TypeError);
  });
});
