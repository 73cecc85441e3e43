"""migrate-safe: a migration runs on a restored copy first; the real database only sees it when it is safe."""

from __future__ import annotations

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
    split_names,
)
from dataguard_pipelines.core.errors import ConfigError

# `-- php artisan migrate --force`: everything after `--` reaches ctx.args untouched
CONTEXT_SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True}


@guarded
def migrate_safe(
    ctx: typer.Context,
    command: str | None = typer.Option(
        None, "--command", help='One shell command line, e.g. "alembic upgrade head" (or give it after --).'
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Stop after the scratch copy; never touch the database."
    ),
    allow_drop: str | None = typer.Option(
        None, "--allow-drop", help="Tables the migration may drop, empty or narrow (comma-separated)."
    ),
    max_backup_age: str = typer.Option(
        "1h", "--max-backup-age", help="Reuse a drilled backup this recent (30m, 1h, 2d); else take one."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Run a migration on a restored scratch copy, stop it if it destroys data, else run it for real.

    Give the command either as --command "CMD" or after --, e.g. `dataguard migrate-safe -- php artisan
    migrate --force`. The command gets the database in DATABASE_URL and in DB_HOST, DB_PORT, DB_DATABASE,
    DB_USERNAME, DB_PASSWORD. Exit 0: applied (or dry run clean); 1: stopped or failed; 2: usage."""
    from dataguard_pipelines.cli.render import migration_table, migration_undo_lines
    from dataguard_pipelines.core.database import protected_database
    from dataguard_pipelines.core.migration.gate import (
        GateContext,
        MigrationRequest,
        parse_duration_s,
        run_safe_migration,
    )

    argv = list(ctx.args)
    if argv and argv[0].startswith("-"):
        raise ConfigError(f"unknown option {argv[0]!r}; put the migration command after -- or in --command")
    if bool(command) == bool(argv):
        raise ConfigError('give the migration command exactly once: --command "CMD" or -- CMD ARGS…')
    request = MigrationRequest(
        command=command or argv,
        allow_drop=tuple(split_names(allow_drop) or ()),
        dry_run=dry_run,
        max_backup_age_s=parse_duration_s(max_backup_age),
    )
    config = settings()
    store, keyring = open_store(config), open_keyring(config)

    def show_line(line: str) -> None:
        err.print(f"  | {line}", markup=False, highlight=False)

    with progress_bar(not as_json) as update, protected_database(config.database_url, config.home) as db:
        report = run_safe_migration(
            db,
            store,
            keyring,
            request,
            GateContext(
                work_dir=config.home / "migrations",
                capture_slot=config.capture_slot,
                level=config.zstd_level,
                jobs=config.restore_jobs,
                on_line=None if as_json else show_line,
                progress=update,
            ),
        )
    if as_json:
        emit_json(report.as_dict())
    else:
        out.print(migration_table(report))
        for line in migration_undo_lines(report):
            out.print(line, soft_wrap=True, markup=False, highlight=False)
    raise typer.Exit(report.exit_code)
