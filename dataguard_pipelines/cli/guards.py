"""guards install|status|uninstall|grant: the table guards on the protected database.

These run in core directly, not as Dagster runs: installing is a one-off superuser operation a DBA runs
from a shell (often before Dagster is deployed), takes well under a second, and must work when the
Dagster instance does not. The `table_guards` asset runs the same core function on its own schedule.
"""

from __future__ import annotations

import typer

from dataguard_pipelines.cli.audit import audited_command
from dataguard_pipelines.cli.common import emit_json, err, guarded, out, settings, split_names
from dataguard_pipelines.cli.render import guards_table

TABLES_HELP = "Comma-separated tables (default: DATAGUARD_CRITICAL_TABLES)."


def _tables(text: str | None) -> list[str]:
    return split_names(text) or list(settings().critical_tables)


@guarded
def install(
    tables: str | None = typer.Option(None, "--tables", help=TABLES_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Install or upgrade the guards and protect the critical tables (connect as a superuser, once)."""
    from dataguard_pipelines.core.database import protected_database
    from dataguard_pipelines.core.protection.guards import install_guards

    config, chosen = settings(), _tables(tables)
    with (
        audited_command(config, "guards.install", {"tables": chosen}),
        protected_database(config.database_url, config.home) as db,
    ):
        status = install_guards(db, chosen)
    _show(status, as_json)
    if not as_json:
        out.print(
            f"[green]ok[/green] {len(status.protected_tables)} tables protected on {status.database}",
            highlight=False,
        )


@guarded
def status(
    tables: str | None = typer.Option(None, "--tables", help=TABLES_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """What is protected, the event triggers, the gate's members; exit 1 when anything is missing or off."""
    from dataguard_pipelines.core.database import protected_database
    from dataguard_pipelines.core.protection.guards import guard_status

    config = settings()
    with protected_database(config.database_url, config.home) as db:
        current = guard_status(db, _tables(tables))
    _show(current, as_json)
    if not current.is_healthy:
        if not as_json:
            for problem in current.problems:
                err.print(f"[red]problem:[/red] {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@guarded
def uninstall(
    drop_role: bool = typer.Option(
        False, "--drop-role", help="Also drop role dataguard_gate (cluster-wide: other databases may use it)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Remove every guard object from the database; the tables become droppable again."""
    from dataguard_pipelines.core.database import protected_database
    from dataguard_pipelines.core.protection.guards import uninstall_guards

    config = settings()
    with (
        audited_command(config, "guards.uninstall", {"drop_role": drop_role}),
        protected_database(config.database_url, config.home) as db,
    ):
        uninstall_guards(db, drop_role=drop_role)
        display = db.display
    if as_json:
        emit_json({"database": display, "uninstalled": True, "dropped_role": drop_role})
    else:
        out.print(f"[green]ok[/green] table guards removed from {display}", highlight=False)


@guarded
def grant(
    role: str = typer.Argument(..., help="An existing role that may run migrations through the gate."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Make ROLE a member of dataguard_gate: it may then run destructive migrations through the gate."""
    from dataguard_pipelines.core.database import protected_database
    from dataguard_pipelines.core.protection.guards import GATE_ROLE, grant_gate, guard_status

    config = settings()
    with (
        audited_command(config, "guards.grant", {"role": role}),
        protected_database(config.database_url, config.home) as db,
    ):
        grant_gate(db, role)
        members = guard_status(db, []).gate_members
    if as_json:
        emit_json({"role": role, "granted": GATE_ROLE, "gate_members": list(members)})
    else:
        out.print(f"[green]ok[/green] {role} is a member of {GATE_ROLE}", highlight=False)


def _show(current, as_json: bool) -> None:
    if as_json:
        emit_json(current.as_dict())
        return
    out.print(guards_table(current))
    for warning in current.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
