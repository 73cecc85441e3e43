"""The `dataguard` command: on-call operations on the same core functions the Dagster assets call.

One module per command group; this module only wires them. Dagster is imported only by commands that
launch runs (`backup`, `sync-external`, `billing snapshot`, `demo`): `--help` and `backup-status` stay fast.
Exit codes: 0 success, 1 failed operation or check, 2 bad usage or configuration.
"""

from __future__ import annotations

import typer

from dataguard_pipelines.cli import (
    audit,
    backup,
    billing,
    capture,
    demo,
    external,
    guards,
    keys,
    migrate,
    restore,
)

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Keeps a SaaS company's data recoverable and proves it: backups, restores, drills.",
)
app.command("backup")(backup.backup)
app.command("backup-status")(backup.backup_status)
app.command("verify")(backup.verify)
app.command("restore")(restore.restore)
app.command("capture")(capture.capture)
app.command("sync-external")(external.sync_external)
app.command("demo")(demo.demo)
app.command("migrate-safe", context_settings=migrate.CONTEXT_SETTINGS)(migrate.migrate_safe)

credentials_app = typer.Typer(
    no_args_is_help=True, help="Per-company vendor API keys, sealed with the keyring."
)
credentials_app.command("set")(external.credentials_set)
app.add_typer(credentials_app, name="credentials")

billing_app = typer.Typer(
    no_args_is_help=True, help="Monthly billing snapshots per company: draft, finalize, verify."
)
billing_app.command("snapshot")(billing.snapshot)
billing_app.command("finalize")(billing.finalize)
billing_app.command("amend")(billing.amend)
billing_app.command("verify")(billing.verify)
app.add_typer(billing_app, name="billing")

keys_app = typer.Typer(no_args_is_help=True, help="The keyring: create it on purpose, list its key ids.")
keys_app.command("init")(keys.init)
keys_app.command("list")(keys.list_keys)
app.add_typer(keys_app, name="keys")

guards_app = typer.Typer(
    no_args_is_help=True, help="Table guards: DROP and TRUNCATE of critical tables only through the gate."
)
guards_app.command("install")(guards.install)
guards_app.command("status")(guards.status)
guards_app.command("uninstall")(guards.uninstall)
guards_app.command("grant")(guards.grant)
app.add_typer(guards_app, name="guards")

audit_app = typer.Typer(
    no_args_is_help=True, help="The tamper-evident audit trail: verify the chain, list the entries."
)
audit_app.command("verify")(audit.verify)
audit_app.command("log")(audit.log)
app.add_typer(audit_app, name="audit")


def main() -> None:
    app(prog_name="dataguard")
