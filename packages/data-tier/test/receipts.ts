/** Test receipts: minted like the PDP mints them (jose, HS256), and tampered copies of them. */
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import type { ReceiptKeyMaterial } from '../src/install.js';

export interface TestKey {
  kid: string;
  tenant: string;
  secret: Uint8Array;
}

/** A fresh key of `tenant`, and its material for syncReceiptKeys. */
export function makeKey(tenant: string, verifyUntil: string | null = null): TestKey & { material: ReceiptKeyMaterial } {
  const kid = randomBytes(16).toString('base64url');
  const secret = randomBytes(32);
  return { kid, tenant, secret, material: { kid, secret: secret.toString('base64url'), verifyUntil } };
}

export interface MintOptions {
  action?: string;
  principal?: string;
  /** Seconds from now (negative: in the past). */
  expiresIn?: number;
  /** Seconds from now. */
  issuedIn?: number;
  /** Claims to set (or, with undefined, to drop) after the defaults. */
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
}

/** A receipt of `key`'s tenant, as the PDP would mint it. */
export async function mintReceipt(key: TestKey, options: MintOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const decisionId = `d-${randomBytes(6).toString('hex')}`;
  const claims: Record<string, unknown> = {
    iss: `https://pdp.example/tenants/${key.tenant}`,
    tenant: key.tenant,
    principal: options.principal ?? 'User::"alice"',
    action: options.action ?? 'read',
    resource_type: 'Table',
    resource_id: 'orders',
    decision_id: decisionId,
    policy_version: 3,
    jti: decisionId,
    iat: now + (options.issuedIn ?? 0),
    exp: now + (options.expiresIn ?? 30),
  };
  for (const [name, value] of Object.entries(options.claims ?? {})) {
    if (value === undefined) delete claims[name];
    else claims[name] = value;
  }
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'verity-receipt+jwt', kid: key.kid, ...options.header }).sign(key.secret);
}

/** `receipt` with its claims replaced by `edit(claims)`, re-encoded, the signature kept. */
export function tamperClaims(receipt: string, edit: (claims: Record<string, unknown>) => Record<string, unknown>): string {
  const [header, payload, signature] = receipt.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  return `${header}.${Buffer.from(JSON.stringify(edit(claims))).toString('base64url')}.${signature}`;
}

/** Every claim, and a value differing from any a minted receipt holds, of the same JSON type. */
export const CLAIM_CHANGES: ReadonlyArray<[string, (value: unknown) => unknown]> = [
  ['iss', (v) => `${v as string}x`],
  ['tenant', () => 'tenant-b'],
  ['principal', () => 'User::"mallory"'],
  ['action', () => 'delete'],
  ['resource_type', () => 'Invoice'],
  ['resource_id', () => 'other'],
  ['decision_id', (v) => `${v as string}x`],
  ['policy_version', (v) => (v as number) + 1],
  ['jti', (v) => `${v as string}x`],
  ['iat', (v) => (v as number) - 1],
  ['exp', (v) => (v as number) + 3600],
];

/**
 * An unsigned receipt that a lenient parser could mistake for a signed one: `header.claims=A`,
 * with the claims' base64url padded to a length of 2 mod 4 so that `claims=A` still decodes. Only
 * a check that treats `.` in its pattern as "any character" (a backslash escape read with
 * standard_conforming_strings off) would split it into three parts. The claims say what an
 * attacker would like: `tenant`, a write action, an expiry that never comes.
 */
export function unsignedReceipt(kid: string, tenant: string, action = 'write'): string {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'verity-receipt+jwt', kid })).toString('base64url');
  for (let pad = '';; pad += ' ') {
    const claims = `{"iss":"x","tenant":${JSON.stringify(tenant)},"principal":"User::\\"mallory\\"","action":${JSON.stringify(action)},"resource_type":"Table","resource_id":"orders","decision_id":"forged","jti":"forged","policy_version":1,"iat":1,"exp":99999999999${pad}}`;
    const encoded = Buffer.from(claims).toString('base64url');
    if (encoded.length % 4 === 2) return `${header}.${encoded}=A`;
  }
}
