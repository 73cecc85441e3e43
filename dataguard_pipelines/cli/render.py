"""Every table and one-line summary the CLI prints for people (JSON output bypasses this module)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rich.table import Table

OK = "[green]yes[/green]"
NOT_OK = "[red]NO[/red]"


def age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def status_table(statuses: Iterable[Any]) -> Table:
    """backup-status: the newest backup per type, its age, size and drill verdict."""
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
            age(s.age_s),
            f"{s.stored_bytes / 1e6:.1f} MB",
            str(s.tables) if s.backup_type != "changes" else "-",
            f"{s.rows:,}",
            "[green]yes[/green]" if s.verified else "[yellow]no[/yellow]",
            drill,
            f"{s.last_drill_rto_s} s" if s.last_drill_rto_s is not None else "",
        )
    return table


def point_in_time_line(statuses: Iterable[Any]) -> str:
    """Whether the newest full backup can start a point-in-time restore, and if not, why."""
    full = next((s for s in statuses if s.backup_type == "full"), None)
    if full is None or full.pitr_available is None:
        return ""
    if full.pitr_available:
        return "point-in-time: [green]available[/green] (the newest full backup is cut at the capture slot)"
    return f"point-in-time: [yellow]unavailable[/yellow] — {full.pitr_reason}"


def verify_summary(report: Any, segments: Any, problems: list) -> str:
    verdict = "[green]ok[/green]" if not problems else "[red]FAILED[/red]"
    text = (
        f"{verdict} {report.objects} objects in {report.backups} backups, "
        f"{report.stored_bytes / 1e6:.1f} MB hashed"
    )
    if segments:
        text += f"; {segments.objects} change segments, {segments.stored_bytes / 1e6:.1f} MB"
    return text


def drill_summary(drill: Any) -> str:
    verdict = "[green]passed[/green]" if drill.passed else "[red]FAILED[/red]"
    return (
        f"drill {verdict}: {drill.backup_id} restored in {drill.rto_s} s (RTO), {drill.tables_checked} "
        f"tables / {drill.rows_checked:,} rows compared in {drill.verify_s} s"
        + (f"; mismatched: {', '.join(drill.mismatched_tables)}" if drill.mismatched_tables else "")
        + (f"; {drill.error}" if drill.error else "")
    )


def key_value_table(title: str, document: Mapping[str, Any]) -> Table:
    table = Table(title=title, show_header=False)
    for key, value in document.items():
        table.add_row(key, str(value))
    return table


def verification_table(reports: Iterable[Mapping[str, Any]]) -> Table:
    """sync-external --verify: the mirror against its source, per company and resource."""
    table = Table(title="mirror verification")
    for column in ("company", "resource", "source", "mirror", "missing", "extra", "hash differs", "ok"):
        table.add_column(column)
    for r in reports:
        table.add_row(
            r["company_id"],
            r["resource"],
            str(r["source_count"]),
            str(r["mirror_count"]),
            str(r["missing"]),
            str(r["extra"]),
            str(r["hash_differs"]),
            OK if r["ok"] else NOT_OK,
        )
    return table


def billing_table(checks: Iterable[Any]) -> Table:
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
            OK if c.ok else NOT_OK,
        )
    return table


def keys_table(rows: Iterable[Mapping[str, Any]]) -> Table:
    table = Table(title="keyring")
    for column in ("key id", "active", "created"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["key_id"], OK if row["active"] else "", row["created"])
    return table


def audit_table(entries: Iterable[Any]) -> Table:
    """audit log: one row per entry, oldest first; parameters as compact JSON."""
    import json

    table = Table(title="audit trail")
    for column in ("seq", "at (UTC)", "operation", "outcome", "who", "run / launched by", "parameters"):
        table.add_column(column, overflow="fold")
    for e in entries:
        a = e.actor
        who = f"{a.os_user}@{a.host} as {a.db_role}" + (f" from {a.client_ip}" if a.client_ip else "")
        launched = " ".join(x for x in (a.dagster_run_id and a.dagster_run_id[:8], a.launched_by) if x)
        table.add_row(
            str(e.seq),
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.operation,
            e.outcome,
            who,
            launched,
            json.dumps(e.parameters, sort_keys=True, separators=(",", ":")),
        )
    return table


def migration_table(report: Any) -> Table:
    """migrate-safe: every change the command made on the scratch copy, its verdict, and the outcome."""
    from dataguard_pipelines.core.migration.report import format_rows, verdict

    colour = "green" if report.exit_code == 0 else "red"
    caption = [f"[{colour}]{report.outcome}[/{colour}]: {report.message}"]
    caption += [f"differs: {m}" for m in report.mismatches]
    table = Table(
        title=f"migrate-safe: {report.command}  (backup {report.backup_id})",
        caption="\n".join(caption),
        caption_justify="left",
    )
    for column in ("change", "table", "column", "detail", "rows", "verdict"):
        table.add_column(column)
    marks = {"BLOCKED": "[red]BLOCKED[/red]", "allowed": "[yellow]allowed[/yellow]", "harmless": "harmless"}
    for change in report.changes:
        table.add_row(
            change.kind,
            change.table,
            change.column or "",
            change.detail,
            format_rows(change),
            marks[verdict(change)],
        )
    if not report.changes:
        table.add_row("(no change to tables, columns or row counts)", "", "", "", "", "")
    return table


def migration_undo_lines(report: Any) -> list[str]:
    """The undo command on a line of its own (never wrapped, so it can be copied), and notes on it."""
    if report.exit_code == 0 or not report.undo_command:
        return []
    return [f"undo: {report.undo_command}", *report.notes]


def guards_table(status: Any) -> Table:
    """guards status: each critical (or protected) table's state, then the event triggers and the gate."""
    colours = {"protected": "green", "missing": "yellow", "not a table": "yellow"}
    table = Table(title=f"table guards (version {status.version or 'not installed'})")
    for column in ("table", "listed as", "state"):
        table.add_column(column)
    for t in status.tables:
        colour = colours.get(t.state, "red")
        table.add_row(t.relation or "-", t.listed_as, f"[{colour}]{t.state}[/{colour}]")
    for name, state in status.event_triggers.items():
        colour = "green" if state == "enabled" else "red"
        table.add_row(name, "event trigger", f"[{colour}]{state}[/{colour}]")
    table.add_row("dataguard_gate", "gate members", ", ".join(status.gate_members) or "(superusers only)")
    return table
