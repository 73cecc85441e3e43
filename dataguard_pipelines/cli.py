"""The `dataguard` command: on-call operations on the same core functions the Dagster assets call.

Dagster is imported only by commands that launch runs (`backup`, `demo`): `--help` and `backup-status`
stay fast. Exit codes: 0 success, 1 failed operation or check, 2 bad usage or configuration.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterator
from datetime import date
from enum import StrEnum
from functools import wraps

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from dataguard_pipelines.core.errors import ConfigError, DataguardError, StoreError, VerificationError
from dataguard_pipelines.core.progress import Progress as ProgressUpdate
from dataguard_pipelines.core.settings import Settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Keeps a SaaS company's data recoverable and proves it: backups, restores, drills.",
)
# Piped output keeps full-width tables instead of rich's 80-column default.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


class BackupType(StrEnum):
    full = "full"
    incremental = "incremental"
    critical = "critical"


def guarded(command: Callable) -> Callable:
    """One clear sentence and the contract's exit code instead of a traceback."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DataguardError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/yellow]: nothing was published by the interrupted step")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if os.environ.get("DATAGUARD_DEBUG"):
                raise
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            err.print(
                f"[red]error:[/red] unexpected {exc.__class__.__name__}: {first} "
                "(set DATAGUARD_DEBUG=1 for the traceback)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper


def _settings() -> Settings:
    return Settings.from_env()


def _store(settings: Settings):
    from dataguard_pipelines.core.store import Store

    return Store(settings.store_url, s3_endpoint_url=settings.s3_endpoint_url)


def _keyring(settings: Settings):
    from dataguard_pipelines.core.keys import Keyring

    return Keyring.load(settings.keyring_path)


@contextlib.contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[ProgressUpdate], None]]:
    """A rich progress bar on stderr (only on a terminal); yields the callback core functions take."""
    if not enabled or not err.is_terminal:
        yield lambda _update: None
        return
    columns = (
        TextColumn("{task.description:<10}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}"),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("", total=None, detail="")

        def update(p: ProgressUpdate) -> None:
            total = max(p.total_bytes, p.done_bytes) if p.total_bytes else None
            bar.update(task, description=p.phase, completed=p.done_bytes, total=total, detail=p.detail[:40])

        yield update


def _emit_json(document) -> None:
    typer.echo(json.dumps(document, indent=2, default=str))


@app.command()
@guarded
def backup(
    backup_type: BackupType = typer.Option(
        ..., "--type", help="full: pg_dump of the whole database; incremental: ship every change up to now."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run's metadata as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the Dagster run's log lines."),
) -> None:
    """Take a backup now, as a Dagster run on the configured instance (it shows in the UI).

    A full backup lands in today's partition (Europe/Berlin) and replaces an earlier one of the same day.
    The restore drill is not part of this command: run `dataguard verify --deep` or the nightly job.
    An incremental backup drains the capture slot now and seals the last complete hour (UTC).
    """
    if backup_type is BackupType.critical:
        raise ConfigError(
            "backup type 'critical' is not available in this version; use --type full or incremental"
        )
    settings = _settings()
    if backup_type is BackupType.incremental:
        _incremental_backup(settings, as_json=as_json, verbose=verbose)
        return
    from dataguard_pipelines.defs.database.partitions import full_backup_partitions

    partition = full_backup_partitions.get_last_partition_key()
    outcome = _launch_backup(
        settings,
        "back_up_postgres_job",
        "full_backup",
        partition,
        f"full backup of partition {partition}",
        verbose,
    )
    meta = outcome.metadata
    if as_json:
        _emit_json({"run_id": outcome.run_id, "partition": partition, **meta, "checks": outcome.checks})
        return
    out.print(
        f"[green]ok[/green] {meta['backup_id']} (partition {partition}): {meta['tables']} tables, "
        f"{meta['dagster/row_count']:,} rows, {meta['dump_bytes'] / 1e6:.1f} MB dumped -> "
        f"{meta['stored_bytes'] / 1e6:.1f} MB stored (x{meta['compression_ratio']}) in "
        f"{meta['duration_s']} s ({meta['throughput_mb_s']} MB/s); run {outcome.run_id}"
    )


def _launch_backup(settings: Settings, job: str, asset: str, partition: str, what: str, verbose: bool):
    """Materialize one partition of a backup asset as a Dagster run; its checks are left to their jobs."""
    from dataguard_pipelines.launch import run_job

    with err.status(f"{what} running…", spinner="dots") if not verbose else contextlib.nullcontext():
        outcome = run_job(
            settings,
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


def _incremental_backup(settings: Settings, *, as_json: bool, verbose: bool) -> None:
    from dataguard_pipelines.defs.database.partitions import incremental_backup_partitions

    partition = incremental_backup_partitions.get_last_partition_key()
    outcome = _launch_backup(
        settings,
        "seal_changes_job",
        "incremental_backup",
        partition,
        f"shipping changes, hour {partition}",
        verbose,
    )
    meta = outcome.metadata
    if as_json:
        _emit_json({"run_id": outcome.run_id, "partition": partition, **meta, "checks": outcome.checks})
        return
    out.print(
        f"[green]ok[/green] shipped {meta['drained_now_changes']:,} changes now; hour {partition} (UTC): "
        f"{meta['transactions']:,} transactions, {meta['changes']:,} changes in {meta['segments']} segments, "
        f"LSN {meta['lsn_range']}, shipped through {meta['shipped_through']}; run {outcome.run_id}",
        highlight=False,
    )


@app.command("backup-status")
@guarded
def backup_status_command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Newest backup per type: age, size, and whether a restore drill has verified it."""
    from dataguard_pipelines.core.status import backup_status

    settings = _settings()
    statuses = backup_status(_store(settings), capture_slot=settings.capture_slot)
    if as_json:
        _emit_json([s.as_dict() for s in statuses])
        return
    out.print(status_table(statuses))


def status_table(statuses) -> Table:
    table = Table(title="dataguard backup status")
    for column in (
        "type",
        "newest backup",
        "age",
        "stored",
        "tables",
        "rows",
        "verified",
        "last drill",
        "RTO",
    ):
        table.add_column(column)
    for s in statuses:
        if s.backup_id is None:
            table.add_row(s.backup_type, "[red]none[/red]", *[""] * 7)
            continue
        drill = (
            "never"
            if s.last_drill_passed is None
            else ("passed" if s.last_drill_passed else "[red]FAILED[/red]")
        )
        table.add_row(
            s.backup_type,
            s.backup_id,
            _age(s.age_s),
            f"{s.stored_bytes / 1e6:.1f} MB",
            str(s.tables) if s.backup_type != "changes" else "-",
            f"{s.rows:,}",
            "[green]yes[/green]" if s.verified else "[yellow]no[/yellow]",
            drill,
            f"{s.last_drill_rto_s} s" if s.last_drill_rto_s is not None else "",
        )
    return table


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@app.command()
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

    settings = _settings()
    store = _store(settings)
    manifests = [find_backup(store, backup_id)] if backup_id else list_manifests(store)
    if not manifests:
        raise StoreError(f"no backups in {store.url} yet; run `dataguard backup --type full`")
    with progress_bar(not as_json) as update:
        report = verify_objects(store, manifests, update)
    segments = verify_segments(store, settings.capture_slot) if not backup_id else None
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
                store, _keyring(settings), backup_id=backup_id, jobs=settings.restore_jobs, progress=update
            )
        document["drill"] = drill.__dict__
    if as_json:
        _emit_json(document)
    else:
        for problem in problems:
            err.print(f"[red]bad[/red] {problem.key}: {problem.problem}", highlight=False)
        out.print(
            f"{'[green]ok[/green]' if not problems else '[red]FAILED[/red]'} {report.objects} objects in "
            f"{report.backups} backups, {report.stored_bytes / 1e6:.1f} MB hashed"
            + (
                f"; {segments.objects} change segments, {segments.stored_bytes / 1e6:.1f} MB"
                if segments
                else ""
            )
        )
        if drill:
            verdict = "[green]passed[/green]" if drill.passed else "[red]FAILED[/red]"
            out.print(
                f"drill {verdict}: {drill.backup_id} restored in {drill.rto_s} s (RTO), {drill.tables_checked} "
                f"tables / {drill.rows_checked:,} rows compared in {drill.verify_s} s"
                + (f"; mismatched: {', '.join(drill.mismatched_tables)}" if drill.mismatched_tables else "")
                + (f"; {drill.error}" if drill.error else "")
            )
    if problems:
        raise VerificationError(f"{len(problems)} stored object(s) do not match their manifest or index")
    if drill and not drill.passed:
        raise VerificationError(f"the restore drill of {drill.backup_id} failed")


@app.command()
@guarded
def restore(
    target_url: str = typer.Option(..., "--target-url", help="postgresql://…/<database>; created if absent."),
    backup_id: str | None = typer.Option(
        None, "--backup", help="Backup id (default: the newest full backup)."
    ),
    to_time: str | None = typer.Option(
        None,
        "--to-time",
        help="'YYYY-MM-DD HH:MM:SS[+TZ]' (UTC without a zone): changes up to and including it.",
    ),
    to_lsn: str | None = typer.Option(None, "--to-lsn", help="Replay transactions committed up to this LSN."),
    to_xid: int | None = typer.Option(
        None, "--to-xid", help="Replay up to, not including, this transaction."
    ),
    tables: str | None = typer.Option(
        None, "--tables", help="Only these tables (comma-separated); skips FKs."
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
    changes in commit order, each transaction atomically (needs `dataguard capture` running)."""
    from dataguard_pipelines.core.engines.postgres import PostgresDatabase
    from dataguard_pipelines.core.manifest import find_backup
    from dataguard_pipelines.core.restore import restore_backup

    PostgresDatabase(target_url)  # a malformed target is a usage error, before anything is read
    settings = _settings()
    if to_time or to_lsn or to_xid is not None:
        if backup_id or tables:
            raise ConfigError("--backup and --tables do not combine with --to-time/--to-lsn/--to-xid")
        _restore_point_in_time(
            settings, target_url, to_time, to_lsn, to_xid, force_overwrite_source, jobs, as_json
        )
        return
    store = _store(settings)
    manifest = find_backup(store, backup_id)
    selected = [t.strip() for t in tables.split(",") if t.strip()] if tables else None
    with progress_bar(not as_json) as update:
        result = restore_backup(
            manifest,
            store,
            _keyring(settings),
            target_url,
            jobs=jobs or settings.restore_jobs,
            tables=selected,
            source_url=settings.database_url,
            force_overwrite_source=force_overwrite_source,
            progress=update,
        )
    if as_json:
        _emit_json(result.__dict__)
        return
    skipped = f"; {result.skipped_foreign_keys} foreign keys skipped" if result.skipped_foreign_keys else ""
    out.print(
        f"[green]ok[/green] restored {result.backup_id} into {result.target}: {result.tables} tables, "
        f"{result.rows:,} rows in {result.duration_s:.1f} s ({result.throughput_mb_s:.0f} MB/s){skipped}",
        highlight=False,
    )


def _restore_point_in_time(
    settings: Settings,
    target_url: str,
    to_time: str | None,
    to_lsn: str | None,
    to_xid: int | None,
    force_overwrite_source: bool,
    jobs: int | None,
    as_json: bool,
) -> None:
    from dataguard_pipelines.core.capture.lsn import format_lsn, parse_lsn
    from dataguard_pipelines.core.pitr import RecoveryTarget, parse_target_time, plan_recovery, recover

    target = RecoveryTarget(
        time=parse_target_time(to_time) if to_time else None,
        lsn=parse_lsn(to_lsn) if to_lsn else None,
        xid=to_xid,
    )
    store, keyring = _store(settings), _keyring(settings)
    plan = plan_recovery(store, keyring, settings.capture_slot, target)
    if not as_json:
        err.print(
            f"restoring {plan.backup.backup_id}, then replaying {len(plan.segments)} segments up to "
            f"{target.describe()}",
            highlight=False,
        )
    with progress_bar(not as_json) as update:
        result = recover(
            plan,
            store,
            keyring,
            target_url,
            jobs=jobs or settings.restore_jobs,
            source_url=settings.database_url,
            force_overwrite_source=force_overwrite_source,
            progress=update,
        )
    document = {
        "backup_id": plan.backup.backup_id,
        "target": target.describe(),
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
        _emit_json(document)
        return
    out.print(
        f"[green]ok[/green] restored {plan.backup.backup_id} into {result.restore.target} and replayed "
        f"{result.transactions:,} transactions ({result.changes:,} changes, {result.ddl} DDL) up to "
        f"{target.describe()}; last commit {document['last_commit_at'] or 'none after the backup'}; "
        f"{result.duration_s:.1f} s",
        highlight=False,
    )


@app.command()
@guarded
def capture(
    interval: int | None = typer.Option(
        None,
        "--interval",
        min=1,
        max=3600,
        help="Seconds between shipments (default DATAGUARD_CAPTURE_INTERVAL, 30).",
    ),
    once: bool = typer.Option(False, "--once", help="Ship what is pending, then exit."),
    status: bool = typer.Option(False, "--status", help="Show the slot and the shipped stream, then exit."),
    drop_slot: bool = typer.Option(False, "--drop-slot", help="Drop the capture slot (releases its WAL)."),
    recreate_slot: bool = typer.Option(
        False, "--recreate-slot", help="Drop the slot and start a new chain now (take a full backup next)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (with --status or --once)."),
) -> None:
    """Long-running change shipper: every N seconds the slot's new transactions go to the store.

    Run it under systemd or as a Kubernetes Deployment (one replica). SIGTERM ships one last time and
    exits 0; database restarts and store outages are waited out without losing or repeating changes."""
    import logging

    from dataguard_pipelines.core.capture.daemon import run_capture
    from dataguard_pipelines.core.capture.shipper import ship_changes
    from dataguard_pipelines.core.capture.slot import drop_slot as drop
    from dataguard_pipelines.core.database import protected_database

    settings = _settings()
    store, slot = _store(settings), settings.capture_slot
    with protected_database(settings.database_url, settings.home) as db:
        if status:
            _capture_status(db, store, slot, settings, as_json)
            return
        if drop_slot or recreate_slot:
            dropped = drop(db, slot)
            err.print(f"slot {slot!r} {'dropped' if dropped else 'did not exist'}", highlight=False)
            if drop_slot:
                return
        keyring = _keyring_for_backup(settings)  # capture may run before the first backup made the keyring
        if once or recreate_slot:
            result = ship_changes(db, store, keyring, slot, level=settings.zstd_level)
            document = {
                "slot": slot,
                "created_slot": result.created_slot,
                "segments": len(result.segments),
                "transactions": result.transactions,
                "changes": result.changes,
                "through_lsn": result.through_lsn,
                "through_at": result.through_at.isoformat() if result.through_at else None,
            }
            if as_json:
                _emit_json(document)
            else:
                out.print(
                    f"[green]ok[/green] shipped {result.transactions:,} transactions ({result.changes:,} changes, "
                    f"{len(result.segments)} segments) through {result.through_lsn}"
                    + (
                        " — new slot: take a full backup now for point-in-time restore"
                        if result.created_slot
                        else ""
                    ),
                    highlight=False,
                )
            return
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
        )
        seconds = interval or settings.capture_interval_s
        err.print(
            f"capture: shipping slot {slot!r} of {db.display} to {store.url} every {seconds} s",
            highlight=False,
        )

        def cycle(result) -> None:
            if result.segments or result.created_slot:
                logging.getLogger("dataguard.capture").info(
                    "shipped %d transactions (%d changes) through %s",
                    result.transactions,
                    result.changes,
                    result.through_lsn,
                )

        stats = run_capture(
            db, store, keyring, slot, interval_s=seconds, level=settings.zstd_level, on_cycle=cycle
        )
        err.print(
            f"capture stopped: {stats.cycles} cycles, {stats.changes:,} changes shipped", highlight=False
        )


def _keyring_for_backup(settings: Settings):
    from dataguard_pipelines.core.keys import Keyring

    return Keyring.load_or_create(settings.keyring_path, create=True)


def _capture_status(db, store, slot: str, settings: Settings, as_json: bool) -> None:
    from dataguard_pipelines.core.capture.health import capture_freshness, slot_hygiene
    from dataguard_pipelines.core.capture.lsn import format_lsn
    from dataguard_pipelines.core.capture.segments import list_chains, segment_ranges

    freshness = capture_freshness(store, slot)
    hygiene = slot_hygiene(
        db, slot, max_wal_bytes=settings.slot_max_wal_mb * 1024 * 1024, configured=freshness.configured
    )
    ranges = segment_ranges(store, slot)  # from key names: cheap on S3 however long the stream
    gaps = [
        f"no changes captured between LSN {format_lsn(end)} and {format_lsn(start)}"
        for (_, end, _), (start, _, _) in itertools.pairwise(ranges)
        if start != end
    ]
    document = {
        "slot": slot,
        "configured": freshness.configured,
        "fresh": freshness.passed,
        "freshness": freshness.message,
        "shipped_through": freshness.shipped_through.isoformat() if freshness.shipped_through else None,
        "slot_ok": hygiene.passed,
        "slot_status": hygiene.message,
        "retained_wal_bytes": hygiene.retained_bytes,
        "chains": [c.lsn for c in list_chains(store, slot)],
        "segments": len(ranges),
        "gaps": gaps,
    }
    if as_json:
        _emit_json(document)
    else:
        table = Table(title=f"change capture ({slot})", show_header=False)
        for key, value in document.items():
            table.add_row(key, str(value))
        out.print(table)
    if freshness.configured and not (freshness.passed and hygiene.passed and not document["gaps"]):
        raise typer.Exit(1)


@app.command()
@guarded
def demo(
    no_ui: bool = typer.Option(False, "--no-ui", help="Stop after the continuity report."),
    scale: float = typer.Option(1.0, "--scale", min=0.01, max=100, help="Demo data size (1 ≈ 70 MB)."),
    port: int = typer.Option(3000, "--port", help="Port of the Dagster UI."),
) -> None:
    """Seed the embedded database, run a full protection cycle through Dagster, report, serve the UI."""
    from dataguard_pipelines.demo import run_demo

    ok = run_demo(_settings(), scale=scale, serve_ui=not no_ui, port=port, out=out, err=err)
    if not ok:
        raise VerificationError("the protection cycle did not pass; see the report above")


credentials_app = typer.Typer(
    no_args_is_help=True, help="Per-company vendor API keys, sealed with the keyring."
)
app.add_typer(credentials_app, name="credentials")


class Source(StrEnum):
    calcom = "calcom"
    retell = "retell"


def _key_value(value: str | None) -> str | None:
    """`-` reads the key from standard input, so it stays out of shell history and `ps`."""
    return sys.stdin.readline().strip() if value == "-" else value


@credentials_app.command("set")
@guarded
def credentials_set(
    company: str = typer.Option(..., "--company", help="Company id (as in the companies table)."),
    calcom_key: str | None = typer.Option(None, "--calcom-key", help="Cal.com API key ('-': read stdin)."),
    retell_key: str | None = typer.Option(None, "--retell-key", help="Retell API key ('-': read stdin)."),
) -> None:
    """Store a company's Cal.com and/or Retell key (encrypted; each sync uses only its own company's keys)."""
    from dataguard_pipelines.core.credentials import CredentialStore
    from dataguard_pipelines.core.keys import Keyring

    settings = _settings()
    store = CredentialStore(
        settings.credentials_dir, Keyring.load_or_create(settings.keyring_path, create=True)
    )
    saved = store.set(company, calcom_key=_key_value(calcom_key), retell_key=_key_value(retell_key))
    out.print(
        f"[green]ok[/green] company {company}: "
        + ", ".join(f"{k} {v or 'not set'}" for k, v in saved.masked().items() if k != "company_id"),
        highlight=False,
    )


@app.command("sync-external")
@guarded
def sync_external(
    source: Source | None = typer.Option(None, "--source", help="Only this vendor (default: both)."),
    company: str | None = typer.Option(None, "--company", help="Only this company (default: all with keys)."),
    verify: bool = typer.Option(False, "--verify", help="Then compare each mirror with the source."),
    mode: str = typer.Option("incremental", "--mode", help="incremental | sweep | reconcile."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Mirror Cal.com and Retell data per company, as Dagster runs (they show in the UI)."""
    from dataguard_pipelines.clients.factory import SOURCES
    from dataguard_pipelines.core.credentials import CredentialStore
    from dataguard_pipelines.core.keys import Keyring
    from dataguard_pipelines.core.mirror.sync import MODES

    if mode not in MODES:
        raise ConfigError(f"--mode {mode!r} is not one of {', '.join(MODES)}")
    settings = _settings()
    keyring = Keyring.load(settings.keyring_path)
    credentials = CredentialStore(settings.credentials_dir, keyring)
    companies = [company] if company else credentials.companies()
    if not companies:
        raise ConfigError("no company has API keys yet; run `dataguard credentials set --company ID ...`")
    sources = [source.value] if source else list(SOURCES)
    from dataguard_pipelines.launch import run_job

    document: dict = {"runs": [], "verification": []}
    failed = []
    for company_id in companies:
        keys = credentials.get(company_id)
        wanted = [r for s in sources if getattr(keys, f"{s}_key") for r in SOURCES[s]]
        if not wanted:
            raise ConfigError(f"company {company_id} has no key for {' or '.join(sources)}")
        with err.status(f"mirroring company {company_id}…") if not as_json else contextlib.nullcontext():
            outcome = run_job(
                settings,
                "mirror_external_job",
                partition_key=company_id,
                asset_keys=wanted,
                run_config={"ops": {r: {"config": {"mode": mode}} for r in wanted}},
                dynamic_partitions=("companies", [company_id]),
            )
        document["runs"].append(
            {
                "company": company_id,
                "run_id": outcome.run_id,
                "success": outcome.success,
                "error": outcome.error,
            }
        )
        if not outcome.success:
            failed.append(f"company {company_id}: {outcome.error}")
            continue
        if not as_json:
            out.print(
                f"[green]ok[/green] company {company_id}: {', '.join(wanted)} synced (run {outcome.run_id})"
            )
        if verify:
            for report in _verify_company(settings, keys, wanted):
                document["verification"].append(report.as_dict())
                if not report.ok:
                    failed.append(
                        f"company {company_id} {report.resource}: {len(report.missing_in_mirror)} missing, "
                        f"{len(report.only_in_mirror)} extra, {len(report.hash_mismatches)} differ"
                    )
    if as_json:
        _emit_json(document)
    elif verify:
        out.print(_verification_table(document["verification"]))
    if failed:
        raise VerificationError("; ".join(failed))


def _verify_company(settings: Settings, keys, resources: list[str]):
    from dataguard_pipelines.clients.factory import RESOURCE_SOURCE, client_for
    from dataguard_pipelines.core.database import protected_database
    from dataguard_pipelines.core.mirror.verify import verify_resource

    with protected_database(settings.database_url, settings.home) as db, db.connect() as conn:
        for resource in resources:
            with client_for(
                RESOURCE_SOURCE[resource],
                keys,
                calcom_base_url=settings.calcom_base_url,
                retell_base_url=settings.retell_base_url,
                requests_per_minute=settings.api_requests_per_minute,
            ) as client:
                yield verify_resource(resource, conn=conn, client=client, company_id=keys.company_id)


def _verification_table(reports: list[dict]) -> Table:
    table = Table(title="mirror verification")
    for column in ("company", "resource", "source", "mirror", "missing", "extra", "hash differs", "ok"):
        table.add_column(column)
    for r in reports:
        table.add_row(
            r["company_id"],
            r["resource"],
            str(r["source_count"]),
            str(r["mirror_count"]),
            str(len(r["missing_in_mirror"])),
            str(len(r["only_in_mirror"])),
            str(len(r["hash_mismatches"])),
            "[green]yes[/green]" if r["ok"] else "[red]NO[/red]",
        )
    return table


billing_app = typer.Typer(
    no_args_is_help=True, help="Monthly billing snapshots per company: draft, finalize, verify."
)
app.add_typer(billing_app, name="billing")


def _billing_month(month: str | None, previous: bool) -> date:
    from dataguard_pipelines.core.billing.snapshot import parse_month, previous_month

    if bool(month) == previous:
        raise ConfigError("give exactly one of --month YYYY-MM and --previous-month")
    return previous_month() if previous else parse_month(month)


def _billing_companies(settings: Settings, company: str | None) -> list[str]:
    from dataguard_pipelines.core.database import protected_database
    from dataguard_pipelines.core.mirror.companies import live_company_ids

    with protected_database(settings.database_url, settings.home) as db:
        known = live_company_ids(db)
    if company is None:
        return known
    if company not in known:
        raise ConfigError(f"unknown company {company}: it is not a live row of the companies table")
    return [company]


@billing_app.command("snapshot")
@guarded
def billing_snapshot_command(
    company: str | None = typer.Option(None, "--company", help="One company (default: all companies)."),
    month: str | None = typer.Option(None, "--month", help="YYYY-MM."),
    previous: bool = typer.Option(False, "--previous-month", help="The month before this one."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Draft the month's snapshot (replacing an earlier draft, which is kept as archived), as Dagster runs."""
    from dataguard_pipelines.launch import run_job

    settings = _settings()
    when = _billing_month(month, previous)
    companies = _billing_companies(settings, company)
    results, failed = [], []
    for company_id in companies:
        key = f"{company_id}|{when:%Y-%m-%d}"
        outcome = run_job(
            settings, "snapshot_billing_job", partition_key=key, dynamic_partitions=("companies", companies)
        )
        results.append(
            {
                "company": company_id,
                "month": f"{when:%Y-%m}",
                "run_id": outcome.run_id,
                "success": outcome.success,
                **{k: outcome.metadata.get(k) for k in ("state", "gross_cents", "content_sha256")},
            }
        )
        if not outcome.success:
            failed.append(outcome.error)
        elif not as_json:
            out.print(
                f"[green]ok[/green] company {company_id} {when:%Y-%m}: draft, gross "
                f"{outcome.metadata['gross_cents'] / 100:.2f}, sha256 {outcome.metadata['content_sha256'][:16]}…"
            )
    if as_json:
        _emit_json(results)
    if failed:
        raise DataguardError(
            failed[0] if len(failed) == 1 else f"{len(failed)} snapshots failed; first: {failed[0]}"
        )


@billing_app.command("finalize")
@guarded
def billing_finalize(
    company: str | None = typer.Option(None, "--company", help="One company (default: all with a draft)."),
    month: str | None = typer.Option(None, "--month", help="YYYY-MM."),
    previous: bool = typer.Option(False, "--previous-month", help="The month before this one."),
    retention_years: int = typer.Option(
        10, "--retention-years", min=1, max=100, help="Object Lock retention."
    ),
) -> None:
    """Seal the newest draft: written once (S3 Object Lock COMPLIANCE / read-only files), recorded in the ledger."""
    from dataguard_pipelines.core.billing.snapshot import finalize, partitions

    settings = _settings()
    when = _billing_month(month, previous)
    store, keyring = _store(settings), _keyring(settings)
    companies = [company] if company else [c for c, m in partitions(store, when)]
    if not companies:
        raise StoreError(f"no billing drafts for {when:%Y-%m}; run `dataguard billing snapshot` first")
    for company_id in companies:
        snapshot = finalize(store, keyring, company_id, when, retention_years=retention_years)
        out.print(
            f"[green]finalized[/green] company {company_id} {when:%Y-%m}: manifest sha256 "
            f"{snapshot.manifest_sha256}, retained until {snapshot.manifest['retain_until'][:10]}"
        )


@billing_app.command("amend")
@guarded
def billing_amend(
    company: str = typer.Option(..., "--company", help="The company."),
    month: str = typer.Option(..., "--month", help="YYYY-MM."),
    reason: str = typer.Option(..., "--reason", help="Why the finalized month is corrected."),
) -> None:
    """Correct a finalized month: a new write-once version that references the finalized one."""
    from dataguard_pipelines.core.billing.snapshot import amend, parse_month
    from dataguard_pipelines.core.database import protected_database

    settings = _settings()
    with protected_database(settings.database_url, settings.home) as db, db.connect() as conn:
        snapshot = amend(
            conn, _store(settings), _keyring(settings), company, parse_month(month), reason=reason
        )
    out.print(
        f"[green]amended[/green] company {company} {month}: {snapshot.manifest['version_id']}, gross "
        f"{snapshot.manifest['summary']['gross_cents'] / 100:.2f}"
    )


@billing_app.command("verify")
@guarded
def billing_verify(
    month: str | None = typer.Option(None, "--month", help="Only YYYY-MM."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A table per company: state, totals, checksum OK (drafts are recomputed from the source)."""
    from dataguard_pipelines.core.billing.snapshot import parse_month, verify_snapshots
    from dataguard_pipelines.core.database import protected_database

    settings = _settings()
    with protected_database(settings.database_url, settings.home) as db, db.connect() as conn:
        checks = verify_snapshots(
            _store(settings), _keyring(settings), conn=conn, month=parse_month(month) if month else None
        )
    if as_json:
        _emit_json([c.as_dict() for c in checks])
    else:
        table = Table(title="billing snapshots")
        for column in ("company", "month", "state", "net", "gross", "checksum OK"):
            table.add_column(column)
        for c in checks:
            table.add_row(
                c.company_id,
                c.month,
                c.state,
                f"{(c.net_cents or 0) / 100:.2f}",
                f"{(c.gross_cents or 0) / 100:.2f}",
                "[green]yes[/green]" if c.ok else "[red]NO[/red]",
            )
        out.print(table)
        for c in checks:
            for problem in c.problems:
                err.print(f"[red]company {c.company_id} {c.month}[/red]: {problem}", highlight=False)
    bad = [c for c in checks if not c.ok]
    if bad:
        raise VerificationError(f"{len(bad)} billing snapshot(s) do not verify")


def main() -> None:
    app(prog_name="dataguard")


if __name__ == "__main__":
    sys.exit(main())
