import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenExchanger } from './token-exchanger.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A token service on a real socket: 503 ERR_OVERLOADED with `Retry-After` for the first `shed` requests, then a token. */
async function tokenService(shed: number, retryAfter: string) {
  let calls = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      calls += 1;
      if (calls <= shed) return response.writeHead(503, { 'content-type': 'application/json', 'retry-after': retryAfter }).end(JSON.stringify({ code: 'ERR_OVERLOADED', message: 'busy' }));
      const exp = Math.floor(Date.now() / 1000) + 300;
      const token = `e30.${Buffer.from(JSON.stringify({ exp })).toString('base64url')}.sig`;
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, token_type: 'Bearer' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls: () => calls };
}

describe('token exchanger against a token service that sheds load', () => {
  it('retries a 503 with jitter and then exchanges', async () => {
    const sts = await tokenService(2, '0');
    const exchanger = createTokenExchanger({ url: sts.url, tenant: 'acme', clientId: 'orders', clientSecret: 's', random: () => 0 });
    expect(await exchanger.exchange('caller.tok.en', 'inventory')).toMatch(/^e30\./);
    expect(sts.calls()).toBe(3);
  });

  it("fails with the service's code after the retries, and never remembers a failure", async () => {
    const sts = await tokenService(Infinity, '0');
    const exchanger = createTokenExchanger({ url: sts.url, tenant: 'acme', clientId: 'orders', clientSecret: 's', random: () => 0 });
    await expect(exchanger.exchange('caller.tok.en', 'inventory')).rejects.toMatchObject({ code: 'ERR_OVERLOADED', status: 503, retryAfterSec: 0 });
    expect(sts.calls()).toBe(3);
    await expect(exchanger.exchange('caller.tok.en', 'inventory')).rejects.toMatchObject({ code: 'ERR_OVERLOADED' });
    expect(sts.calls()).toBe(6);
  });

  it('gives up at once when Retry-After is past its budget', async () => {
    const sts = await tokenService(Infinity, '5');
    const started = performance.now();
    const exchanger = createTokenExchanger({ url: sts.url, tenant: 'acme', clientId: 'orders', clientSecret: 's', timeoutMs: 1000 });
    await expect(exchanger.exchange('caller.tok.en', 'inventory')).rejects.toMatchObject({ code: 'ERR_OVERLOADED', retryAfterSec: 5 });
    expect(performance.now() - started).toBeLessThan(500);
    expect(sts.calls()).toBe(1);
  });

  it('bounds an exchange that is never answered by its budget', async () => {
    const server = createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
    const exchanger = createTokenExchanger({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, tenant: 'acme', clientId: 'orders', clientSecret: 's', timeoutMs: 150 });
    await expect(exchanger.exchange('caller.tok.en', 'inventory')).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_TIMEOUT' });
  });
});
