"""Dagster resources: thin typed handles that give core/ what it needs (no logic of their own)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from dataguard_pipelines.core.database import protected_database
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.store import Store


class DatabaseResource(dg.ConfigurableResource):
    """The protected database: `url`, or the embedded PostgreSQL under `home` when no URL is set."""

    url: str | None = None
    home: str

    @contextlib.contextmanager
    def open(self) -> Iterator[PostgresDatabase]:
        with protected_database(self.url, Path(self.home)) as db:
            yield db


class StoreResource(dg.ConfigurableResource):
    """Where backups go: an fsspec URL (file:// or s3://) and an optional S3-compatible endpoint."""

    url: str
    s3_endpoint_url: str | None = None

    def store(self) -> Store:
        return Store(self.url, s3_endpoint_url=self.s3_endpoint_url)


class KeyringResource(dg.ConfigurableResource):
    """The keyring file; a backup creates it on first use (mode 0600), a restore requires it."""

    path: str

    def keyring(self, *, create: bool = False) -> Keyring:
        return Keyring.load_or_create(Path(self.path), create=create)


class BackupSettingsResource(dg.ConfigurableResource):
    """Tuning that is not a secret: compression level and restore parallelism."""

    zstd_level: int = 1
    restore_jobs: int = 2
