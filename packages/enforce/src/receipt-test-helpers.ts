/** Test support for receipts: what the PDP mints (contract of issue 10), with a key made in the test. */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';

export interface TestReceiptKey {
  kid: string;
  secret: Uint8Array;
}

/** A fresh receipt key: 32 random bytes and a random 16-byte kid, as the PDP makes them. */
export function testReceiptKey(): TestReceiptKey {
  return { kid: randomBytes(16).toString('base64url'), secret: new Uint8Array(randomBytes(32)) };
}

export interface TestReceiptClaims {
  tenant: string;
  principal: string;
  action: string;
  resource_type: string;
  resource_id: string;
  decision_id: string;
  policy_version: number;
}

/**
 * A receipt as the PDP mints it: HS256 compact JWS, header `{alg, typ: 'verity-receipt+jwt', kid}`,
 * the contract's claims, `jti` = decision id, `exp - iat` = `ttlSec`, issued at `nowMs`.
 */
export function mintTestReceipt(key: TestReceiptKey, claims: TestReceiptClaims, options: { ttlSec: number; nowMs: number; issuer: string }): Promise<string> {
  const iat = Math.floor(options.nowMs / 1000);
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'verity-receipt+jwt', kid: key.kid })
    .setIssuer(options.issuer)
    .setJti(claims.decision_id)
    .setIssuedAt(iat)
    .setExpirationTime(iat + options.ttlSec)
    .sign(key.secret);
}

/** What the receipt PDP stand-in answers an evaluation with. */
export type ReceiptPdpMode =
  /** allow (deny for action `write`), with a receipt when asked */
  | 'up'
  /** 409 ERR_RECEIPT_KEY_MISSING when a receipt is asked */
  | 'key-missing'
  /** an allow whose receipt is not a JWT */
  | 'garbage'
  /** an allow whose receipt has no `exp` */
  | 'no-exp'
  /** an allow without any receipt */
  | 'none';

/** The parts of an AuthZEN evaluation body the stand-in reads. */
export interface EvaluationBody {
  subject?: { type: string; id: string };
  action?: { name?: unknown };
  resource?: { type?: unknown; id?: unknown };
  options?: { verity_receipt?: unknown };
  [key: string]: unknown;
}

export interface ReceiptPdp {
  url: string;
  key: TestReceiptKey;
  /** The evaluation bodies received, in order. */
  seen: EvaluationBody[];
  mode: ReceiptPdpMode;
  /** Receipt lifetime in seconds (default 30, the PDP's default). */
  ttlSec: number;
  /** The PDP's clock for `iat`/`exp`, epoch ms (default `Date.now`). */
  now: () => number;
  close(): Promise<void>;
}

/**
 * A PDP stand-in on a loopback port answering `POST /tenants/{t}/access/v1/evaluation` as the
 * issue-10 PDP does: `context.verity_receipt` on an allow asked with `options.verity_receipt`.
 */
export async function startReceiptPdp(): Promise<ReceiptPdp> {
  let decisions = 0;
  const server = createServer((request, response) => {
    let text = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (text += chunk));
    request.on('end', () => {
      const json = (status: number, body: unknown) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      const tenant = /^\/tenants\/([^/]+)\/access\/v1\/evaluation$/.exec(request.url ?? '')?.[1];
      if (tenant === undefined || request.method !== 'POST') return json(404, { code: 'ERR_REQUEST_NOT_FOUND', message: 'no such route' });
      const body = JSON.parse(text) as EvaluationBody;
      pdp.seen.push(body);
      const asked = body.options?.verity_receipt === true;
      if (asked && pdp.mode === 'key-missing') return json(409, { code: 'ERR_RECEIPT_KEY_MISSING', message: 'the tenant has no active receipt key' });
      const allow = body.action?.name !== 'write';
      const id = `dec-${++decisions}`;
      const context: Record<string, unknown> = { id, reason_admin: { policy_version: 3, determining_policies: allow ? ['p1'] : [], errors: [] } };
      const answer = async () => {
        if (!allow || !asked || pdp.mode === 'none') return;
        if (pdp.mode === 'garbage') return void (context.verity_receipt = 'not-a-receipt');
        const subject = body.subject;
        const claims = {
          tenant,
          principal: subject ? `${subject.type}::${JSON.stringify(subject.id)}` : 'User::"alice"',
          action: String(body.action?.name),
          resource_type: String(body.resource?.type),
          resource_id: String(body.resource?.id),
          decision_id: id,
          policy_version: 3,
        };
        context.verity_receipt =
          pdp.mode === 'no-exp'
            ? await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'verity-receipt+jwt', kid: pdp.key.kid }).sign(pdp.key.secret)
            : await mintTestReceipt(pdp.key, claims, { ttlSec: pdp.ttlSec, nowMs: pdp.now(), issuer: `${pdp.url}/tenants/${tenant}` });
      };
      void answer().then(() => json(200, { decision: allow, context }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const pdp: ReceiptPdp = {
    url: `http://127.0.0.1:${port}`,
    key: testReceiptKey(),
    seen: [],
    mode: 'up',
    ttlSec: 30,
    now: Date.now,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return pdp;
}
