"""The protected database: the configured URL, or the embedded PostgreSQL under DATAGUARD_HOME."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from dataguard_pipelines.core.engines.embedded import EmbeddedPostgres
from dataguard_pipelines.core.engines.postgres import PostgresDatabase


@contextlib.contextmanager
def protected_database(url: str | None, home: Path) -> Iterator[PostgresDatabase]:
    """Yield the database to protect; an embedded one is started on demand and released afterwards."""
    if url:
        yield PostgresDatabase(url)
        return
    with EmbeddedPostgres(home / "postgres").running() as server:
        yield PostgresDatabase(server.url())
