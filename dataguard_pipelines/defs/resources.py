"""Wires the resources for the settings in force: a variable that is set reaches Dagster as dg.EnvVar
(the UI shows its name, never its value); anything unset falls back to the embedded default."""

from __future__ import annotations

import dagster as dg

from dataguard_pipelines.core.settings import Settings, variables_set
from dataguard_pipelines.resource_types import (
    BackupSettingsResource,
    DatabaseResource,
    KeyringResource,
    StoreResource,
    VendorApisResource,
)


@dg.definitions
def resources() -> dg.Definitions:
    settings = Settings.from_env()
    env = variables_set()

    def pick(name: str, value):
        return dg.EnvVar(name) if name in env else value

    return dg.Definitions(
        resources={
            "database": DatabaseResource(
                url=pick("DATAGUARD_DATABASE_URL", settings.database_url), home=str(settings.home)
            ),
            "store": StoreResource(
                url=pick("DATAGUARD_STORE_URL", settings.store_url),
                s3_endpoint_url=pick("DATAGUARD_S3_ENDPOINT_URL", settings.s3_endpoint_url),
            ),
            "keyring": KeyringResource(
                path=pick("DATAGUARD_KEYRING", str(settings.keyring_path)),
                may_create=settings.may_create_keyring,
            ),
            "backup_settings": BackupSettingsResource(
                zstd_level=settings.zstd_level,
                restore_jobs=settings.restore_jobs,
                capture_slot=settings.capture_slot,
                slot_max_wal_mb=settings.slot_max_wal_mb,
                timezone=settings.timezone,
                critical_tables=list(settings.critical_tables),
                critical_max_shrink=settings.critical_max_shrink,
            ),
            "vendors": VendorApisResource(
                calcom_base_url=pick("DATAGUARD_CALCOM_BASE_URL", settings.calcom_base_url),
                retell_base_url=pick("DATAGUARD_RETELL_BASE_URL", settings.retell_base_url),
                credentials_dir=str(settings.credentials_dir),
                requests_per_minute=settings.api_requests_per_minute,
            ),
        }
    )
