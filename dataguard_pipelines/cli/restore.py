"""restore: a full backup, or a point in time, into another database (never the source unless forced)."""

from __future__ import annotations

import typer

from dataguard_pipelines.cli.audit import audited_command
from dataguard_pipelines.cli.common import (
    emit_json,
    err,
    guarded,
    open_keyring,
    open_store,
    out,
    progress_bar,
    settings,
    split_names,
)
from dataguard_pipelines.core.errors import ConfigError
from dataguard_pipelines.core.settings import Settings, redact_url


@guarded
def restore(
    target_url: str = typer.Option(..., "--target-url", help="postgresql://…/<database>; created if absent."),
    backup_id: str | None = typer.Option(
        None, "--backup", help="Backup id (default: the newest full backup)."
    ),
    to_time: str | None = typer.Option(
        None,
        "--to-time",
        help="'YYYY-MM-DD HH:MM:SS[+TZ]': changes up to and including it. Without a zone: "
        "DATAGUARD_TIMEZONE, by default the protected server's TimeZone.",
    ),
    to_lsn: str | None = typer.Option(None, "--to-lsn", help="Replay transactions committed up to this LSN."),
    to_xid: int | None = typer.Option(
        None, "--to-xid", help="Replay up to, not including, this transaction."
    ),
    tables: str | None = typer.Option(
        None, "--tables", help="Only these tables (comma-separated); skips FKs."
    ),
    into_schema: str | None = typer.Option(
        None,
        "--into-schema",
        help="With --tables: load them into this NEW schema of the target (a live database is fine; nothing "
        "else is touched), from the newest critical snapshot unless --backup or --to-time says otherwise.",
    ),
    force_overwrite_source: bool = typer.Option(
        False, "--force-overwrite-source", help="Allow replacing the database the backup came from."
    ),
    jobs: int | None = typer.Option(
        None, "--jobs", "-j", min=1, max=64, help="Parallel workers (default 2)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Restore a full backup, or a point in time, into another database (never the source unless forced).

    With --to-time, --to-lsn or --to-xid: the newest full backup cut before the target, then the captured
    changes in commit order, each transaction atomically."""
    from dataguard_pipelines.core.engines.postgres import PostgresDatabase

    PostgresDatabase(target_url)  # a malformed target is a usage error, before anything is read
    config = settings()
    if into_schema:
        from dataguard_pipelines.cli.restore_tables import restore_into_schema

        if to_lsn or to_xid is not None or force_overwrite_source:
            raise ConfigError("--into-schema combines with --tables, --backup or --to-time only")
        restore_into_schema(
            config,
            target_url,
            tables=tables,
            into_schema=into_schema,
            backup_id=backup_id,
            to_time=to_time,
            as_json=as_json,
        )
        return
    if to_time or to_lsn or to_xid is not None:
        if backup_id or tables:
            raise ConfigError(
                "--backup and --tables do not combine with --to-time/--to-lsn/--to-xid "
                "(--tables with --to-time needs --into-schema)"
            )
        restore_point_in_time(
            config, target_url, to_time, to_lsn, to_xid, force_overwrite_source, jobs, as_json
        )
        return
    from dataguard_pipelines.core.manifest import find_backup
    from dataguard_pipelines.core.restore import restore_backup

    store = open_store(config)
    manifest = find_backup(store, backup_id)
    parameters = {
        "backup_id": manifest.backup_id,
        "into": redact_url(target_url),
        "tables": split_names(tables),
    }
    with progress_bar(not as_json) as update, audited_command(config, "restore", parameters, store):
        result = restore_backup(
            manifest,
            store,
            open_keyring(config),
            target_url,
            jobs=jobs or config.restore_jobs,
            tables=split_names(tables),
            source_url=config.database_url,
            force_overwrite_source=force_overwrite_source,
            progress=update,
        )
    if as_json:
        emit_json(result.__dict__)
        return
    skipped = f"; {result.skipped_foreign_keys} foreign keys skipped" if result.skipped_foreign_keys else ""
    out.print(
        f"[green]ok[/green] restored {result.backup_id} into {result.target}: {result.tables} tables, "
        f"{result.rows:,} rows in {result.duration_s:.1f} s ({result.throughput_mb_s:.0f} MB/s){skipped}",
        highlight=False,
    )
    if result.skipped_event_triggers:
        err.print(
            f"[yellow]note:[/yellow] {result.skipped_event_triggers} event triggers (table guards, DDL capture) "
            "were not restored: only a superuser may create them; run `dataguard guards install` there as a "
            "superuser if this database needs its guards",
            highlight=False,
            soft_wrap=True,
        )


def restore_point_in_time(
    config: Settings,
    target_url: str,
    to_time: str | None,
    to_lsn: str | None,
    to_xid: int | None,
    force_overwrite_source: bool,
    jobs: int | None,
    as_json: bool,
) -> None:
    from dataguard_pipelines.core.capture.lsn import format_lsn, parse_lsn
    from dataguard_pipelines.core.pitr import RecoveryTarget, plan_recovery, recover, resolve_configured_time

    resolved = resolve_configured_time(to_time, config) if to_time else None
    target = RecoveryTarget(
        time=resolved.instant if resolved else None, lsn=parse_lsn(to_lsn) if to_lsn else None, xid=to_xid
    )
    if resolved and not as_json:  # say which instant before anything is restored
        err.print(f"target time: {resolved.describe()}", highlight=False)
    store, keyring = open_store(config), open_keyring(config)
    plan = plan_recovery(store, keyring, config.capture_slot, target)
    if not as_json:
        err.print(
            f"restoring {plan.backup.backup_id}, then replaying {len(plan.segments)} segments up to "
            f"{target.describe()}",
            highlight=False,
        )
    parameters = {
        "backup_id": plan.backup.backup_id,
        "target": target.describe(),
        "into": redact_url(target_url),
    }
    with progress_bar(not as_json) as update, audited_command(config, "restore", parameters, store):
        result = recover(
            plan,
            store,
            keyring,
            target_url,
            jobs=jobs or config.restore_jobs,
            source_url=config.database_url,
            force_overwrite_source=force_overwrite_source,
            progress=update,
        )
    document = {
        "backup_id": plan.backup.backup_id,
        "target": target.describe(),
        "target_time": resolved.as_dict() if resolved else None,
        "database": result.restore.target,
        "restored_rows": result.restore.rows,
        "transactions_replayed": result.transactions,
        "changes_replayed": result.changes,
        "ddl_replayed": result.ddl,
        "last_commit_at": result.last_commit_at.isoformat() if result.last_commit_at else None,
        "last_commit_lsn": format_lsn(result.last_commit_lsn) if result.last_commit_lsn else None,
        "replay_changes_per_s": round(result.changes_per_s),
        "duration_s": round(result.duration_s, 1),
    }
    if as_json:
        emit_json(document)
        return
    out.print(
        f"[green]ok[/green] restored {plan.backup.backup_id} into {result.restore.target} and replayed "
        f"{result.transactions:,} transactions ({result.changes:,} changes, {result.ddl} DDL) up to "
        f"{target.describe()}; last commit {document['last_commit_at'] or 'none after the backup'}; "
        f"{result.duration_s:.1f} s",
        highlight=False,
    )
