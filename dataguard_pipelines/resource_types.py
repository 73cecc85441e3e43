"""Dagster resource classes: thin typed handles that give core/ what it needs (no logic of their own).

Only the classes live here; `defs/resources.py` wires them to the settings in force."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from dataguard_pipelines.core.database import protected_database
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.keys import Keyring, open_keyring
from dataguard_pipelines.core.settings import DEFAULT_CRITICAL_TABLES
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
    """The keyring file. Only the embedded default (the demo) may create it; anywhere else a missing file
    fails the run naming DATAGUARD_KEYRING, so no worker ever seals with a key only its own disk holds."""

    path: str
    may_create: bool = False

    def keyring(self) -> Keyring:
        return open_keyring(Path(self.path), may_create=self.may_create)


class BackupSettingsResource(dg.ConfigurableResource):
    """Tuning that is not a secret: compression level and restore parallelism."""

    zstd_level: int = 1
    restore_jobs: int = 2
    capture_slot: str = "dataguard"
    slot_max_wal_mb: int = 1024
    timezone: str | None = None  # of target times without an offset; None: the protected server's TimeZone
    # the tables snapshotted every 6 hours (schema.table or a name on the search_path); absent ones: a warning
    critical_tables: list[str] = list(DEFAULT_CRITICAL_TABLES)
    critical_max_shrink: float = 0.10  # share of rows a critical table may lose between two snapshots


class VendorApisResource(dg.ConfigurableResource):
    """Where the vendors' APIs are, and where each company's sealed API keys live."""

    calcom_base_url: str = "https://api.cal.com/v2"
    retell_base_url: str = "https://api.retellai.com"
    credentials_dir: str
    requests_per_minute: int | None = None  # client-side pacing per key; None: vendor default, 0: off

    def client(self, source: str, company_id: str, keyring: Keyring):
        """The company's own client for `source` (calcom or retell), built from its own key."""
        from dataguard_pipelines.clients.factory import client_for
        from dataguard_pipelines.core.credentials import CredentialStore

        credentials = CredentialStore(Path(self.credentials_dir), keyring).get(company_id)
        return client_for(
            source,
            credentials,
            calcom_base_url=self.calcom_base_url,
            retell_base_url=self.retell_base_url,
            requests_per_minute=self.requests_per_minute,
        )
