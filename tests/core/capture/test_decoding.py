"""parse_event on real `test_decoding` output from PostgreSQL 15, plus a few literal strings for edge cases.

Everything the replayer does rests on this parser reading PostgreSQL's text exactly: a value cut short or a
column lost turns into a wrong row after a point-in-time restore. The module captures one stream from a
real server and checks each kind of row against what PostgreSQL itself says the values are (`col::text`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from dataguard_pipelines.core.capture.decoding import (
    UNCHANGED,
    Begin,
    Commit,
    Message,
    RowChange,
    Truncate,
    parse_event,
    unquote_identifier,
)
from dataguard_pipelines.core.capture.slot import DECODING_SESSION
from dataguard_pipelines.core.errors import FormatError
from tests.fixtures.postgres import create_database, drop_database

Row = tuple[int, int, str]  # (lsn, xid, data) as pg_logical_slot_peek_changes returns them

WEIRD = '"my schema"."we""ird [t]"'

SCHEMA = f"""
CREATE SCHEMA "my schema";
CREATE TYPE "my schema"."Mood" AS ENUM ('sad', 'it''s ok', 'happy');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TABLE {WEIRD} ("id col" int PRIMARY KEY, "a""b" text, "x[1]" text, "v:c" text, "new-tuple" text,
                      "Mixed.Case, x" text, "café" text);
CREATE TABLE kinds (id int PRIMARY KEY, t text, tarr text[], varr character varying[], iarr int[],
                    f8 float8, f4 real, num numeric, bits bit(4), vbits bit varying, bin bytea, doc jsonb,
                    js json, ok bool, ts timestamptz, tsl timestamp, iv interval, m money, u uuid, p point,
                    mood "my schema"."Mood", moods "my schema"."Mood"[], d posint, rng int4range, c char(3),
                    vc varchar(5), big bigint, small smallint);
CREATE TABLE toasted (id int PRIMARY KEY, payload text, n int);
ALTER TABLE toasted ALTER payload SET STORAGE EXTERNAL;
CREATE TABLE full_ident (a int, b text);
ALTER TABLE full_ident REPLICA IDENTITY FULL;
CREATE TABLE keyless (a int, b text);
CREATE TABLE t1 (id serial PRIMARY KEY);
CREATE TABLE t2 (id int PRIMARY KEY, t1 int REFERENCES t1);
CREATE TABLE "trunc, me" (id int);
"""

NASTY_TEXT = "it's a\nnew line \\ back new-tuple: x[text]:'y' \t tab '' end'"
KIND_ROWS: list[tuple[object, ...]] = [
    (
        1,
        NASTY_TEXT,
        ["a b", 'q"uote', "it's", None, "", "NULL", "\\", "{}", "x new-tuple: y"],
        ["x", "y,z"],
        [1, None, -3],
        float("nan"),
        float("-inf"),
        Decimal("NaN"),
        "1010",
        "101",
        b"\x00\xff'\\\n",
        Jsonb({"k": "it's", "n": [1, None], "s": "line\nbreak \\ new-tuple: x"}),
        '{"a" :  1}',
        True,
        datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=timezone(timedelta(hours=2))),
        datetime(2024, 1, 2, 3, 4, 5),
        timedelta(days=1, hours=2),
        "12.50",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "(1,2)",
        "it's ok",
        ["sad", "it's ok"],
        5,
        "[1,5)",
        "ab",
        "héllo",
        -(2**63),
        -32768,
    ),
    (2,) + (None,) * 27,
    (
        3,
        "",
        [],
        [],
        [],
        float("inf"),
        -0.0,
        Decimal("Infinity"),
        "0000",
        "",
        b"",
        Jsonb([]),
        "null",
        False,
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        timedelta(0),
        "-0.01",
        "00000000-0000-0000-0000-000000000000",
        "(-1.5,1e+300)",
        "sad",
        [],
        1,
        "empty",
        "",
        "",
        2**63 - 1,
        32767,
    ),
    (
        4,
        "'",
        ["'", "''", '"', ",", " "],
        ["[", "]", ":"],
        [0],
        1e-300,
        3.4e38,
        Decimal("-1234567890.0987654321"),
        "1111",
        "0" * 70,
        bytes(range(256)),
        Jsonb({"": "", "q": "'\"", "u": "\u2603 \U0001f600"}),
        "[1, 2]",
        True,
        datetime(2000, 2, 29, tzinfo=UTC),
        datetime(2000, 2, 29),
        timedelta(microseconds=1),
        "0",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "(0,0)",
        "happy",
        ["happy", "happy"],
        2147483647,
        "(,)",
        "'a'",
        "'''''",
        0,
        0,
    ),
]

# Each step runs in its own transaction, in this order; the `decoded` fixture maps a step to its rows.
STEPS: list[tuple[str, str, tuple]] = [
    *[
        (f"kinds_{row[0]}", f"INSERT INTO kinds VALUES ({', '.join(['%s'] * len(row))})", row)
        for row in KIND_ROWS
    ],
    (
        "weird_insert",
        f"INSERT INTO {WEIRD} VALUES (1, %s, 'x[1]', 'v:c', %s, 'M', 'é')",
        (NASTY_TEXT, " new-tuple: "),
    ),
    ("weird_pk_change", f'UPDATE {WEIRD} SET "id col" = 2, "a""b" = %s WHERE "id col" = 1', ("q'q",)),
    ("weird_update", f'UPDATE {WEIRD} SET "new-tuple" = NULL WHERE "id col" = 2', ()),
    ("weird_delete", f'DELETE FROM {WEIRD} WHERE "id col" = 2', ()),
    ("toast_insert", "INSERT INTO toasted VALUES (1, repeat('x', 10000) || 'end', 1)", ()),
    ("toast_update", "UPDATE toasted SET n = 2", ()),
    ("toast_pk_change", "UPDATE toasted SET id = 2", ()),
    ("toast_rewrite", "UPDATE toasted SET payload = 'small'", ()),
    (
        "full_insert",
        "INSERT INTO full_ident VALUES (1, 'x'), (1, 'x'), (NULL, 'a new-tuple: b[text]:''c'''),"
        " (NULL, NULL), (NULL, NULL), (7, NULL)",
        (),
    ),
    (
        "full_update",
        "UPDATE full_ident SET b = 'y' WHERE ctid = (SELECT min(ctid) FROM full_ident WHERE b = 'x')",
        (),
    ),
    ("full_update_null_a", "UPDATE full_ident SET a = 3 WHERE b LIKE 'a new-tuple%'", ()),
    (
        "full_update_all_null",
        "UPDATE full_ident SET b = 'z' WHERE ctid = (SELECT min(ctid) FROM full_ident WHERE a IS NULL AND b IS NULL)",
        (),
    ),
    ("full_delete_all_null", "DELETE FROM full_ident WHERE a IS NULL AND b IS NULL", ()),
    ("full_delete_null_b", "DELETE FROM full_ident WHERE a = 7", ()),
    ("keyless_insert", "INSERT INTO keyless VALUES (1, 'k')", ()),
    ("keyless_update", "UPDATE keyless SET b = 'l'", ()),
    ("keyless_delete", "DELETE FROM keyless", ()),
    ("trunc_multi", "INSERT INTO t1 DEFAULT VALUES; TRUNCATE t1, t2 RESTART IDENTITY CASCADE", ()),
    ("trunc_cascade", "TRUNCATE t1 CASCADE", ()),
    ("trunc_restart", "TRUNCATE t2 RESTART IDENTITY", ()),
    ("trunc_quoted", 'TRUNCATE "trunc, me"', ()),
    ("msg_tx", "SELECT pg_logical_emit_message(true, 'pre fix', %s)", ("line1\nline2: content: x, sz: 3 '",)),
    ("msg_nontx", "SELECT pg_logical_emit_message(false, 'nt', 'hello\nworld')", ()),
    ("msg_empty", "SELECT pg_logical_emit_message(true, 'p, sz', '')", ()),
]


@pytest.fixture(scope="module")
def decoded(pg15_server: str) -> dict:
    """One real capture of every step, grouped per step; also each `kinds` row as PostgreSQL prints it."""
    url = create_database(pg15_server)
    slot = f"dg_decoding_{uuid.uuid4().hex[:8]}"  # slot names are per cluster, not per database
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA)
            conn.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (slot,))
            for _, statement, params in STEPS:
                with conn.transaction():
                    conn.execute(statement, params or None)
            for name, value in DECODING_SESSION.items():
                conn.execute(sql.SQL("SELECT set_config({}, {}, false)").format(name, value))
            rows = conn.execute(
                "SELECT (lsn - '0/0'::pg_lsn)::bigint, xid::text::bigint, data"
                " FROM pg_logical_slot_peek_changes(%s, NULL, NULL, 'include-xids', '1', 'include-timestamp', '1')",
                (slot,),
            ).fetchall()
            types = conn.execute(
                "SELECT attname, atttypid = 'bool'::regtype FROM pg_attribute"
                " WHERE attrelid = 'kinds'::regclass AND attnum > 0 ORDER BY attnum"
            ).fetchall()
            columns = [name for name, _ in types]
            # concat() prints through the type's output function (::text trims char(n)); booleans are the one
            # type test_decoding spells its own way: true/false, where boolout says t/f
            select = sql.SQL("SELECT {} FROM kinds ORDER BY id").format(
                sql.SQL(", ").join(
                    sql.SQL(
                        "{0}::text" if is_bool else "CASE WHEN {0} IS NOT NULL THEN concat({0}) END"
                    ).format(sql.Identifier(name))
                    for name, is_bool in types
                )
            )
            kinds = {int(r[0]): dict(zip(columns, r, strict=True)) for r in conn.execute(select)}
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    finally:
        drop_database(url)
    groups = _groups(rows)
    assert len(groups) == len(STEPS), [g[0][2][:60] for g in groups]
    return {
        "steps": {label: group for (label, _, _), group in zip(STEPS, groups, strict=True)},
        "kinds": kinds,
    }


def _groups(rows: list[Row]) -> list[list[Row]]:
    """BEGIN..COMMIT runs, and each row outside a transaction (a non-transactional message) on its own."""
    groups: list[list[Row]] = []
    current: list[Row] | None = None
    for row in rows:
        if row[2].startswith("BEGIN "):
            current = [row]
        elif current is not None:
            current.append(row)
            if row[2].startswith("COMMIT "):
                groups.append(current)
                current = None
        else:
            groups.append([row])
    return groups


def _changes(decoded: dict, label: str) -> list[tuple[str, object]]:
    """(raw text, parsed event) of the step's rows between BEGIN and COMMIT."""
    group = decoded["steps"][label]
    inner = group[1:-1] if group[0][2].startswith("BEGIN ") else group
    return [(data, parse_event(data)) for _, _, data in inner]


def _one(decoded: dict, label: str) -> tuple[str, RowChange]:
    changes = _changes(decoded, label)
    assert len(changes) == 1, changes
    raw, event = changes[0]
    assert isinstance(event, RowChange), raw
    return raw, event


# --- values: every kind of column reads back exactly as PostgreSQL prints it ---------------------------------


@pytest.mark.parametrize("row_id", [row[0] for row in KIND_ROWS])
def test_inserted_values_equal_postgres_text_output(decoded: dict, row_id: int) -> None:
    """Quoted, bare (numbers, NaN, Infinity, booleans), B'..' and null values all come back as `col::text`."""
    raw, event = _one(decoded, f"kinds_{row_id}")
    assert event.op == "INSERT" and event.table == "public.kinds" and event.old is None
    assert dict(event.new) == decoded["kinds"][row_id], raw
    assert [name for name, _ in event.new] == list(decoded["kinds"][row_id])


def test_special_floats_and_bits_are_printed_unquoted(decoded: dict) -> None:
    """Guards the test itself: the bare-value and bit-string branches of the parser are really exercised."""
    raw, event = _one(decoded, "kinds_1")
    assert " f8[double precision]:NaN " in raw
    assert " f4[real]:-Infinity " in raw
    assert " num[numeric]:NaN " in raw
    assert " bits[bit]:B'1010' " in raw
    assert " ok[boolean]:true " in raw
    values = dict(event.new)
    assert (values["f8"], values["f4"], values["num"], values["bits"], values["vbits"]) == (
        "NaN",
        "-Infinity",
        "NaN",
        "1010",
        "101",
    )
    raw3, event3 = _one(decoded, "kinds_3")
    assert " f8[double precision]:Infinity " in raw3 and " vbits[bit varying]:B'' " in raw3
    assert dict(event3.new)["f4"] == "-0"
    assert dict(event3.new)["vbits"] == ""


def test_array_and_user_types_keep_their_brackets(decoded: dict) -> None:
    """Type names with `[]`, spaces, schema and quotes sit inside the column's brackets."""
    raw, event = _one(decoded, "kinds_1")
    for fragment in (
        " tarr[text[]]:'{",
        " varr[character varying[]]:'{x,\"y,z\"}'",
        " mood[\"my schema\".\"Mood\"]:'it''s ok'",
        ' moods["my schema"."Mood"[]]:',
        " ts[timestamp with time zone]:'2024-01-02 01:04:05.5+00'",
    ):
        assert fragment in raw
    values = dict(event.new)
    assert values["tarr"] == '{"a b","q\\"uote",it\'s,NULL,"","NULL","\\\\","{}","x new-tuple: y"}'
    assert values["moods"] == '{sad,"it\'s ok"}'
    assert values["t"] == NASTY_TEXT


def test_nulls_are_none(decoded: dict) -> None:
    _, event = _one(decoded, "kinds_2")
    assert event.new[0] == ("id", "2")
    assert all(value is None for _, value in event.new[1:])


# --- identifiers -----------------------------------------------------------------------------------------------


def test_quoted_schema_table_and_column_names(decoded: dict) -> None:
    """The table stays as PostgreSQL quoted it (replay pastes it into SQL); column names are unquoted."""
    raw, event = _one(decoded, "weird_insert")
    assert raw.startswith(f"table {WEIRD}: INSERT: ")
    assert event.table == WEIRD
    assert event.new == (
        ("id col", "1"),
        ('a"b', NASTY_TEXT),
        ("x[1]", "x[1]"),
        ("v:c", "v:c"),
        ("new-tuple", " new-tuple: "),
        ("Mixed.Case, x", "M"),
        ("café", "é"),
    )


def test_unquote_identifier() -> None:
    assert unquote_identifier("plain") == "plain"
    assert unquote_identifier('"we""ird [t]"') == 'we"ird [t]'
    assert unquote_identifier('""""') == '"'


# --- UPDATE and DELETE -----------------------------------------------------------------------------------------


def test_update_that_changes_the_key_carries_the_old_key(decoded: dict) -> None:
    raw, event = _one(decoded, "weird_pk_change")
    assert " old-key: " in raw
    assert event.op == "UPDATE"
    assert event.old == (("id col", "1"),)
    new = dict(event.new)
    assert new["id col"] == "2" and new['a"b'] == "q'q" and new["new-tuple"] == " new-tuple: "


def test_update_without_key_change_has_no_old_key(decoded: dict) -> None:
    raw, event = _one(decoded, "weird_update")
    assert "old-key" not in raw
    assert event.old is None
    assert dict(event.new)["new-tuple"] is None and dict(event.new)["id col"] == "2"


def test_delete_by_key(decoded: dict) -> None:
    _, event = _one(decoded, "weird_delete")
    assert (event.op, event.table, event.old, event.new) == ("DELETE", WEIRD, (("id col", "2"),), ())


def test_untouched_toast_value_is_unchanged(decoded: dict) -> None:
    """An UPDATE that leaves a TOASTed column alone does not print it; replay must leave it alone too."""
    _, insert = _one(decoded, "toast_insert")
    assert dict(insert.new)["payload"] == "x" * 10000 + "end"
    raw, update = _one(decoded, "toast_update")
    assert "payload[text]:unchanged-toast-datum" in raw
    assert update.old is None
    assert update.new == (("id", "1"), ("payload", UNCHANGED), ("n", "2"))
    _, pk_change = _one(decoded, "toast_pk_change")
    assert pk_change.old == (("id", "1"),)
    assert pk_change.new == (("id", "2"), ("payload", UNCHANGED), ("n", "2"))
    _, rewrite = _one(decoded, "toast_rewrite")
    assert dict(rewrite.new)["payload"] == "small"


def test_replica_identity_full_update_carries_the_whole_old_row(decoded: dict) -> None:
    raw, event = _one(decoded, "full_update")
    assert (
        raw
        == "table public.full_ident: UPDATE: old-key: a[integer]:1 b[text]:'x' new-tuple: a[integer]:1 b[text]:'y'"
    )
    assert event.old == (("a", "1"), ("b", "x"))
    assert event.new == (("a", "1"), ("b", "y"))


def test_full_identity_old_row_with_the_marker_text_inside_a_value(decoded: dict) -> None:
    """' new-tuple: ' inside an old value must not split the row; PostgreSQL omits the NULL `a` from it."""
    raw, event = _one(decoded, "full_update_null_a")
    assert raw.count(" new-tuple: ") == 3
    assert event.old == (("b", "a new-tuple: b[text]:'c'"),)
    assert event.new == (("a", "3"), ("b", "a new-tuple: b[text]:'c'"))


def test_full_identity_row_of_only_nulls(decoded: dict) -> None:
    """PostgreSQL prints nothing for an all-NULL old row: `UPDATE: old-key: new-tuple: ...`, `DELETE:`."""
    raw, update = _one(decoded, "full_update_all_null")
    assert raw == "table public.full_ident: UPDATE: old-key: new-tuple: a[integer]:null b[text]:'z'"
    assert update.old == ()
    assert update.new == (("a", None), ("b", "z"))
    changes = _changes(decoded, "full_delete_all_null")
    assert [raw for raw, _ in changes] == ["table public.full_ident: DELETE:"]
    assert changes[0][1] == RowChange("DELETE", "public.full_ident", new=(), old=())


def test_full_identity_delete_omits_null_columns(decoded: dict) -> None:
    raw, event = _one(decoded, "full_delete_null_b")
    assert raw == "table public.full_ident: DELETE: a[integer]:7"
    assert event.old == (("a", "7"),)


def test_delete_without_replica_identity_has_no_tuple_data(decoded: dict) -> None:
    """No key and REPLICA IDENTITY DEFAULT: the old row is not logged (old None, unlike an empty old row)."""
    raw, event = _one(decoded, "keyless_delete")
    assert raw == "table public.keyless: DELETE: (no-tuple-data)"
    assert event == RowChange("DELETE", "public.keyless", new=(), old=None)
    _, update = _one(decoded, "keyless_update")
    assert update.old is None and update.new == (("a", "1"), ("b", "l"))


# --- TRUNCATE, messages, BEGIN and COMMIT ---------------------------------------------------------------------


def test_truncate_of_several_tables_with_flags(decoded: dict) -> None:
    changes = _changes(decoded, "trunc_multi")
    raw, event = changes[-1]
    assert raw == "table public.t1, public.t2: TRUNCATE: restart_seqs cascade"
    assert event == Truncate(("public.t1", "public.t2"), cascade=True, restart_identity=True)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("trunc_cascade", Truncate(("public.t1", "public.t2"), cascade=True, restart_identity=False)),
        ("trunc_restart", Truncate(("public.t2",), cascade=False, restart_identity=True)),
        ("trunc_quoted", Truncate(('public."trunc, me"',), cascade=False, restart_identity=False)),
    ],
)
def test_truncate_flags_and_names(decoded: dict, label: str, expected: Truncate) -> None:
    (raw, event), *_ = _changes(decoded, label)
    assert event == expected, raw


def test_transactional_message_with_newlines(decoded: dict) -> None:
    changes = _changes(decoded, "msg_tx")
    assert changes[0][1] == Message(True, "pre fix", "line1\nline2: content: x, sz: 3 '")


def test_non_transactional_message_stands_alone(decoded: dict) -> None:
    group = decoded["steps"]["msg_nontx"]
    assert len(group) == 1
    assert parse_event(group[0][2]) == Message(False, "nt", "hello\nworld")


def test_empty_message(decoded: dict) -> None:
    changes = _changes(decoded, "msg_empty")
    assert changes[0][1] == Message(True, "p, sz", "")


def test_begin_and_commit_carry_the_xid_and_commit_time(decoded: dict) -> None:
    """Every transaction: BEGIN and COMMIT name its xid; commit times are UTC and never go backwards."""
    times = []
    for label, group in decoded["steps"].items():
        if label == "msg_nontx":
            continue
        begin, commit = parse_event(group[0][2]), parse_event(group[-1][2])
        assert isinstance(begin, Begin) and isinstance(commit, Commit), label
        assert begin.xid == commit.xid == group[0][1] == group[-1][1]
        assert commit.committed_at.tzinfo is not None and commit.committed_at.utcoffset() == timedelta(0)
        times.append(commit.committed_at)
    assert times == sorted(times)


def test_commit_time_is_the_same_instant_in_any_session_zone(pg15_server: str, new_database) -> None:
    """test_decoding prints the commit time in the session's zone; the parsed instant must not depend on it."""
    url = new_database(pg15_server)
    slot = f"dg_tz_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int)")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (slot,))
        before = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        conn.execute("INSERT INTO t VALUES (1)")
        after = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        seen = {}
        for zone in ("UTC", "Asia/Kolkata", "America/St_Johns"):
            conn.execute("SELECT set_config('TimeZone', %s, false)", (zone,))
            commits = [
                data
                for (data,) in conn.execute(
                    "SELECT data FROM pg_logical_slot_peek_changes(%s, NULL, NULL, 'include-xids', '1',"
                    " 'include-timestamp', '1') WHERE data LIKE 'COMMIT %%'",
                    (slot,),
                )
            ]
            assert len(commits) == 1
            seen[zone] = (commits[0], parse_event(commits[0]))
        conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    assert seen["Asia/Kolkata"][0].endswith("+05:30)")
    assert seen["America/St_Johns"][0][-7:-1] in ("-03:30", "-02:30")
    instants = {event.committed_at for _, event in seen.values()}
    assert len(instants) == 1
    assert before <= instants.pop() <= after


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BEGIN 7", Begin(7)),
        ("COMMIT 7 (at 2024-06-01 12:00:00+00)", Commit(7, datetime(2024, 6, 1, 12, tzinfo=UTC))),
        (
            "COMMIT 4294967296 (at 2024-06-01 17:30:00.000123+05:30)",
            Commit(4294967296, datetime(2024, 6, 1, 12, 0, 0, 123, tzinfo=UTC)),
        ),
        (
            "COMMIT 9 (at 2024-06-01 12:00:00.5)",
            Commit(9, datetime(2024, 6, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ),
        ("table public.e: INSERT:", RowChange("INSERT", "public.e", new=())),
        ("table public.t: DELETE: (no-tuple-data)", RowChange("DELETE", "public.t", old=None)),
    ],
)
def test_literal_lines(text: str, expected: object) -> None:
    """Hand-written lines in test_decoding's exact format, for cases a live capture rarely produces."""
    assert parse_event(text) == expected


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "garbage",
        "BEGIN",
        "BEGIN abc",
        "COMMIT 12",
        "COMMIT 12 (at yesterday)",
        "table x",
        "table public.t: INSERT: a[integer]",
        "table public.t: INSERT: a[integer]:'unterminated",
        "table public.t: INSERT: b[bit]:B'10x'",
        "table public.t: INSERT: a[integer]:1  b[text]:'x'",
        "table public.t: INSERT: a[integer]:1 trailing",
        "table public.t: UPDATE: old-key: a[integer]:1",
        "table public.t: UPDATE: old-key: a[integer]:1 b[text]:'x new-tuple: y'",
        "table public.t: MERGE: a[integer]:1",
        "table : TRUNCATE: (no-flags)",
        "message: transactional: 2 prefix: p, sz: 1 content:x",
        "message: nonsense",
    ],
)
def test_garbage_is_a_format_error_quoting_the_input(garbage: str) -> None:
    with pytest.raises(FormatError, match="cannot parse decoded change") as info:
        parse_event(garbage)
    assert garbage[:20] in str(info.value)


def test_long_garbage_is_excerpted() -> None:
    with pytest.raises(FormatError) as info:
        parse_event("table public.t: INSERT: " + "x" * 10_000)
    assert len(str(info.value)) < 400 and "…" in str(info.value)
