/**
 * Data-tier receipts at the PDP: each tenant's receipt keys (pending → active → retired, secrets
 * sealed at rest with the master key) and the minting of a receipt for an allowed decision.
 */
import { formatEntityUid, VerityError, type DecisionRecord } from '@verity/core';
import { generateReceiptKey, signReceipt, type ReceiptKey, type SecretBox } from '@verity/identity';
import type { ReceiptKeyState, Store, StoredReceiptKey } from '@verity/store';

/** A key as the admin API lists it: no secret; times ISO 8601 or null. */
export interface ReceiptKeyView {
  kid: string;
  state: ReceiptKeyState;
  created_at: string;
  activated_at: string | null;
  retired_at: string | null;
  verify_until: string | null;
}

/** A key of the verifying set, with its secret (base64url of 32 bytes), for the application database. */
export interface ReceiptKeyExport {
  kid: string;
  state: ReceiptKeyState;
  secret: string;
  verify_until: string | null;
}

export interface ReceiptService {
  /** The tenant's keys in every state, oldest first, without secrets. */
  list(tenant: string): Promise<ReceiptKeyView[]>;
  /** A new pending key (it signs nothing until activated); the secret is shown here and in `exportKeys` only. ERR_TENANT_NOT_FOUND. */
  create(tenant: string): Promise<{ kid: string; state: 'pending'; secret: string }>;
  /**
   * The keys the application database must hold to verify: pending, active, and retired ones
   * still within `verify_until` (a key this master key cannot open is left out).
   */
  exportKeys(tenant: string): Promise<ReceiptKeyExport[]>;
  /**
   * Make a pending key the signing key; the previous one retires, verifying until now + the
   * longest receipt lifetime + 60 s. ERR_RECEIPT_KEY_NOT_FOUND, ERR_RECEIPT_KEY_NOT_PENDING.
   */
  activate(tenant: string, kid: string): Promise<ReceiptKeyView>;
  /**
   * The tenant's active key, read from the store at most every {@link ACTIVE_KEY_CACHE_MS}
   * (another replica's activation is seen within that; the retired key's overlap covers it).
   * Throws ERR_RECEIPT_KEY_MISSING when the tenant has none.
   */
  signingKey(tenant: string): Promise<ReceiptKey>;
  /** Sign a receipt for an allowed decision, valid `ttlSec` seconds from now. */
  mint(record: DecisionRecord, key: ReceiptKey, ttlSec: number): Promise<string>;
}

export interface ReceiptServiceOptions {
  store: Store;
  box: SecretBox;
  /** The tenant's issuer URL (the token service's), the receipt's `iss`. */
  issuerUrl: (tenant: string) => string;
  /** The longest receipt lifetime, seconds (config `receiptTtlSec`): sets how long a retired key verifies. */
  maxTtlSec: number;
  /** Milliseconds since the epoch (injectable for tests). */
  now?: () => number;
}

/** How long a replica trusts its view of a tenant's active key, ms. */
export const ACTIVE_KEY_CACHE_MS = 5000;

/** Past the longest receipt lifetime, how long a retired key keeps verifying (clock skew, the cache above). */
const RETIRED_GRACE_MS = 60_000;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function toView(key: StoredReceiptKey): ReceiptKeyView {
  return { kid: key.kid, state: key.state, created_at: new Date(key.createdAtMs).toISOString(), activated_at: iso(key.activatedAtMs), retired_at: iso(key.retiredAtMs), verify_until: iso(key.verifyUntilMs) };
}

export function createReceiptService(options: ReceiptServiceOptions): ReceiptService {
  const { store, box, issuerUrl, maxTtlSec } = options;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { key: ReceiptKey | null; loadedAt: number }>();
  // Bound to the tenant: a sealed secret moved to another tenant's row does not open.
  const purpose = (tenant: string) => `receipt-key:${tenant}`;
  /**
   * The key's secret, or null when this master key cannot open it (sealed by a process with
   * another key, e.g. PostgreSQL without VERITY_MASTER_KEY after a restart): such a key neither
   * signs nor is exported, so the database stops accepting its receipts; a rotation replaces it.
   */
  function secretOf(key: StoredReceiptKey): string | null {
    try {
      return box.open(key.sealedSecret, purpose(key.tenant));
    } catch {
      return null;
    }
  }

  async function loadActive(tenant: string): Promise<ReceiptKey | null> {
    const active = await store.receiptKeys.active(tenant);
    const secret = active === null ? null : secretOf(active);
    return active === null || secret === null ? null : { kid: active.kid, secret: new Uint8Array(Buffer.from(secret, 'base64url')) };
  }

  return {
    async list(tenant) {
      return (await store.receiptKeys.list(tenant)).map(toView);
    },

    async create(tenant) {
      const { kid, secret } = generateReceiptKey();
      const text = Buffer.from(secret).toString('base64url');
      await store.receiptKeys.create({ tenant, kid, sealedSecret: box.seal(text, purpose(tenant)), createdAtMs: now() });
      return { kid, state: 'pending', secret: text };
    },

    async exportKeys(tenant) {
      const at = now();
      return (await store.receiptKeys.list(tenant))
        .filter((key) => key.state !== 'retired' || (key.verifyUntilMs !== null && key.verifyUntilMs > at))
        .flatMap((key) => {
          const secret = secretOf(key);
          return secret === null ? [] : [{ kid: key.kid, state: key.state, secret, verify_until: iso(key.verifyUntilMs) }];
        });
    },

    async activate(tenant, kid) {
      const at = now();
      const key = await store.receiptKeys.activate(tenant, kid, { nowMs: at, verifyUntilMs: at + maxTtlSec * 1000 + RETIRED_GRACE_MS });
      cache.delete(tenant);
      return toView(key);
    },

    async signingKey(tenant) {
      const cached = cache.get(tenant);
      let key = cached !== undefined && now() - cached.loadedAt < ACTIVE_KEY_CACHE_MS ? cached.key : undefined;
      if (key === undefined) {
        key = await loadActive(tenant);
        cache.set(tenant, { key, loadedAt: now() });
      }
      if (key === null) throw new VerityError('ERR_RECEIPT_KEY_MISSING', `tenant "${tenant}" has no usable active receipt key (verity db install creates one; verity db rotate replaces one this server's master key cannot open)`);
      return key;
    },

    async mint(record, key, ttlSec) {
      const iat = Math.floor(now() / 1000);
      return signReceipt(
        {
          iss: issuerUrl(record.tenant),
          tenant: record.tenant,
          principal: formatEntityUid(record.principal),
          action: record.action.id,
          resource_type: record.resource.type,
          resource_id: record.resource.id,
          decision_id: record.decisionId,
          policy_version: record.policyVersion,
          jti: record.decisionId,
          iat,
          exp: iat + ttlSec,
        },
        key,
      );
    },
  };
}
