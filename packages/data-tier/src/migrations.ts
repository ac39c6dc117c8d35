/**
 * The SQL Verity installs in an application's database, as versioned migrations. A migration is
 * never edited once released: a change is a new version appended to {@link MIGRATIONS}.
 *
 * Schemas: `verity` is the public API (app roles get USAGE and EXECUTE on the reading functions
 * only); `verity_private` holds the keys, the migration table and the internals, and no app role
 * has USAGE on it. Every function pins `search_path = pg_catalog, pg_temp` (but the inlined
 * base64url decoder, which runs inside one that does) and names Verity's objects and pgcrypto's
 * functions by schema.
 */

/** One migration: statements run in order, in the install transaction. */
export interface Migration {
  version: number;
  /** `@pgcrypto@` stands for pgcrypto's schema (a quoted identifier), found at install time. */
  statements: readonly string[];
}

/** Marks pgcrypto's schema in migration SQL; replaced by the quoted schema name on install. */
export const PGCRYPTO_SCHEMA = '@pgcrypto@';

/** The functions of `verity` an app role may execute (by signature, for GRANT). */
export const APP_FUNCTIONS: readonly string[] = [
  'verity.bind(text)',
  'verity.current_receipt()',
  'verity.current_tenant()',
  'verity.current_principal()',
  'verity.current_action()',
  'verity.current_decision()',
  'verity.tenant_for(text[])',
];

// SQLSTATE 28000 (invalid_authorization_specification) for every rejected receipt; the reason
// is a fixed phrase: never the receipt, the kid or a key.
const REJECT = (reason: string) => `RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'verity: receipt rejected: ${reason}'`;

// Every setting a session may change that could alter how these functions are parsed or what
// they compare is pinned for their run (and for their compilation: PL/pgSQL compiles a function
// on its first call in a session, inside these settings). standard_conforming_strings above all:
// off, a backslash in a string literal is an escape, so a pattern's '\\.' would match any
// character. The code below uses no backslash escapes at all, and compares NULL-safely, besides.
const PINNED = 'SET search_path = pg_catalog, pg_temp SET standard_conforming_strings = on';

const V1: readonly string[] = [
  // It may exist already: pgcrypto is created in it when the database has no pgcrypto.
  `CREATE SCHEMA IF NOT EXISTS verity_private`,
  `REVOKE ALL ON SCHEMA verity_private FROM PUBLIC`,
  `CREATE SCHEMA verity`,
  `REVOKE ALL ON SCHEMA verity FROM PUBLIC`,

  `CREATE TABLE verity_private.receipt_keys (
     kid          text PRIMARY KEY,
     tenant       text NOT NULL,
     secret       bytea NOT NULL,
     installed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
     verify_until timestamptz NULL
   )`,
  `REVOKE ALL ON verity_private.receipt_keys FROM PUBLIC`,

  // The key of the binding marker's MAC: random per database, so only verity.bind (running as
  // the owner) can produce a marker; an app role that sets verity.receipt_txn itself cannot.
  `CREATE TABLE verity_private.binding_key (
     only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
     secret   bytea NOT NULL
   )`,
  `REVOKE ALL ON verity_private.binding_key FROM PUBLIC`,
  `INSERT INTO verity_private.binding_key (secret) VALUES (${PGCRYPTO_SCHEMA}.gen_random_bytes(32))`,

  // RFC 7515 §2 base64url without padding; PostgreSQL's decoder takes standard base64 with
  // padding. A SQL function without SET so it is inlined into verify_receipt (whose search_path
  // is pinned): a call per segment cost more than the rest of the check. Not canonical-checked:
  // the signature covers the header and claims as sent; verify_receipt checks the signature's.
  `CREATE FUNCTION verity_private.base64url_decode(segment text) RETURNS bytea
   LANGUAGE sql IMMUTABLE STRICT AS $fn$
     SELECT pg_catalog.decode(pg_catalog.rpad(pg_catalog.translate(segment, '-_', '+/'),
                                              ((pg_catalog.length(segment) + 3) / 4) * 4, '='), 'base64')
   $fn$`,

  // The claims of a valid receipt, or an error (SQLSTATE 28000). A receipt is a compact JWS
  // (RFC 7515 §7.1): BASE64URL(header) '.' BASE64URL(claims) '.' BASE64URL(HMAC-SHA-256 over
  // the ASCII of the first two parts, RFC 7518 §3.2), with claims per RFC 7519.
  `CREATE FUNCTION verity_private.verify_receipt(receipt text) RETURNS jsonb
   LANGUAGE plpgsql STABLE ${PINNED} AS $fn$
   DECLARE
     parts      text[];
     header     jsonb;
     claims     jsonb;
     signature  bytea;
     key_tenant text;
     key_secret bytea;
     claim      text;
     -- The wall clock, not statement_timestamp(): inside one DO block or function every query
     -- has the block's start as its statement time, and a receipt must run out all the same. A
     -- single query still checks once, when its InitPlan runs.
     now_at     timestamptz := pg_catalog.clock_timestamp();
     now_s      numeric := EXTRACT(EPOCH FROM now_at);
   BEGIN
     IF receipt IS NULL OR receipt !~ '^[A-Za-z0-9_-]+[.][A-Za-z0-9_-]+[.][A-Za-z0-9_-]+$' THEN
       ${REJECT('malformed')};
     END IF;
     parts := pg_catalog.string_to_array(receipt, '.');
     IF pg_catalog.cardinality(parts) IS DISTINCT FROM 3 THEN
       ${REJECT('malformed')};
     END IF;
     BEGIN
       header := pg_catalog.convert_from(verity_private.base64url_decode(parts[1]), 'UTF8')::jsonb;
       claims := pg_catalog.convert_from(verity_private.base64url_decode(parts[2]), 'UTF8')::jsonb;
       signature := verity_private.base64url_decode(parts[3]);
     EXCEPTION WHEN data_exception THEN
       ${REJECT('malformed')};
     END;
     -- One encoding per signature: stray low bits in the last character are refused.
     IF pg_catalog.rtrim(pg_catalog.translate(pg_catalog.encode(signature, 'base64'), '+/', '-_'), '=') IS DISTINCT FROM parts[3] THEN
       ${REJECT('malformed')};
     END IF;
     IF pg_catalog.jsonb_typeof(header) IS DISTINCT FROM 'object' OR pg_catalog.jsonb_typeof(claims) IS DISTINCT FROM 'object' THEN
       ${REJECT('malformed')};
     END IF;

     -- Exactly {alg, typ, kid}: no other algorithm, no crit, no embedded key (RFC 7515 §4.1).
     IF pg_catalog.jsonb_typeof(header -> 'kid') IS DISTINCT FROM 'string'
        OR (header - 'kid') IS DISTINCT FROM '{"alg": "HS256", "typ": "verity-receipt+jwt"}'::jsonb THEN
       ${REJECT('unsupported header')};
     END IF;

     SELECT k.tenant, k.secret INTO key_tenant, key_secret
       FROM verity_private.receipt_keys k
      WHERE k.kid = header ->> 'kid'
        AND (k.verify_until IS NULL OR k.verify_until > now_at);
     IF NOT FOUND THEN
       ${REJECT('unknown key')};
     END IF;

     -- Compare digests of the MACs, not the MACs: the comparison's timing then says nothing
     -- about how much of a forged MAC was right.
     IF pg_catalog.sha256(${PGCRYPTO_SCHEMA}.hmac(pg_catalog.convert_to(parts[1] || '.' || parts[2], 'UTF8'), key_secret, 'sha256'::text))
        IS DISTINCT FROM pg_catalog.sha256(signature) THEN
       ${REJECT('bad signature')};
     END IF;

     FOREACH claim IN ARRAY ARRAY['iss', 'tenant', 'principal', 'action', 'resource_type', 'resource_id', 'decision_id', 'jti'] LOOP
       IF pg_catalog.jsonb_typeof(claims -> claim) IS DISTINCT FROM 'string' THEN
         RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'verity: receipt rejected: claim ' || claim || ' missing or not a string';
       END IF;
     END LOOP;
     FOREACH claim IN ARRAY ARRAY['policy_version', 'iat', 'exp'] LOOP
       IF pg_catalog.jsonb_typeof(claims -> claim) IS DISTINCT FROM 'number' THEN
         RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'verity: receipt rejected: claim ' || claim || ' missing or not a number';
       END IF;
     END LOOP;

     IF (claims ->> 'tenant') IS DISTINCT FROM key_tenant THEN
       ${REJECT('key of another tenant')};
     END IF;
     -- RFC 7519 §4.1.4: not accepted on or after exp.
     IF ((claims ->> 'exp')::numeric > now_s) IS NOT TRUE THEN
       ${REJECT('expired')};
     END IF;
     IF ((claims ->> 'iat')::numeric <= now_s + 60) IS NOT TRUE THEN
       ${REJECT('issued in the future')};
     END IF;
     -- The PDP mints receipts of at most an hour (--receipt-ttl's upper bound): a longer one
     -- comes from nowhere Verity knows.
     IF ((claims ->> 'exp')::numeric - (claims ->> 'iat')::numeric <= 3600) IS NOT TRUE THEN
       ${REJECT('lifetime too long')};
     END IF;
     RETURN claims;
   END
   $fn$`,

  // pid : transaction start (epoch seconds, independent of TimeZone/DateStyle) : MAC over
  // both and the receipt. Differs in every other transaction and for every other receipt.
  // PL/pgSQL throughout, not SQL functions: PL/pgSQL keeps its plans for the session, a
  // non-inlined SQL function plans its body on every call.
  `CREATE FUNCTION verity_private.binding_marker(receipt text) RETURNS text
   LANGUAGE plpgsql STABLE ${PINNED} AS $fn$
   DECLARE
     txn text := pg_catalog.pg_backend_pid()::text || ':' || EXTRACT(EPOCH FROM pg_catalog.transaction_timestamp())::text;
   BEGIN
     RETURN txn || ':' || pg_catalog.encode(${PGCRYPTO_SCHEMA}.hmac(pg_catalog.convert_to(txn || ':' || receipt, 'UTF8'),
                                                   (SELECT b.secret FROM verity_private.binding_key b), 'sha256'::text), 'hex');
   END
   $fn$`,

  `REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA verity_private FROM PUBLIC`,

  `CREATE FUNCTION verity.bind(receipt text) RETURNS void
   LANGUAGE plpgsql VOLATILE SECURITY DEFINER ${PINNED} AS $fn$
   BEGIN
     PERFORM verity_private.verify_receipt(receipt);
     PERFORM pg_catalog.set_config('verity.receipt', receipt, true);
     PERFORM pg_catalog.set_config('verity.receipt_txn', verity_private.binding_marker(receipt), true);
   END
   $fn$`,

  // NULL when no receipt is bound to this transaction (none set, or set but not by
  // verity.bind in this transaction, e.g. a session-wide leftover on a pooled connection).
  `CREATE FUNCTION verity.current_receipt() RETURNS jsonb
   LANGUAGE plpgsql STABLE SECURITY DEFINER ${PINNED} AS $fn$
   DECLARE
     receipt text := pg_catalog.current_setting('verity.receipt', true);
   BEGIN
     IF receipt IS NULL OR receipt = ''
        OR pg_catalog.current_setting('verity.receipt_txn', true) IS DISTINCT FROM verity_private.binding_marker(receipt) THEN
       RETURN NULL;
     END IF;
     RETURN verity_private.verify_receipt(receipt);
   END
   $fn$`,

  `CREATE FUNCTION verity.current_tenant() RETURNS text
   LANGUAGE plpgsql STABLE SECURITY DEFINER ${PINNED} AS $fn$ BEGIN RETURN verity.current_receipt() ->> 'tenant'; END $fn$`,
  `CREATE FUNCTION verity.current_principal() RETURNS text
   LANGUAGE plpgsql STABLE SECURITY DEFINER ${PINNED} AS $fn$ BEGIN RETURN verity.current_receipt() ->> 'principal'; END $fn$`,
  `CREATE FUNCTION verity.current_action() RETURNS text
   LANGUAGE plpgsql STABLE SECURITY DEFINER ${PINNED} AS $fn$ BEGIN RETURN verity.current_receipt() ->> 'action'; END $fn$`,
  `CREATE FUNCTION verity.current_decision() RETURNS text
   LANGUAGE plpgsql STABLE SECURITY DEFINER ${PINNED} AS $fn$ BEGIN RETURN verity.current_receipt() ->> 'decision_id'; END $fn$`,

  // The tenant of the bound receipt when its action is one of `actions` (NULL: any action).
  `CREATE FUNCTION verity.tenant_for(actions text[]) RETURNS text
   LANGUAGE plpgsql STABLE SECURITY DEFINER ${PINNED} AS $fn$
   DECLARE
     claims jsonb := verity.current_receipt();
   BEGIN
     IF actions IS NULL OR (claims ->> 'action') = ANY (actions) THEN
       RETURN claims ->> 'tenant';
     END IF;
     RETURN NULL;
   END
   $fn$`,

  // Run by the table's owner (SECURITY INVOKER: ALTER TABLE and CREATE POLICY need ownership).
  // Each policy compares the column with a scalar subquery, which PostgreSQL plans as an
  // InitPlan: the receipt is verified once per statement, not once per row.
  `CREATE FUNCTION verity.enable_rls(tbl regclass, tenant_column name, read_actions text[] DEFAULT NULL, write_actions text[] DEFAULT NULL)
   RETURNS void LANGUAGE plpgsql VOLATILE ${PINNED} AS $fn$
   DECLARE
     column_type regtype;
     -- PostgreSQL applies SELECT policies to UPDATE and DELETE rows matched by WHERE or
     -- RETURNING, so the receipts that may write also read: SELECT takes both action lists.
     select_actions text[] := CASE WHEN read_actions IS NULL OR write_actions IS NULL THEN NULL ELSE read_actions || write_actions END;
     read_tenant  text := pg_catalog.format('(SELECT verity.tenant_for(%s))', COALESCE(pg_catalog.quote_literal(select_actions) || '::text[]', 'NULL'));
     write_tenant text := pg_catalog.format('(SELECT verity.tenant_for(%s))', COALESCE(pg_catalog.quote_literal(write_actions) || '::text[]', 'NULL'));
     offending    text;
     index_name   text;
   BEGIN
     SELECT a.atttypid INTO column_type FROM pg_catalog.pg_attribute a
      WHERE a.attrelid = tbl AND a.attname = tenant_column AND a.attnum > 0 AND NOT a.attisdropped;
     IF NOT FOUND THEN
       RAISE EXCEPTION USING ERRCODE = '42703', MESSAGE = pg_catalog.format('verity: column %I does not exist in %s', tenant_column, tbl);
     END IF;
     -- Compared with a text tenant id without a cast: a cast to varchar(n) would truncate.
     IF column_type NOT IN ('text'::regtype, 'character varying'::regtype) THEN
       RAISE EXCEPTION USING ERRCODE = '42804', MESSAGE = pg_catalog.format('verity: tenant column %I of %s must be text or varchar, not %s', tenant_column, tbl, column_type);
     END IF;
     -- Privileges row-level security does not govern: TRUNCATE empties every tenant's rows;
     -- TRIGGER runs a function of the grantee's on every tenant's writes; REFERENCES lets a
     -- foreign key probe which keys exist. None may be held by anyone but the owner.
     SELECT pg_catalog.string_agg(DISTINCT a.privilege_type || ' to ' || CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END, ', ')
       INTO offending
       FROM pg_catalog.pg_class c
       CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
       LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
      WHERE c.oid = tbl AND a.grantee <> c.relowner AND a.privilege_type IN ('TRUNCATE', 'TRIGGER', 'REFERENCES');
     -- REFERENCES can be granted on columns too.
     SELECT pg_catalog.concat_ws(', ', offending, pg_catalog.string_agg(DISTINCT 'REFERENCES (' || pg_catalog.quote_ident(att.attname) || ') to ' || CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END, ', '))
       INTO offending
       FROM pg_catalog.pg_attribute att
       CROSS JOIN LATERAL pg_catalog.aclexplode(att.attacl) a
       LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
      WHERE att.attrelid = tbl AND a.privilege_type = 'REFERENCES'
        AND a.grantee <> (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = tbl);
     offending := NULLIF(offending, '');
     IF offending IS NOT NULL THEN
       RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = pg_catalog.format('verity: %s grants %s, which row-level security does not govern', tbl, offending),
         HINT = pg_catalog.format('REVOKE TRUNCATE, TRIGGER, REFERENCES ON %s FROM <role>; then run verity.enable_rls again', tbl);
     END IF;
     -- An index whose leading column is not the tenant column lets the planner test a condition
     -- on it before the tenant policy: EXPLAIN ANALYZE then counts other tenants' matching rows.
     FOR index_name IN
       SELECT i.indexrelid::regclass::text FROM pg_catalog.pg_index i
        WHERE i.indrelid = tbl AND i.indkey[0] IS DISTINCT FROM (SELECT a.attnum FROM pg_catalog.pg_attribute a WHERE a.attrelid = tbl AND a.attname = tenant_column)
     LOOP
       RAISE WARNING USING MESSAGE = pg_catalog.format('verity: index %s of %s does not lead with %I: an app role can count other tenants'' rows that match a condition on its columns (EXPLAIN ANALYZE)', index_name, tbl, tenant_column),
         HINT = pg_catalog.format('index (%I, …) instead, e.g. a primary key of (%I, id)', tenant_column, tenant_column);
     END LOOP;
     EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
     EXECUTE pg_catalog.format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
     EXECUTE pg_catalog.format('DROP POLICY IF EXISTS verity_select ON %s', tbl);
     EXECUTE pg_catalog.format('DROP POLICY IF EXISTS verity_insert ON %s', tbl);
     EXECUTE pg_catalog.format('DROP POLICY IF EXISTS verity_update ON %s', tbl);
     EXECUTE pg_catalog.format('DROP POLICY IF EXISTS verity_delete ON %s', tbl);
     EXECUTE pg_catalog.format('CREATE POLICY verity_select ON %s FOR SELECT USING (%I = %s)', tbl, tenant_column, read_tenant);
     EXECUTE pg_catalog.format('CREATE POLICY verity_insert ON %s FOR INSERT WITH CHECK (%I = %s)', tbl, tenant_column, write_tenant);
     EXECUTE pg_catalog.format('CREATE POLICY verity_update ON %s FOR UPDATE USING (%I = %s) WITH CHECK (%I = %s)', tbl, tenant_column, write_tenant, tenant_column, write_tenant);
     EXECUTE pg_catalog.format('CREATE POLICY verity_delete ON %s FOR DELETE USING (%I = %s)', tbl, tenant_column, write_tenant);
   END
   $fn$`,

  `REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA verity FROM PUBLIC`,

  `CREATE TABLE verity_private.migrations (
     version    int PRIMARY KEY,
     applied_at timestamptz NOT NULL
   )`,
  `REVOKE ALL ON verity_private.migrations FROM PUBLIC`,
];

/** Every migration, in version order. Append only. */
export const MIGRATIONS: readonly Migration[] = [{ version: 1, statements: V1 }];
