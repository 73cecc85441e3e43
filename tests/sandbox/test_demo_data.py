"""The demo generator against a real PostgreSQL: shape, determinism, refusal, scaling, pg_dump edge cases.

Server: DATAGUARD_TEST_DSN (any database on it; scratch databases dgtest_demo_* are created and dropped),
else postgresql://postgres@127.0.0.1:5432/postgres. A missing server fails the run, it is never skipped.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import date

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from dataguard_pipelines.core.errors import ConfigError
from dataguard_pipelines.sandbox.demo_data import (
    CRITICAL_TABLES,
    DEMO_COMPANIES,
    SeedReport,
    is_seeded,
    seed,
)

ADMIN_DSN = os.environ.get("DATAGUARD_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
ANCHOR = date(2025, 11, 1)
OTHER_ANCHOR = date(2025, 12, 1)
SMALL = 0.02

Factory = Callable[[], str]


@pytest.fixture(scope="module")
def new_database() -> Iterator[Factory]:
    """Creates empty scratch databases on the test server and drops them all at the end of the module."""
    created: list[str] = []

    def create() -> str:
        name = f"dgtest_demo_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return make_conninfo(ADMIN_DSN, dbname=name)

    yield create
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def small(new_database: Factory) -> tuple[str, SeedReport]:
    dsn = new_database()
    return dsn, seed(dsn, scale=SMALL, anchor=ANCHOR)


@pytest.fixture(scope="module")
def small_twin(new_database: Factory) -> str:
    dsn = new_database()
    seed(dsn, scale=SMALL, anchor=ANCHOR)
    return dsn


def _one(dsn: str, query: str) -> object:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchone()[0]


def _content_hashes(dsn: str) -> dict[str, tuple[int, str]]:
    """Per table, partition and materialized view: row count and md5 over the sorted row texts."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        names = [
            r[0]
            for r in conn.execute(
                "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
                " AND relkind IN ('r', 'm') ORDER BY relname"
            )
        ]
        return {
            name: conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(r, '|' ORDER BY r COLLATE \"C\"), ''))"
                f' FROM (SELECT t::text AS r FROM public."{name}" t) s'
            ).fetchone()
            for name in names
        }


def _counts(dsn: str, tables: tuple[str, ...]) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def test_seed_creates_at_least_120_tables_and_fills_critical_ones(small: tuple[str, SeedReport]) -> None:
    dsn, report = small
    tables = _one(dsn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    assert report.tables >= 120
    assert tables >= 120
    assert report.rows > 1000 and report.database_bytes > 0 and report.duration_s > 0
    counts = _counts(dsn, CRITICAL_TABLES)
    assert all(n > 0 for n in counts.values()), counts


def test_seed_creates_the_fixed_companies_including_85(small: tuple[str, SeedReport]) -> None:
    dsn, _ = small
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT c.id, c.name, c.slug, p.code, c.calcom_team_id, c.retell_agent_id, c.phone_number"
            " FROM companies c JOIN pricing_plans p ON p.id = c.plan_id ORDER BY c.id"
        ).fetchall()
    assert rows == [
        (c.id, c.name, c.slug, c.plan_code, c.calcom_team_id, c.retell_agent_id, c.phone_number)
        for c in DEMO_COMPANIES
    ]
    assert 85 in {c.id for c in DEMO_COMPANIES}


def test_is_seeded_is_true_after_seed_and_false_on_an_empty_database(
    small: tuple[str, SeedReport], new_database: Factory
) -> None:
    dsn, _ = small
    assert is_seeded(dsn)
    assert not is_seeded(new_database())
    assert _one(dsn, "SELECT anchor FROM demo_meta") == ANCHOR


def test_seed_is_deterministic_for_the_same_scale_and_anchor(
    small: tuple[str, SeedReport], small_twin: str
) -> None:
    first, second = _content_hashes(small[0]), _content_hashes(small_twin)
    assert len(first) > 130
    assert first == second


def test_seed_with_another_anchor_moves_timestamps_only(
    small: tuple[str, SeedReport], new_database: Factory
) -> None:
    dsn = new_database()
    seed(dsn, scale=SMALL, anchor=OTHER_ANCHOR)
    base, moved = _content_hashes(small[0]), _content_hashes(dsn)
    assert base["calls"] != moved["calls"]
    assert base["appointments"] != moved["appointments"]
    assert base["calls"][0] == moved["calls"][0]
    names = "SELECT string_agg(name || slug, ',' ORDER BY id) FROM companies"
    assert _one(small[0], names) == _one(dsn, names)
    first_call = "SELECT min(started_at) FROM calls"
    assert _one(dsn, first_call) > _one(small[0], first_call)


def test_seed_keeps_timestamps_in_the_window(small: tuple[str, SeedReport]) -> None:
    dsn, _ = small
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        lo, hi = conn.execute(
            "SELECT least((SELECT min(starts_at) FROM appointments),"
            " (SELECT min(started_at) FROM calls))::date,"
            " greatest((SELECT max(ends_at) FROM appointments), (SELECT max(ended_at) FROM calls))::date"
        ).fetchone()
    assert lo >= date(2023, 11, 1)
    assert hi <= date(2025, 11, 28)


def test_seed_refuses_a_database_with_tables_and_leaves_it_alone(new_database: Factory) -> None:
    dsn = new_database()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE keep_me (id int)")
    with pytest.raises(ConfigError, match="is not empty"):
        seed(dsn, scale=SMALL, anchor=ANCHOR)
    assert _one(dsn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 1
    assert not is_seeded(dsn)


@pytest.mark.parametrize("scale", [0, -1, math.nan, math.inf])
def test_seed_rejects_a_scale_out_of_range(scale: float) -> None:
    with pytest.raises(ConfigError, match="scale"):
        seed("postgresql://unused.invalid/none", scale=scale)


def test_seed_rows_grow_linearly_with_scale(small: tuple[str, SeedReport], new_database: Factory) -> None:
    dsn = new_database()
    triple = seed(dsn, scale=3 * SMALL, anchor=ANCHOR)
    big = ("customers", "appointments", "calls", "call_events_raw", "activity_log")
    one, three = _counts(small[0], big), _counts(dsn, big)
    for table in big:
        assert 2.5 <= three[table] / one[table] <= 3.5, (table, one[table], three[table])
    assert triple.database_bytes > small[1].database_bytes


def test_seed_sets_sequences_so_the_app_can_insert(small: tuple[str, SeedReport]) -> None:
    dsn, _ = small
    with psycopg.connect(dsn) as conn:  # rolled back below: the shared database stays intact
        max_id = conn.execute("SELECT max(id) FROM customers").fetchone()[0]
        new_id = conn.execute(
            "INSERT INTO customers (uuid, company_id, first_name, created_at, updated_at)"
            " VALUES (md5('new')::uuid, 85, 'Neu', now(), now()) RETURNING id"
        ).fetchone()[0]
        number = conn.execute("SELECT nextval('invoice_number_seq')").fetchone()[0]
        max_number = conn.execute("SELECT max(number) FROM invoices").fetchone()[0]
        conn.rollback()
    assert new_id == max_id + 1
    assert number == max_number + 1


PUBLIC = "'public'::regnamespace"
# (feature, query counting it, minimum count): the breadth a dump/restore tool has to get right
PG_DUMP_FEATURES = (
    ("enum", f"SELECT count(*) FROM pg_type WHERE typtype = 'e' AND typnamespace = {PUBLIC}", 1),
    ("domain", f"SELECT count(*) FROM pg_type WHERE typtype = 'd' AND typnamespace = {PUBLIC}", 1),
    ("view", "SELECT count(*) FROM pg_views WHERE schemaname = 'public'", 1),
    ("matview", "SELECT count(*) FROM pg_matviews WHERE schemaname = 'public' AND ispopulated", 1),
    ("partitions", "SELECT count(*) FROM pg_inherits WHERE inhparent = 'activity_log'::regclass", 5),
    ("generated column", "SELECT count(*) FROM information_schema.columns WHERE is_generated = 'ALWAYS'", 1),
    (
        "plpgsql function",
        "SELECT count(*) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang"
        f" WHERE l.lanname = 'plpgsql' AND p.pronamespace = {PUBLIC}",
        1,
    ),
    ("trigger", "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal", 1),
    ("partial index", "SELECT count(*) FROM pg_index WHERE indpred IS NOT NULL", 1),
    ("check", f"SELECT count(*) FROM pg_constraint WHERE contype = 'c' AND connamespace = {PUBLIC}", 1),
    (
        "table comment",
        "SELECT count(*) FROM pg_description WHERE objoid = 'calls'::regclass AND objsubid = 0",
        1,
    ),
    (
        "standalone sequence",
        "SELECT count(*) FROM pg_class s WHERE s.relname = 'invoice_number_seq'"
        " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = s.oid AND d.deptype IN ('a', 'i'))",
        1,
    ),
    (
        "rows in a table without primary key",
        "SELECT count(*) FROM call_events_raw WHERE NOT EXISTS"
        " (SELECT 1 FROM pg_constraint WHERE conrelid = 'call_events_raw'::regclass AND contype = 'p')",
        1,
    ),
    (
        "uuid, bytea, numeric, array, jsonb",
        "SELECT count(DISTINCT data_type) FROM information_schema.columns"
        " WHERE table_schema = 'public' AND data_type IN ('uuid', 'bytea', 'numeric', 'ARRAY', 'jsonb')",
        5,
    ),
    (
        "tab, CR, newline, backslash",
        "SELECT count(DISTINCT c) FROM (SELECT CASE"
        " WHEN notes LIKE E'%\\t%' THEN 1 WHEN notes LIKE E'%\\r%' THEN 2 WHEN notes LIKE E'%\\n%' THEN 3"
        " WHEN notes LIKE E'%\\\\\\\\%' THEN 4 END AS c FROM customers) s WHERE c IS NOT NULL",
        4,
    ),
    (
        "the strings NULL, \\N and ''",
        "SELECT count(DISTINCT notes) FROM customers WHERE notes IN ('NULL', E'\\\\N', '')",
        3,
    ),
    ("non-Latin text", "SELECT count(*) FROM customers WHERE notes ~ '[日本語]'", 1),
)


def test_seed_exercises_what_pg_dump_must_survive(small: tuple[str, SeedReport]) -> None:
    dsn, _ = small
    with psycopg.connect(dsn) as conn:
        found = {name: (conn.execute(sql).fetchone()[0], minimum) for name, sql, minimum in PG_DUMP_FEATURES}
    missing = {name: count for name, (count, minimum) in found.items() if count < minimum}
    assert not missing, missing


def test_seed_gives_company_85_a_mid_month_plan_change_before_the_anchor(
    small: tuple[str, SeedReport],
) -> None:
    dsn, _ = small
    with psycopg.connect(dsn) as conn:
        changes = conn.execute(
            "SELECT valid_from FROM company_plan_periods WHERE company_id = 85 AND valid_from > "
            "(SELECT min(valid_from) FROM company_plan_periods WHERE company_id = 85)"
        ).fetchall()
        calls_that_month = conn.execute(
            "SELECT count(*) FROM calls WHERE company_id = 85 AND call_status = 'ended'"
            " AND started_at >= '2025-10-01' AND started_at < '2025-11-01'"
        ).fetchone()[0]
    assert changes == [(date(2025, 10, 15),)]
    assert calls_that_month > 0
