"""backup, backup-status, verify: take backups as Dagster runs, show them, check them."""

from __future__ import annotations

from enum import StrEnum

import typer

from dataguard_pipelines.cli.common import (
    emit_json,
    err,
    guarded,
    open_keyring,
    open_store,
    out,
    progress_bar,
    settings,
    spinner,
)
from dataguard_pipelines.cli.render import drill_summary, point_in_time_line, status_table, verify_summary
from dataguard_pipelines.core.errors import DataguardError, StoreError, VerificationError
from dataguard_pipelines.core.settings import Settings
from dataguard_pipelines.job_names import BACK_UP_CRITICAL_TABLES_JOB, BACK_UP_POSTGRES_JOB, SEAL_CHANGES_JOB


class BackupType(StrEnum):
    full = "full"
    incremental = "incremental"
    critical = "critical"


@guarded
def backup(
    backup_type: BackupType = typer.Option(
        ...,
        "--type",
        help="full: pg_dump of the whole database; incremental: ship every change up to now; "
        "critical: the critical tables (DATAGUARD_CRITICAL_TABLES) as sealed Parquet.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run's metadata as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the Dagster run's log lines."),
) -> None:
    """Take a backup now, as a Dagster run on the configured instance (it shows in the UI).

    A full backup lands in today's partition (Europe/Berlin) and replaces an earlier one of the same day.
    The restore drill is not part of this command: run `dataguard verify --deep` or the nightly job.
    An incremental backup drains the capture slot now and seals the current hour (UTC); with no full
    backup to continue from yet, it takes one first.
    """
    config = settings()
    open_keyring(config)  # a missing keyring is a configuration error (exit 2), found before the run starts
    if backup_type is BackupType.incremental:
        from dataguard_pipelines.defs.database.partitions import incremental_backup_partitions

        job, asset, partitions = SEAL_CHANGES_JOB, "incremental_backup", incremental_backup_partitions
    elif backup_type is BackupType.critical:
        from dataguard_pipelines.defs.database.critical.partitions import critical_tables_partitions

        job, asset = BACK_UP_CRITICAL_TABLES_JOB, "critical_tables_backup"
        partitions = critical_tables_partitions
    else:
        from dataguard_pipelines.defs.database.partitions import full_backup_partitions

        job, asset, partitions = BACK_UP_POSTGRES_JOB, "full_backup", full_backup_partitions
    partition = partitions.get_last_partition_key()
    outcome = launch_backup(
        config, job, asset, partition, f"{backup_type} backup, partition {partition}", verbose
    )
    meta = outcome.metadata
    if as_json:
        emit_json({"run_id": outcome.run_id, "partition": partition, **meta, "checks": outcome.checks})
    elif backup_type is BackupType.critical:
        print_critical(outcome, partition)
    elif backup_type is BackupType.full:
        out.print(
            f"[green]ok[/green] {meta['backup_id']} (partition {partition}): {meta['tables']} tables, "
            f"{meta['dagster/row_count']:,} rows, {meta['dump_bytes'] / 1e6:.1f} MB dumped -> "
            f"{meta['stored_bytes'] / 1e6:.1f} MB stored (x{meta['compression_ratio']}) in "
            f"{meta['duration_s']} s ({meta['throughput_mb_s']} MB/s); run {outcome.run_id}",
            highlight=False,
        )
    else:
        out.print(
            f"[green]ok[/green] shipped {meta['drained_now_changes']:,} changes now; hour {partition} (UTC): "
            f"{meta['transactions']:,} transactions, {meta['changes']:,} changes in {meta['segments']} "
            f"segments, LSN {meta['lsn_range']}, shipped through {meta['shipped_through']}; "
            f"run {outcome.run_id}",
            highlight=False,
        )
    if meta.get("point_in_time") and meta["point_in_time"] != "available":
        err.print(f"[yellow]note:[/yellow] {meta['point_in_time']}", highlight=False)


def print_critical(outcome, partition: str) -> None:
    """One line for the snapshot; missing tables and a failed intact check as notes (the backup succeeded)."""
    meta = outcome.metadata
    out.print(
        f"[green]ok[/green] {meta['backup_id']} (window {partition}): {meta['table_count']} critical tables, "
        f"{meta['dagster/row_count']:,} rows, {meta['stored_bytes'] / 1e6:.1f} MB stored in "
        f"{meta['duration_s']} s; run {outcome.run_id}",
        highlight=False,
    )
    if meta.get("missing_tables"):
        err.print(
            f"[yellow]note:[/yellow] listed but absent: {', '.join(meta['missing_tables'])}", highlight=False
        )
    for name, passed in outcome.checks.items():
        if not passed:
            failed = outcome.check_metadata.get(name, {}).get("failed_tables", [])
            err.print(
                f"[red]check failed:[/red] {name}: "
                + "; ".join(f"{f['table']}: {f['detail']}" for f in failed),
                highlight=False,
            )


def launch_backup(config: Settings, job: str, asset: str, partition: str, what: str, verbose: bool):
    """Materialize one partition of a backup asset as a Dagster run; its checks are left to their jobs."""
    from dataguard_pipelines.launch import run_job

    with spinner(f"{what} running…", enabled=not verbose):
        outcome = run_job(
            config,
            job,
            partition_key=partition,
            asset_keys=[asset],
            with_checks=False,
            log_level="INFO" if verbose else "CRITICAL",
        )
    if not outcome.success:
        raise DataguardError(
            outcome.error or f"{what}: run {outcome.run_id} failed; see it in the Dagster UI"
        )
    return outcome


@guarded
def backup_status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Newest backup per type: age, size, and whether a restore drill has verified it."""
    from dataguard_pipelines.core.status import backup_status as newest_per_type

    config = settings()
    statuses = newest_per_type(open_store(config), capture_slot=config.capture_slot)
    if as_json:
        emit_json([s.as_dict() for s in statuses])
        return
    out.print(status_table(statuses))
    line = point_in_time_line(statuses)
    if line:
        out.print(line, highlight=False)


@guarded
def verify(
    deep: bool = typer.Option(
        False, "--deep", help="Also restore into a scratch database and compare (drill)."
    ),
    backup_id: str | None = typer.Option(
        None, "--backup", help="Only this backup (default: all; --deep: newest)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check every stored object against its manifest's SHA-256; --deep runs a restore drill."""
    from dataguard_pipelines.core.manifest import find_backup, list_manifests
    from dataguard_pipelines.core.verify import verify_objects, verify_segments

    config = settings()
    store = open_store(config)
    manifests = [find_backup(store, backup_id)] if backup_id else list_manifests(store)
    if not manifests:
        raise StoreError(f"no backups in {store.url} yet; run `dataguard backup --type full`")
    with progress_bar(not as_json) as update:
        report = verify_objects(store, manifests, update)
    segments = verify_segments(store, config.capture_slot) if not backup_id else None
    problems = list(report.problems) + list(segments.problems if segments else ())
    document: dict = {
        "backups": report.backups,
        "objects": report.objects,
        "stored_bytes": report.stored_bytes,
        "segments": segments.objects if segments else 0,
        "problems": [p.__dict__ for p in problems],
    }
    drill = None
    if deep:
        from dataguard_pipelines.core.drill import run_drill

        with progress_bar(not as_json) as update:
            _, drill = run_drill(
                store, open_keyring(config), backup_id=backup_id, jobs=config.restore_jobs, progress=update
            )
        document["drill"] = drill.__dict__
    if as_json:
        emit_json(document)
    else:
        for problem in problems:
            err.print(f"[red]bad[/red] {problem.key}: {problem.problem}", highlight=False)
        out.print(verify_summary(report, segments, problems), highlight=False)
        if drill:
            out.print(drill_summary(drill), highlight=False)
    if problems:
        raise VerificationError(f"{len(problems)} stored object(s) do not match their manifest or index")
    if drill and not drill.passed:
        raise VerificationError(f"the restore drill of {drill.backup_id} failed")
