import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSourceFetch, isPublicAddress } from './source-fetch.js';

async function rejection(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  return promise.then(
    () => ({ code: 'resolved', message: '' }),
    (error: { code: string; message: string }) => error,
  );
}

describe('isPublicAddress', () => {
  it.each([
    ['127.0.0.1', false], ['127.8.9.10', false], ['10.1.2.3', false], ['172.16.0.1', false], ['172.31.255.255', false], ['192.168.1.1', false],
    ['169.254.169.254', false], ['100.64.0.1', false], ['0.0.0.0', false], ['224.0.0.1', false], ['255.255.255.255', false],
    ['::', false], ['::1', false], ['fe80::1', false], ['fc00::1', false], ['fd12:3456::1', false], ['ff02::1', false],
    ['::ffff:127.0.0.1', false], ['::ffff:7f00:1', false], ['::ffff:169.254.169.254', false], ['::ffff:10.0.0.1', false], ['64:ff9b::a00:1', false],
    ['8.8.8.8', true], ['172.32.0.1', true], ['1.1.1.1', true], ['2606:4700:4700::1111', true], ['::ffff:8.8.8.8', true],
    ['localhost', false], ['not an address', false],
  ])('%s → %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });
});

describe('createSourceFetch', () => {
  let server: Server;
  let port: number;
  let requests = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      requests += 1;
      if (req.url === '/endless') {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(16 * 1024, 0x20);
        const write = (): void => {
          if (!res.destroyed && res.write(chunk)) setImmediate(write);
        };
        res.on('drain', write);
        return write();
      }
      if (req.url === '/silent') return; // never answers
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('refuses plain http and non-public address literals before connecting', async () => {
    const guarded = createSourceFetch();
    const before = requests;
    for (const url of [`http://127.0.0.1:${port}/`, `https://127.0.0.1:${port}/`, `https://[::1]:${port}/`, `https://[::ffff:127.0.0.1]:${port}/`, 'https://169.254.169.254/latest/meta-data', 'https://10.0.0.1/', 'https://[fd00::1]/']) {
      const error = await rejection(guarded(url, { method: 'GET' }));
      expect(error.code, url).toBe('ERR_IDENTITY_SOURCE_UNAVAILABLE');
    }
    expect(requests).toBe(before);
  });

  it('checks every address a name resolves to, on the connection itself (DNS rebinding)', async () => {
    const before = requests;
    for (const addresses of [[{ address: '127.0.0.1', family: 4 }], [{ address: '8.8.8.8', family: 4 }, { address: '127.0.0.1', family: 4 }], [{ address: '::ffff:127.0.0.1', family: 6 }]]) {
      const guarded = createSourceFetch({ resolve: async () => addresses });
      const error = await rejection(guarded(`https://idp.example:${port}/jwks`, { method: 'GET' }));
      expect(error).toMatchObject({ code: 'ERR_IDENTITY_SOURCE_UNAVAILABLE', message: 'the identity source address is not allowed' });
    }
    expect(requests).toBe(before);
  });

  it('with allowInsecure, fetches from loopback over http', async () => {
    const response = await createSourceFetch({ allowInsecure: true })(`http://127.0.0.1:${port}/`, { method: 'GET', headers: { accept: 'application/json' } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
  });

  it('stops reading at the size limit, and gives up after the time budget', async () => {
    const insecure = createSourceFetch({ allowInsecure: true, maxBytes: 64 * 1024, timeoutMs: 60_000 });
    expect(await rejection(insecure(`http://127.0.0.1:${port}/endless`, { method: 'GET' }))).toMatchObject({ code: 'ERR_IDENTITY_SOURCE_UNAVAILABLE', message: 'the identity source answer is too large' });
    const impatient = createSourceFetch({ allowInsecure: true, timeoutMs: 50 });
    expect(await rejection(impatient(`http://127.0.0.1:${port}/silent`, { method: 'GET' }))).toMatchObject({ code: 'ERR_IDENTITY_SOURCE_UNAVAILABLE', message: 'the identity source did not answer in time' });
  });

  it('checks its options', () => {
    expect(() => createSourceFetch({ maxBytes: 0 })).toThrow(TypeError);
    expect(() => createSourceFetch({ timeoutMs: -1 })).toThrow(TypeError);
  });
});
