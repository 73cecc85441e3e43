"""Restores into real servers: identical content, both version directions, refusals that protect the source."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from dataguard_pipelines.core.backup import run_full_backup
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.errors import ConfigError, RestoreError
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.restore import restore_backup
from dataguard_pipelines.core.verify import verify_restored
from tests.fixtures.postgres import drop_database, table_fingerprints


@pytest.fixture
def keyring(keyring_path) -> Keyring:
    return Keyring.load(keyring_path)


def _target(server_url: str, prefix: str) -> str:
    """A database URL restore may create: unique per test, so concurrent runs never meet."""
    return server_url.rsplit("/", 1)[0] + f"/{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.mark.slow  # 4-11 s per case, six cases
@pytest.mark.parametrize(("source", "target"), [("pg15", "pg15"), ("pg15", "pg18"), ("pg18", "pg18")])
def test_restore_reproduces_the_database_exactly(request, source, target, any_store, keyring):
    source_url = request.getfixturevalue(f"demo_{source}")
    target_url = _target(request.getfixturevalue(f"{target}_server"), f"restored_{source}")
    manifest = run_full_backup(PostgresDatabase(source_url), any_store, keyring, partition="p").manifest
    try:
        result = restore_backup(manifest, any_store, keyring, target_url, jobs=2)
        assert (result.tables, result.rows) == (len(manifest.tables), manifest.rows)
        assert table_fingerprints(target_url) == table_fingerprints(source_url)
        assert all(check.ok for check in verify_restored(PostgresDatabase(target_url), manifest))
        with psycopg.connect(source_url) as a, psycopg.connect(target_url) as b:
            objects = (
                "SELECT c.relkind, count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' GROUP BY 1 ORDER BY 1"
            )
            assert a.execute(objects).fetchall() == b.execute(objects).fetchall()  # indexes, views, sequences
            seqs = "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1"
            assert a.execute(seqs).fetchall() == b.execute(seqs).fetchall()
    finally:
        drop_database(target_url)


def test_restore_into_an_older_major_version_is_refused_clearly(demo_pg18, pg15_server, local_store, keyring):
    manifest = run_full_backup(PostgresDatabase(demo_pg18), local_store, keyring, partition="p").manifest
    target = _target(pg15_server, "never_created")
    with pytest.raises(RestoreError, match="comes from PostgreSQL 18; the target runs 15"):
        restore_backup(manifest, local_store, keyring, target)
    with psycopg.connect(pg15_server) as conn:
        name = target.rsplit("/", 1)[1]
        assert not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()


def test_restore_refuses_the_source_database_unless_forced(pg15_server, new_database, local_store, keyring):
    url = new_database(pg15_server)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE precious AS SELECT generate_series(1, 100) AS i")
    manifest = run_full_backup(PostgresDatabase(url), local_store, keyring, partition="p").manifest
    with pytest.raises(RestoreError, match="is the database this backup was taken from"):
        restore_backup(manifest, local_store, keyring, url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM precious WHERE i > 10")  # the accident
    result = restore_backup(manifest, local_store, keyring, url, force_overwrite_source=True)
    assert result.rows == 100
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM precious").fetchone()[0] == 100


def test_restore_refuses_a_non_empty_target(demo_pg15, pg15_server, new_database, local_store, keyring):
    manifest = run_full_backup(PostgresDatabase(demo_pg15), local_store, keyring, partition="p").manifest
    target = new_database(pg15_server)
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("CREATE TABLE already_here (i int)")
    with pytest.raises(RestoreError, match="already holds 1 relations"):
        restore_backup(manifest, local_store, keyring, target)


def test_partial_restore_loads_only_the_named_tables(demo_pg15, pg15_server, local_store, keyring):
    manifest = run_full_backup(PostgresDatabase(demo_pg15), local_store, keyring, partition="p").manifest
    target = _target(pg15_server, "partial_restore_target")
    try:
        result = restore_backup(manifest, local_store, keyring, target, tables=["companies", "public.calls"])
        assert result.tables == 2 and result.skipped_foreign_keys > 0
        source, restored = table_fingerprints(demo_pg15), table_fingerprints(target)
        assert restored["public.companies"] == source["public.companies"]
        assert restored["public.calls"] == source["public.calls"]
        assert restored["public.appointments"][0] == 0
    finally:
        drop_database(target)
    never_created = _target(pg15_server, "never_created")
    with pytest.raises(ConfigError, match="no table"):
        restore_backup(manifest, local_store, keyring, never_created, tables=["no_such_table"])
