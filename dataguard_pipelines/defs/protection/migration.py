"""safe_migration: the safe-migration gate as a Dagster job, for migrations launched from the UI.

It runs a shell command on the worker with the protected database's credentials, so whoever may launch it
may run any command there: with Dagster+ that is whoever RBAC lets launch runs in this code location, with
Dagster OSS whoever reaches the UI. The job therefore refuses to run unless DATAGUARD_MIGRATIONS_FROM_UI=1
is set for the code location; `dataguard migrate-safe` on the command line needs no such switch.
"""

import dagster as dg

from dataguard_pipelines.core.errors import ConfigError
from dataguard_pipelines.core.settings import Settings
from dataguard_pipelines.defs.conventions import EXECUTOR
from dataguard_pipelines.defs.protection.audit import dagster_actor
from dataguard_pipelines.job_names import SAFE_MIGRATION_JOB
from dataguard_pipelines.resource_types import (
    BackupSettingsResource,
    DatabaseResource,
    KeyringResource,
    StoreResource,
)


class SafeMigrationConfig(dg.Config):
    """The migration: `command` as argv (["php", "artisan", "migrate", "--force"]) or `command_line` as one
    shell string ("alembic upgrade head"), exactly one of the two."""

    command: list[str] = []
    command_line: str = ""
    allow_drop: list[str] = []
    dry_run: bool = False
    max_backup_age: str = "1h"


@dg.op(
    description="Back up and drill, run the migration on a restored scratch copy, stop it if it destroys data "
    "not in allow_drop, else run it on the protected database and verify the result matches.",
    tags={"dataguard/kind": "migration"},
)
def run_safe_migration_op(
    context: dg.OpExecutionContext,
    config: SafeMigrationConfig,
    database: DatabaseResource,
    store: StoreResource,
    keyring: KeyringResource,
    backup_settings: BackupSettingsResource,
) -> dg.Output[dict]:
    from dataguard_pipelines.core.migration.gate import (
        GateContext,
        MigrationRequest,
        parse_duration_s,
        run_safe_migration,
    )

    settings = Settings.from_env()
    if not settings.migrations_from_ui:
        raise ConfigError(
            "the safe_migration job runs a shell command on this worker and is off; set "
            "DATAGUARD_MIGRATIONS_FROM_UI=1 for the code location to allow it, or run `dataguard migrate-safe`"
        )
    if bool(config.command) == bool(config.command_line):
        raise ConfigError("give the migration exactly once: `command` (a list) or `command_line` (a string)")
    request = MigrationRequest(
        command=config.command or config.command_line,
        allow_drop=tuple(config.allow_drop),
        dry_run=config.dry_run,
        max_backup_age_s=parse_duration_s(config.max_backup_age, name="max_backup_age"),
    )
    actor = dagster_actor(context)
    with database.open() as db:
        report = run_safe_migration(
            db,
            store.store(),
            keyring.keyring(),
            request,
            GateContext(
                work_dir=settings.home / "migrations",
                capture_slot=backup_settings.capture_slot,
                level=backup_settings.zstd_level,
                jobs=backup_settings.restore_jobs,
                dagster_run_id=actor.dagster_run_id,
                launched_by=actor.launched_by,
                on_line=context.log.info,
            ),
        )
    metadata = {
        "outcome": report.outcome,
        "report": dg.MetadataValue.md(report.as_markdown()),
        "backup_id": report.backup_id,
        "blocking_changes": dg.MetadataValue.int(len(report.blocking)),
        "changes": dg.MetadataValue.int(len(report.changes)),
        "undo_command": report.undo_command or "",
    }
    if report.exit_code != 0:  # a stopped or failed migration fails the run, its report in the event log
        raise dg.Failure(description=report.message, metadata=metadata)
    return dg.Output(report.as_dict(), metadata=metadata)


@dg.job(
    name=SAFE_MIGRATION_JOB,
    executor_def=EXECUTOR,
    tags={"dataguard/kind": "migration"},
    description="The safe-migration gate (dataguard migrate-safe) for one command given in the run config.",
)
def safe_migration() -> None:
    run_safe_migration_op()
