"""Critical tables: snapshot -> sealed Parquet -> restore into a side schema of the live database, verified."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from dataguard_pipelines.core.backup import run_full_backup
from dataguard_pipelines.core.critical.intact import check_intact, previous_snapshot
from dataguard_pipelines.core.critical.restore import restore_tables
from dataguard_pipelines.core.critical.snapshot import back_up_critical_tables
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.errors import ConfigError, RestoreError
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.manifest import find_backup
from dataguard_pipelines.core.sealed_parquet import read_sealed_parquet
from dataguard_pipelines.core.status import backup_status
from dataguard_pipelines.core.store import Store

TRICKY = [
    (
        1,
        "12345678901234567890.000000001",
        "2026-03-29 01:30:00+01",
        '{"a": [1, {"b": null}]}',
        "{1,NULL,3}",
        b"\x00\xff\\",
        'line1\nline2\ttab \\ back \\. "q"',
        True,
    ),
    (2, None, None, None, None, None, None, None),
    (3, "NaN", "infinity", '"x"', "{}", b"", "", False),
    (4, "-0.5", "1999-12-31 23:59:59.999999+00", "null", "{-2147483648}", b"\\.", "\\.", None),
]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store((tmp_path / "store").as_uri())


@pytest.fixture
def keyring(keyring_path: Path) -> Keyring:
    from dataguard_pipelines.core.keys import open_keyring

    return open_keyring(keyring_path, may_create=False)


def _make_tables(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE calls (id bigint PRIMARY KEY, amount numeric, at timestamptz, payload jsonb,"
            " tags integer[], raw bytea, note text, ok boolean)"
        )
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO calls VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", TRICKY)
        conn.execute("CREATE SCHEMA app")
        conn.execute(
            "CREATE TABLE app.appointments (id serial PRIMARY KEY, call_id bigint, day date NOT NULL)"
        )
        conn.execute(
            "INSERT INTO app.appointments (call_id, day)"
            " SELECT g % 4 + 1, date '2026-01-01' + g FROM generate_series(1, 500) g"
        )


def _rows(url: str, relation: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        # as text: psycopg cannot load 'infinity' timestamps, and text is what must survive exactly
        return conn.execute(f"SELECT t.*::text FROM (SELECT * FROM {relation} ORDER BY 1) t").fetchall()


def _types(url: str, schema: str, table: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (schema, table),
        ).fetchall()


def test_snapshot_round_trips_into_a_side_schema_with_types_and_hashes(
    any_server, new_database, store, keyring
):
    url = new_database(any_server)
    _make_tables(url)
    db = PostgresDatabase(url)
    result = back_up_critical_tables(
        db, store, keyring, ["calls", "app.appointments", "branches"], partition="2026-11-27-06:00"
    )
    manifest = result.manifest
    assert manifest.prefix.startswith("backups/critical/2026-11-27-06:00/critical-")
    assert [t.name for t in manifest.tables] == ["public.calls", "app.appointments"]
    assert result.missing == ["branches"]
    details = manifest.extra["critical"]["tables"]
    assert details["public.calls"]["rows"] == 4 and len(details["public.calls"]["content_sha256"]) == 64
    parquet = read_sealed_parquet(store, keyring, f"{manifest.prefix}/{manifest.tables[0].object.key}")
    assert parquet.num_rows == 4 and parquet.schema.field("id").type == "int64"

    restored = restore_tables(
        None, store, keyring, url, ["calls", "app.appointments"], into_schema="recovered_0617"
    )

    assert restored.rows == 504 and restored.source_type == "critical"
    assert _rows(url, "recovered_0617.calls") == _rows(url, "public.calls")
    assert _rows(url, "recovered_0617.appointments") == _rows(url, "app.appointments")
    assert _types(url, "recovered_0617", "calls") == _types(url, "public", "calls")
    with psycopg.connect(url) as conn:  # the side table does not share the live table's sequence
        default = conn.execute(
            "SELECT column_default FROM information_schema.columns WHERE table_schema = 'recovered_0617'"
            " AND table_name = 'appointments' AND column_name = 'id'"
        ).fetchone()[0]
    assert default is None
    assert find_backup(store, manifest.backup_id).backup_type == "critical"
    [_, critical] = backup_status(store)
    assert critical.backup_type == "critical" and critical.tables == 2 and critical.rows == 504


def test_existing_schema_holding_the_table_is_refused_and_left_alone(
    pg15_server, new_database, store, keyring
):
    url = new_database(pg15_server)
    _make_tables(url)
    back_up_critical_tables(PostgresDatabase(url), store, keyring, ["calls"], partition="2026-11-27-06:00")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA side; CREATE TABLE side.calls (x int); INSERT INTO side.calls VALUES (7)")
    with pytest.raises(RestoreError, match="already has calls"):
        restore_tables(None, store, keyring, url, ["calls"], into_schema="side")
    assert _rows(url, "side.calls") == [("(7)",)]
    with pytest.raises(ConfigError, match="not a new schema name"):
        restore_tables(None, store, keyring, url, ["calls"], into_schema="public")


def test_snapshot_is_one_consistent_cut_while_the_application_writes(
    pg15_server, new_database, store, keyring
):
    """Every write transaction adds one row to each table: a torn snapshot would count them differently."""
    url = new_database(pg15_server)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE calls (id bigserial PRIMARY KEY, body text)")
        conn.execute("CREATE TABLE appointments (id bigserial PRIMARY KEY, body text)")
        for table in ("calls", "appointments"):
            conn.execute(
                f"INSERT INTO {table} (body) SELECT repeat('x', 200) FROM generate_series(1, 100000)"
            )
    stop, committed = threading.Event(), [0]

    def write() -> None:
        with psycopg.connect(url) as conn:
            while not stop.is_set():
                with conn.transaction():
                    conn.execute("INSERT INTO calls (body) VALUES ('w')")
                    conn.execute("INSERT INTO appointments (body) VALUES ('w')")
                committed[0] += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while committed[0] < 5:  # the writer is running before the snapshot starts
            threading.Event().wait(0.01)
        manifest = back_up_critical_tables(
            PostgresDatabase(url), store, keyring, ["calls", "appointments"], partition="2026-11-27-06:00"
        ).manifest
    finally:
        stop.set()
        writer.join()
    rows = {t.name: t.rows for t in manifest.tables}
    assert rows["public.calls"] == rows["public.appointments"] > 100_000


def test_restore_into_a_side_schema_while_the_application_writes_leaves_live_tables_alone(
    pg15_server, new_database, store, keyring
):
    url = new_database(pg15_server)
    _make_tables(url)
    back_up_critical_tables(PostgresDatabase(url), store, keyring, ["calls"], partition="2026-11-27-06:00")
    snapshot_rows = _rows(url, "public.calls")
    stop, written = threading.Event(), []

    def write() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            next_id = 100
            while not stop.is_set() or len(written) < 20:
                conn.execute("INSERT INTO calls (id, note) VALUES (%s, 'live')", (next_id,))
                written.append(next_id)
                next_id += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        restore_tables(None, store, keyring, url, ["calls"], into_schema="recovered_live")
    finally:
        stop.set()
        writer.join()
    live = _rows(url, "public.calls")
    assert live[: len(snapshot_rows)] == snapshot_rows and len(live) == len(snapshot_rows) + len(written)
    assert _rows(url, "recovered_live.calls") == snapshot_rows


def test_intact_check_names_a_table_that_shrank_by_half_or_lost_a_column(
    pg15_server, new_database, store, keyring
):
    url = new_database(pg15_server)
    _make_tables(url)
    db = PostgresDatabase(url)
    tables = ["calls", "app.appointments", "staff"]
    first = back_up_critical_tables(db, store, keyring, tables, partition="2026-11-27-00:00").manifest
    first_report = check_intact(first, previous_snapshot(store, first), 0.10)
    assert first_report.passed and first_report.baseline_id is None and first_report.missing == ("staff",)

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM app.appointments WHERE id % 2 = 0")
        conn.execute("ALTER TABLE calls DROP COLUMN note")
    second = back_up_critical_tables(db, store, keyring, tables, partition="2026-11-27-06:00").manifest
    report = check_intact(second, previous_snapshot(store, second), 0.10)

    assert not report.passed and report.baseline_id == first.backup_id
    failures = {f.table: f for f in report.failures}
    assert set(failures) == {"app.appointments", "public.calls"}
    assert failures["app.appointments"].status == "shrank"
    assert (failures["app.appointments"].baseline_rows, failures["app.appointments"].rows) == (500, 250)
    assert "50% fewer" in failures["app.appointments"].detail
    assert failures["public.calls"].status == "columns_changed" and "note" in failures["public.calls"].detail
    assert report.missing == ("staff",)  # a warning, not a failure
    assert check_intact(second, first, 0.60).failures == [failures["public.calls"]]


def test_tables_restore_from_a_full_backup_into_a_side_schema(pg18_server, new_database, store, keyring):
    url = new_database(pg18_server)
    _make_tables(url)
    full = run_full_backup(PostgresDatabase(url), store, keyring, partition="2026-11-27").manifest
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM calls WHERE id > 1")

    result = restore_tables(full.backup_id, store, keyring, url, ["calls"], into_schema="from_full")

    assert result.source_type == "full" and result.rows == 4
    assert len(_rows(url, "from_full.calls")) == 4 and len(_rows(url, "public.calls")) == 1
    with psycopg.connect(url) as conn:
        databases = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'dataguard_tables_%'"
        ).fetchone()
    assert databases[0] == 0  # the scratch database is gone
