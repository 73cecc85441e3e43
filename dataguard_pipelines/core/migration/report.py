"""The gate's report: one document for the terminal table, the Dagster UI (Markdown) and --json."""

from __future__ import annotations

from dataclasses import dataclass, field

from dataguard_pipelines.core.migration.runner import CommandResult
from dataguard_pipelines.core.migration.schema_diff import Change

APPLIED = "applied"
DRY_RUN = "dry-run clean"
STOPPED = "stopped"
FAILED_ON_SCRATCH = "failed on the scratch copy"
FAILED = "failed on the real database"
MISMATCH = "applied, but differs from the scratch run"
SUCCEEDED = frozenset({APPLIED, DRY_RUN})


@dataclass(frozen=True)
class MigrationReport:
    outcome: str
    message: str  # one sentence: what happened and what to do
    command: str
    database: str  # display form, never a password
    dry_run: bool
    allow_drop: tuple[str, ...]
    backup_id: str
    backup_reused: bool  # True: a backup verified within max_backup_age was used; False: taken now
    scratch_database: str
    changes: tuple[Change, ...] = ()  # what the command did to the scratch copy
    scratch_run: CommandResult | None = None
    real_changes: tuple[Change, ...] = ()
    real_run: CommandResult | None = None
    real_started_at: str | None = None  # server clock just before the real run, with offset
    mismatches: tuple[str, ...] = ()
    undo_command: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def exit_code(self) -> int:
        return 0 if self.outcome in SUCCEEDED else 1

    @property
    def blocking(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.blocks)

    def as_dict(self) -> dict:
        return {
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "message": self.message,
            "command": self.command,
            "database": self.database,
            "dry_run": self.dry_run,
            "allow_drop": list(self.allow_drop),
            "backup_id": self.backup_id,
            "backup_reused": self.backup_reused,
            "scratch_database": self.scratch_database,
            "blocking": [c.as_dict() for c in self.blocking],
            "changes": [c.as_dict() for c in self.changes],
            "scratch_run": self.scratch_run.as_dict() if self.scratch_run else None,
            "real_changes": [c.as_dict() for c in self.real_changes],
            "real_run": self.real_run.as_dict() if self.real_run else None,
            "real_started_at": self.real_started_at,
            "mismatches": list(self.mismatches),
            "undo_command": self.undo_command,
            "notes": list(self.notes),
        }

    def as_markdown(self) -> str:
        """The report for the Dagster UI."""
        lines = [
            f"**{self.outcome}**: {self.message}",
            "",
            f"- command: `{self.command}`",
            f"- database: `{self.database}`; backup `{self.backup_id}` "
            f"({'verified earlier' if self.backup_reused else 'taken and drilled now'})",
            f"- scratch copy: `{self.scratch_database}` (dropped afterwards)",
        ]
        if self.allow_drop:
            lines.append(f"- allowed to drop: {', '.join(f'`{t}`' for t in self.allow_drop)}")
        for label, run in (("scratch run", self.scratch_run), ("real run", self.real_run)):
            if run:
                lines.append(
                    f"- {label}: exit {run.exit_code} in {run.duration_s:.1f} s, output `{run.output_path}`"
                )
        if self.undo_command:
            lines += ["", "Undo:", "", f"    {self.undo_command}"]
        if self.mismatches:
            lines += ["", "Real run differs from the scratch run:", *[f"- {m}" for m in self.mismatches]]
        if self.changes:
            lines += [
                "",
                "| change | table | column | detail | rows | verdict |",
                "|---|---|---|---|---|---|",
            ]
            lines += [
                f"| {c.kind} | `{c.table}` | {c.column or ''} | {c.detail} | {format_rows(c)} | {verdict(c)} |"
                for c in self.changes
            ]
        else:
            lines += ["", "The command changed no table, column or row count on the scratch copy."]
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines)


def verdict(change: Change) -> str:
    if not change.destructive:
        return "harmless"
    return "allowed" if change.allowed else "BLOCKED"


def format_rows(change: Change) -> str:
    if change.rows is None:
        return ""
    text = f"{change.rows:+,}" if change.kind == "row count changed" else f"{change.rows:,}"
    return text if change.rows_exact else f"~{text}"
