-- dataguard table guards: block DROP / TRUNCATE / DROP COLUMN on registered critical tables.
-- Run by guards.py in one transaction, as a superuser (event triggers need one), idempotently: every
-- object is created or replaced, so running it again upgrades an older version in place.
-- Derived from the guard tested in reference/backup.md §5.1 (PostgreSQL 15.18).
--
-- The gate: a transaction- or session-level setting dataguard.allow_destructive = 'on', honoured only when
-- session_user is a member of role dataguard_gate (any role may SET a custom setting, so the setting alone
-- lifts nothing). A superuser is a member of every role: a superuser who sets it uses the gate, one who
-- does not is blocked like everyone else.
CREATE SCHEMA IF NOT EXISTS dataguard_guard;
REVOKE ALL ON SCHEMA dataguard_guard FROM PUBLIC;
GRANT USAGE ON SCHEMA dataguard_guard TO PUBLIC;  -- reading what is protected is harmless; changing it is not

CREATE TABLE IF NOT EXISTS dataguard_guard.version (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version      integer NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT now()
);

-- Keyed by OID (regclass), so a renamed table stays protected.
CREATE TABLE IF NOT EXISTS dataguard_guard.protected_tables (
    rel       regclass PRIMARY KEY,
    listed_as text NOT NULL,
    added_at  timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON ALL TABLES IN SCHEMA dataguard_guard FROM PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA dataguard_guard TO PUBLIC;

-- The role is cluster-wide; two databases installing at once may race to create it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dataguard_gate') THEN
        CREATE ROLE dataguard_gate NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$;

CREATE OR REPLACE FUNCTION dataguard_guard.bypass() RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF coalesce(current_setting('dataguard.allow_destructive', true), '') <> 'on' THEN
        RETURN false;
    END IF;
    -- a database restored onto a server without the role must not fail every DROP with "role does not exist"
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dataguard_gate') THEN
        RETURN false;
    END IF;
    RETURN pg_has_role(session_user, 'dataguard_gate', 'MEMBER');
END $$;

CREATE OR REPLACE FUNCTION dataguard_guard.refuse(command text, tbl text, what text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- evidence for the audit trail: a non-transactional logical message is in the WAL at once and survives
    -- the rollback below; the capture shipper turns it into a guard.blocked entry. Never a reason to let the
    -- statement through: a failure to emit it is ignored.
    BEGIN
        PERFORM pg_logical_emit_message(false, 'dataguard.guard_blocked', json_build_object(
            'command', command, 'table', tbl, 'what', what, 'session_user', session_user::text,
            'client_addr', inet_client_addr()::text, 'application_name', current_setting('application_name', true),
            'at', clock_timestamp())::text);
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
    -- the way through the gate is in the message itself: many drivers show neither DETAIL nor HINT
    RAISE EXCEPTION 'dataguard: % blocked: % is a protected table (%); run the migration through the gate: '
                    'dataguard migrate-safe --allow-drop % -- <migration command>', command, tbl, what, tbl
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'The gate backs up first; only members of role dataguard_gate may bypass the guard, '
                     'with dataguard.allow_destructive = on.';
END $$;

-- TRUNCATE is not an event-trigger event: a statement-level BEFORE TRUNCATE trigger per table. It also
-- fires for tables reached through TRUNCATE ... CASCADE (foreign keys).
CREATE OR REPLACE FUNCTION dataguard_guard.block_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF dataguard_guard.bypass() THEN
        RETURN NULL;
    END IF;
    PERFORM dataguard_guard.refuse('TRUNCATE', format('%I.%I', tg_table_schema, tg_table_name), 'its rows');
    RETURN NULL;
END $$;

-- A registered table is guarded when its TRUNCATE trigger exists and fires always (even under
-- session_replication_role = replica). Found by function, so renaming the trigger changes nothing.
CREATE OR REPLACE FUNCTION dataguard_guard.is_guarded(t regclass) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_trigger g
                    WHERE g.tgrelid = t AND g.tgenabled = 'A'
                      AND g.tgfoid = 'dataguard_guard.block_truncate()'::regprocedure)
$$;

-- sql_drop fires after the catalog rows are gone but inside the same transaction: raising rolls the whole
-- command back. It sees cascaded objects too: DROP TABLE, DROP SCHEMA ... CASCADE, DROP OWNED BY,
-- ALTER TABLE ... DROP COLUMN, and DROP TRIGGER on a guard trigger.
CREATE OR REPLACE FUNCTION dataguard_guard.on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    obj record;
    broken text;
BEGIN
    -- the guard's own objects first, without calling them: they may be the ones just dropped
    IF EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() d
                WHERE d.schema_name = 'dataguard_guard'
                   OR (d.object_type = 'schema' AND d.object_name = 'dataguard_guard')) THEN
        IF coalesce(current_setting('dataguard.allow_destructive', true), '') = 'on'
           AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dataguard_gate')
           AND pg_has_role(session_user, 'dataguard_gate', 'MEMBER') THEN
            RETURN;
        END IF;
        RAISE EXCEPTION 'dataguard: % blocked: it drops the table guards themselves; remove them with '
                        'dataguard guards uninstall', tg_tag
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOR obj IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
        IF obj.object_type = 'table'
           AND EXISTS (SELECT 1 FROM dataguard_guard.protected_tables p WHERE p.rel::oid = obj.objid) THEN
            IF NOT dataguard_guard.bypass() THEN
                PERFORM dataguard_guard.refuse(tg_tag, obj.object_identity, 'the table');
            END IF;
            DELETE FROM dataguard_guard.protected_tables p WHERE p.rel::oid = obj.objid;
        ELSIF obj.object_type = 'table column'
              AND EXISTS (SELECT 1 FROM dataguard_guard.protected_tables p WHERE p.rel::oid = obj.objid)
              AND NOT dataguard_guard.bypass() THEN
            PERFORM dataguard_guard.refuse(tg_tag, obj.objid::regclass::text,
                                           'column ' || obj.object_identity);
        ELSIF obj.object_type = 'trigger' THEN
            SELECT string_agg(p.rel::text, ', ') INTO broken
              FROM dataguard_guard.protected_tables p JOIN pg_class c ON c.oid = p.rel::oid
             WHERE NOT dataguard_guard.is_guarded(p.rel);
            IF broken IS NOT NULL AND NOT dataguard_guard.bypass() THEN
                PERFORM dataguard_guard.refuse(tg_tag, broken, 'dropping its guard trigger');
            END IF;
        END IF;
    END LOOP;
END $$;

-- ddl_command_end: refuse ALTER TABLE ... DISABLE TRIGGER (or ENABLE, which drops ALWAYS) on a guard trigger.
CREATE OR REPLACE FUNCTION dataguard_guard.on_ddl_end() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    broken text;
BEGIN
    SELECT string_agg(DISTINCT p.rel::text, ', ') INTO broken
      FROM pg_event_trigger_ddl_commands() d
      JOIN dataguard_guard.protected_tables p ON p.rel::oid = d.objid
     WHERE d.classid = 'pg_class'::regclass AND NOT dataguard_guard.is_guarded(p.rel);
    IF broken IS NOT NULL AND NOT dataguard_guard.bypass() THEN
        PERFORM dataguard_guard.refuse(tg_tag, broken, 'disabling its guard trigger');
    END IF;
END $$;

-- Register a table: its TRUNCATE trigger, ENABLE ALWAYS (fires even under session_replication_role = replica).
CREATE OR REPLACE FUNCTION dataguard_guard.protect(t regclass, listed_as text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO dataguard_guard.protected_tables (rel, listed_as) VALUES (t, listed_as)
        ON CONFLICT (rel) DO UPDATE SET listed_as = excluded.listed_as;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = t
                      AND g.tgfoid = 'dataguard_guard.block_truncate()'::regprocedure) THEN
        EXECUTE format('CREATE TRIGGER dataguard_guard_no_truncate BEFORE TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION dataguard_guard.block_truncate()', t);
    END IF;
    IF NOT dataguard_guard.is_guarded(t) THEN
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', t,
                       (SELECT g.tgname FROM pg_trigger g WHERE g.tgrelid = t
                           AND g.tgfoid = 'dataguard_guard.block_truncate()'::regprocedure LIMIT 1));
    END IF;
END $$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA dataguard_guard FROM PUBLIC;

-- Event triggers cannot be created "or replaced": recreate them, enabled ALWAYS (replica sessions too).
DROP EVENT TRIGGER IF EXISTS dataguard_guard_sql_drop;
CREATE EVENT TRIGGER dataguard_guard_sql_drop ON sql_drop
    EXECUTE FUNCTION dataguard_guard.on_sql_drop();
ALTER EVENT TRIGGER dataguard_guard_sql_drop ENABLE ALWAYS;

DROP EVENT TRIGGER IF EXISTS dataguard_guard_ddl_end;
CREATE EVENT TRIGGER dataguard_guard_ddl_end ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION dataguard_guard.on_ddl_end();
ALTER EVENT TRIGGER dataguard_guard_ddl_end ENABLE ALWAYS;
