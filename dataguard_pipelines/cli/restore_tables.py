"""restore --tables … --into-schema NAME: tables into a new schema of a live database, nothing else touched."""

from __future__ import annotations

from dataguard_pipelines.cli.audit import audited_command
from dataguard_pipelines.cli.common import emit_json, err, open_keyring, open_store, out, spinner, split_names
from dataguard_pipelines.core.errors import ConfigError
from dataguard_pipelines.core.settings import Settings, redact_url


def restore_into_schema(
    config: Settings,
    target_url: str,
    *,
    tables: str | None,
    into_schema: str,
    backup_id: str | None,
    to_time: str | None,
    as_json: bool,
) -> None:
    """From the newest critical snapshot, `--backup ID` (full or critical), or `--to-time` (full + replay)."""
    from dataguard_pipelines.core.critical.restore import restore_tables, restore_tables_to_time

    names = split_names(tables)
    if not names:
        raise ConfigError("--into-schema needs --tables, e.g. --tables calls,appointments")
    store, keyring = open_store(config), open_keyring(config)
    parameters = {
        "backup_id": backup_id,
        "to_time": to_time,
        "into": redact_url(target_url),
        "schema": into_schema,
        "tables": names,
    }
    with (
        spinner(f"restoring {', '.join(names)} into {into_schema}…", enabled=not as_json),
        audited_command(config, "restore.tables", parameters, store),
    ):
        if to_time:
            from dataguard_pipelines.core.pitr import (
                RecoveryTarget,
                plan_recovery,
                resolve_configured_time,
            )

            resolved = resolve_configured_time(to_time, config)
            if not as_json:
                err.print(f"target time: {resolved.describe()}", highlight=False)
            plan = plan_recovery(store, keyring, config.capture_slot, RecoveryTarget(time=resolved.instant))
            result = restore_tables_to_time(plan, store, keyring, target_url, names, into_schema=into_schema)
        else:
            result = restore_tables(backup_id, store, keyring, target_url, names, into_schema=into_schema)
    if as_json:
        emit_json(result.__dict__)
        return
    out.print(
        f"[green]ok[/green] restored {', '.join(result.tables)} ({result.rows:,} rows) from {result.backup_id} "
        f"({result.source_type}) into {result.target}, counts and content hashes verified, in "
        f"{result.duration_s:.1f} s; nothing outside schema {result.schema} was touched",
        highlight=False,
    )
