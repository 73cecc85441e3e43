"""keys init|list: the keyring is made on purpose, once, and its second copy kept somewhere else."""

from __future__ import annotations

from pathlib import Path

import typer

from dataguard_pipelines.cli.audit import audited_command
from dataguard_pipelines.cli.common import emit_json, err, guarded, out, settings
from dataguard_pipelines.cli.render import keys_table


@guarded
def init(
    keyring: Path | None = typer.Option(
        None,
        "--keyring",
        help="Where to write it (default: DATAGUARD_KEYRING, else $DATAGUARD_HOME/keyring.json).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a new keyring (mode 0600) with one fresh key; never overwrites an existing one."""
    from dataguard_pipelines.core.keys import init_keyring

    config = settings()
    with keys_init_audited(config, keyring or config.keyring_path) as audit:
        created = init_keyring(keyring or config.keyring_path)
        audit.parameters["key_id"] = created.key_id
    if as_json:
        emit_json(created.as_dict())
        return
    out.print(f"[green]ok[/green] keyring {created.path} created with key {created.key_id}", highlight=False)
    err.print(
        f"{created.advice} Point DATAGUARD_KEYRING at it on every machine that runs dataguard.",
        highlight=False,
    )


@guarded
def list_keys(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The keyring's key ids (never the keys), the active one marked."""
    from dataguard_pipelines.core.keys import Keyring

    loaded = Keyring.load(settings().keyring_path)
    rows = [
        {"key_id": key_id, "active": key_id == loaded.active_id, "created": created_on(key_id)}
        for key_id in sorted(loaded.keys)
    ]
    if as_json:
        emit_json(rows)
    else:
        out.print(keys_table(rows))


def created_on(key_id: str) -> str:
    """Key ids made by dataguard start with their creation date (k20261127-…)."""
    stamp = key_id[1:9]
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:]}" if key_id.startswith("k") and stamp.isdigit() else ""


def keys_init_audited(config, path: Path):
    """keys init usually runs before any database is set up: recorded only when DATAGUARD_DATABASE_URL names
    one (and it answers); otherwise one note says the operation was not recorded."""
    import contextlib

    from dataguard_pipelines.core.audit import Audited

    if config.database_url:
        return audited_command(config, "keys.init", {"keyring": str(path)})
    err.print(
        "note: keys init was not recorded in the audit trail: no protected database is configured "
        "(DATAGUARD_DATABASE_URL)",
        highlight=False,
    )
    return contextlib.nullcontext(Audited())
