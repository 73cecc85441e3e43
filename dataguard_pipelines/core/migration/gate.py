"""The safe-migration gate: prove a migration on a restored copy before it may touch the real database.

1. a full backup verified by a restore drill (one verified within `max_backup_age_s`, or one taken now);
2. restored into a scratch database on the protected server (`dataguard_migrate_<time>`), so the command
   connects with the same credentials and the same server version;
3. the command runs there, 4. schema and row counts are diffed, 5. anything destructive not in
   `allow_drop` stops the gate;
6. otherwise (unless dry-run) the command runs on the real database inside the guards' gate
   (PGOPTIONS=-c dataguard.allow_destructive=on), and the real diff must match the scratch diff;
7. the outcome goes to the audit trail.
A failed real run is left as the command left it; the report names the restore that undoes it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.errors import ConfigError, DataguardError, VerificationError
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.manifest import Manifest
from dataguard_pipelines.core.migration import report as outcomes
from dataguard_pipelines.core.migration.backup_choice import verified_backup
from dataguard_pipelines.core.migration.report import MigrationReport
from dataguard_pipelines.core.migration.runner import describe_command, run_command
from dataguard_pipelines.core.migration.schema_diff import (
    DROPPED_COLUMN,
    DROPPED_TABLE,
    ROWS_CHANGED,
    Change,
    diff_snapshots,
    snapshot_schema,
)
from dataguard_pipelines.core.progress import ProgressFn
from dataguard_pipelines.core.settings import redact_url
from dataguard_pipelines.core.store import Store

log = logging.getLogger(__name__)
PRE_MIGRATION_PARTITION = "pre-migration"  # one at a time: the next gate run replaces it, nightly ones stay
SCRATCH_PREFIX = "dataguard_migrate_"


@dataclass(frozen=True)
class MigrationRequest:
    command: Sequence[str] | str  # argv, or one shell string
    allow_drop: tuple[str, ...] = ()
    dry_run: bool = False
    max_backup_age_s: float = 3600.0
    timeout_s: float = 3600.0


@dataclass(frozen=True)
class GateContext:
    """Where the gate works and who asked; not part of what is migrated."""

    work_dir: Path  # command output files go to <work_dir>/<scratch name>-{scratch,real}.log
    capture_slot: str | None = None
    level: int = 1
    jobs: int = 2
    dagster_run_id: str | None = None
    launched_by: str | None = None
    on_line: Callable[[str], None] | None = None  # each output line of the command
    progress: ProgressFn | None = None  # backup and restore progress
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


def run_safe_migration(
    db: PostgresDatabase, store: Store, keyring: Keyring, request: MigrationRequest, context: GateContext
) -> MigrationReport:
    """Run the whole gate and return its report; errors (no backup, failed drill, …) are audited and raised."""
    try:
        report = _run_gate(db, store, keyring, request, context)
    except DataguardError as exc:
        _audit(db, store, request, context, f"error: {exc}", {})
        raise
    _audit(db, store, request, context, report.outcome, report.as_dict())
    return report


def _run_gate(db, store, keyring, request: MigrationRequest, context: GateContext) -> MigrationReport:
    manifest, reused = _backup_for_gate(db, store, keyring, request, context)
    scratch_name = f"{SCRATCH_PREFIX}{context.now():%Y%m%dt%H%M%S}_{uuid.uuid4().hex[:4]}"
    scratch = PostgresDatabase(with_database(db.url, scratch_name))
    base = {
        "command": describe_command(request.command),
        "database": db.display,
        "dry_run": request.dry_run,
        "allow_drop": request.allow_drop,
        "backup_id": manifest.backup_id,
        "backup_reused": reused,
        "scratch_database": scratch_name,
    }
    with _scratch_database(scratch):
        from dataguard_pipelines.core.restore import restore_backup

        restore_backup(
            manifest,
            store,
            keyring,
            scratch.url,
            jobs=context.jobs,
            source_url=db.url,
            progress=context.progress,
        )
        before = snapshot_schema(scratch)
        scratch_run = _run(request, scratch, context, f"{scratch_name}-scratch.log")
        changes = tuple(diff_snapshots(before, snapshot_schema(scratch), request.allow_drop))
    base.update(changes=changes, scratch_run=scratch_run)
    if not scratch_run.ok:
        return MigrationReport(
            outcome=outcomes.FAILED_ON_SCRATCH,
            message=f"the command failed on the scratch copy (exit {scratch_run.exit_code}"
            f"{', timed out' if scratch_run.timed_out else ''}); nothing ran on {db.display}; fix the command",
            **base,
        )
    blocking = [c for c in changes if c.blocks]
    if blocking:
        tables = sorted({c.table for c in blocking})
        return MigrationReport(
            outcome=outcomes.STOPPED,
            message=f"the command is destructive on the scratch copy ({len(blocking)} changes in {len(tables)} "
            f"tables, e.g. {blocking[0].kind} {blocking[0].table}); nothing ran on {db.display}; if that is "
            f"intended, pass --allow-drop {','.join(tables[:5])}{',…' if len(tables) > 5 else ''}",
            **base,
        )
    role, refused = guarded_outside_the_gate(db, changes)
    if refused:
        return MigrationReport(
            outcome=outcomes.STOPPED,
            message=f"role {role} is not a member of dataguard_gate, so the table guards of {db.display} would "
            f"refuse the allowed drops of {', '.join(refused)}; nothing ran on {db.display}; a superuser grants "
            f"it with `dataguard guards grant {role}`",
            **base,
        )
    if request.dry_run:
        return MigrationReport(
            outcome=outcomes.DRY_RUN,
            message=f"the command is safe on the scratch copy ({len(changes)} changes); dry run: {db.display} "
            "was not touched",
            **base,
        )
    return _run_real(db, store, keyring, request, context, manifest, changes, base)


def guarded_outside_the_gate(db: PostgresDatabase, changes: Sequence[Change]) -> tuple[str, list[str]]:
    """The connecting role, and the tables whose allowed drops the guards would refuse it on the real database.

    The scratch copy may lack the guards (only a superuser restores event triggers), so this is asked of the
    real database before anything runs there: the role must be in the gate to drop a protected table or column."""
    dropped = {c.table for c in changes if c.kind in (DROPPED_TABLE, DROPPED_COLUMN)}
    with db.connect() as conn:
        role, guarded, member = conn.execute(
            "SELECT session_user, to_regclass('dataguard_guard.protected_tables') IS NOT NULL,"
            " to_regrole('dataguard_gate') IS NOT NULL AND pg_has_role(session_user, 'dataguard_gate', 'MEMBER')"
        ).fetchone()
        if not dropped or not guarded or member:
            return role, []
        protected = {
            _qualified(name)
            for (name,) in conn.execute(
                "SELECT format('%I.%I', n.nspname, c.relname) FROM dataguard_guard.protected_tables p"
                " JOIN pg_class c ON c.oid = p.rel::oid JOIN pg_namespace n ON n.oid = c.relnamespace"
            )
        }
    return role, sorted(t for t in dropped if _qualified(t) in protected)


def _qualified(table: str) -> str:
    return table if "." in table else f"public.{table}"


def _run_real(db, store, keyring, request, context, manifest: Manifest, changes, base) -> MigrationReport:
    before = snapshot_schema(db)
    started_at = _server_clock(db)
    real_run = _run(request, db, context, f"{base['scratch_database']}-real.log")
    real_changes = tuple(diff_snapshots(before, snapshot_schema(db), request.allow_drop))
    undo, notes, is_pitr = _undo(db, context, manifest, started_at)
    if is_pitr and not (real_run.ok and not compare_runs(changes, real_changes)):
        notes += _ship_changes_now(db, store, keyring, context, started_at)
    base.update(
        real_run=real_run,
        real_changes=real_changes,
        real_started_at=started_at.isoformat(sep=" "),
        undo_command=undo,
    )
    if not real_run.ok:
        return MigrationReport(
            outcome=outcomes.FAILED,
            message=f"the command failed on {db.display} (exit {real_run.exit_code}) and left it as it stopped; "
            "the undo command restores the moment before it into a new database",
            notes=notes,
            **base,
        )
    mismatches = compare_runs(changes, real_changes)
    if mismatches:
        return MigrationReport(
            outcome=outcomes.MISMATCH,
            message=f"the command succeeded on {db.display}, but its effect differs from the scratch run "
            f"({len(mismatches)} differences); check them, the undo command restores the moment before it",
            mismatches=tuple(mismatches),
            notes=notes,
            **base,
        )
    return MigrationReport(
        outcome=outcomes.APPLIED,
        message=f"applied to {db.display}; its effect matches the scratch run ({len(changes)} changes)",
        **{**base, "undo_command": undo},
    )


def compare_runs(scratch: Sequence[Change], real: Sequence[Change]) -> list[str]:
    """Where the real run's effect differs from the scratch run's.

    Structure (tables, columns, types, emptied tables) must be identical. Row counts are compared only for
    tables whose rows the migration changed on the scratch copy, as a difference (after minus before): the
    application keeps writing during the real run, so other tables' live counts say nothing about it, and
    absolute counts differ anyway by what was written since the backup. A table that the migration and the
    application both write during the run can therefore show a difference that is not the migration's: it is
    reported, never hidden."""
    scratch_shape = {c.structural for c in scratch if c.kind != ROWS_CHANGED}
    real_shape = {c.structural for c in real if c.kind != ROWS_CHANGED}
    problems = [
        f"{kind} {table}{'.' + column if column else ''} {detail}".rstrip()
        + " happened only on the real database"
        for kind, table, column, detail in sorted(real_shape - scratch_shape, key=str)
    ]
    problems += [
        f"{kind} {table}{'.' + column if column else ''} {detail}".rstrip()
        + " happened only on the scratch copy"
        for kind, table, column, detail in sorted(scratch_shape - real_shape, key=str)
    ]
    real_rows = {c.table: c for c in real if c.kind == ROWS_CHANGED}
    for change in scratch:
        if change.kind != ROWS_CHANGED or not change.rows_exact:
            continue
        other = real_rows.get(change.table)
        real_delta = other.rows if other else 0
        if other is not None and not other.rows_exact:
            continue
        if real_delta != change.rows:
            problems.append(
                f"{change.table}: rows {change.rows:+,} on the scratch copy, {real_delta:+,} on the real database"
            )
    return problems


def _backup_for_gate(
    db, store, keyring, request: MigrationRequest, context: GateContext
) -> tuple[Manifest, bool]:
    """A drilled backup of this database no older than max_backup_age_s, or a new one that passes its drill."""
    from dataguard_pipelines.core.backup import run_full_backup
    from dataguard_pipelines.core.drill import run_drill

    recent = verified_backup(
        store, db, max_age=timedelta(seconds=request.max_backup_age_s), now=context.now()
    )
    if recent is not None:
        log.info(
            "using %s, verified by a restore drill and finished %s", recent.backup_id, recent.finished_at
        )
        return recent, True
    result = run_full_backup(
        db,
        store,
        keyring,
        partition=PRE_MIGRATION_PARTITION,
        level=context.level,
        progress=context.progress,
        capture_slot=context.capture_slot,
    )
    manifest, record = run_drill(store, keyring, backup_id=result.manifest.backup_id, jobs=context.jobs)
    if not record.passed:
        why = record.error or f"tables differ: {', '.join(record.mismatched_tables[:5])}"
        raise VerificationError(
            f"the restore drill of {manifest.backup_id} failed ({why}); nothing was migrated; "
            "fix the backup first (dataguard verify --deep)"
        )
    return manifest, False


def _run(request: MigrationRequest, target: PostgresDatabase, context: GateContext, log_name: str):
    return run_command(
        request.command,
        target.url,
        output_path=context.work_dir / log_name,
        timeout_s=request.timeout_s,
        extra_env=gate_environment(),
        on_line=context.on_line,
    )


def gate_environment() -> dict[str, str]:
    """PGOPTIONS that let the command through the table guards (honoured only for members of the gate role),
    appended to PGOPTIONS the operator set."""
    from dataguard_pipelines.core.protection.guards import gate_environment as guards_gate_environment

    return guards_gate_environment(os.environ.get("PGOPTIONS", ""))


def _undo(db, context: GateContext, manifest: Manifest, at: datetime) -> tuple[str, tuple[str, ...], bool]:
    """The restore command that brings back the moment before the real run into a new database, notes on
    it, and whether it is a point-in-time restore (else it restores the backup itself)."""
    dbname = urlsplit(db.url).path.lstrip("/")
    target = redact_url(
        with_database(db.url, f"{dbname}_before_migration_{at.astimezone(UTC):%Y%m%dt%H%M%S}")
    )
    is_pitr_base = bool(context.capture_slot) and (
        manifest.consistency.get("kind") == "replication_slot"
        and manifest.consistency.get("slot_name") == context.capture_slot
    )
    if not is_pitr_base:
        note = (
            "point-in-time restore is not available for this database, so the undo restores the backup "
            f"{manifest.backup_id}; writes after {manifest.finished_at} are not in it"
        )
        return (
            f"dataguard restore --target-url {shlex.quote(target)} --backup {manifest.backup_id}",
            (note,),
            False,
        )
    return (
        f'dataguard restore --target-url {shlex.quote(target)} --to-time "{at.isoformat(sep=" ")}"',
        (),
        True,
    )


def _ship_changes_now(db, store, keyring, context: GateContext, at: datetime) -> tuple[str, ...]:
    """Ship the change stream past `at` now, so the undo command works at once instead of after the next
    capture cycle (the shipper covers commits up to its clock minus one second)."""
    from dataguard_pipelines.core.capture.shipper import COMMIT_MARGIN, ship_changes

    deadline = time.monotonic() + 3 * COMMIT_MARGIN.total_seconds()
    while _server_clock(db) <= at + COMMIT_MARGIN and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        ship_changes(db, store, keyring, context.capture_slot, level=context.level, lock_wait_s=30.0)
    except DataguardError as exc:
        log.warning("could not ship the change stream after the failed migration: %s", exc)
        return (f"the change stream could not be shipped now ({exc}); the undo works once capture has run",)
    return ()


def _server_clock(db: PostgresDatabase) -> datetime:
    with db.connect() as conn:
        return conn.execute("SELECT clock_timestamp()").fetchone()[0]


def parse_duration_s(text: str, *, name: str = "--max-backup-age") -> float:
    """'90s', '30m', '1h', '2d' (or plain seconds) -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    raw = text.strip().lower()
    try:
        seconds = float(raw[:-1]) * units[raw[-1]] if raw and raw[-1] in units else float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise ConfigError(f"{name} {text!r} is not a duration such as 30m, 1h or 2d")
    return seconds


def with_database(url: str, name: str) -> str:
    """The same server and credentials, another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.contextmanager
def _scratch_database(scratch: PostgresDatabase):
    """The scratch database is dropped whatever happens (restore_backup creates it)."""
    from psycopg import sql

    try:
        yield
    finally:
        name = urlsplit(scratch.url).path.lstrip("/")
        try:
            with scratch.connect(dbname="postgres") as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        except DataguardError as exc:
            log.warning("could not drop the scratch database %s: %s; drop it by hand", name, exc)


def _audit(db, store, request: MigrationRequest, context: GateContext, outcome: str, report: dict) -> None:
    """The one place the gate writes the audit trail; a failure to write it is logged, never hides the outcome."""
    from dataguard_pipelines.core.audit import Actor, record

    parameters = {
        "command": describe_command(request.command),
        "allow_drop": list(request.allow_drop),
        "dry_run": request.dry_run,
        "max_backup_age_s": request.max_backup_age_s,
        "report": report,
    }
    try:
        record(
            db,
            operation="migration",
            parameters=parameters,
            outcome=outcome,
            store=store,
            actor=Actor.current(dagster_run_id=context.dagster_run_id, launched_by=context.launched_by),
        )
    except DataguardError as exc:
        log.error("could not write the migration to the audit trail: %s", exc)
