import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { createDecisionCache } from './decision-cache.js';
import { createEnforcer } from './enforcer.js';
import { createRemoteDecisionSource } from './remote-source.js';
import { startReceiptPdp } from './receipt-test-helpers.js';
import type { DecisionRequest } from './types.js';

type Handler = (request: IncomingMessage, body: any, response: ServerResponse) => void;
const servers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((close) => close()));
});

/** A real PDP stand-in on a loopback port; it records what it was asked. */
async function pdp(handler: Handler) {
  const seen: Array<{ url: string; headers: IncomingMessage['headers']; body: any }> = [];
  const server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk) => (text += chunk));
    request.on('end', () => {
      const body = text ? JSON.parse(text) : undefined;
      seen.push({ url: request.url ?? '', headers: request.headers, body });
      handler(request, body, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(() => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const json = (response: ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
};
const ALLOW = { decision: true, context: { id: 'dec-1', reason_admin: { policy_version: 3, determining_policies: ['p1'], errors: [] } } };
const REQUEST: DecisionRequest = { tenant: 'acme', token: 'tok.en.sig', audience: 'https://api.example', action: 'read', resource: { type: 'Doc', id: 'd1' }, context: { ip: '10.0.0.1' }, requestId: 'req-1', tier: 'orders' };

async function freePort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('remote decision source', () => {
  it('asks the tenant evaluation endpoint with the token, audience, request id, tier and credential', async () => {
    const server = await pdp((_request, _body, response) => json(response, 200, ALLOW));
    const source = createRemoteDecisionSource({ url: `${server.url}/`, credential: 'vrt_pep' });
    expect(await source.decide(REQUEST)).toEqual({ decision: 'allow', decisionId: 'dec-1', policyVersion: 3, reasons: ['p1'] });
    const [seen] = server.seen;
    expect(seen?.url).toBe('/tenants/acme/access/v1/evaluation');
    expect(seen?.headers).toMatchObject({ 'x-request-id': 'req-1', 'x-verity-tier': 'orders', authorization: 'Bearer vrt_pep', 'content-type': 'application/json' });
    expect(seen?.body).toEqual({ token: 'tok.en.sig', audience: 'https://api.example', action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: { ip: '10.0.0.1' } });
  });

  it('sends a subject instead when there is no token, and no Authorization without a credential', async () => {
    const server = await pdp((_request, _body, response) => json(response, 200, { ...ALLOW, decision: false }));
    const { token: _token, audience: _audience, ...rest } = REQUEST;
    const decision = await createRemoteDecisionSource({ url: server.url, keepAlive: false }).decide({ ...rest, subject: { type: 'User', id: 'alice' } });
    expect(decision.decision).toBe('deny');
    expect(server.seen[0]?.body).toEqual({ subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: { ip: '10.0.0.1' } });
    expect(server.seen[0]?.headers.authorization).toBeUndefined();
    expect(server.seen[0]?.headers.connection).toBe('close');
  });

  it('sends the Txn-Token as options.verity_txn_token (beside a receipt request); one the PDP refuses is an unauthenticated deny', async () => {
    let refuse = false;
    const server = await pdp((_request, _body, response) => (refuse ? json(response, 401, { code: 'ERR_TXN_TOKEN_INVALID', message: 'no' }) : json(response, 200, { ...ALLOW, decision: false })));
    const source = createRemoteDecisionSource({ url: server.url });
    await source.decide({ ...REQUEST, txnToken: 'txn.tok.en' });
    expect(server.seen[0]?.body).toMatchObject({ options: { verity_txn_token: 'txn.tok.en' } });
    await source.decide({ ...REQUEST, txnToken: 'txn.tok.en', receipt: true });
    expect(server.seen[1]?.body.options).toEqual({ verity_receipt: true, verity_txn_token: 'txn.tok.en' });
    refuse = true;
    expect(await source.decide({ ...REQUEST, txnToken: 'forged' })).toEqual({ decision: 'deny', decisionId: null, policyVersion: null, reasons: ['unauthenticated'], code: 'ERR_TXN_TOKEN_INVALID' });
  });

  it('a refused user token is a deny with reason unauthenticated; a refused PEP credential is an error', async () => {
    let code = 'ERR_TOKEN_EXPIRED';
    const server = await pdp((_request, _body, response) => json(response, 401, { code, message: 'no' }));
    const source = createRemoteDecisionSource({ url: server.url });
    expect(await source.decide(REQUEST)).toEqual({ decision: 'deny', decisionId: null, policyVersion: null, reasons: ['unauthenticated'], code: 'ERR_TOKEN_EXPIRED' });
    code = 'ERR_AUTH_INVALID';
    await expect(source.decide(REQUEST)).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_REFUSED', pdpStatus: 401, pdpCode: 'ERR_AUTH_INVALID' });
    expect(server.seen).toHaveLength(2);
  });

  it('retries a 5xx twice by default, and never a 4xx', async () => {
    let status = 503;
    const server = await pdp((_request, _body, response) => json(response, status, { code: 'ERR_STORE_UNAVAILABLE', message: 'down' }));
    const source = createRemoteDecisionSource({ url: server.url });
    await expect(source.decide(REQUEST)).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_FAILED', pdpStatus: 503, pdpCode: 'ERR_STORE_UNAVAILABLE' });
    expect(server.seen).toHaveLength(3);
    status = 404;
    await expect(source.decide(REQUEST)).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_REFUSED', pdpStatus: 404 });
    expect(server.seen).toHaveLength(4);
    await expect(createRemoteDecisionSource({ url: server.url, retries: 3 }).decide({ ...REQUEST })).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_REFUSED' });
    expect(server.seen).toHaveLength(5);
  });

  describe('a PDP that sheds load (503 with a code and Retry-After)', () => {
    /** A PDP under overload: 503 ERR_OVERLOADED with `Retry-After: retryAfter` for the first `shed` requests, then allow. */
    async function overloaded(shed: number, retryAfter: string) {
      const at: number[] = [];
      const server = await pdp((_request, _body, response) => {
        at.push(performance.now());
        if (at.length > shed) return json(response, 200, ALLOW);
        response.writeHead(503, { 'content-type': 'application/json', 'retry-after': retryAfter });
        response.end(JSON.stringify({ code: 'ERR_OVERLOADED', message: 'over the in-flight bound' }));
      });
      return { ...server, at };
    }
    const enforcerOn = (source: ReturnType<typeof createRemoteDecisionSource>, cache = createDecisionCache()) => ({
      cache,
      enforcer: createEnforcer({ source, cache, tenant: 'acme', audience: 'https://api.example', tier: 'orders' }),
    });
    const read = { token: 'tok.en.sig', action: 'read', resource: { type: 'Doc', id: 'd1' } };

    it('is no decision: retried twice with jitter, then the enforcer fails closed naming the PDP code, and nothing is cached', async () => {
      const server = await overloaded(Infinity, '0');
      const { enforcer, cache } = enforcerOn(createRemoteDecisionSource({ url: server.url, retryBackoff: { initialMs: 40, maxMs: 80 }, random: () => 0.99 }));
      const result = await enforcer.enforce(read);
      expect(result).toMatchObject({ allowed: false, status: 503, error: { code: 'ERR_ENFORCE_PDP_FAILED', pdpStatus: 503, pdpCode: 'ERR_OVERLOADED', retryAfterSec: 0 } });
      expect(result.error?.message).toContain('ERR_OVERLOADED');
      expect(result.identity).toBeUndefined();
      expect(server.at).toHaveLength(3);
      // Full jitter with random 0.99: about 40 ms, then about 80 ms (ceiling doubled).
      const gaps = [(server.at[1] as number) - (server.at[0] as number), (server.at[2] as number) - (server.at[1] as number)];
      expect(gaps[0]).toBeGreaterThanOrEqual(35);
      expect(gaps[1]).toBeGreaterThanOrEqual(70);
      expect(cache.size).toBe(0);
      expect((await enforcer.enforce(read)).status).toBe(503);
      expect(server.at).toHaveLength(6);
    });

    it('with random 0 the retries are immediate (the jitter is full, from zero)', async () => {
      const server = await overloaded(2, '0');
      const started = performance.now();
      expect((await createRemoteDecisionSource({ url: server.url, retryBackoff: { initialMs: 400, maxMs: 400 }, random: () => 0 }).decide(REQUEST)).decision).toBe('allow');
      expect(performance.now() - started).toBeLessThan(300);
      expect(server.at).toHaveLength(3);
    });

    it('waits for Retry-After when it fits in the budget, and the retry can decide', async () => {
      const server = await overloaded(1, '1');
      const { enforcer, cache } = enforcerOn(createRemoteDecisionSource({ url: server.url, timeoutMs: 3000, random: () => 0 }));
      const result = await enforcer.enforce(read);
      expect(result).toMatchObject({ allowed: true, status: 200, decision: { decision: 'allow', decisionId: 'dec-1' } });
      expect((server.at[1] as number) - (server.at[0] as number)).toBeGreaterThanOrEqual(990);
      expect(cache.size).toBe(1);
    });

    it('fails closed at once when Retry-After is past the budget, rather than waiting or retrying early', async () => {
      const server = await overloaded(Infinity, '2');
      const source = createRemoteDecisionSource({ url: server.url, timeoutMs: 1000 });
      const started = performance.now();
      await expect(source.decide(REQUEST)).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_FAILED', pdpCode: 'ERR_OVERLOADED', retryAfterSec: 2 });
      expect(performance.now() - started).toBeLessThan(500);
      expect(server.at).toHaveLength(1);
    });

    it('never waits past the budget, whatever the backoff says', async () => {
      const server = await overloaded(Infinity, '0');
      const started = performance.now();
      const source = createRemoteDecisionSource({ url: server.url, timeoutMs: 200, retries: 5, retryBackoff: { initialMs: 150, maxMs: 1000 }, random: () => 0.99 });
      await expect(source.decide(REQUEST)).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_FAILED', pdpCode: 'ERR_OVERLOADED' });
      expect(performance.now() - started).toBeLessThan(250);
      expect(server.at.length).toBeLessThanOrEqual(2);
    });
  });

  it('a retry after a 5xx can succeed', async () => {
    let calls = 0;
    const server = await pdp((_request, _body, response) => (++calls === 1 ? json(response, 500, { code: 'ERR_DECISION_FAILED' }) : json(response, 200, ALLOW)));
    expect((await createRemoteDecisionSource({ url: server.url }).decide(REQUEST)).decision).toBe('allow');
    expect(server.seen).toHaveLength(2);
  });

  it('bounds retries on connection refused', async () => {
    const url = await freePort();
    let calls = 0;
    const counting: typeof fetch = (input, init) => (calls++, fetch(input, init));
    await expect(createRemoteDecisionSource({ url, fetch: counting, retries: 2 }).decide(REQUEST)).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_UNREACHABLE' });
    expect(calls).toBe(3);
  });

  it('gives up within the time budget when the PDP stalls, without another try', async () => {
    const server = await pdp(() => {
      /* never answers */
    });
    const started = performance.now();
    await expect(createRemoteDecisionSource({ url: server.url, timeoutMs: 150 }).decide(REQUEST)).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_TIMEOUT' });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(server.seen).toHaveLength(1);
  });

  it('times out a PDP that sends headers and then stalls the body', async () => {
    const server = await pdp((_request, _body, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"decision":');
    });
    await expect(createRemoteDecisionSource({ url: server.url, timeoutMs: 150 }).decide(REQUEST)).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_TIMEOUT' });
  });

  it('never uses an answer that arrives after the budget, even from a fetch that ignores AbortSignal', async () => {
    // A transport that does not honour `signal`: it answers allow, late.
    const deaf: typeof fetch = () => new Promise((resolve) => setTimeout(() => resolve(Response.json(ALLOW)), 400));
    const source = createRemoteDecisionSource({ url: 'http://pdp.invalid', fetch: deaf, timeoutMs: 50 });
    await expect(source.decide(REQUEST)).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_TIMEOUT' });
    const enforcer = createEnforcer({ source, tenant: 'acme', audience: 'https://api.example', tier: 'orders' });
    const result = await enforcer.enforce({ token: 'tok.en.sig', action: 'read', resource: { type: 'Doc', id: 'd1' } });
    expect(result).toMatchObject({ allowed: false, status: 503, error: { code: 'ERR_ENFORCE_PDP_TIMEOUT' } });
  });

  it('times out a body that ignores AbortSignal after the headers came in time', async () => {
    const stalled = new ReadableStream<Uint8Array>({ start: () => undefined });
    const deaf: typeof fetch = async () => new Response(stalled, { status: 200, headers: { 'content-type': 'application/json' } });
    await expect(createRemoteDecisionSource({ url: 'http://pdp.invalid', fetch: deaf, timeoutMs: 50 }).decide(REQUEST)).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_TIMEOUT' });
  });

  it('an answer that is not a decision is an error, not an allow', async () => {
    const server = await pdp((_request, _body, response) => json(response, 200, { decision: true }));
    await expect(createRemoteDecisionSource({ url: server.url }).decide(REQUEST)).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_RESPONSE' });
  });

  it('never puts the token or credential into an error message', async () => {
    const server = await pdp((_request, _body, response) => json(response, 403, { code: 'ERR_AUTH_FORBIDDEN', message: 'no' }));
    const error = await createRemoteDecisionSource({ url: server.url, credential: 'vrt_secret' }).decide(REQUEST).catch((e: Error) => e);
    expect(String((error as Error).message)).not.toMatch(/vrt_secret|tok\.en\.sig/);
  });

  it('refuses bad options at construction', () => {
    expect(() => createRemoteDecisionSource({ url: 'not a url' })).toThrow(TypeError);
    expect(() => createRemoteDecisionSource({ url: 'ftp://x' })).toThrow(TypeError);
    expect(() => createRemoteDecisionSource({ url: 'http://x', timeoutMs: 0 })).toThrow(TypeError);
    expect(() => createRemoteDecisionSource({ url: 'http://x', retries: -1 })).toThrow(TypeError);
    expect(() => createRemoteDecisionSource({ url: 'http://x', timeout: 5 } as never)).toThrow(TypeError);
    expect(() => createRemoteDecisionSource({ url: 'http://x', retryBackoff: { initialMs: 0 } })).toThrow(TypeError);
  });
});

describe('remote decision source: data-tier receipts', () => {
  const stopped: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(stopped.splice(0).map((stop) => stop()));
  });
  async function receiptPdp() {
    const stand = await startReceiptPdp();
    stopped.push(() => stand.close());
    return { stand, source: createRemoteDecisionSource({ url: stand.url, credential: 'vrt_pep' }) };
  }

  it('sends options.verity_receipt only when asked, and surfaces the receipt and its exp on an allow', async () => {
    const { stand, source } = await receiptPdp();
    const plain = await source.decide(REQUEST);
    expect(plain).toEqual({ decision: 'allow', decisionId: 'dec-1', policyVersion: 3, reasons: ['p1'] });
    expect(stand.seen[0]).not.toHaveProperty('options');

    const before = Date.now();
    const decision = await source.decide({ ...REQUEST, receipt: true });
    expect(stand.seen[1]?.options).toEqual({ verity_receipt: true });
    expect(decision).toMatchObject({ decision: 'allow', decisionId: 'dec-2', policyVersion: 3 });
    // The receipt passed on is the PDP's JWS, unchanged: it verifies with the tenant's key.
    const { protectedHeader: header, payload } = await jwtVerify(decision.receipt as string, stand.key.secret, { typ: 'verity-receipt+jwt', algorithms: ['HS256'] });
    expect(header).toEqual({ alg: 'HS256', typ: 'verity-receipt+jwt', kid: stand.key.kid });
    expect(payload).toMatchObject({ tenant: 'acme', action: 'read', resource_type: 'Doc', resource_id: 'd1', decision_id: 'dec-2', jti: 'dec-2' });
    expect(decision.receiptExpiresAt).toBe((payload.exp as number) * 1000);
    expect(decision.receiptExpiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 30_000);
  });

  it('a deny carries no receipt', async () => {
    const { stand, source } = await receiptPdp();
    const decision = await source.decide({ ...REQUEST, action: 'write', receipt: true });
    expect(stand.seen[0]?.options).toEqual({ verity_receipt: true });
    expect(decision).toEqual({ decision: 'deny', decisionId: 'dec-1', policyVersion: 3, reasons: [] });
  });

  it('fails closed when the tenant has no receipt key (409 ERR_RECEIPT_KEY_MISSING): no deny that looks like the policy, no retry', async () => {
    const { stand, source } = await receiptPdp();
    stand.mode = 'key-missing';
    const failure = source.decide({ ...REQUEST, receipt: true });
    await expect(failure).rejects.toMatchObject({ code: 'ERR_ENFORCE_RECEIPT_UNAVAILABLE', status: 503, pdpStatus: 409, pdpCode: 'ERR_RECEIPT_KEY_MISSING' });
    expect(stand.seen).toHaveLength(1);
    // Without a receipt the same PDP decides.
    expect((await source.decide(REQUEST)).decision).toBe('allow');
  });

  it.each(['garbage', 'no-exp', 'none'] as const)('fails closed on an allow whose receipt is unusable (%s)', async (mode) => {
    const { stand, source } = await receiptPdp();
    stand.mode = mode;
    await expect(source.decide({ ...REQUEST, receipt: true })).rejects.toMatchObject({ code: 'ERR_ENFORCE_RECEIPT_UNAVAILABLE', status: 503 });
    // Unasked, a receipt is not looked for.
    expect(await source.decide(REQUEST)).not.toHaveProperty('receipt');
  });
});
