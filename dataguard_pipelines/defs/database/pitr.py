"""restore_to_timestamp: point-in-time restore from the UI (target time and target database as config)."""

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dagster as dg
from pydantic import Field

from dataguard_pipelines.core.audit import audited
from dataguard_pipelines.core.capture.lsn import parse_lsn
from dataguard_pipelines.core.errors import ConfigError
from dataguard_pipelines.core.pitr import (
    RecoveryTarget,
    ResolvedTime,
    plan_recovery,
    recover,
    resolve_target_time,
)
from dataguard_pipelines.core.settings import ENV_VARS, redact_url
from dataguard_pipelines.defs.conventions import EXECUTOR
from dataguard_pipelines.defs.protection.audit import dagster_actor
from dataguard_pipelines.resource_types import (
    BackupSettingsResource,
    DatabaseResource,
    KeyringResource,
    StoreResource,
)

POSTGRES_SCHEMES = ("postgresql", "postgres")


class PointInTimeConfig(dg.Config):
    """Run config is visible in the UI: a target URL with a password comes from the code location's
    environment through Dagster's own `{"env": "VAR"}` (the run worker resolves it, the UI shows the name)."""

    target_time: str | None = Field(
        default=None,
        description="'YYYY-MM-DD HH:MM:SS[+TZ]': changes up to and including it. Without an offset: "
        "DATAGUARD_TIMEZONE, by default the protected server's TimeZone.",
    )
    to_lsn: str | None = Field(default=None, description="Instead of a time: the last commit LSN to include.")
    to_xid: int | None = Field(
        default=None, description="Instead of a time: stop just before this transaction."
    )
    target_url: str | None = Field(
        default=None,
        description="postgresql://user@host:port/new_database without a password, or "
        '{"env": "VAR"}: a variable of the code location that holds the URL (a password may be in it).',
    )
    force_overwrite_source: bool = False


def target_of(config: PointInTimeConfig, resolved: ResolvedTime | None) -> RecoveryTarget:
    return RecoveryTarget(
        time=resolved.instant if resolved else None,
        lsn=parse_lsn(config.to_lsn) if config.to_lsn else None,
        xid=config.to_xid,
    )


def target_url_variable(run_config: Mapping[str, Any], op_name: str) -> str | None:
    """The variable named when the run config gave target_url as {"env": ...} (the op sees only its value).

    dataguard's own variables are refused: a launchpad user must not point the restore at the protected
    database's credentials (DATAGUARD_DATABASE_URL) or any other setting of the code location."""
    raw = run_config.get("ops", {}).get(op_name, {}).get("config", {}).get("target_url")
    if not (isinstance(raw, Mapping) and "env" in raw):
        return None
    name = str(raw["env"])
    if name in ENV_VARS or name.startswith(("DATAGUARD_", "DAGSTER_", "AWS_")):
        raise ConfigError(
            f"target_url may not name {name}, a setting of the code location; put the restore target's URL "
            "in a variable of its own (for example RESTORE_TARGET_URL)"
        )
    return name


def target_url_of(config: PointInTimeConfig, *, from_env: bool) -> str:
    """The target URL, refused unless it is a PostgreSQL URL; a password only when it came from the
    environment. No message shows the value: an env-backed one may hold a secret."""
    url = config.target_url
    if not url:
        raise ConfigError(
            'set target_url: postgresql://user@host/new_database without a password, or {"env": "VAR"}'
        )
    try:
        parts = urlsplit(url)
        is_postgres, has_password = parts.scheme in POSTGRES_SCHEMES, parts.password is not None
        in_query = "password" in parse_qs(parts.query)
    except ValueError:
        is_postgres = has_password = in_query = False
    if not is_postgres:
        raise ConfigError(
            "target_url is not a postgresql:// URL; give the URL of the new database (or the variable "
            "that holds it)"
        )
    if in_query:
        raise ConfigError(
            "target_url carries a password query parameter, which logs would show; put the password in "
            "the user:password@ part of a URL held in an environment variable"
        )
    if has_password and not from_env:
        raise ConfigError(
            "target_url holds a password, which run config would show in the UI; put the URL in an "
            'environment variable of the code location and set target_url to {"env": "THAT_VARIABLE"}'
        )
    return url


@dg.op(description="Restore the newest full backup before the target, then replay changes up to it.")
def restore_to_point_in_time(
    context: dg.OpExecutionContext,
    config: PointInTimeConfig,
    database: DatabaseResource,
    store: StoreResource,
    keyring: KeyringResource,
    backup_settings: BackupSettingsResource,
) -> dg.Output[str]:
    resolved = None
    if config.target_time:
        with database.open() as db:  # asked for its TimeZone only when the time has no offset
            resolved = resolve_target_time(config.target_time, zone=backup_settings.timezone, db=db)
        context.log.info(f"target time: {resolved.describe()}")
    target = target_of(config, resolved)
    url = target_url_of(
        config, from_env=target_url_variable(context.run.run_config, context.op_handle.name) is not None
    )
    opened_store, opened_keyring = store.store(), keyring.keyring()
    plan = plan_recovery(opened_store, opened_keyring, backup_settings.capture_slot, target)
    context.log.info(
        f"restoring {plan.backup.backup_id} then replaying up to {target.describe()} "
        f"({len(plan.segments)} segments) into {redact_url(url)}"
    )
    with audited(
        database.open,  # the entry goes to the protected database, never to the restore target
        operation="restore",
        parameters={"backup_id": plan.backup.backup_id, "target": target.describe(), "into": redact_url(url)},
        store=opened_store,
        actor=dagster_actor(context),
    ):
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
            "target_time": resolved.describe() if resolved else "none (LSN or xid)",
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
    executor_def=EXECUTOR,
)
def restore_to_timestamp() -> None:
    restore_to_point_in_time()
