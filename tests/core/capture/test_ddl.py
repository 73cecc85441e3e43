"""Which statement of a captured query string a DDL event replays."""

from __future__ import annotations

import pytest

from dataguard_pipelines.core.capture.replay import ddl_statement

MIXED = "ALTER TABLE a ADD b int; INSERT INTO a VALUES (1); COMMENT ON TABLE a IS 'Größe; ja'; DROP TABLE c"


@pytest.mark.parametrize(
    ("seq", "expected"),
    [
        (1, "ALTER TABLE a ADD b int"),
        (2, "COMMENT ON TABLE a IS 'Größe; ja'"),
        (3, "DROP TABLE c"),
        (4, None),
    ],
)
def test_the_nth_ddl_event_replays_the_nth_ddl_statement_and_never_the_dml(seq, expected):
    assert ddl_statement(MIXED, seq) == expected


def test_ddl_from_a_do_block_runs_the_block_once():
    block = "DO $$ BEGIN EXECUTE 'CREATE TABLE z (i int)'; EXECUTE 'CREATE TABLE y (i int)'; END $$"
    assert ddl_statement(block, 1) == block
    assert ddl_statement(block, 2) is None
