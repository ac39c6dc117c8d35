/**
 * Signed checkpoints of tenants' audit chains: made on demand and on an interval, kept in the
 * store, and exported (with the public key) so that a copy kept elsewhere proves the tail of a
 * chain later — see docs/security.md, "Audit integrity".
 */
import { VerityError } from '@verity/core';
import { generateCheckpointKey, signAuditCheckpoint, type CheckpointKey, type SecretBox } from '@verity/identity';
import type { Store, StoredAuditCheckpoint } from '@verity/store';
import type { AuditWriter } from './audit-writer.js';
import { requireAuditedTenant } from './require-tenant.js';

/** The sealing purpose of checkpoint keys: a sealed token-signing key cannot pass for one. */
const PURPOSE = 'audit-checkpoint-key';

type JWK = CheckpointKey['publicJwk'];

/** A checkpoint as exported: what it states, the compact JWS, and the public key that verifies it. */
export interface ExportedCheckpoint extends StoredAuditCheckpoint {
  publicKey: JWK;
}

export interface AuditCheckpoints {
  /** Sign the tenant's current chain head (after writing what is queued) and keep it. */
  make(tenant: string): Promise<ExportedCheckpoint>;
  /** The tenant's latest kept checkpoint, or ERR_REQUEST_NOT_FOUND when none was made yet. */
  latest(tenant: string): Promise<ExportedCheckpoint>;
  /** Checkpoint every tenant whose chain moved since its latest checkpoint; returns how many. */
  makeDue(): Promise<number>;
}

export interface AuditCheckpointsOptions {
  store: Store;
  writer: AuditWriter;
  box: SecretBox;
  now?: () => number;
}

export function createAuditCheckpoints(options: AuditCheckpointsOptions): AuditCheckpoints {
  const { store, writer, box } = options;
  const now = options.now ?? Date.now;
  let signing: Promise<CheckpointKey> | null = null;

  /**
   * The newest stored key this process can open; a new one when none opens (first start, or a
   * per-process master key): old checkpoints still verify with their stored public keys.
   */
  async function loadKey(): Promise<CheckpointKey> {
    for (const row of (await store.audit.loadCheckpointKeys()).reverse()) {
      try {
        return JSON.parse(box.open(row.sealedKey, PURPOSE)) as CheckpointKey;
      } catch {
        // Sealed under another master key: not usable here.
      }
    }
    const key = await generateCheckpointKey();
    await store.audit.addCheckpointKey({ kid: key.kid, sealedKey: box.seal(JSON.stringify(key), PURPOSE), publicJwk: key.publicJwk as Record<string, unknown>, createdAtMs: now() });
    return key;
  }

  function key(): Promise<CheckpointKey> {
    signing ??= loadKey().catch((error: unknown) => {
      signing = null;
      throw error;
    });
    return signing;
  }

  async function publicKeyOf(jws: string): Promise<JWK> {
    const kid = (JSON.parse(Buffer.from(jws.split('.')[0] ?? '', 'base64url').toString()) as { kid?: unknown }).kid;
    const row = (await store.audit.loadCheckpointKeys()).find((k) => k.kid === kid);
    if (!row) throw new VerityError('ERR_INTERNAL', 'the key of a stored audit checkpoint is missing');
    return row.publicJwk as JWK;
  }

  async function sign(tenant: string): Promise<ExportedCheckpoint> {
    const signer = await key();
    const head = await store.audit.head(tenant);
    const checkpoint = { tenant, seq: head.seq, hash: head.hash, time: new Date(now()).toISOString() };
    const jws = await signAuditCheckpoint(checkpoint, signer);
    await store.audit.saveCheckpoint({ ...checkpoint, jws });
    // Another replica may have kept one for this seq first; either verifies.
    return { ...checkpoint, jws, publicKey: signer.publicJwk };
  }

  return {
    // A deleted tenant's kept audit too: its signed head can still be made and read.
    async make(tenant) {
      await requireAuditedTenant(store, tenant);
      await writer.flush();
      return sign(tenant);
    },

    async latest(tenant) {
      await requireAuditedTenant(store, tenant);
      const stored = await store.audit.latestCheckpoint(tenant);
      if (!stored) throw new VerityError('ERR_REQUEST_NOT_FOUND', `no audit checkpoint of tenant "${tenant}" yet`);
      return { ...stored, publicKey: await publicKeyOf(stored.jws) };
    },

    async makeDue() {
      await writer.flush();
      let made = 0;
      for (const tenant of await store.tenants.list()) {
        const [head, latest] = await Promise.all([store.audit.head(tenant.id), store.audit.latestCheckpoint(tenant.id)]);
        if (head.seq === 0 || latest?.seq === head.seq) continue;
        await sign(tenant.id);
        made++;
      }
      return made;
    },
  };
}

/**
 * Run `checkpoints.makeDue()` every `intervalMs` (0: never), one run at a time; failures go to
 * `onError` and the next tick tries again. The timer does not keep the process alive.
 */
export function scheduleAuditCheckpoints(checkpoints: AuditCheckpoints, intervalMs: number, onError: (error: unknown) => void): { stop(): Promise<void> } {
  if (intervalMs === 0) return { stop: async () => {} };
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    running ??= checkpoints
      .makeDue()
      .then(() => undefined, onError)
      .finally(() => {
        running = null;
      });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
