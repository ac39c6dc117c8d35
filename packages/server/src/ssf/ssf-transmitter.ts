/**
 * The Shared Signals transmitter: a tenant's revocations, as CAEP `session-revoked` Security
 * Event Tokens (RFC 8417) signed with the tenant's token-signing key, pushed (RFC 8935) to the
 * receivers the tenant registered. In the background, with bounded retries: a revocation never
 * waits on a receiver. Only the replica that took the revocation sends.
 */
import { VerityError } from '@verity/core';
import { signSecurityEventToken, type FetchFunction, type SigningKeyRing } from '@verity/identity';
import type { Store, StoredSsfReceiver } from '@verity/store';
import type { RevokeInput } from '../identity/identity-service.js';
import { SESSION_REVOKED } from './caep-events.js';
import { isSsfId, parseReceiverConfig } from './ssf-config.js';

/** A receiver as the admin API shows it. */
export interface ReceiverView {
  id: string;
  tenant: string;
  endpoint: string;
  audience: string;
  updated_at: string;
}

/** How one push ended: `delivered` (2xx), `refused` (the receiver answered 4xx: not retried), `failed` (retries spent). */
export interface DeliveryReport {
  tenant: string;
  receiver: string;
  outcome: 'delivered' | 'refused' | 'failed';
  attempts: number;
  /** The last HTTP status, if any answer came. */
  status?: number;
  /** RFC 8935 §2.3 `err` of a refusal, when the receiver gave one. */
  err?: string;
}

export interface SsfTransmitter {
  /** Register or replace a receiver. ERR_SSF_RECEIVER_INVALID, ERR_TENANT_NOT_FOUND. */
  putReceiver(tenant: string, id: string, body: unknown): Promise<{ receiver: ReceiverView; created: boolean }>;
  listReceivers(tenant: string): Promise<ReceiverView[]>;
  /** ERR_SSF_RECEIVER_NOT_FOUND. */
  removeReceiver(tenant: string, id: string): Promise<void>;
  /** A revocation was made on this replica: push it to every receiver of the tenant (in the background). */
  emitRevocation(tenant: string, input: RevokeInput): void;
  /** Resolves when every push begun so far has ended (tests; a graceful stop). */
  idle(): Promise<void>;
}

export interface SsfTransmitterOptions {
  store: Store;
  /** The tenant's token-signing key ring and issuer URL (the SET's `iss`). */
  ring: (tenant: string) => SigningKeyRing;
  issuerUrl: (tenant: string) => string;
  /** The guarded outbound fetch (createSourceFetch): https to public hosts only, bounded. */
  fetch: FetchFunction;
  /** Accept http and loopback/private receiver endpoints (the server's `allowInsecureIdentitySources`). */
  allowInsecure: boolean;
  now?: () => number;
  /** Attempts per receiver (default 4). */
  maxAttempts?: number;
  /** Wait before the second attempt, doubled each time after (default 1000 ms). */
  backoffMs?: number;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  /** Told how each push ended (for the log: never the SET). */
  onDelivery?: (report: DeliveryReport) => void;
}

/**
 * The `sub_id` of a revocation (SSF 1.0 §3): a subject revocation names the principal id as an
 * `opaque` identifier; a client revocation the client as a complex subject's `application`; a
 * single token its `jti` as the complex subject's `session` (the token's session, as CAEP 1.0
 * §3.1 revokes sessions). A job revocation has none: it is not transmitted.
 */
export function revocationSubject(input: RevokeInput): Record<string, unknown> | undefined {
  if ('subject' in input) return { format: 'opaque', id: input.subject };
  if ('client' in input) return { application: { format: 'opaque', id: input.client } };
  // A job's tokens are this token service's own, tagged with an id no receiver knows: not sent.
  if ('job' in input) return undefined;
  return { session: { format: 'opaque', id: input.jti } };
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** Create the transmitter. */
export function createSsfTransmitter(options: SsfTransmitterOptions): SsfTransmitter {
  const { store } = options;
  const now = options.now ?? Date.now;
  const maxAttempts = options.maxAttempts ?? 4;
  const backoffMs = options.backoffMs ?? 1000;
  const sleep = options.sleep ?? sleepFor;
  const inFlight = new Set<Promise<void>>();

  const toView = (row: StoredSsfReceiver): ReceiverView => ({ id: row.id, tenant: row.tenant, endpoint: row.endpoint, audience: row.audience, updated_at: new Date(row.updatedAtMs).toISOString() });

  async function sign(tenant: string, audience: string, subId: Record<string, unknown>): Promise<string> {
    const key = await options.ring(tenant).current();
    const nowSec = Math.floor(now() / 1000);
    return signSecurityEventToken({
      key,
      issuer: options.issuerUrl(tenant),
      audience,
      iatSec: nowSec,
      subId,
      events: { [SESSION_REVOKED]: { event_timestamp: nowSec, initiating_entity: 'admin', reason_admin: { en: 'revoked by an administrator of the tenant' } } },
    });
  }

  /** RFC 8935 §2: POST the SET; 202 (or any 2xx) is delivered, a 4xx other than 429 is final. */
  async function deliver(tenant: string, receiver: StoredSsfReceiver, set: string): Promise<DeliveryReport> {
    let status: number | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await options.fetch(receiver.endpoint, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt', accept: 'application/json' }, body: set });
        status = response.status;
        if (status >= 200 && status < 300) return { tenant, receiver: receiver.id, outcome: 'delivered', attempts: attempt, status };
        if (status >= 400 && status < 500 && status !== 429) {
          const body = (await response.json().catch(() => null)) as { err?: unknown } | null;
          const err = typeof body?.err === 'string' ? body.err.slice(0, 64) : undefined;
          return { tenant, receiver: receiver.id, outcome: 'refused', attempts: attempt, status, ...(err === undefined ? {} : { err }) };
        }
      } catch {
        // Unreachable, refused by the guard, or timed out: retried like a 5xx.
      }
      if (attempt >= maxAttempts) return { tenant, receiver: receiver.id, outcome: 'failed', attempts: attempt, ...(status === undefined ? {} : { status }) };
      await sleep(backoffMs * 2 ** (attempt - 1));
    }
  }

  async function push(tenant: string, input: RevokeInput): Promise<void> {
    const subId = revocationSubject(input);
    if (subId === undefined) return;
    const receivers = await store.ssf.listReceivers(tenant);
    await Promise.all(
      receivers.map(async (receiver) => {
        let report: DeliveryReport;
        try {
          report = await deliver(tenant, receiver, await sign(tenant, receiver.audience, subId));
        } catch {
          report = { tenant, receiver: receiver.id, outcome: 'failed', attempts: 0 };
        }
        options.onDelivery?.(report);
      }),
    );
  }

  return {
    async putReceiver(tenant, id, body) {
      if (!isSsfId(id)) throw new VerityError('ERR_SSF_RECEIVER_INVALID', 'a receiver id is 1–128 letters, digits, ".", "_" or "-"');
      const config = parseReceiverConfig(body, options.allowInsecure);
      const { receiver, created } = await store.ssf.putReceiver({ tenant, id, ...config, updatedAtMs: now() });
      return { receiver: toView(receiver), created };
    },

    async listReceivers(tenant) {
      if ((await store.tenants.get(tenant)) === null) throw new VerityError('ERR_TENANT_NOT_FOUND', `tenant "${tenant}" does not exist`);
      return (await store.ssf.listReceivers(tenant)).map(toView);
    },

    async removeReceiver(tenant, id) {
      if (!isSsfId(id) || !(await store.ssf.removeReceiver(tenant, id))) throw new VerityError('ERR_SSF_RECEIVER_NOT_FOUND', 'no such SSF receiver');
    },

    emitRevocation(tenant, input) {
      const running: Promise<void> = push(tenant, input)
        .catch(() => options.onDelivery?.({ tenant, receiver: '*', outcome: 'failed', attempts: 0 }))
        .finally(() => inFlight.delete(running));
      inFlight.add(running);
    },

    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
