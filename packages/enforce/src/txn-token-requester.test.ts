/**
 * The SDK's token clients against real HTTP servers that misbehave: a redirect is never followed
 * (the form holds the caller's token and the workload's JWT-SVID), an answer that is not a
 * Txn-Token is refused, a service's error code is kept only when it looks like one.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenExchanger } from './token-exchanger.js';
import { createTxnTokenRequester } from './txn-token-requester.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A server answering every request with `handler`; records the bodies it received. */
async function serve(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<{ url: string; bodies: string[] }> {
  const bodies: string[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      bodies.push(body);
      handler(request, response);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies };
}

const json = (response: ServerResponse, status: number, body: unknown) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
const TXN = 'urn:ietf:params:oauth:token-type:txn_token';
const requester = (url: string, jwtSvid: () => Promise<string> = async () => 'JWT-SVID-SECRET') =>
  createTxnTokenRequester({ url, tenant: 'acme', trustDomain: 'acme.verity.internal', retries: 2, timeoutMs: 5000, jwtSvid });

describe('the SDK token clients', () => {
  it('never follow a redirect: the tokens in the form stay home, and the answer is an error (not retried)', async () => {
    const elsewhere = await serve((_request, response) => json(response, 200, { access_token: 'ATTACKER-CHOSEN', issued_token_type: TXN, token_type: 'N_A' }));
    const pdp = await serve((_request, response) => response.writeHead(307, { location: `${elsewhere.url}/steal` }).end());
    await expect(requester(pdp.url).request('USER-ACCESS-TOKEN')).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_RESPONSE' });
    const exchanger = createTokenExchanger({ url: pdp.url, tenant: 'acme', clientId: 'orders', clientSecret: 's', retries: 2 });
    await expect(exchanger.exchange('USER-ACCESS-TOKEN', 'inventory')).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_RESPONSE' });
    expect(elsewhere.bodies).toEqual([]);
    expect(pdp.bodies).toHaveLength(2);
  });

  it('refuses an answer that is not a Txn-Token (an access token would be passed on as one)', async () => {
    for (const answer of [
      { access_token: 'x', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer' },
      { access_token: 'x', issued_token_type: TXN, token_type: 'Bearer' },
      { access_token: 'x' },
    ]) {
      const pdp = await serve((_request, response) => json(response, 200, answer));
      await expect(requester(pdp.url).request('USER-ACCESS-TOKEN'), JSON.stringify(answer)).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_RESPONSE' });
    }
    const good = await serve((_request, response) => json(response, 200, { access_token: 'TXN-TOKEN', issued_token_type: TXN, token_type: 'N_A' }));
    expect(await requester(good.url).request('USER-ACCESS-TOKEN')).toBe('TXN-TOKEN');
  });

  it('keeps a service error code only when it looks like one; a failing jwtSvid and a bad request id are errors of their own', async () => {
    const long = await serve((_request, response) => json(response, 400, { code: `ERR_${'X'.repeat(100_000)}` }));
    const failure = await requester(long.url).request('USER-ACCESS-TOKEN').catch((error: Error & { code: string }) => error);
    expect(failure).toMatchObject({ code: 'ERR_ENFORCE_PDP_FAILED', status: 400 });
    expect((failure as Error).message.length).toBeLessThan(200);
    const kept = await serve((_request, response) => json(response, 400, { code: 'ERR_STS_INVALID_SCOPE' }));
    await expect(requester(kept.url).request('USER-ACCESS-TOKEN')).rejects.toMatchObject({ code: 'ERR_STS_INVALID_SCOPE', status: 400 });
    await expect(requester(kept.url, async () => { throw new Error('socket gone'); }).request('USER-ACCESS-TOKEN')).rejects.toMatchObject({ code: 'ERR_ENFORCE_SVID_UNAVAILABLE' });
    await expect(requester(kept.url).request('USER-ACCESS-TOKEN', { requestId: 'a\r\nb' })).rejects.toThrow(TypeError);
    // No error message carries the tokens.
    for (const error of [failure as Error]) expect(error.message).not.toMatch(/USER-ACCESS-TOKEN|JWT-SVID-SECRET/);
  });
});
