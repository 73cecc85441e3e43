"""restore --to-time: the mission's disaster undone through the CLI."""

from __future__ import annotations

import json
import uuid
from datetime import UTC
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.cli.helpers import assert_one_clear_sentence, run, unique_slot
from tests.fixtures.postgres import drop_database


def _server_clock(url: str):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT clock_timestamp()").fetchone()[0]


@pytest.mark.slow  # over 5 s: make test runs it, make test-fast does not
def test_disaster_drill_restores_the_second_before_a_destructive_migration(
    demo_pg15_copy, tmp_path, keyring_path
):
    """The mission's accident: a migration drops most tables and truncates the rest; --to-time undoes it."""
    import time

    from tests.fixtures.postgres import table_fingerprints

    slot = unique_slot()
    env = {
        "DATAGUARD_HOME": str(tmp_path / "home"),
        "DATAGUARD_STORE_URL": (tmp_path / "store").as_uri(),
        "DATAGUARD_KEYRING": str(keyring_path),
        "DATAGUARD_DATABASE_URL": demo_pg15_copy,
        "DATAGUARD_CAPTURE_SLOT": slot,
        "DATAGUARD_TIMEZONE": "Europe/Berlin",  # the operator types Berlin wall-clock time
    }
    assert "new slot" in run(["capture", "--once"], env).stdout
    run(["backup", "--type", "full"], env)
    with psycopg.connect(demo_pg15_copy) as conn:  # the business goes on after the nightly backup
        conn.execute("UPDATE customers SET email = 'moved+' || id || '@example.com' WHERE id % 7 = 0")
        conn.execute("DELETE FROM sessions WHERE ctid IN (SELECT ctid FROM sessions LIMIT 5)")
        conn.execute(
            'INSERT INTO settings ("group", name, payload) VALUES (%s, %s, %s)', ("ops", "after_backup", "1")
        )
        conn.execute("ALTER TABLE customers ADD COLUMN loyalty_tier text DEFAULT 'bronze'")
        conn.execute(
            "UPDATE call_events_raw SET payload = payload WHERE ctid IN (SELECT ctid FROM call_events_raw LIMIT 3)"
        )
    reference = table_fingerprints(demo_pg15_copy)
    last_good = _server_clock(demo_pg15_copy).replace(microsecond=0)
    berlin_wall_clock = last_good.astimezone(ZoneInfo("Europe/Berlin")).replace(tzinfo=None)
    while (
        _server_clock(demo_pg15_copy).replace(microsecond=0) <= last_good
    ):  # the migration starts a second later
        time.sleep(0.05)
    with psycopg.connect(demo_pg15_copy) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ]
        for table in tables[: len(tables) * 3 // 4]:
            conn.execute(f'DROP TABLE IF EXISTS public."{table}" CASCADE')
        remaining = [
            r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        conn.execute("TRUNCATE " + ", ".join(f'public."{t}"' for t in remaining) + " CASCADE")
    assert len(table_fingerprints(demo_pg15_copy)) < len(reference) / 2
    run(["backup", "--type", "incremental"], env)

    target = demo_pg15_copy.rsplit("/", 1)[0] + f"/dgtest_drill_target_{uuid.uuid4().hex[:8]}"
    try:
        result = run(
            [
                "restore",
                "--target-url",
                target,
                "--to-time",
                f"{berlin_wall_clock:%Y-%m-%d %H:%M:%S}",
                "--json",
            ],
            env,
        )
        report = json.loads(result.stdout)
        assert report["target_time"]["zone"] == "Europe/Berlin"
        assert report["target_time"]["instant"] == last_good.astimezone(UTC).isoformat()
        # the business transaction (with its ALTER TABLE), plus the audit entry the backup itself wrote
        assert report["transactions_replayed"] >= 2 and report["ddl_replayed"] >= 1
        assert report["changes_replayed"] > 5
        assert table_fingerprints(target) == reference
        future = run(
            ["restore", "--target-url", target + "x", "--to-time", "2999-01-01 00:00:00"], env, check=2
        )
        assert_one_clear_sentence(future, "in the future")
        status = run(["capture", "--status", "--json"], env)
        assert json.loads(status.stdout)["gaps"] == []
        assert "change segments" in run(["verify"], env).stdout
        [segment] = sorted((tmp_path / "store" / "changes" / slot / "segments").glob("*.jsonl.dgar"))[-1:]
        data = bytearray(segment.read_bytes())
        data[len(data) // 2] ^= 0x01
        segment.write_bytes(bytes(data))
        tampered = run(["verify"], env, check=1)
        assert "differs from the segment index" in tampered.stderr
    finally:
        drop_database(target)
