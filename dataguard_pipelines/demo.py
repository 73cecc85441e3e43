"""`dataguard demo`: the whole protection cycle on the embedded default, then the Dagster UI.

Only this module (and tests) imports sandbox/: production code never depends on the demo data.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from rich.console import Console

from dataguard_pipelines.core.database import protected_database
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.settings import Settings, redact_url
from dataguard_pipelines.core.status import backup_status
from dataguard_pipelines.core.store import Store


def run_demo(
    settings: Settings, *, scale: float, serve_ui: bool, port: int, out: Console, err: Console
) -> bool:
    """Returns True when every step and check of the cycle passed."""
    from dataguard_pipelines.cli import status_table
    from dataguard_pipelines.launch import prepare_instance, run_job
    from dataguard_pipelines.sandbox.demo_data import is_seeded, seed

    settings.home.mkdir(parents=True, exist_ok=True)
    Keyring.load_or_create(settings.keyring_path, create=True)
    with protected_database(settings.database_url, settings.home) as db:
        err.print(f"protected database: {redact_url(db.url)}")
        if not is_seeded(db.url):
            with err.status(f"seeding demo data (scale {scale})…"):
                report = seed(db.url, scale=scale)
            err.print(
                f"seeded {report.tables} tables, {report.rows:,} rows, "
                f"{report.database_bytes / 1e6:.0f} MB in {report.duration_s:.1f} s"
            )
        from dataguard_pipelines.defs.database.partitions import full_backup_partitions

        partition = full_backup_partitions.get_last_partition_key()
        with err.status("full backup + restore drill through Dagster…"):
            started = time.monotonic()
            outcome = run_job(settings, "back_up_postgres_job", partition_key=partition)
        err.print(
            f"run {outcome.run_id}: {'success' if outcome.success else 'FAILED'} in "
            f"{time.monotonic() - started:.1f} s" + (f": {outcome.error}" if outcome.error else "")
        )
        out.print("\n[bold]continuity report[/bold]")
        for name, passed in sorted(outcome.checks.items()):
            out.print(f"  {'[green]pass[/green]' if passed else '[red]FAIL[/red]'}  full_backup / {name}")
        out.print(
            status_table(backup_status(Store(settings.store_url, s3_endpoint_url=settings.s3_endpoint_url)))
        )
        ok = outcome.success and all(outcome.checks.values())
        if serve_ui:
            dagster_home = prepare_instance(settings)
            err.print(
                f"serving the Dagster UI on http://127.0.0.1:{port} (instance {dagster_home}); Ctrl-C stops"
            )
            _serve_ui(port)
        return ok


def _serve_ui(port: int) -> None:
    command = [
        os.path.join(os.path.dirname(sys.executable), "dagster"),
        "dev",
        "-m",
        "dataguard_pipelines.definitions",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    proc = subprocess.Popen(command)
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=30)
