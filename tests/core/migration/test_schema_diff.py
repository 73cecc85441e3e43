"""schema_diff: what a migration did, told apart into destructive and harmless changes."""

from __future__ import annotations

import psycopg
import pytest

from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.migration.schema_diff import (
    ADDED_COLUMN,
    ADDED_TABLE,
    DROPPED_COLUMN,
    DROPPED_TABLE,
    EMPTIED_TABLE,
    RENAMED_COLUMN,
    RENAMED_TABLE,
    REWRITING_TYPE,
    ROWS_CHANGED,
    WIDENED_TYPE,
    diff_snapshots,
    is_widening,
    snapshot_schema,
)


@pytest.mark.parametrize(
    ("old", "new", "widening"),
    [
        ("character varying(10)", "character varying(50)", True),
        ("character varying(50)", "text", True),
        ("character varying(50)", "character varying", True),
        ("text", "character varying", True),
        ("integer", "bigint", True),
        ("numeric(10,2)", "numeric(12,2)", True),
        ("numeric(10,2)", "numeric", True),
        ("integer", "numeric(12,0)", True),
        ("real", "double precision", True),
        ("character varying(50)", "character varying(10)", False),
        ("text", "character varying(10)", False),
        ("text", "integer", False),
        ("bigint", "integer", False),
        ("numeric(12,2)", "numeric(10,2)", False),
        ("numeric(10,2)", "numeric(10,1)", False),
        ("numeric", "numeric(10,2)", False),
        ("timestamp without time zone", "timestamp with time zone", False),
        ("integer[]", "bigint", False),
    ],
)
def test_is_widening_tells_harmless_type_changes_from_rewrites(old, new, widening):
    assert is_widening(old, new) is widening


def test_diff_snapshots_finds_every_destructive_change_and_its_rows(pg15_server, new_database):
    url = new_database(pg15_server)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE doomed (id int); INSERT INTO doomed SELECT generate_series(1, 7);"
            "CREATE TABLE emptied (id int); INSERT INTO emptied SELECT generate_series(1, 5);"
            "CREATE TABLE shaped (id int, note text, code varchar(50), wide varchar(10), gone int,"
            " amount numeric(10,2));"
            "INSERT INTO shaped SELECT g, 'n', 'c', 'w', g, g FROM generate_series(1, 3) g;"
            "CREATE TABLE old_name (id int); INSERT INTO old_name VALUES (1);"
            "CREATE TABLE recreated (id int); INSERT INTO recreated VALUES (1), (2);"
            "CREATE TABLE grows (id int)"
        )
    db = PostgresDatabase(url)
    before = snapshot_schema(db)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "DROP TABLE doomed; TRUNCATE emptied;"
            "ALTER TABLE shaped DROP COLUMN gone, ALTER COLUMN code TYPE varchar(10),"
            " ALTER COLUMN wide TYPE varchar(50), ALTER COLUMN note TYPE varchar(200), ADD COLUMN extra int;"
            "ALTER TABLE shaped RENAME COLUMN amount TO total;"
            "ALTER TABLE old_name RENAME TO new_name;"
            "DROP TABLE recreated; CREATE TABLE recreated (id int);"
            "INSERT INTO grows VALUES (1), (2), (3); CREATE TABLE fresh (id int)"
        )
    changes = diff_snapshots(before, snapshot_schema(db), allow_drop=("public.emptied",))
    found = {(c.kind, c.table, c.column): c for c in changes}
    assert found[(DROPPED_TABLE, "public.doomed", None)].rows == 7
    assert found[(DROPPED_TABLE, "public.recreated", None)].detail == "created again"
    assert found[(EMPTIED_TABLE, "public.emptied", None)].rows == 5
    assert found[(EMPTIED_TABLE, "public.emptied", None)].allowed
    assert found[(DROPPED_COLUMN, "public.shaped", "gone")].rows == 3
    rewrite = found[(REWRITING_TYPE, "public.shaped", "code")]
    assert rewrite.detail == "character varying(50) -> character varying(10)" and rewrite.blocks
    assert not found[(WIDENED_TYPE, "public.shaped", "wide")].destructive
    assert (REWRITING_TYPE, "public.shaped", "note") in found  # text -> varchar(200) may reject long values
    assert (ADDED_COLUMN, "public.shaped", "extra") in found
    assert found[(RENAMED_COLUMN, "public.shaped", "amount")].detail == "-> total"
    assert found[(RENAMED_TABLE, "public.old_name", None)].detail == "-> public.new_name"
    assert found[(ROWS_CHANGED, "public.grows", None)].rows == 3
    assert (ADDED_TABLE, "public.fresh", None) in found
    blocking = sorted((c.kind, c.table) for c in changes if c.blocks)
    assert blocking == [
        (DROPPED_COLUMN, "public.shaped"),
        (DROPPED_TABLE, "public.doomed"),
        (DROPPED_TABLE, "public.recreated"),
        (REWRITING_TYPE, "public.shaped"),
        (REWRITING_TYPE, "public.shaped"),
    ]
    assert changes[0].destructive and not changes[-1].destructive  # destructive ones first


def test_snapshot_schema_estimates_big_tables_but_knows_when_they_are_empty(pg15_server, new_database):
    """Above the exact-count size the planner's estimate is used (marked), and emptiness is still exact."""
    url = new_database(pg15_server)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE big (id int); INSERT INTO big SELECT generate_series(1, 1000); ANALYZE big"
        )
        conn.execute("CREATE TABLE big_empty (id int)")
    snapshot = snapshot_schema(PostgresDatabase(url), exact_count_max_bytes=-1)
    big, empty = snapshot.tables["public.big"], snapshot.tables["public.big_empty"]
    assert (big.rows, big.rows_exact, big.is_empty) == (1000, False, False)
    assert (empty.rows, empty.rows_exact, empty.is_empty) == (0, True, True)
