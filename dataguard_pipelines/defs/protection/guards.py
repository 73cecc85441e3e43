"""Table guards in Dagster: `table_guards` installs or upgrades them for the critical tables and shows what
is protected; `guards_installed` (ERROR) fails when an event trigger or a table trigger is gone or disabled,
which only a superuser can do and no event trigger can stop. It runs every 15 minutes."""

import dagster as dg

from dataguard_pipelines.core.audit import audited
from dataguard_pipelines.core.errors import DataguardError
from dataguard_pipelines.core.protection.guards import GATE_ROLE, GuardStatus, guard_status, install_guards
from dataguard_pipelines.core.protection.tampering import INSTALLED, record_tampering
from dataguard_pipelines.defs.conventions import asset_job, checks_schedule
from dataguard_pipelines.defs.protection.audit import dagster_actor
from dataguard_pipelines.job_names import INSTALL_TABLE_GUARDS_JOB
from dataguard_pipelines.resource_types import BackupSettingsResource, DatabaseResource, StoreResource


def _metadata(status: GuardStatus) -> dict[str, object]:
    return {
        "protected_tables": dg.MetadataValue.json(status.protected_tables),
        "missing_tables": dg.MetadataValue.json(status.missing_tables),
        "gate_members": dg.MetadataValue.json(list(status.gate_members)),
        "gate_role": GATE_ROLE,
        "version": dg.MetadataValue.int(status.version or 0),
        "event_triggers": dg.MetadataValue.json(status.event_triggers),
        "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in status.warnings) or "none"),
    }


@dg.asset(
    group_name="protection",
    kinds={"postgres"},
    description="DROP, TRUNCATE and DROP COLUMN of the critical tables (DATAGUARD_CRITICAL_TABLES) fail "
    "outside the safe-migration gate. Materializing installs or upgrades the guards (needs a superuser).",
)
def table_guards(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    backup_settings: BackupSettingsResource,
    store: StoreResource,
) -> dg.MaterializeResult:
    tables = list(backup_settings.critical_tables)
    with (
        database.open() as db,
        audited(
            db,
            operation=INSTALLED,
            parameters={"tables": tables},
            store=store.store(),
            actor=dagster_actor(context),
        ),
    ):
        status = install_guards(db, tables)
    for warning in status.warnings:
        context.log.warning(warning)
    return dg.MaterializeResult(metadata=_metadata(status))


@dg.asset_check(
    asset=table_guards,
    description="The guard event triggers exist and fire always, and every existing critical table has its "
    "TRUNCATE trigger: a superuser dropping or disabling them shows here within 15 minutes, and goes into "
    "the audit trail (guards.tampered) once per distinct set of problems.",
)
def guards_installed(
    context: dg.AssetCheckExecutionContext,
    database: DatabaseResource,
    backup_settings: BackupSettingsResource,
    store: StoreResource,
) -> dg.AssetCheckResult:
    with database.open() as db:
        status = guard_status(db, backup_settings.critical_tables)
        audit_seq = _record_tampering(context, db, status, store)
    problems = status.problems
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems) if problems else "table guards in force",
        metadata={
            **_metadata(status),
            "problems": dg.MetadataValue.json(problems),
            "audit_seq": dg.MetadataValue.int(audit_seq or 0),
        },
    )


def _record_tampering(context, db, status: GuardStatus, store: StoreResource) -> int | None:
    """The new guards.tampered entry's number; a failure to write it is logged, never hides the check's result."""
    try:
        entry = record_tampering(
            db, status, store=store.store(), actor=dagster_actor(context.op_execution_context)
        )
    except DataguardError as exc:
        context.log.warning(f"could not record the tampered guards in the audit trail: {exc}")
        return None
    return entry.seq if entry else None


install_table_guards_job = asset_job(
    INSTALL_TABLE_GUARDS_JOB,
    dg.AssetSelection.assets(table_guards),
    description="Install or upgrade the table guards on the critical tables, then check them.",
)

check_table_guards_job, check_table_guards_every_15_minutes = checks_schedule(
    "check_table_guards_every_15_minutes",
    dg.AssetSelection.checks(guards_installed),
    "*/15 * * * *",
    "UTC",
    job_name="check_table_guards_job",
    description="Are the table guards still installed and enabled? (cheap, catalog reads only)",
)
