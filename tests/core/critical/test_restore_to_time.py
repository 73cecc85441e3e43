"""restore --tables … --into-schema … --to-time: a full backup cut at the capture slot plus the shipped
change stream, replayed to a moment before a destructive write, loaded into a side schema of the SAME live
database; the live tables keep everything written since."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from dataguard_pipelines.core.backup import run_full_backup
from dataguard_pipelines.core.capture.hourly import seal_hour
from dataguard_pipelines.core.critical.restore import restore_tables_to_time
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.errors import RestoreError
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.pitr import RecoveryTarget, plan_recovery
from tests.fixtures.postgres import table_fingerprints

HOUR = datetime(2026, 1, 1, tzinfo=UTC)  # the hour a seal counts; draining does not depend on it
SIDE = "recovered_0617"


@pytest.fixture
def keyring(keyring_path) -> Keyring:
    return Keyring.load(keyring_path)


def _public(fingerprints: dict) -> dict:
    return {name: value for name, value in fingerprints.items() if name.startswith("public.")}


def test_tables_restored_to_a_time_into_a_side_schema_of_the_live_database(
    pg15_server, new_database, local_store, keyring
):
    slot = f"dataguard_{uuid.uuid4().hex[:8]}"
    live = new_database(pg15_server)
    with psycopg.connect(live, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE calls (id int PRIMARY KEY, status text, cost numeric(10, 2));"
            "CREATE TABLE appointments (id int PRIMARY KEY, starts_at timestamptz, note text);"
            "CREATE TABLE sessions (id int PRIMARY KEY, payload text);"
            "INSERT INTO calls SELECT g, 'new', g * 1.5 FROM generate_series(1, 40) g;"
            "INSERT INTO appointments SELECT g, '2026-06-17 09:00+02'::timestamptz + g * interval '1 h', 'a'"
            " FROM generate_series(1, 30) g;"
            "INSERT INTO sessions SELECT g, 's' FROM generate_series(1, 10) g;"
        )
    db = PostgresDatabase(live)
    base = run_full_backup(db, local_store, keyring, partition="p", capture_slot=slot)
    assert base.pitr_available, base.pitr_reason

    with psycopg.connect(live, autocommit=True) as conn:  # the day's writes, in the change stream
        conn.execute("INSERT INTO calls SELECT g, 'late', g FROM generate_series(41, 60) g")
        conn.execute("UPDATE calls SET status = 'done' WHERE id % 4 = 0")
        conn.execute("DELETE FROM appointments WHERE id % 5 = 0")
        conn.execute("UPDATE appointments SET note = 'moved', starts_at = starts_at + interval '1 day'")
        conn.execute("INSERT INTO sessions VALUES (11, 'before the target')")
        at_target = _public(table_fingerprints(conn))
        at = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        # the accident, after the target: most calls gone, every appointment overwritten
        conn.execute("DELETE FROM calls WHERE id > 5")
        conn.execute("UPDATE appointments SET note = 'overwritten'")
        conn.execute("INSERT INTO sessions VALUES (12, 'after the target')")
    seal_hour(db, local_store, keyring, slot, HOUR)  # ships the stream past the target
    live_before = _public(table_fingerprints(live))
    assert live_before["public.calls"] != at_target["public.calls"]

    plan = plan_recovery(local_store, keyring, slot, RecoveryTarget(time=at))
    assert plan.backup.backup_id == base.manifest.backup_id
    result = restore_tables_to_time(
        plan, local_store, keyring, live, ["calls", "public.appointments"], into_schema=SIDE
    )

    assert result.source_type == "point-in-time" and result.schema == SIDE
    assert set(result.tables) == {f"{SIDE}.calls", f"{SIDE}.appointments"}
    after = table_fingerprints(live)
    side = {name: value for name, value in after.items() if name.startswith(f"{SIDE}.")}
    assert side == {
        f"{SIDE}.calls": at_target["public.calls"],
        f"{SIDE}.appointments": at_target["public.appointments"],
    }
    assert result.rows == at_target["public.calls"][0] + at_target["public.appointments"][0]
    assert _public(after) == live_before  # the live tables keep everything, the accident included

    with pytest.raises(RestoreError, match="already has"):  # never overwrites: the side tables exist now
        restore_tables_to_time(plan, local_store, keyring, live, ["calls"], into_schema=SIDE)
    assert table_fingerprints(live) == after
