"""restore_to_timestamp: point-in-time restore from the UI (target time and target database as config)."""

import os

import dagster as dg
from pydantic import Field

from dataguard_pipelines.core.capture.lsn import parse_lsn
from dataguard_pipelines.core.errors import ConfigError
from dataguard_pipelines.core.pitr import RecoveryTarget, parse_target_time, plan_recovery, recover
from dataguard_pipelines.core.settings import redact_url
from dataguard_pipelines.resources import (
    BackupSettingsResource,
    DatabaseResource,
    KeyringResource,
    StoreResource,
)


class PointInTimeConfig(dg.Config):
    """Run config is visible in the UI: a URL with a password must come from an environment variable."""

    target_time: str | None = Field(
        default=None,
        description="'YYYY-MM-DD HH:MM:SS[+TZ]' (UTC without a zone); changes up to and including it.",
    )
    to_lsn: str | None = Field(default=None, description="Instead of a time: the last commit LSN to include.")
    to_xid: int | None = Field(
        default=None, description="Instead of a time: stop just before this transaction."
    )
    target_url: str | None = Field(
        default=None, description="postgresql://user@host:port/new_database, without a password."
    )
    target_url_env: str | None = Field(
        default=None, description="Name of an environment variable that holds the target URL (with password)."
    )
    force_overwrite_source: bool = False


def target_of(config: PointInTimeConfig) -> RecoveryTarget:
    return RecoveryTarget(
        time=parse_target_time(config.target_time) if config.target_time else None,
        lsn=parse_lsn(config.to_lsn) if config.to_lsn else None,
        xid=config.to_xid,
    )


def target_url_of(config: PointInTimeConfig) -> str:
    if config.target_url_env:
        url = os.environ.get(config.target_url_env)
        if not url:
            raise ConfigError(f"environment variable {config.target_url_env} is not set in the code location")
        return url
    if not config.target_url:
        raise ConfigError("set target_url (no password) or target_url_env")
    if redact_url(config.target_url) != config.target_url:
        raise ConfigError(
            "target_url holds a password, which run config would show in the UI; put the URL in an "
            "environment variable of the code location and name it in target_url_env"
        )
    return config.target_url


@dg.op(description="Restore the newest full backup before the target, then replay changes up to it.")
def restore_to_point_in_time(
    context: dg.OpExecutionContext,
    config: PointInTimeConfig,
    database: DatabaseResource,
    store: StoreResource,
    keyring: KeyringResource,
    backup_settings: BackupSettingsResource,
) -> dg.Output[str]:
    target = target_of(config)
    url = target_url_of(config)
    opened_store, opened_keyring = store.store(), keyring.keyring()
    plan = plan_recovery(opened_store, opened_keyring, backup_settings.capture_slot, target)
    context.log.info(
        f"restoring {plan.backup.backup_id} then replaying up to {target.describe()} "
        f"({len(plan.segments)} segments) into {redact_url(url)}"
    )
    result = recover(
        plan,
        opened_store,
        opened_keyring,
        url,
        jobs=backup_settings.restore_jobs,
        source_url=database.url,
        force_overwrite_source=config.force_overwrite_source,
        progress=lambda p: context.log.debug(f"{p.phase} {p.done_bytes} {p.detail}"),
    )
    return dg.Output(
        redact_url(url),
        metadata={
            "backup_id": plan.backup.backup_id,
            "target": target.describe(),
            "transactions_replayed": dg.MetadataValue.int(result.transactions),
            "changes_replayed": dg.MetadataValue.int(result.changes),
            "ddl_replayed": dg.MetadataValue.int(result.ddl),
            "last_commit_at": result.last_commit_at.isoformat()
            if result.last_commit_at
            else "none after the cut",
            "rto_s": dg.MetadataValue.float(round(result.duration_s, 1)),
            "replay_changes_per_s": dg.MetadataValue.float(round(result.changes_per_s, 0)),
            "restored_rows": dg.MetadataValue.int(result.restore.rows),
            "database": redact_url(url),
        },
    )


@dg.job(
    name="restore_to_timestamp",
    description="Point-in-time restore into a new database: set target_time (or to_lsn / to_xid) and the "
    "target database in the launchpad.",
    tags={"dataguard/kind": "restore"},
)
def restore_to_timestamp() -> None:
    restore_to_point_in_time()
