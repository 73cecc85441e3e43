"""Point-in-time restore end to end on real servers: capture, full backup at a slot cut, replay, compare."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from dataguard_pipelines.core.backup import run_full_backup
from dataguard_pipelines.core.capture.shipper import ship_changes
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.errors import ConfigError, RestoreError
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.pitr import RecoveryTarget, plan_recovery, recover
from tests.fixtures.postgres import table_fingerprints

SCHEMA = """
CREATE TABLE accounts (id bigserial PRIMARY KEY, owner text NOT NULL, balance numeric(12,2), meta jsonb,
                       tags text[], updated_at timestamptz DEFAULT now());
CREATE TABLE ledger (account_id bigint, amount numeric(12,2), note text);
CREATE TABLE items (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text, qty int,
                    doubled int GENERATED ALWAYS AS (qty * 2) STORED, flags bit(4), blob bytea);
CREATE TABLE audit (id serial PRIMARY KEY, what text);
CREATE FUNCTION audit_accounts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO audit(what) VALUES (TG_OP || ' ' || NEW.id); RETURN NEW; END $$;
CREATE TRIGGER accounts_audit AFTER INSERT OR UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION audit_accounts();
"""


@pytest.fixture
def keyring(keyring_path) -> Keyring:
    return Keyring.load(keyring_path)


@pytest.fixture
def slot() -> str:
    """Slot names are unique per server, not per database: each test gets its own."""
    return f"dataguard_{uuid.uuid4().hex[:8]}"


def _server_now(url: str):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT clock_timestamp()").fetchone()[0]


def _write(url: str, round_: int) -> None:
    with psycopg.connect(url) as conn:
        for i in range(20):
            conn.execute(
                "INSERT INTO accounts(owner, balance, meta, tags) VALUES (%s, %s, %s, %s)",
                (
                    f"O'Brien \\ {round_}-{i}\n",
                    i * 1.5,
                    psycopg.types.json.Jsonb({"r": round_, "i": i}),
                    ["a b", "c"],
                ),
            )
            conn.execute("INSERT INTO ledger VALUES (%s, %s, %s)", (i, i, "dup"))
            if round_ <= 2:  # round 2 drops the column afterwards
                conn.execute("INSERT INTO items(name, qty, flags) VALUES (%s, %s, B'1010')", (f"n{i}", i))
            conn.execute("INSERT INTO items(name, qty, blob) VALUES (%s, %s, %s)", (f"b{i}", i, b"\x00\xff"))
        conn.commit()
        conn.execute("UPDATE accounts SET balance = balance + 1 WHERE id % 3 = 0")
        conn.execute("DELETE FROM accounts WHERE id % 7 = 0")
        conn.execute("UPDATE ledger SET note = 'changed' WHERE account_id = 3")
        conn.execute("DELETE FROM ledger WHERE account_id = 4")
        conn.execute("UPDATE items SET qty = qty + 10, name = NULL WHERE id % 2 = 0")
        conn.execute("UPDATE accounts SET id = id + 100000 WHERE id = (SELECT min(id) FROM accounts)")
        conn.commit()


@pytest.mark.parametrize("server", ["pg15", "pg18"])
def test_restore_to_several_times_reproduces_each_reference(
    slot, request, server, new_database, local_store, keyring
):
    server_url = request.getfixturevalue(f"{server}_server")
    source = new_database(server_url)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(SCHEMA)
    db = PostgresDatabase(source)
    first = ship_changes(db, local_store, keyring, slot)
    assert first.created_slot
    _write(source, 0)
    run_full_backup(db, local_store, keyring, partition="p", capture_slot=slot)
    references = []
    for round_ in range(1, 4):
        _write(source, round_)
        if round_ == 2:
            with psycopg.connect(source, autocommit=True) as conn:
                conn.execute("ALTER TABLE accounts ADD COLUMN region text DEFAULT 'eu'")
                conn.execute(
                    "CREATE TABLE late (id int PRIMARY KEY, v text); INSERT INTO late VALUES (1, 'x')"
                )
                conn.execute("ALTER TABLE items DROP COLUMN flags")
                conn.execute("CREATE TABLE nokey (a int, b text)")
                conn.execute(
                    "INSERT INTO nokey VALUES (1, 'x'), (1, 'x');"
                    " DELETE FROM nokey WHERE ctid = (SELECT min(ctid) FROM nokey)"
                )
        references.append((_server_now(source), table_fingerprints(source)))
        ship_changes(db, local_store, keyring, slot)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("TRUNCATE ledger")
        conn.execute("DROP TABLE items")
    ship_changes(db, local_store, keyring, slot)

    for i, (at, reference) in enumerate(references):
        target = new_database(server_url)
        plan = plan_recovery(local_store, keyring, slot, RecoveryTarget(time=at))
        result = recover(plan, local_store, keyring, target)
        assert result.transactions > 0
        restored = table_fingerprints(target)
        assert restored == reference, f"restore to reference {i} differs"


def test_refusals_name_the_problem(slot, pg15_server, new_database, local_store, keyring):
    source = new_database(pg15_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(SCHEMA)
    db = PostgresDatabase(source)
    with pytest.raises(RestoreError, match="no full backup was cut"):
        plan_recovery(local_store, keyring, slot, RecoveryTarget(time=_server_now(source)))
    ship_changes(db, local_store, keyring, slot)
    before = _server_now(source) - timedelta(seconds=5)
    run_full_backup(db, local_store, keyring, partition="p", capture_slot=slot)
    with pytest.raises(ConfigError, match="before the oldest full backup"):
        plan_recovery(local_store, keyring, slot, RecoveryTarget(time=before))
    with pytest.raises(ConfigError, match="in the future"):
        plan_recovery(
            local_store, keyring, slot, RecoveryTarget(time=_server_now(source) + timedelta(hours=1))
        )
    _write(source, 1)
    with pytest.raises(RestoreError, match="shipped up to"):
        plan_recovery(local_store, keyring, slot, RecoveryTarget(time=_server_now(source)))


PGBENCH_SCHEMA = """
CREATE TABLE customers (id int PRIMARY KEY, balance bigint NOT NULL DEFAULT 0, name text);
INSERT INTO customers SELECT g, 0, 'customer ' || g FROM generate_series(1, 500) g;
CREATE TABLE orders (id bigserial PRIMARY KEY, customer int NOT NULL, amount int NOT NULL,
                     placed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE tallies (k int, n bigint);  -- no primary key: REPLICA IDENTITY FULL
INSERT INTO tallies SELECT g, 0 FROM generate_series(1, 50) g;
"""

PGBENCH_SCRIPT = """\\set c random(1, 500)
\\set a random(1, 100)
\\set k random(1, 50)
BEGIN;
INSERT INTO orders(customer, amount) VALUES (:c, :a);
UPDATE customers SET balance = balance + :a WHERE id = :c;
DELETE FROM orders WHERE id = (SELECT min(id) FROM orders WHERE customer = :c) AND :a % 3 = 0;
UPDATE tallies SET n = n + 1 WHERE k = :k;
COMMIT;
"""


@pytest.mark.slow
@pytest.mark.parametrize("server", ["pg15", "pg18"])
def test_restore_to_exact_cuts_while_pgbench_writes(
    slot, request, server, new_database, local_store, keyring, tmp_path
):
    """References are taken at exact slot cuts while pgbench keeps committing; --to-lsn reproduces each."""
    import subprocess

    from dataguard_pipelines.core.capture.lsn import parse_lsn
    from dataguard_pipelines.core.capture.slot import slot_snapshot
    from dataguard_pipelines.core.engines.pgtools import embedded_bin_dir

    server_url = request.getfixturevalue(f"{server}_server")
    source = new_database(server_url)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(PGBENCH_SCHEMA)
    db = PostgresDatabase(source)
    ship_changes(db, local_store, keyring, slot)
    script = tmp_path / "mix.sql"
    script.write_text(PGBENCH_SCRIPT)
    dbname, env = db.client_env()
    pgbench = subprocess.Popen(
        [
            str(embedded_bin_dir() / "pgbench"),
            "-n",
            "-c",
            "2",
            "-j",
            "2",
            "-T",
            "14",
            "-R",
            "300",
            "-f",
            str(script),
            dbname[0].removeprefix("--dbname="),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)
        run_full_backup(db, local_store, keyring, partition="p", capture_slot=slot)
        references = []
        for _ in range(3):
            time.sleep(2)
            with slot_snapshot(db, slot) as (snapshot, reader):
                references.append((parse_lsn(snapshot.lsn), table_fingerprints(reader)))
            ship_changes(db, local_store, keyring, slot)
    finally:
        _out, err = pgbench.communicate(timeout=60)
    assert pgbench.returncode == 0, err
    ship_changes(db, local_store, keyring, slot)
    assert len({fp["public.orders"] for _, fp in references}) == 3, "pgbench did not write between references"

    for i, (lsn, reference) in enumerate(references):
        target = new_database(server_url)
        plan = plan_recovery(local_store, keyring, slot, RecoveryTarget(lsn=lsn))
        result = recover(plan, local_store, keyring, target)
        assert result.transactions > 0
        assert table_fingerprints(target) == reference, f"restore to cut {i} differs"


def test_to_xid_stops_just_before_the_bad_transaction(slot, pg15_server, new_database, local_store, keyring):
    source = new_database(pg15_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(SCHEMA)
    db = PostgresDatabase(source)
    ship_changes(db, local_store, keyring, slot)
    run_full_backup(db, local_store, keyring, partition="p", capture_slot=slot)
    _write(source, 1)
    reference = table_fingerprints(source)
    with psycopg.connect(source) as conn:
        bad_xid = conn.execute("SELECT txid_current()").fetchone()[0]
        conn.execute("DELETE FROM accounts")
        conn.execute("TRUNCATE ledger")
    _write(source, 2)  # later work must not be replayed either
    ship_changes(db, local_store, keyring, slot)
    target = new_database(pg15_server)
    result = recover(
        plan_recovery(local_store, keyring, slot, RecoveryTarget(xid=bad_xid)), local_store, keyring, target
    )
    assert result.transactions == 2
    assert table_fingerprints(target) == reference
    with pytest.raises(ConfigError, match="not in the captured changes"):
        plan_recovery(local_store, keyring, slot, RecoveryTarget(xid=bad_xid + 10_000))


@pytest.fixture
def slow_wal_writer(pg18_server: str) -> Iterator[None]:
    """Asynchronous commits stay unflushed for up to 30 s (wal_writer_delay = 10 s) during the test.

    Only on the session's own embedded server: tests never ALTER SYSTEM the machine's PostgreSQL."""
    with psycopg.connect(pg18_server, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET wal_writer_delay = '10s'")
        conn.execute("SELECT pg_reload_conf()")
    yield
    with psycopg.connect(pg18_server, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM RESET wal_writer_delay")
        conn.execute("SELECT pg_reload_conf()")


def test_asynchronously_committed_transactions_are_shipped_before_the_heartbeat_claims_them(
    slot, pg18_server, new_database, local_store, keyring, slow_wal_writer
):
    source = new_database(pg18_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
    db = PostgresDatabase(source)
    ship_changes(db, local_store, keyring, slot)
    run_full_backup(db, local_store, keyring, partition="p", capture_slot=slot)
    time.sleep(0.5)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("INSERT INTO t VALUES (1)")  # acknowledged, not yet flushed
    time.sleep(1.5)  # older than the heartbeat's one-second margin
    shipped = ship_changes(db, local_store, keyring, slot)
    assert shipped.transactions == 1
    target = new_database(pg18_server)
    recover(
        plan_recovery(local_store, keyring, slot, RecoveryTarget(time=shipped.through_at)),
        local_store,
        keyring,
        target,
    )
    with psycopg.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1


def test_a_dropped_ddl_trigger_is_reinstalled_by_the_next_cycle(
    slot, pg15_server, new_database, local_store, keyring
):
    from dataguard_pipelines.core.capture.slot import ddl_trigger_installed

    db = PostgresDatabase(new_database(pg15_server))
    ship_changes(db, local_store, keyring, slot)
    assert ddl_trigger_installed(db)
    with db.connect() as conn:
        conn.execute("DROP EVENT TRIGGER dataguard_capture_ddl")
    assert not ddl_trigger_installed(db)
    ship_changes(db, local_store, keyring, slot)
    assert ddl_trigger_installed(db)


def test_tables_and_views_filled_by_ddl_replay_once(slot, pg15_server, new_database, local_store, keyring):
    """CREATE TABLE AS, SELECT INTO and materialized views: their rows are decoded *and* made by the DDL."""
    source = new_database(pg15_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE a (x int PRIMARY KEY); INSERT INTO a VALUES (1), (2)")
    db = PostgresDatabase(source)
    ship_changes(db, local_store, keyring, slot)
    run_full_backup(db, local_store, keyring, partition="p", capture_slot=slot)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE a_copy AS SELECT * FROM a")
        conn.execute("SELECT * INTO a_into FROM a WHERE x > 1")
        conn.execute("CREATE MATERIALIZED VIEW m AS SELECT x, x * 10 AS y FROM a")
        conn.execute("INSERT INTO a VALUES (3)")
        conn.execute("REFRESH MATERIALIZED VIEW m")
        conn.execute("CREATE UNIQUE INDEX ON m (x)")
        conn.execute("INSERT INTO a VALUES (4); INSERT INTO a_copy VALUES (40)")
        conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY m")
        conn.execute("CREATE TABLE empty_copy AS SELECT * FROM a WITH NO DATA")
        at = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        view = conn.execute("SELECT * FROM m ORDER BY x").fetchall()
    reference = table_fingerprints(source)
    time.sleep(1.1)  # the heartbeat claims a second less than the shipper saw
    ship_changes(db, local_store, keyring, slot)
    target = new_database(pg15_server)
    recover(plan_recovery(local_store, keyring, slot, RecoveryTarget(time=at)), local_store, keyring, target)
    assert table_fingerprints(target) == reference
    with psycopg.connect(target) as conn:
        assert conn.execute("SELECT * FROM m ORDER BY x").fetchall() == view
