"""The embedded PostgreSQL: started on demand, shared by holders, stopped when the last one leaves."""

from __future__ import annotations

import psycopg

from dataguard_pipelines.core.engines.embedded import EmbeddedPostgres, scratch_server


def test_embedded_server_starts_on_demand_and_stops_with_its_last_holder(tmp_path):
    engine = EmbeddedPostgres(tmp_path / "pg")
    with engine.running() as server:
        with psycopg.connect(server.url()) as conn:
            assert conn.execute("SHOW server_version_num").fetchone()[0].startswith("18")
            assert conn.execute("SHOW wal_level").fetchone()[0] == "logical"
        other = EmbeddedPostgres(tmp_path / "pg")
        with other.running() as again:
            assert again.port == server.port
        assert engine._running_server() is not None  # still held by the outer block
    assert engine._running_server() is None
    with (
        engine.running() as restarted,
        psycopg.connect(restarted.url("postgres")) as conn,
    ):  # survives restart
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = 'app'").fetchone()


def test_scratch_server_is_removed_afterwards():
    with scratch_server() as server:
        data_dir = server.data_dir
        assert data_dir.exists()
    assert not data_dir.exists()
