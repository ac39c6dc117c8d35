/** The storage port: repositories the server uses, implemented once in SQL over two drivers. */
import type { ActivityBounds, AuditChainHead, AuditEvent, DecisionRecord, Entity, EntityUid, PolicyStoreContent, PolicyVersion, PolicyVersionInfo, SubjectActivity, Tenant, TenantSettings, TenantSettingsVersion, TenantSettingsVersionInfo } from '@verity/core';

/** The minimal SQL driver port. PGlite and `pg` both implement it. Placeholders are $1, $2, … */
export interface SqlClient {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<{ rows: R[] }>;
}

export interface Database extends SqlClient {
  /** Run `fn` in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
  /**
   * Subscribe to `NOTIFY` on a channel (the change feed between replicas). Resolves once
   * listening has started; rejects with ERR_STORE_UNAVAILABLE when it cannot start. `channel` is
   * an SQL identifier (`[a-z_][a-z0-9_]*`, TypeError otherwise). Afterwards the listener keeps
   * itself connected: `onPayload('')` after every reconnect means "notifications may have been
   * missed, resynchronise". `onPayload` should not throw (PostgreSQL reports a throw as a
   * process warning and carries on).
   */
  listen(channel: string, onPayload: (payload: string) => void): Promise<Listener>;
  /**
   * Chain and insert audit records off the caller's thread (audit-append.mjs run by the
   * driver's own thread): the store's `audit.append` uses it when present, else runs the same
   * code over {@link Database.transaction}. Same contract as `audit.append`: each tenant's
   * records in one transaction under its chain-head lock; an unknown tenant fails with an error
   * whose `code` is ERR_TENANT_NOT_FOUND and `tenant` names it.
   */
  appendAudit?(records: readonly DecisionRecord[], options: { skipExisting: boolean }): Promise<void>;
  /** Release every connection; bounded in time even when the database does not answer. */
  close(): Promise<void>;
  readonly kind: 'pglite' | 'postgres';
  /**
   * Set when other processes reach this same database through the one that holds it (the
   * workers of `verity serve --workers N` on PGlite, shared-database.ts): caches then follow the
   * change feed with bounded staleness, as PostgreSQL replicas do.
   */
  readonly shared?: boolean;
  /**
   * Shared databases: resolve once every other process has handled the notifications published
   * before this call (bounded in time). The change feed awaits it after a publish, so a write
   * that returned is seen by every worker's next decision.
   */
  barrier?(): Promise<void>;
  /**
   * Shared databases: `until` is awaited before this process answers another's barrier (the
   * change feed's changes heard and not yet applied), so a barrier means "applied", not "heard".
   */
  holdBarrier?(until: () => Promise<void>): void;
}

/** A running subscription made by {@link Database.listen}. */
export interface Listener {
  /**
   * NOTIFY on the channel over the listening connection itself (PostgreSQL): a heartbeat that
   * comes back proves the listener is alive and has delivered everything committed before it.
   * Rejects with ERR_STORE_UNAVAILABLE while the connection is down (it is then reconnecting).
   */
  notify(payload: string): Promise<void>;
  /**
   * Drop the listening connection and reconnect with backoff (liveness failed); after the
   * reconnect `onPayload('')` is called (resync: notifications may have been missed). Returns
   * at once, also when the database does not answer.
   */
  reset(): void;
  /** Stop listening and release the connection (bounded in time). */
  close(): Promise<void>;
}

export interface CreateVersionInput {
  content: PolicyStoreContent;
  hash: string;
  createdBy: string;
  message: string;
  /** Make the new version the active one in the same transaction (default true). */
  activate: boolean;
}

export interface Credential {
  id: string;
  /** sha256 hex of the token. The token itself is never stored. */
  tokenHash: string;
  /** `pep` decides; `pep-local` also reads the tenant's bundle (a PEP deciding in-process); `monitor` reads `/metrics` only. */
  role: 'platform-admin' | 'policy-author' | 'pep' | 'pep-local' | 'monitor';
  tenant: string | null;
  label: string;
  createdAt: string;
  revokedAt: string | null;
}

export interface AuditQuery {
  /** Only events with seq greater than this. */
  after?: number;
  /** Only events recorded at or after this ISO-8601 time (the record's `time`, compared as text). */
  since?: string;
  limit: number;
  decision?: 'allow' | 'deny';
  /** `Type::"id"` string form, compared exactly. */
  principal?: string;
  requestId?: string;
  /** A Txn-Token's transaction id: every tier's record of one call chain. */
  txn?: string;
  /** A calling workload's SPIFFE id, compared exactly. */
  caller?: string;
}

/**
 * One row of the observe report: the decisions a PEP recorded in observe mode (`observed`) that
 * were denies (recorded, not enforced), grouped by the asking tier, the action and the resource
 * (a gateway's route template).
 */
export interface ObservedDenials {
  /** The tier that asked (`X-Verity-Tier`, a PEP's label), or null. */
  tier: string | null;
  /** `Type::"id"`. */
  action: string;
  /** `Type::"id"`: for a gateway, `route::"/todos/{id}"`. */
  resource: string;
  /** How many would have been denied. */
  denied: number;
  /** How many distinct principals. */
  principals: number;
  /** Up to 10 of them, `Type::"id"`, in sort order. */
  samplePrincipals: string[];
  /** The policies that determined the denies (forbids); empty: no permit applied (the default deny). */
  policies: string[];
  /** ISO-8601 times of the first and the latest. */
  firstSeen: string;
  lastSeen: string;
}

/** One edge of the who-calls-whom inventory: decisions with a calling workload, grouped. */
export interface WorkloadCall {
  /** The calling workload's SPIFFE id. */
  caller: string;
  /** The tier that asked (the called service's PEP label), or null. */
  callee: string | null;
  /** The action, `Type::"id"`. */
  action: string;
  allowed: number;
  denied: number;
  /** ISO-8601 time of the latest decision. */
  lastSeen: string;
}

/** A signed audit checkpoint as stored: the tenant's chain head at a moment, and its JWS. */
export interface StoredAuditCheckpoint {
  tenant: string;
  seq: number;
  hash: string;
  /** ISO-8601 time it was made. */
  time: string;
  /** The signed checkpoint (compact JWS). */
  jws: string;
}

/** A checkpoint-signing key: the private key sealed by the caller, the public JWK in the clear. */
export interface SealedCheckpointKey {
  kid: string;
  sealedKey: string;
  publicJwk: Record<string, unknown>;
  createdAtMs: number;
}

export interface EntityPage {
  entities: Entity[];
  /** Cursor for the next page (opaque to callers), or null at the end. */
  next: string | null;
}

/** A stored identity source or token-service client: an opaque, already validated config. */
export interface IdentityRecord {
  id: string;
  tenant: string;
  config: Record<string, unknown>;
}

/** A token-signing key, sealed (encrypted) by the caller before it reaches the store. */
export interface SealedSigningKey {
  kid: string;
  sealedKey: string;
  createdAtMs: number;
  retireAfterMs: number;
}

/** Where a receipt-signing key is in its life: created, signing (one per tenant), or only verifying. */
export type ReceiptKeyState = 'pending' | 'active' | 'retired';

/**
 * A data-tier receipt-signing key (an HMAC secret, sealed by the caller before it reaches the
 * store). Times are milliseconds since the epoch; `verifyUntilMs` is set when the key retires.
 */
export interface StoredReceiptKey {
  tenant: string;
  kid: string;
  sealedSecret: string;
  state: ReceiptKeyState;
  createdAtMs: number;
  activatedAtMs: number | null;
  retiredAtMs: number | null;
  verifyUntilMs: number | null;
}

/**
 * A revocation as stored: `token` rows hold the jti and the token's expiry (seconds), after
 * which the row can go; `subject`/`client`/`job` rows hold the issued-before cut-off (seconds).
 */
export interface StoredRevocation {
  tenant: string;
  kind: 'token' | 'subject' | 'client' | 'job';
  value: string;
  atSec: number;
}

/** Where a workload CA or JWT-SVID authority is in its life: signing, or only trusted (until `retireAfterMs`). */
export type WorkloadAuthorityState = 'active' | 'retiring';

/**
 * A tenant's X.509 CA authority: the root and intermediate certificates (PEM) in the clear, the
 * intermediate's private key sealed by the caller. Times are milliseconds since the epoch.
 */
export interface StoredCaAuthority {
  tenant: string;
  id: string;
  state: WorkloadAuthorityState;
  /** The trust domain its root names (`spiffe://<trustDomain>`). */
  trustDomain: string;
  rootPem: string;
  intermediatePem: string;
  sealedKey: string;
  notAfterMs: number;
  createdAtMs: number;
  /** Set when it starts retiring: it stays in the trust bundle until then. */
  retireAfterMs: number | null;
  /** The latest expiry of an SVID it signed (0 before the first). */
  issuedUntilMs: number;
}

/** A tenant's JWT-SVID signing key: the public JWK in the clear, the private JWK sealed by the caller. */
export interface StoredJwtAuthority {
  tenant: string;
  kid: string;
  state: WorkloadAuthorityState;
  publicJwk: Record<string, unknown>;
  sealedKey: string;
  createdAtMs: number;
  retireAfterMs: number | null;
  /** The latest expiry of a JWT-SVID it signed (0 before the first). */
  issuedUntilMs: number;
}

/** The attestors a workload registration may name. */
export type WorkloadAttestor = 'join_token' | 'k8s_psat';

/** A registered workload. */
export interface StoredWorkload {
  tenant: string;
  id: string;
  spiffeId: string;
  /** `type:value` selectors (`k8s:ns:payments`), in the order given. */
  selectors: string[];
  attestor: WorkloadAttestor;
  x509TtlSec: number;
  jwtTtlSec: number;
  /** ISO-8601. */
  createdAt: string;
  /** The latest expiry of any SVID issued to it (0 before the first), ms. */
  issuedUntilMs: number;
}

/** A removed workload's SPIFFE id, refused until `untilMs`. */
export interface DeniedWorkload {
  tenant: string;
  spiffeId: string;
  untilMs: number;
}

/** What {@link Store.workloads} `recordIssued` found: issued and recorded, or why not. */
export type RecordIssuedOutcome = 'recorded' | 'registration-gone' | 'authority-changed';

/**
 * A registered device and the posture its MDM last reported (opaque to the store: the server
 * checks it), with the verdict derived when it was reported. Times are ms since the epoch.
 */
export interface StoredDevice {
  tenant: string;
  id: string;
  posture: Record<string, unknown>;
  compliant: boolean;
  issues: string[];
  registeredAtMs: number;
  /** When it was registered or last reported. */
  updatedAtMs: number;
}

/** A subject's stored activity (core's SubjectActivity) with its tenant and write sequence number. */
export interface StoredActivity extends SubjectActivity {
  tenant: string;
  /** Grows with every write of any subject (a database sequence): what a replica re-reads after. */
  seq: number;
}

/** What a registration or a posture report writes. */
export type DeviceWrite = Pick<StoredDevice, 'id' | 'posture' | 'compliant' | 'issues'>;

/** A Shared Signals transmitter a tenant accepts SETs from. Times are ms since the epoch. */
export interface StoredSsfTransmitter {
  tenant: string;
  id: string;
  /** The `iss` of its SETs. */
  issuer: string;
  /** Its public keys, `{keys: [...]}` (checked by the server); null when `jwksUri` names them. */
  jwks: { keys: Array<Record<string, unknown>> } | null;
  /** Where its JWKS is fetched from; null when `jwks` holds the keys. Exactly one of the two is set. */
  jwksUri: string | null;
  /** The `aud` its SETs must carry; null: the tenant's default receiver URL. */
  audience: string | null;
  updatedAtMs: number;
}

/** A Shared Signals receiver Verity pushes its own SETs to. */
export interface StoredSsfReceiver {
  tenant: string;
  id: string;
  endpoint: string;
  audience: string;
  updatedAtMs: number;
}

/** The latest assurance level a transmitter reported for a subject (CAEP assurance-level-change). */
export interface StoredAssurance {
  tenant: string;
  subject: string;
  acr: string;
  /** When the change happened (the event time), ms. */
  atMs: number;
}
/** An imported threat list without its entries (times in ms since the epoch). */
export interface ThreatListSummary {
  tenant: string;
  source: string;
  entryCount: number;
  /** From then on the list is ignored; null: it does not expire. */
  expiresAtMs: number | null;
  importedAtMs: number;
}

/** An imported threat list with its CIDR ranges (canonical text, as the server wrote them). */
export interface StoredThreatList extends ThreatListSummary {
  entries: string[];
}

/** What an import writes. */
export type ThreatListWrite = Pick<StoredThreatList, 'source' | 'entries' | 'expiresAtMs'>;

/** Who changes a tenant's settings, and why: recorded with the settings version it makes. */
export interface SettingsAuthor {
  /** The credential's label, else its id. Default `verity` (Verity itself: the system tenant, the demo). */
  createdBy?: string;
  /** Default empty. */
  message?: string;
}

/** A settings change as stored: a one-level merge patch, or a whole replacement (a rollback). */
export type StoredSettingsChange = { set: TenantSettings; remove: readonly string[] } | { replace: TenantSettings; restoredFrom: number };

/** Options of `tenants.updateSettings`. */
export interface SettingsWriteOptions extends SettingsAuthor {
  /** Change only while this is the current settings version (an HTTP `If-Match`). */
  ifVersion?: number;
}

export interface Store {
  readonly db: Database;
  tenants: {
    /**
     * Create a tenant and version 1 of its settings, in one transaction. Throws VerityError
     * ERR_TENANT_EXISTS when the id is taken (also by a deleted tenant).
     */
    create(input: { id: string; name: string; settings: TenantSettings } & SettingsAuthor): Promise<Tenant>;
    /** A live tenant; with `includeDeleted`, also a deleted one (its audit is kept and readable). */
    get(id: string, options?: { includeDeleted?: boolean }): Promise<Tenant | null>;
    /** The live tenants. */
    list(): Promise<Tenant[]>;
    /**
     * Delete a live tenant in one transaction: every row of every table that references the
     * tenant (found in the catalog, so a table added later is covered too) except its audit
     * (`audit_events`, `audit_heads`, `audit_checkpoints`), which is kept. The tenant's row stays
     * as a tombstone (`deleted_at` set, settings emptied): its id is not taken again, and a
     * decision answered just before still reaches its audit chain. False when no live tenant
     * has the id.
     */
    delete(id: string): Promise<boolean>;
    /**
     * Change a tenant's settings and store the result as its next settings version, in one
     * transaction. `{set, remove}`: the keys of `set` replace (or add) those settings whole, the
     * keys in `remove` go, every other setting stays, merged in one statement under the tenant's
     * row lock, so concurrent changes of different keys both land, each as a version of its own
     * with a distinct number. `{replace}`: the settings become exactly these (a rollback).
     * Null when there is no such tenant. Throws ERR_TENANT_SETTINGS_CONFLICT when
     * `options.ifVersion` is given and is not the current version (nothing changes), and
     * ERR_TENANT_INVALID for text the store cannot hold.
     */
    updateSettings(id: string, change: StoredSettingsChange, options?: SettingsWriteOptions): Promise<Tenant | null>;
    /** The tenant's settings versions, oldest first, without the settings; empty for a tenant that does not exist. */
    listSettingsVersions(id: string): Promise<TenantSettingsVersionInfo[]>;
    /** One settings version with its settings, or null (no such tenant or version). */
    getSettingsVersion(id: string, version: number): Promise<TenantSettingsVersion | null>;
    /**
     * Remove the kept audit of a DELETED tenant (its events, chain head and signed checkpoints),
     * in one transaction holding its chain-head row lock (appenders wait), and only when the
     * head is still `exportedThrough`: nothing recorded after an export is removed with it. The
     * tombstone stays (the id is never reused). Records appended later start a new chain.
     * Throws ERR_TENANT_NOT_FOUND (no such tenant, live or deleted), ERR_AUDIT_TENANT_LIVE (not
     * deleted) or ERR_AUDIT_NOT_EXPORTED (the head is elsewhere; the message names it).
     */
    removeAudit(id: string, exportedThrough: AuditChainHead): Promise<{ removed: number }>;
  };
  policies: {
    /** Appends version max+1 atomically (and activates it when asked). */
    createVersion(tenant: string, input: CreateVersionInput): Promise<PolicyVersionInfo>;
    listVersions(tenant: string): Promise<PolicyVersionInfo[]>;
    getVersion(tenant: string, version: number): Promise<PolicyVersion | null>;
    getActive(tenant: string): Promise<PolicyVersion | null>;
    /** Throws VerityError ERR_POLICY_VERSION_NOT_FOUND when the version does not exist. */
    activate(tenant: string, version: number): Promise<PolicyVersionInfo>;
  };
  entities: {
    /**
     * Create or replace each entity, all in one transaction. `check`, when given, runs in that
     * transaction before the write, with the tenant's entity writes locked (concurrent upserts
     * and replaces wait) and a reader of the stored entities as they are; what it throws
     * aborts the write.
     */
    upsert(tenant: string, entities: readonly Entity[], check?: (getMany: (uids: EntityUid[]) => Promise<Entity[]>) => Promise<void>): Promise<number>;
    /** Replace the tenant's whole entity set in one transaction. */
    replaceAll(tenant: string, entities: readonly Entity[]): Promise<number>;
    delete(tenant: string, uid: EntityUid): Promise<boolean>;
    /** The stored entities among `uids` (missing ones are simply absent). */
    getMany(tenant: string, uids: readonly EntityUid[]): Promise<Entity[]>;
    list(tenant: string, options: { type?: string; after?: string; limit: number }): Promise<EntityPage>;
    /** All ids of one entity type, sorted; used by search. */
    listIds(tenant: string, type: string): Promise<string[]>;
  };
  audit: {
    /**
     * Append decision records. Each tenant's records are chained (seq, prevHash, hash via
     * core's computeAuditHash) inside one transaction that locks that tenant's chain head, so
     * concurrent writers (other replicas) never fork a chain.
     */
    append(records: readonly DecisionRecord[], options?: { /** Drop records whose decisionId the tenant's chain already holds (PEP batches delivered twice). */ skipExisting?: boolean }): Promise<void>;
    query(tenant: string, query: AuditQuery): Promise<AuditEvent[]>;
    /** Events in seq order starting after `afterSeq`, for verification. */
    readChain(tenant: string, afterSeq: number, limit: number): Promise<AuditEvent[]>;
    /** Who calls whom: decisions that carry a calling workload, grouped by caller, callee tier and action (at most `limit` edges, most recent first). */
    workloadCalls(tenant: string, limit: number): Promise<WorkloadCall[]>;
    /** The observe report since `since` (ISO-8601), largest groups first, at most `limit` groups. */
    observedDenials(tenant: string, since: string, limit: number): Promise<ObservedDenials[]>;
    /** Where the tenant's chain ends, as recorded apart from its events (seq 0 and the genesis hash before any). */
    head(tenant: string): Promise<AuditChainHead>;
    /** Keep a signed checkpoint; one already kept for that tenant and seq stays. Throws ERR_TENANT_NOT_FOUND. */
    saveCheckpoint(checkpoint: StoredAuditCheckpoint): Promise<void>;
    /** The tenant's checkpoint with the highest seq, or null. */
    latestCheckpoint(tenant: string): Promise<StoredAuditCheckpoint | null>;
    /** Add a checkpoint-signing key; a key already stored under that kid stays (replicas racing to create one). */
    addCheckpointKey(key: SealedCheckpointKey): Promise<void>;
    /** Every checkpoint-signing key, oldest first. */
    loadCheckpointKeys(): Promise<SealedCheckpointKey[]>;
  };
  identity: {
    /** Create or replace an identity source. Throws ERR_TENANT_NOT_FOUND for an unknown tenant. */
    putSource(source: IdentityRecord): Promise<void>;
    listSources(tenant: string): Promise<IdentityRecord[]>;
    deleteSource(tenant: string, id: string): Promise<boolean>;
    /** Create or replace a token-service client; the secret is stored only as its hash. */
    putClient(client: IdentityRecord & { secretHash: string | null }): Promise<void>;
    getClient(tenant: string, id: string): Promise<(IdentityRecord & { secretHash: string | null }) | null>;
    listClients(tenant: string): Promise<Array<IdentityRecord & { secretHash: string | null }>>;
    deleteClient(tenant: string, id: string): Promise<boolean>;
    /**
     * Replace the tenant's whole key ring in one transaction. With `expectedKids` (the kids of
     * the ring as it was read), only if the stored ring still holds exactly those: false, and
     * nothing written, when another replica or worker changed it meanwhile. True when written.
     */
    saveSigningKeys(tenant: string, keys: readonly SealedSigningKey[], expectedKids?: readonly string[]): Promise<boolean>;
    loadSigningKeys(tenant: string): Promise<SealedSigningKey[]>;
    /** The tenant's policy-bundle signing keys: a ring of their own, pinned by PEPs (same shape). */
    saveBundleKeys(tenant: string, keys: readonly SealedSigningKey[], expectedKids?: readonly string[]): Promise<boolean>;
    loadBundleKeys(tenant: string): Promise<SealedSigningKey[]>;
    /** Record a revocation; a later one of the same subject/client moves the cut-off forward only. */
    addRevocation(revocation: StoredRevocation): Promise<void>;
    /** Every revocation of every tenant (loaded at start; replicas follow the change feed). */
    listRevocations(): Promise<StoredRevocation[]>;
    /** Drop token revocations whose token has expired (nowSec past their expiry). */
    forgetExpiredRevocations(nowSec: number): Promise<number>;
    /**
     * Record a client assertion's id (`keyHash`: SHA-256 hex of the client and its `jti`) until
     * `expSec`; false when it was already recorded: a replay (RFC 7523 §3 item 7), on whichever
     * replica or worker it was first used. Throws ERR_TENANT_NOT_FOUND for an unknown tenant.
     */
    useAssertionJti(tenant: string, keyHash: string, expSec: number): Promise<boolean>;
    /** Forget assertion ids whose assertion has expired (nowSec past their `exp`). */
    forgetExpiredAssertionJtis(nowSec: number): Promise<number>;
  };
  receiptKeys: {
    /**
     * Add a pending key (`state`, activation and retirement fields are set by the store).
     * Throws ERR_TENANT_NOT_FOUND for an unknown tenant.
     */
    create(key: Pick<StoredReceiptKey, 'tenant' | 'kid' | 'sealedSecret' | 'createdAtMs'>): Promise<StoredReceiptKey>;
    /** The tenant's keys in every state, oldest first. */
    list(tenant: string): Promise<StoredReceiptKey[]>;
    /** The tenant's active key, or null. */
    active(tenant: string): Promise<StoredReceiptKey | null>;
    /**
     * In one transaction: the pending key `kid` becomes active at `nowMs`; the tenant's previous
     * active key retires (verifying until `verifyUntilMs`); retired keys whose `verifyUntilMs`
     * is before `nowMs` are deleted. Throws ERR_TENANT_NOT_FOUND, ERR_RECEIPT_KEY_NOT_FOUND (no
     * such kid for the tenant) or ERR_RECEIPT_KEY_NOT_PENDING (already active or retired).
     */
    activate(tenant: string, kid: string, times: { nowMs: number; verifyUntilMs: number }): Promise<StoredReceiptKey>;
  };
  /**
   * Workload identity: the CA and JWT-SVID authorities, registrations, join tokens, the deny list
   * and used proof ids. Every change raises the tenant's workload sequence in the same
   * transaction. Times are milliseconds since the epoch, passed in by the caller (its clock).
   */
  workloads: {
    /** The tenant's authorities (oldest first, the active one last) and its workload sequence (0 before any change). */
    authorities(tenant: string): Promise<{ sequence: number; x509: StoredCaAuthority[]; jwt: StoredJwtAuthority[] }>;
    /**
     * Install the tenant's first active authorities, unless another writer (a replica) got there
     * first: then nothing changes and `installed` is false. Throws ERR_TENANT_NOT_FOUND.
     */
    createAuthorities(tenant: string, authorities: { x509: StoredCaAuthority; jwt: StoredJwtAuthority }): Promise<{ installed: boolean; sequence: number }>;
    /**
     * In one transaction: the active authorities start retiring, trusted until the latest expiry
     * of what they signed (or `nowMs`, if later) plus `graceMs`; retiring ones past their
     * `retireAfterMs` go; the new ones become active. With `replacing`, only while the active
     * X.509 authority is that one (otherwise nothing changes and `rotated` is false: replicas
     * racing to rotate an ageing CA rotate it once). Throws ERR_TENANT_NOT_FOUND.
     */
    rotateAuthorities(
      tenant: string,
      authorities: { x509: StoredCaAuthority; jwt: StoredJwtAuthority },
      times: { nowMs: number; graceMs: number; replacing?: string },
    ): Promise<{ rotated: boolean; sequence: number }>;
    /** Drop retiring authorities past their `retireAfterMs`; true (and the sequence raised) when any went. */
    pruneAuthorities(tenant: string, nowMs: number): Promise<boolean>;
    /**
     * Note an SVID issued to a registration under an authority (an X.509 CA id or a JWT kid):
     * raises both high-waters to `expiresAtMs`. `registration-gone` when the workload was
     * removed, `authority-changed` when the authority is no longer active (a rotation won the
     * race): the caller must not hand out that SVID.
     */
    recordIssued(tenant: string, issued: { registrationId: string; authority: { x509: string } | { jwt: string }; expiresAtMs: number }): Promise<RecordIssuedOutcome>;
    /**
     * Register a workload. Throws ERR_WORKLOAD_EXISTS when its SPIFFE id is registered or still
     * denied (at `nowMs`), ERR_TENANT_NOT_FOUND for an unknown tenant.
     */
    createRegistration(workload: Omit<StoredWorkload, 'createdAt' | 'issuedUntilMs'>, nowMs: number): Promise<StoredWorkload>;
    getRegistration(tenant: string, id: string): Promise<StoredWorkload | null>;
    findRegistration(tenant: string, spiffeId: string): Promise<StoredWorkload | null>;
    /** Oldest first. */
    listRegistrations(tenant: string): Promise<StoredWorkload[]>;
    /**
     * Remove a registration (its join tokens go with it) and deny its SPIFFE id until the
     * latest expiry of what was issued to it (at least `nowMs`). Null when there is none.
     */
    removeRegistration(tenant: string, id: string, nowMs: number): Promise<DeniedWorkload | null>;
    /** Keep a join token's hash. Throws ERR_WORKLOAD_NOT_FOUND when the registration does not exist. */
    createJoinToken(token: { tenant: string; registrationId: string; tokenHash: string; createdAtMs: number; expiresAtMs: number }): Promise<void>;
    /**
     * Use a join token, atomically: the registration id when the hash names an unused token of
     * the tenant not expired at `nowMs` (it is marked used), null otherwise.
     */
    consumeJoinToken(tenant: string, tokenHash: string, nowMs: number): Promise<string | null>;
    /** Denied SPIFFE ids whose `untilMs` is after `nowMs`: one tenant's, or (null) every tenant's. */
    listDenied(tenant: string | null, nowMs: number): Promise<DeniedWorkload[]>;
    /** The tenant's workload sequence (0 before any change). */
    sequence(tenant: string): Promise<number>;
    /** Record a used proof id; false when it was already used (a replay). */
    useProofJti(tenant: string, jti: string, expMs: number): Promise<boolean>;
    /** Forget expired join tokens, used proof ids past their expiry and lapsed deny entries. */
    pruneExpired(nowMs: number): Promise<void>;
  };
  /** Device trust: registered devices and their last posture. Times are passed in by the caller. */
  devices: {
    /**
     * Register a device with its initial posture; a device already registered stays as it is
     * (idempotent: `created` is false and the stored one is returned). Throws ERR_TENANT_NOT_FOUND.
     */
    put(tenant: string, device: DeviceWrite, nowMs: number): Promise<{ device: StoredDevice; created: boolean }>;
    /** Replace a registered device's posture and verdict; null when it is not registered. */
    report(tenant: string, device: DeviceWrite, nowMs: number): Promise<StoredDevice | null>;
    /** The tenant's devices, by id. */
    list(tenant: string): Promise<StoredDevice[]>;
    /** False when it was not registered. */
    remove(tenant: string, id: string): Promise<boolean>;
  };
  /** Shared Signals (SSF/CAEP): transmitters, receivers, used SET ids, assurance levels. */
  ssf: {
    /** Create or replace a transmitter (`created`: it was new). Throws ERR_TENANT_NOT_FOUND. */
    putTransmitter(transmitter: StoredSsfTransmitter): Promise<{ transmitter: StoredSsfTransmitter; created: boolean }>;
    /** The tenant's transmitters, by id. */
    listTransmitters(tenant: string): Promise<StoredSsfTransmitter[]>;
    /** False when there was none. */
    removeTransmitter(tenant: string, id: string): Promise<boolean>;
    /** Create or replace a receiver (`created`: it was new). Throws ERR_TENANT_NOT_FOUND. */
    putReceiver(receiver: StoredSsfReceiver): Promise<{ receiver: StoredSsfReceiver; created: boolean }>;
    /** The tenant's receivers, by id. */
    listReceivers(tenant: string): Promise<StoredSsfReceiver[]>;
    /** False when there was none. */
    removeReceiver(tenant: string, id: string): Promise<boolean>;
    /**
     * Record a SET id of `issuer`, atomically; false when it was recorded already and not yet
     * past its `expMs` at `nowMs` (a replay). An expired entry is taken over. Throws ERR_TENANT_NOT_FOUND.
     */
    useJti(tenant: string, used: { issuer: string; jti: string; expMs: number }, nowMs: number): Promise<boolean>;
    /** Forget one recorded SET id (its effect could not be applied: the transmitter may send it again). */
    forgetJti(tenant: string, issuer: string, jti: string): Promise<void>;
    /** Forget SET ids past their expiry. */
    pruneJtis(nowMs: number): Promise<void>;
    /**
     * Keep a subject's assurance level unless a later one (`atMs`) is kept already; true when it
     * was written. Throws ERR_TENANT_NOT_FOUND.
     */
    setAssurance(assurance: StoredAssurance): Promise<boolean>;
    /** The assurance levels of one tenant, or (null) of every tenant, by tenant and subject. */
    listAssurance(tenant: string | null): Promise<StoredAssurance[]>;
  };
  /** IP reputation: threat-intelligence lists by source. Times are passed in by the caller. */
  threatLists: {
    /** Import a list, replacing the source's list whole (one statement). Throws ERR_TENANT_NOT_FOUND. */
    put(tenant: string, list: ThreatListWrite, nowMs: number): Promise<ThreatListSummary>;
    /** The tenant's lists without entries, by source (expired ones too). */
    list(tenant: string): Promise<ThreatListSummary[]>;
    /** The tenant's lists with their entries, by source (expired ones too: the reader filters). */
    load(tenant: string): Promise<StoredThreatList[]>;
    /** False when there was no list of that source. */
    remove(tenant: string, source: string): Promise<boolean>;
  };
  /**
   * Per-subject activity (the risk engine's travel and behaviour signals). Times are passed in by
   * the caller; merging is core's mergeActivity, so replicas each add their own requests.
   */
  activity: {
    /** The subject's activity, or null. */
    get(tenant: string, subject: string): Promise<StoredActivity | null>;
    /** Those of `subjects` written after `afterSeq`, by seq. */
    listSince(tenant: string, afterSeq: number, subjects: readonly string[]): Promise<StoredActivity[]>;
    /**
     * Merge each delta into its subject's row (created when absent) under `bounds`, in one
     * transaction; the rows as merged, by subject. Throws ERR_TENANT_NOT_FOUND.
     */
    record(tenant: string, deltas: readonly SubjectActivity[], bounds: ActivityBounds): Promise<StoredActivity[]>;
    /** Delete the tenant's subjects whose last request was before `beforeMs`; how many. */
    prune(tenant: string, beforeMs: number): Promise<number>;
    /**
     * Erase one subject's activity at once: the row is emptied (last seen 0, no location, counts
     * or names) under a new seq, so replicas re-reading it drop what they hold, and the next
     * prune deletes it. False when there was none (or it is erased already).
     */
    erase(tenant: string, subject: string): Promise<boolean>;
    /** The tenants with any activity stored, by id. */
    tenants(): Promise<string[]>;
  };
  credentials: {
    create(credential: Omit<Credential, 'createdAt' | 'revokedAt'>): Promise<Credential>;
    findByTokenHash(tokenHash: string): Promise<Credential | null>;
    get(id: string): Promise<Credential | null>;
    count(): Promise<number>;
    /** Active platform-admin credentials (not revoked). */
    countActiveAdmins(): Promise<number>;
    /** All credentials, or those of one tenant (`tenant: null`: the platform ones), oldest first. */
    list(filter?: { tenant?: string | null }): Promise<Credential[]>;
    revoke(id: string): Promise<boolean>;
    /**
     * Replace a credential's token hash (the old token stops working). Null when there is no
     * such credential, or it is revoked and `revive` is not set; `revive` also clears `revokedAt`.
     */
    rotate(id: string, tokenHash: string, options?: { revive?: boolean }): Promise<Credential | null>;
  };
  close(): Promise<void>;
}
