"""audit verify|log: the tamper-evident trail of every operation that changes or could lose data."""

from __future__ import annotations

import typer

from dataguard_pipelines.cli.common import emit_json, err, guarded, open_store, out, settings
from dataguard_pipelines.cli.render import audit_table
from dataguard_pipelines.core.errors import VerificationError


@guarded
def verify(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Check the chain: every entry's hash, its link to the one before, no gaps, and its store anchor."""
    from dataguard_pipelines.core.audit import verify_chain
    from dataguard_pipelines.core.database import protected_database

    config = settings()
    with protected_database(config.database_url, config.home) as db:
        report = verify_chain(db, open_store(config))
    if as_json:
        emit_json(report.as_dict())
    else:
        for problem in report.problems:
            err.print(f"[red]bad[/red] {problem}", highlight=False, soft_wrap=True)
        head = f", head {report.head_seq} sha256 {report.head_sha256}" if report.head_seq else ""
        mark = "[green]ok[/green]" if report.ok else "[red]not intact[/red]"
        out.print(f"{mark} audit trail: {report.entries} entries, {report.anchors} store anchors{head}")
    if not report.ok:
        raise VerificationError(
            f"the audit trail is not intact: {len(report.problems)} problem(s), first: {report.problems[0]}"
        )


@guarded
def log(
    since: str | None = typer.Option(
        None,
        "--since",
        help="'YYYY-MM-DD[ HH:MM:SS][+TZ]'; without a zone: DATAGUARD_TIMEZONE, else the server's TimeZone.",
    ),
    operation: str | None = typer.Option(
        None, "--operation", help="Only this operation, or a family: 'backup' matches backup.full."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The audit entries, oldest first: when, what, outcome, who (OS user, database role, run, launcher)."""
    from dataguard_pipelines.core.audit import read_log
    from dataguard_pipelines.core.database import protected_database
    from dataguard_pipelines.core.pitr import resolve_target_time

    config = settings()
    with protected_database(config.database_url, config.home) as db:
        moment = resolve_target_time(since, zone=config.timezone, db=db).instant if since else None
        entries = read_log(db, since=moment, operation=operation)
    if as_json:
        emit_json([e.as_dict() for e in entries])
    else:
        out.print(audit_table(entries))


def audited_command(config, operation: str, parameters: dict, store=None):
    """The CLI's audit hook: the entry goes to the protected database (never a restore target), anchored in
    the store; a failure to write it is one note on stderr and never changes the command's own result."""
    from dataguard_pipelines.core.audit import audited
    from dataguard_pipelines.core.database import protected_database

    return audited(
        lambda: protected_database(config.database_url, config.home),
        operation=operation,
        parameters=parameters,
        store=store if store is not None else open_store(config),
    )
