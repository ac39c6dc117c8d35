/** The one SQL schema, as ordered migrations applied identically by the PGlite and PostgreSQL drivers. */
import type { Database } from './types.js';

/** One schema change. Versions are applied in ascending order and never edited once released. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Every migration, oldest first. Text keys that are sorted or paginated use `COLLATE "C"` so
 * ordering is byte order on every server, whatever the database's default collation.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE tenants (
  id text COLLATE "C" PRIMARY KEY,
  name text NOT NULL,
  settings jsonb NOT NULL DEFAULT '{}'::jsonb,
  active_version integer NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE policy_versions (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  version integer NOT NULL CHECK (version > 0),
  hash text NOT NULL,
  content jsonb NOT NULL,
  created_by text NOT NULL,
  message text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT policy_versions_pkey PRIMARY KEY (tenant_id, version)
);

-- Circular with policy_versions, so added afterwards; a NULL active_version is not checked.
ALTER TABLE tenants ADD CONSTRAINT tenants_active_version_fkey
  FOREIGN KEY (id, active_version) REFERENCES policy_versions (tenant_id, version);

CREATE TABLE entities (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  type text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  attrs jsonb NOT NULL,
  parents jsonb NOT NULL,
  tags jsonb NULL,
  PRIMARY KEY (tenant_id, type, id)
);

-- The lock row of each tenant's audit chain: appenders take it FOR UPDATE before chaining.
CREATE TABLE audit_heads (
  tenant_id text COLLATE "C" PRIMARY KEY REFERENCES tenants (id),
  seq bigint NOT NULL,
  hash text NOT NULL
);

-- Every hashed field is stored so the hash can be recomputed exactly: time is text (the ISO
-- string as given), latency is float8 (round-trips any JS number), uids are kept as JSON.
CREATE TABLE audit_events (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  seq bigint NOT NULL,
  decision_id text NOT NULL,
  time text NOT NULL,
  request_id text NULL,
  tier text NULL,
  principal text COLLATE "C" NOT NULL,
  principal_json jsonb NOT NULL,
  action text COLLATE "C" NOT NULL,
  action_json jsonb NOT NULL,
  resource text COLLATE "C" NOT NULL,
  resource_json jsonb NOT NULL,
  decision text NOT NULL CHECK (decision IN ('allow', 'deny')),
  reasons jsonb NOT NULL,
  errors jsonb NOT NULL,
  policy_version integer NOT NULL,
  latency_us double precision NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL,
  PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_events_principal_idx ON audit_events (tenant_id, principal, seq);
CREATE INDEX audit_events_decision_idx ON audit_events (tenant_id, decision, seq);
CREATE INDEX audit_events_request_id_idx ON audit_events (tenant_id, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX audit_events_decision_id_idx ON audit_events (tenant_id, decision_id);

CREATE TABLE credentials (
  id text COLLATE "C" PRIMARY KEY,
  token_hash text NOT NULL CONSTRAINT credentials_token_hash_key UNIQUE,
  role text NOT NULL CHECK (role IN ('platform-admin', 'policy-author', 'pep')),
  tenant_id text COLLATE "C" NULL REFERENCES tenants (id),
  label text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz NULL
);
`,
  },
  {
    version: 2,
    name: 'identity: sources, token-service clients, signing keys, revocations',
    sql: `
CREATE TABLE identity_sources (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  id text COLLATE "C" NOT NULL,
  config jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE sts_clients (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  id text COLLATE "C" NOT NULL,
  config jsonb NOT NULL,
  secret_hash text NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE signing_keys (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  kid text COLLATE "C" NOT NULL,
  sealed_key text NOT NULL,
  created_at_ms bigint NOT NULL,
  retire_after_ms bigint NOT NULL,
  PRIMARY KEY (tenant_id, kid)
);

CREATE TABLE revocations (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  kind text NOT NULL CHECK (kind IN ('token', 'subject', 'client')),
  value text COLLATE "C" NOT NULL,
  at_sec bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, kind, value)
);
`,
  },
  {
    version: 3,
    name: 'audit: decisions enforced in observe mode',
    sql: `
ALTER TABLE audit_events ADD COLUMN observed boolean NOT NULL DEFAULT false;
`,
  },
  {
    version: 4,
    name: 'bundles: a signing key of their own, and the pep-local role that may read them',
    sql: `
CREATE TABLE bundle_signing_keys (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  kid text COLLATE "C" NOT NULL,
  sealed_key text NOT NULL,
  created_at_ms bigint NOT NULL,
  retire_after_ms bigint NOT NULL,
  PRIMARY KEY (tenant_id, kid)
);

ALTER TABLE credentials DROP CONSTRAINT credentials_role_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_role_check CHECK (role IN ('platform-admin', 'policy-author', 'pep', 'pep-local'));
`,
  },
  {
    version: 5,
    name: 'audit integrity: filter columns derived from hashed JSON, reporting PEP, signed checkpoints',
    sql: `
-- The text forms queries filter on are generated from the hashed JSON, so they cannot be edited
-- apart from it (Postgres refuses an UPDATE of a generated column). Same text as formatEntityUid:
-- Type::"id", the id JSON-quoted (jsonb's text output escapes as JSON.stringify does).
ALTER TABLE audit_events DROP COLUMN principal, DROP COLUMN action, DROP COLUMN resource;
ALTER TABLE audit_events
  ADD COLUMN principal text COLLATE "C" GENERATED ALWAYS AS ((principal_json ->> 'type') || '::' || (principal_json -> 'id')::text) STORED,
  ADD COLUMN action text COLLATE "C" GENERATED ALWAYS AS ((action_json ->> 'type') || '::' || (action_json -> 'id')::text) STORED,
  ADD COLUMN resource text COLLATE "C" GENERATED ALWAYS AS ((resource_json ->> 'type') || '::' || (resource_json -> 'id')::text) STORED;
CREATE INDEX audit_events_principal_idx ON audit_events (tenant_id, principal, seq);

-- The PEP credential that reported a record through the audit ingest (hashed when set).
ALTER TABLE audit_events ADD COLUMN reported_by text NULL;

-- Signed checkpoints of each tenant's chain head (copies kept elsewhere prove the tail later).
CREATE TABLE audit_checkpoints (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  seq bigint NOT NULL,
  hash text NOT NULL,
  time text NOT NULL,
  jws text NOT NULL,
  PRIMARY KEY (tenant_id, seq)
);

-- The keys that sign checkpoints: private part sealed with the master key, public JWK in the clear.
CREATE TABLE audit_checkpoint_keys (
  kid text COLLATE "C" PRIMARY KEY,
  sealed_key text NOT NULL,
  public_jwk jsonb NOT NULL,
  created_at_ms bigint NOT NULL
);
`,
  },
  {
    version: 6,
    name: 'data tier: receipt-signing keys (pending, active, retired)',
    sql: `
-- The keys that sign data-tier receipts (HMAC secrets, sealed with the master key). A kid is
-- unique across tenants: the application database looks a key up by kid alone.
CREATE TABLE receipt_keys (
  kid text COLLATE "C" PRIMARY KEY,
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  sealed_secret text NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'active', 'retired')),
  created_at_ms bigint NOT NULL,
  activated_at_ms bigint NULL,
  retired_at_ms bigint NULL,
  verify_until_ms bigint NULL
);
CREATE INDEX receipt_keys_tenant_idx ON receipt_keys (tenant_id, created_at_ms);
-- At most one signing key per tenant.
CREATE UNIQUE INDEX receipt_keys_one_active_idx ON receipt_keys (tenant_id) WHERE state = 'active';
`,
  },
  {
    version: 7,
    name: 'audit: the calling workload, the transaction id and the delegation chain of each decision',
    sql: `
-- caller: the calling workload's SPIFFE id; txn: the Txn-Token's transaction id (one call chain
-- across tiers); actors: who acted for the principal. All optional: records before them hash as before.
ALTER TABLE audit_events ADD COLUMN caller text NULL;
ALTER TABLE audit_events ADD COLUMN txn text NULL;
ALTER TABLE audit_events ADD COLUMN actors jsonb NULL;
CREATE INDEX audit_events_txn ON audit_events (tenant_id, txn) WHERE txn IS NOT NULL;
CREATE INDEX audit_events_caller ON audit_events (tenant_id, caller, seq) WHERE caller IS NOT NULL;
`,
  },
  {
    version: 8,
    name: 'workload identity: per-tenant CA and JWT-SVID authorities, registrations, join tokens, deny list, proof jtis',
    sql: `
-- One counter per tenant, raised by every workload change (CA, registrations, deny list): the
-- trust bundle's and the deny list's sequence. Its row also serializes a tenant's CA writers.
CREATE TABLE workload_sequences (
  tenant_id text COLLATE "C" PRIMARY KEY REFERENCES tenants (id),
  sequence bigint NOT NULL
);

-- X.509 CA authorities: root and intermediate certificates in the clear, the intermediate's
-- private key sealed with the master key (the root's key is not kept: a rotation makes a new
-- root). A retiring authority stays in the bundle until retire_after_ms; issued_until_ms is the
-- latest expiry of an SVID it signed.
CREATE TABLE workload_ca_authorities (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  id text COLLATE "C" NOT NULL,
  state text NOT NULL CHECK (state IN ('active', 'retiring')),
  trust_domain text NOT NULL,
  root_pem text NOT NULL,
  intermediate_pem text NOT NULL,
  sealed_key text NOT NULL,
  not_after_ms bigint NOT NULL,
  created_at_ms bigint NOT NULL,
  retire_after_ms bigint NULL,
  issued_until_ms bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX workload_ca_one_active_idx ON workload_ca_authorities (tenant_id) WHERE state = 'active';

-- JWT-SVID signing keys: the public JWK in the clear, the private JWK sealed.
CREATE TABLE workload_jwt_authorities (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  kid text COLLATE "C" NOT NULL,
  state text NOT NULL CHECK (state IN ('active', 'retiring')),
  public_jwk jsonb NOT NULL,
  sealed_key text NOT NULL,
  created_at_ms bigint NOT NULL,
  retire_after_ms bigint NULL,
  issued_until_ms bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, kid)
);
CREATE UNIQUE INDEX workload_jwt_one_active_idx ON workload_jwt_authorities (tenant_id) WHERE state = 'active';

-- Registered workloads; issued_until_ms is the latest expiry of any SVID issued to one, which
-- is how long its SPIFFE id stays denied after it is removed.
CREATE TABLE workload_registrations (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  id text COLLATE "C" NOT NULL,
  spiffe_id text COLLATE "C" NOT NULL,
  selectors jsonb NOT NULL,
  attestor text NOT NULL CHECK (attestor IN ('join_token', 'k8s_psat')),
  x509_ttl_sec integer NOT NULL CHECK (x509_ttl_sec > 0),
  jwt_ttl_sec integer NOT NULL CHECK (jwt_ttl_sec > 0),
  issued_until_ms bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT workload_registrations_spiffe_id_key UNIQUE (tenant_id, spiffe_id)
);

-- One-time join tokens, stored as the sha256 (hex) of the token only.
CREATE TABLE workload_join_tokens (
  token_hash text COLLATE "C" PRIMARY KEY,
  tenant_id text COLLATE "C" NOT NULL,
  registration_id text COLLATE "C" NOT NULL,
  created_at_ms bigint NOT NULL,
  expires_at_ms bigint NOT NULL,
  used_at_ms bigint NULL,
  FOREIGN KEY (tenant_id, registration_id) REFERENCES workload_registrations (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX workload_join_tokens_expiry_idx ON workload_join_tokens (expires_at_ms);

-- SPIFFE ids of removed workloads, refused until every SVID issued to them has expired.
CREATE TABLE workload_denied (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  spiffe_id text COLLATE "C" NOT NULL,
  until_ms bigint NOT NULL,
  PRIMARY KEY (tenant_id, spiffe_id)
);

-- Proof ids (jti) already used for renew / jwt-svid, kept until the proof could no longer verify.
CREATE TABLE workload_proof_jtis (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  jti text COLLATE "C" NOT NULL,
  exp_ms bigint NOT NULL,
  PRIMARY KEY (tenant_id, jti)
);
CREATE INDEX workload_proof_jtis_expiry_idx ON workload_proof_jtis (exp_ms);
`,
  },
  {
    version: 9,
    name: 'workload identity: a trust domain a tenant sets for itself belongs to that tenant alone',
    sql: `
-- A SPIFFE id names one workload only if its trust domain has one owner: two tenants may not set
-- the same trust_domain (the default names, <tenant>.<deployment trust domain>, are unique already).
CREATE UNIQUE INDEX tenants_trust_domain_idx ON tenants ((settings->>'trust_domain')) WHERE settings ? 'trust_domain';
`,
  },
  {
    version: 10,
    name: 'continuous verification: the risk a decision was made with',
    sql: `
-- risk: the risk engine's {score, level, factors} the decision saw as context.risk. Optional:
-- records without it hash as before.
ALTER TABLE audit_events ADD COLUMN risk jsonb NULL;
`,
  },
  {
    version: 11,
    name: 'continuous verification: device trust (registered devices and their reported posture)',
    sql: `
-- One row per device a tenant registered. posture: the MDM's last report as given (patch level,
-- disk encryption, screen lock, its own verdict); compliant and issues: the verdict derived from
-- it when it was reported. Nothing about the device's user is kept here.
CREATE TABLE devices (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  id text COLLATE "C" NOT NULL,
  posture jsonb NOT NULL,
  compliant boolean NOT NULL,
  issues jsonb NOT NULL,
  registered_at_ms bigint NOT NULL,
  updated_at_ms bigint NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
`,
  },
  {
    version: 12,
    name: 'continuous verification: imported threat-intelligence lists (IP reputation)',
    sql: `
-- One row per list a tenant imported, by its source: an import replaces the row whole.
-- entries: the CIDR ranges in canonical text (a JSON array); expires_at_ms: from then on the
-- list is ignored (NULL: never). No client IP of any request is stored here or anywhere else.
CREATE TABLE threat_lists (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  source text COLLATE "C" NOT NULL,
  entries jsonb NOT NULL,
  entry_count integer NOT NULL,
  expires_at_ms bigint NULL,
  imported_at_ms bigint NOT NULL,
  PRIMARY KEY (tenant_id, source)
);
`,
  },
  {
    version: 13,
    name: 'continuous verification: per-subject activity (last location, request rate, actions and resource types used)',
    sql: `
-- One row per subject (the decision's principal, Cedar uid text) a tenant with
-- settings.risk.activity decided for: its last request, where its last located request came from
-- and when, its request counts per rate window, the actions and resource types it used (state:
-- core's SubjectActivity, bounded). Deleted once the subject's last request is older than the
-- tenant's retention window. seq: a replica re-reads the subjects written since the last it saw.
CREATE SEQUENCE subject_activity_seq;
CREATE TABLE subject_activity (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  subject text COLLATE "C" NOT NULL,
  last_seen_ms bigint NOT NULL,
  state jsonb NOT NULL,
  seq bigint NOT NULL DEFAULT nextval('subject_activity_seq'),
  PRIMARY KEY (tenant_id, subject)
);
CREATE INDEX subject_activity_seq_idx ON subject_activity (tenant_id, seq);
CREATE INDEX subject_activity_last_seen_idx ON subject_activity (tenant_id, last_seen_ms);
`,
  },
  {
    version: 14,
    name: 'continuous verification: Shared Signals (SSF/CAEP) transmitters, receivers, used SET ids, assurance levels',
    sql: `
-- Transmitters whose Security Event Tokens (RFC 8417) a tenant accepts: the SET's iss, the public
-- keys that verify it (an inline JWKS, public members only, or the URL of one) and the audience
-- it must name (null: the tenant's default receiver URL).
CREATE TABLE ssf_transmitters (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  id text COLLATE "C" NOT NULL,
  issuer text NOT NULL,
  jwks jsonb NULL,
  jwks_uri text NULL,
  audience text NULL,
  updated_at_ms bigint NOT NULL,
  PRIMARY KEY (tenant_id, id),
  CHECK ((jwks IS NULL) <> (jwks_uri IS NULL))
);
-- Receivers Verity pushes its own SETs to (RFC 8935): where, and the aud they expect.
CREATE TABLE ssf_receivers (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  id text COLLATE "C" NOT NULL,
  endpoint text NOT NULL,
  audience text NOT NULL,
  updated_at_ms bigint NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
-- SET ids already accepted, per tenant and issuer, until the accepted age window has passed
-- (a SET older than that is refused anyway, so its jti need not be kept longer).
CREATE TABLE ssf_used_jtis (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  issuer text COLLATE "C" NOT NULL,
  jti text COLLATE "C" NOT NULL,
  exp_ms bigint NOT NULL,
  PRIMARY KEY (tenant_id, issuer, jti)
);
CREATE INDEX ssf_used_jtis_expiry_idx ON ssf_used_jtis (exp_ms);
-- The latest CAEP assurance-level-change per subject (the mapped principal id): its
-- current_level and the event time (ms).
CREATE TABLE ssf_assurance (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  subject text COLLATE "C" NOT NULL,
  acr text NOT NULL,
  at_ms bigint NOT NULL,
  PRIMARY KEY (tenant_id, subject)
);
`,
  },
  {
    version: 15,
    name: 'continuous verification: job-scoped credentials (revocation by job)',
    sql: `
-- kind 'job': value is the job id, at_sec the cut-off; every token of the job (its job claim)
-- issued at or before it is revoked. The column's CHECK is the one migration 2 declared inline.
ALTER TABLE revocations DROP CONSTRAINT revocations_kind_check;
ALTER TABLE revocations ADD CONSTRAINT revocations_kind_check CHECK (kind IN ('token', 'subject', 'client', 'job'));
`,
  },
  {
    version: 16,
    name: 'identity: private_key_jwt assertion ids seen, shared by every replica and worker (replay protection)',
    sql: `
-- key_hash: SHA-256 (hex) of the client and the assertion's jti; exp_sec: the assertion's exp.
CREATE TABLE client_assertion_jtis (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  key_hash text COLLATE "C" NOT NULL,
  exp_sec bigint NOT NULL,
  PRIMARY KEY (tenant_id, key_hash)
);
CREATE INDEX client_assertion_jtis_expiry_idx ON client_assertion_jtis (exp_sec);
`,
  },
  {
    version: 17,
    name: 'credentials: the monitor role (reads /metrics, nothing else)',
    sql: `
ALTER TABLE credentials DROP CONSTRAINT credentials_role_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_role_check CHECK (role IN ('platform-admin', 'policy-author', 'pep', 'pep-local', 'monitor'));
`,
  },
  {
    version: 18,
    name: 'tenants: deletion leaves a tombstone (the id is not reused; the audit is kept)',
    sql: `
ALTER TABLE tenants ADD COLUMN deleted_at timestamptz NULL;
`,
  },
  {
    version: 19,
    name: 'tenants: no row is written for a deleted tenant (its tombstone satisfies the foreign keys, this trigger does not)',
    // One trigger on every table that references tenants, found in the catalog, except what a
    // deletion keeps and may still grow: the audit (decisions answered just before the deletion)
    // and its checkpoints. It raises foreign_key_violation, which every repository already reads
    // as ERR_TENANT_NOT_FOUND. (Bodies on one line: the migration runner splits at line-end `;`.)
    sql: `
CREATE FUNCTION verity_refuse_deleted_tenant() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF EXISTS (SELECT 1 FROM tenants WHERE id = NEW.tenant_id AND deleted_at IS NOT NULL) THEN RAISE EXCEPTION 'tenant "%" was deleted', NEW.tenant_id USING ERRCODE = 'foreign_key_violation'; END IF; RETURN NEW; END $$;
DO $$ DECLARE r record; BEGIN FOR r IN SELECT c.conrelid::regclass AS tbl FROM pg_constraint c WHERE c.contype = 'f' AND c.confrelid = 'tenants'::regclass AND c.conrelid <> 'tenants'::regclass AND c.conrelid::regclass::text NOT IN ('audit_events', 'audit_heads', 'audit_checkpoints') LOOP EXECUTE format('CREATE TRIGGER refuse_deleted_tenant BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION verity_refuse_deleted_tenant()', r.tbl); END LOOP; END $$;
`,
  },
  {
    version: 20,
    name: 'audit: each decision records what it was decided on besides stored entities (for replay)',
    sql: `
-- input: the JSON text of core's DecisionInput (context, request-time entities,
-- context.risk), hashed into the chain as that text; NULL on records made before or without it.
-- Text, not jsonb: jsonb would renumber a Long past 2^53 and the hash would no longer match.
ALTER TABLE audit_events ADD COLUMN input text NULL;
`,
  },
  {
    version: 21,
    name: 'tenants: every settings change is an immutable version (who, when, why, the settings)',
    // tenants.settings stays the settings every reader uses; settings_version numbers it, bumped
    // in the statement that changes it (under the row lock, so concurrent changes get distinct
    // numbers) and copied here in the same transaction. Live tenants start at version 1: their
    // settings now (earlier changes were not kept). Migration 19's trigger was made from the
    // catalog then, so this table gets its own.
    sql: `
ALTER TABLE tenants ADD COLUMN settings_version integer NOT NULL DEFAULT 1;
CREATE TABLE tenant_settings_versions (
  tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id),
  version integer NOT NULL CHECK (version > 0),
  settings jsonb NOT NULL,
  created_by text NOT NULL,
  message text NOT NULL,
  restored_from integer NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, version)
);
INSERT INTO tenant_settings_versions (tenant_id, version, settings, created_by, message)
  SELECT id, 1, settings, 'verity', 'the settings when versioning began (migration 21)' FROM tenants WHERE deleted_at IS NULL;
CREATE TRIGGER refuse_deleted_tenant BEFORE INSERT ON tenant_settings_versions FOR EACH ROW EXECUTE FUNCTION verity_refuse_deleted_tenant();
`,
  },
];

/** The schema version this code needs: the last migration's. */
export const SCHEMA_VERSION: number = MIGRATIONS.at(-1)?.version ?? 0;

/**
 * Any constant key works as long as every Verity process uses the same one: it serializes
 * concurrent migrators (several replicas starting at once) on one database.
 */
const MIGRATION_LOCK_KEY = 7_465_726_974;

/**
 * Apply the migrations not yet recorded in `schema_migrations`, in order, in one transaction
 * holding a transaction-scoped advisory lock. Idempotent: a second run finds every version
 * recorded and does nothing; a concurrent run waits for the lock, then does the same.
 *
 * @returns the versions applied by this call (empty when the schema was already current).
 */
export async function runMigrations(db: Database, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  assertOrdered(migrations);
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await tx.query<{ version: unknown }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((row) => Number(row.version)));
    const applied: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await execScript(tx, migration.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      applied.push(migration.version);
    }
    return applied;
  });
}

/**
 * Run a multi-statement script one statement at a time: the extended query protocol (used by
 * both drivers when parameters are possible) accepts only one statement per query. Splitting
 * on `;` at line ends is enough for our own DDL, which has no semicolons inside literals.
 */
async function execScript(tx: Pick<Database, 'query'>, sql: string): Promise<void> {
  const statements = sql
    .split(/;\s*$/m)
    .map((statement) => statement.replace(/^\s*--.*$/gm, '').trim())
    .filter((statement) => statement.length > 0);
  for (const statement of statements) await tx.query(statement);
}

function assertOrdered(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    const previous = migrations[index - 1];
    if (!Number.isInteger(migration.version) || (previous !== undefined && migration.version <= previous.version)) {
      throw new TypeError(`migration versions must be ascending integers (at "${migration.name}")`);
    }
  });
}
