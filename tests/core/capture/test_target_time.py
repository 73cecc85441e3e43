"""--to-time without an offset means DATAGUARD_TIMEZONE, else the protected server's TimeZone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from dataguard_pipelines.core.backup import run_full_backup
from dataguard_pipelines.core.capture.shipper import ship_changes
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.errors import ConfigError
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.pitr import RecoveryTarget, plan_recovery, recover, resolve_target_time
from tests.fixtures.postgres import table_fingerprints


@pytest.mark.parametrize(
    ("text", "instant", "zone"),
    [
        ("2025-06-17 14:00:00+02:00", datetime(2025, 6, 17, 12, tzinfo=UTC), "+02:00"),
        ("2025-06-17T14:00:00Z", datetime(2025, 6, 17, 14, tzinfo=UTC), "UTC"),
        ("2025-06-17 14:00:00+00", datetime(2025, 6, 17, 14, tzinfo=UTC), "UTC"),
        ("2025-06-17 14:00:00.5-05:30", datetime(2025, 6, 17, 19, 30, 0, 500000, tzinfo=UTC), "-05:30"),
    ],
)
def test_resolve_target_time_keeps_an_explicit_offset_over_any_zone(text, instant, zone):
    resolved = resolve_target_time(text, zone="Europe/Berlin", db=None)
    assert (resolved.instant, resolved.zone, resolved.zone_source) == (instant, zone, "written in the time")
    assert resolved.utc == instant.isoformat(sep=" ")


def test_resolve_target_time_reads_a_naive_time_in_the_configured_zone():
    resolved = resolve_target_time("2025-06-17 14:00:00", zone="Europe/Berlin", db=None)
    assert resolved.instant == datetime(2025, 6, 17, 12, tzinfo=UTC)
    assert resolved.local == "2025-06-17 14:00:00+02:00 (CEST)"
    assert resolved.utc == "2025-06-17 12:00:00+00:00"
    assert resolved.zone_source == "DATAGUARD_TIMEZONE" and resolved.note is None
    assert resolved.as_dict()["instant"] == "2025-06-17T12:00:00+00:00"
    winter = resolve_target_time("2025-01-17 14:00:00", zone="Europe/Berlin", db=None)
    assert winter.instant == datetime(2025, 1, 17, 13, tzinfo=UTC)


def test_resolve_target_time_refuses_a_time_the_clocks_jumped_over():
    with pytest.raises(ConfigError, match="never happened in Europe/Berlin"):
        resolve_target_time("2025-03-30 02:30:00", zone="Europe/Berlin", db=None)


def test_resolve_target_time_takes_the_earlier_of_a_repeated_time_and_says_so():
    resolved = resolve_target_time("2025-10-26 02:30:00", zone="Europe/Berlin", db=None)
    assert resolved.instant == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)  # CEST, before the clocks went back
    assert "happened twice" in resolved.note and "+01:00 to mean the later one" in resolved.note
    assert resolved.note in resolved.describe()


def test_resolve_target_time_without_offset_or_zone_asks_for_one():
    with pytest.raises(ConfigError, match="set DATAGUARD_TIMEZONE"):
        resolve_target_time("2025-06-17 14:00:00", zone=None, db=None)
    with pytest.raises(ConfigError, match="not a time like"):
        resolve_target_time("17.06.2025 14:00", zone="UTC", db=None)


def test_restore_to_a_naive_time_uses_the_servers_time_zone(
    pg15_server, new_database, local_store, keyring_path
):
    """The database's TimeZone is Europe/Berlin: a time typed as the server shows it is a Berlin time."""
    keyring, slot = Keyring.load(keyring_path), f"dataguard_{uuid.uuid4().hex[:8]}"
    source = new_database(pg15_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {source.rsplit('/', 1)[1]} SET timezone = 'Europe/Berlin'")
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    db = PostgresDatabase(source)
    run_full_backup(db, local_store, keyring, partition="p", capture_slot=slot)
    with psycopg.connect(source, autocommit=True) as conn:  # a new session: Berlin
        conn.execute("INSERT INTO t SELECT g, 'kept' FROM generate_series(1, 10) g")
        reference = table_fingerprints(source)
        wall_clock, instant, zone = conn.execute(
            "SELECT to_char(n, 'YYYY-MM-DD HH24:MI:SS.US'), n, current_setting('TimeZone')"
            " FROM (SELECT clock_timestamp() AS n) now"
        ).fetchone()
        conn.execute("DELETE FROM t WHERE id > 5")  # committed after the target
    assert zone == "Europe/Berlin"
    ship_changes(db, local_store, keyring, slot)

    resolved = resolve_target_time(wall_clock, zone=None, db=db)

    assert resolved.zone == "Europe/Berlin" and resolved.zone_source == "the server's TimeZone"
    assert resolved.instant == instant and resolved.local.endswith(("+01:00 (CET)", "+02:00 (CEST)"))
    target = new_database(pg15_server)
    plan = plan_recovery(local_store, keyring, slot, RecoveryTarget(time=resolved.instant))
    recover(plan, local_store, keyring, target)
    assert table_fingerprints(target) == reference
