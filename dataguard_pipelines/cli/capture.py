"""capture: the long-running change shipper, and its status and slot controls."""

from __future__ import annotations

import logging
import sys

import typer

from dataguard_pipelines.cli.common import emit_json, err, guarded, open_keyring, open_store, out, settings
from dataguard_pipelines.cli.render import key_value_table


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
    from dataguard_pipelines.core.capture.daemon import run_capture
    from dataguard_pipelines.core.capture.slot import drop_slot as drop
    from dataguard_pipelines.core.database import protected_database

    config = settings()
    store, slot = open_store(config), config.capture_slot
    with protected_database(config.database_url, config.home) as db:
        if status:
            show_status(db, store, slot, config.slot_max_wal_mb, as_json)
            return
        if drop_slot or recreate_slot:
            dropped = drop(db, slot)
            err.print(f"slot {slot!r} {'dropped' if dropped else 'did not exist'}", highlight=False)
            if drop_slot:
                return
        keyring = open_keyring(config)
        if once or recreate_slot:
            ship_once(db, store, keyring, slot, config.zstd_level, as_json)
            return
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
        )
        seconds = interval or config.capture_interval_s
        err.print(
            f"capture: shipping slot {slot!r} of {db.display} to {store.url} every {seconds} s",
            highlight=False,
        )
        stats = run_capture(
            db, store, keyring, slot, interval_s=seconds, level=config.zstd_level, on_cycle=log_cycle
        )
        err.print(
            f"capture stopped: {stats.cycles} cycles, {stats.changes:,} changes shipped", highlight=False
        )


def log_cycle(result) -> None:
    if result.segments or result.created_slot:
        logging.getLogger("dataguard.capture").info(
            "shipped %d transactions (%d changes) through %s",
            result.transactions,
            result.changes,
            result.through_lsn,
        )


def ship_once(db, store, keyring, slot: str, level: int, as_json: bool) -> None:
    from dataguard_pipelines.core.capture.shipper import ship_changes

    result = ship_changes(db, store, keyring, slot, level=level)
    if as_json:
        emit_json(
            {
                "slot": slot,
                "created_slot": result.created_slot,
                "segments": len(result.segments),
                "transactions": result.transactions,
                "changes": result.changes,
                "through_lsn": result.through_lsn,
                "through_at": result.through_at.isoformat() if result.through_at else None,
            }
        )
        return
    new_slot = " — new slot: take a full backup now for point-in-time restore" if result.created_slot else ""
    out.print(
        f"[green]ok[/green] shipped {result.transactions:,} transactions ({result.changes:,} changes, "
        f"{len(result.segments)} segments) through {result.through_lsn}{new_slot}",
        highlight=False,
    )


def show_status(db, store, slot: str, max_wal_mb: int, as_json: bool) -> None:
    from dataguard_pipelines.core.capture.report import capture_report

    report = capture_report(db, store, slot, max_wal_bytes=max_wal_mb * 1024 * 1024)
    if as_json:
        emit_json(report.as_dict())
    else:
        out.print(key_value_table(f"change capture ({slot})", report.as_dict()))
    if not report.healthy:
        raise typer.Exit(1)
