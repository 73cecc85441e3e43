"""Full backups against real servers: consistent, complete, per-table hashes, atomic replace, clean failure."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataguard_pipelines.core.archive_stream import iter_archive
from dataguard_pipelines.core.backup import CopySplitter, run_full_backup
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.errors import BusyError, SourceError
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.manifest import list_manifests
from dataguard_pipelines.core.store import Store


def _plain(store: Store, keyring: Keyring, key: str) -> bytes:
    with store.open_read(key) as handle:
        return b"".join(iter_archive(handle, keyring))


def _files(store: Store) -> list[str]:
    """Every object in the store (directories do not count: they cannot look like a backup)."""
    return store.fs.find(store.root)


def test_full_backup_records_every_table_with_exact_row_counts(demo_db, local_store, keyring_path):
    keyring = Keyring.load(keyring_path)
    result = run_full_backup(PostgresDatabase(demo_db), local_store, keyring, partition="2026-11-27")
    manifest = result.manifest
    with psycopg.connect(demo_db) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                "c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'"
            )
        }
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    assert {t.name for t in manifest.tables} == tables
    assert {t.name: t.rows for t in manifest.tables} == counts
    assert manifest.rows == sum(counts.values()) > 0
    assert manifest.stored_bytes < manifest.content_bytes  # zstd did its job
    assert manifest.consistency["lsn"] and manifest.consistency["snapshot"]
    assert list_manifests(local_store) == [manifest]


def test_full_backup_table_object_holds_the_tables_copy_text(
    pg15_server, new_database, local_store, keyring_path
):
    url = new_database(pg15_server)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        conn.execute(
            "INSERT INTO notes VALUES (1, E'tab\\there'), (2, E'back\\\\slash'), (3, E'line\\nbreak'),"
            " (4, NULL), (5, E'\\\\.')"
        )
    keyring = Keyring.load(keyring_path)
    manifest = run_full_backup(PostgresDatabase(url), local_store, keyring, partition="p").manifest
    (entry,) = manifest.tables
    text = _plain(local_store, keyring, f"{manifest.prefix}/{entry.object.key}")
    assert text == b"1\ttab\\there\n2\tback\\\\slash\n3\tline\\nbreak\n4\t\\N\n5\t\\\\.\n"
    assert entry.rows == 5


def test_rerun_of_a_partition_replaces_its_backup(pg15_server, new_database, local_store, keyring_path):
    url = new_database(pg15_server)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t AS SELECT generate_series(1, 10) AS i")
    keyring, db = Keyring.load(keyring_path), PostgresDatabase(url)
    first = run_full_backup(db, local_store, keyring, partition="2026-11-27").manifest
    other_day = run_full_backup(db, local_store, keyring, partition="2026-11-26").manifest
    second = run_full_backup(db, local_store, keyring, partition="2026-11-27").manifest
    assert {m.backup_id for m in list_manifests(local_store)} == {other_day.backup_id, second.backup_id}
    assert not local_store.glob(f"{first.prefix}/**")


def test_backup_of_unreachable_server_fails_with_one_clear_sentence(local_store, keyring_path):
    db = PostgresDatabase("postgresql://postgres:hunter2-secret@127.0.0.1:1/app")
    with pytest.raises(SourceError) as info:
        run_full_backup(db, local_store, Keyring.load(keyring_path), partition="p")
    assert "cannot connect to postgresql://postgres:***@127.0.0.1:1/app" in str(info.value)
    assert "hunter2" not in str(info.value)
    assert _files(local_store) == []


def test_second_backup_of_the_same_database_is_refused_while_one_runs(demo_pg15, local_store, keyring_path):
    db = PostgresDatabase(demo_pg15)
    with db.backup_lock(), pytest.raises(BusyError, match="another dataguard backup"):
        run_full_backup(db, local_store, Keyring.load(keyring_path), partition="p")


def test_failed_pg_dump_leaves_nothing_behind(pg15_server, new_database, local_store, keyring_path):
    url = new_database(pg15_server)
    role = f"dg_limited_reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE ok_table AS SELECT generate_series(1, 1000) AS i")
        conn.execute("CREATE TABLE locked_out (i int)")
        conn.execute("REVOKE ALL ON locked_out FROM PUBLIC")
        conn.execute(f"CREATE ROLE {role} LOGIN")  # roles are cluster-wide: a unique name per test
        conn.execute(f"GRANT SELECT ON ok_table TO {role}")
    limited = url.replace("postgres@", f"{role}@")
    try:
        with pytest.raises(SourceError, match=r"pg_dump .* failed"):
            run_full_backup(PostgresDatabase(limited), local_store, Keyring.load(keyring_path), partition="p")
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
    assert _files(local_store) == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=30))
def test_copy_splitter_routes_blocks_whatever_the_read_boundaries(tmp_path_factory, cuts):
    tmp = tmp_path_factory.mktemp("split")
    store, keyring = Store(tmp.as_uri()), Keyring.create(tmp / "k.json")
    rows_a = b"1\ta\n2\t\\\\.\n3\t\\\\\n"
    stream = (
        b"SET x = 1;\n\\restrict abc\n--\n"
        + b"COPY public.a (id, v) FROM stdin;\n"
        + rows_a
        + b"\\.\n"
        + b'\nCOPY public."Empty T" (x) FROM stdin;\n\\.\n'
        + b"SELECT pg_catalog.setval('s', 3, true);\n"
        + b"COPY public.b (x) FROM stdin;\n"
        + b"".join(b"%d\n" % i for i in range(200))
        + b"\\.\n\n"
    )
    splitter = CopySplitter(store, keyring, "set", level=1)
    pos = 0
    for cut in [*cuts, len(stream)]:
        splitter.feed(stream[pos : pos + cut])
        pos += cut
        if pos >= len(stream):
            break
    if pos < len(stream):
        splitter.feed(stream[pos:])
    tables, _misc = splitter.finish()
    assert [(t.name, t.rows) for t in tables] == [("public.a", 3), ('public."Empty T"', 0), ("public.b", 200)]
    assert _plain(store, keyring, f"set/{tables[0].object.key}") == rows_a
    assert _plain(store, keyring, f"set/{tables[1].object.key}") == b""
    assert _plain(store, keyring, f"set/{tables[2].object.key}") == b"".join(b"%d\n" % i for i in range(200))
    misc_text = _plain(store, keyring, "set/misc.sql.dgar")
    assert misc_text == b"SET x = 1;\n\\restrict abc\n--\n\n" + b"SELECT pg_catalog.setval('s', 3, true);\n\n"


def test_copy_splitter_rejects_a_stream_that_ends_inside_a_copy_block(tmp_path):
    store, keyring = Store(tmp_path.as_uri()), Keyring.create(tmp_path / "k.json")
    splitter = CopySplitter(store, keyring, "set", level=1)
    splitter.feed(b"COPY public.a (id) FROM stdin;\n1\n2\n")
    with pytest.raises(SourceError, match="incomplete"):
        splitter.finish()
    splitter.abort()
    assert store.glob("set/data/*") == []


def test_backup_to_s3_through_moto(demo_pg15, s3_store, keyring_path):
    keyring = Keyring.load(keyring_path)
    manifest = run_full_backup(
        PostgresDatabase(demo_pg15), s3_store, keyring, partition="2026-11-27"
    ).manifest
    assert list_manifests(s3_store) == [manifest]
    sizes = {obj.key: s3_store.size(f"{manifest.prefix}/{obj.key}") for obj in manifest.objects()}
    assert sizes == {obj.key: obj.sealed_bytes for obj in manifest.objects()}


KILL_SCRIPT = """
import sys
from dataguard_pipelines.core.backup import run_full_backup
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.store import Store
run_full_backup(PostgresDatabase(sys.argv[1]), Store(sys.argv[2]), Keyring.load(sys.argv[3]), partition="p")
"""


@pytest.mark.slow
def test_killed_backup_leaves_nothing_that_looks_complete(
    pg15_server, new_database, local_store, keyring_path
):
    import signal
    import subprocess
    import sys
    import time

    url = new_database(pg15_server)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE small AS SELECT generate_series(1, 10) AS i")
        conn.execute(
            "CREATE TABLE big AS SELECT i, md5(i::text) || md5((i * 7)::text) AS payload "
            "FROM generate_series(1, 1500000) AS i"
        )
    keyring = Keyring.load(keyring_path)
    previous = run_full_backup(PostgresDatabase(url), local_store, keyring, partition="p").manifest
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, url, local_store.url, str(keyring_path)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len([f for f in _files(local_store) if "/data/" in f]) <= len(
        previous.tables
    ):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert any("/data/" in f and previous.backup_id not in f for f in _files(local_store)), "killed too late"
    assert list_manifests(local_store) == [previous]  # the killed attempt published nothing
    replacement = run_full_backup(PostgresDatabase(url), local_store, keyring, partition="p").manifest
    assert list_manifests(local_store) == [replacement]
    assert all(replacement.backup_id in f for f in _files(local_store))  # the orphan was swept


def test_copy_splitter_finds_no_terminator_inside_an_escaped_backslash_at_any_single_cut(tmp_path):
    """`2\\t\\\\.` ends in backslash-dot-newline without being the terminator, wherever a read splits it."""
    store, keyring = Store(tmp_path.as_uri()), Keyring.create(tmp_path / "k.json")
    rows = b"1\ta\n2\t\\\\.\n3\t\\\\\n"
    stream = b"COPY public.a (id, v) FROM stdin;\n" + rows + b"\\.\n"
    for cut in range(1, len(stream)):
        splitter = CopySplitter(store, keyring, f"cut{cut}", level=1)
        splitter.feed(stream[:cut])
        splitter.feed(stream[cut:])
        [table], _ = splitter.finish()
        assert table.rows == 3, cut
        assert _plain(store, keyring, f"cut{cut}/{table.object.key}") == rows, cut
