"""`dataguard demo`: the whole protection cycle on the embedded default, then the Dagster UI.

Only this module (and tests) imports sandbox/: production code never depends on the demo data or the
vendor emulators.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator

from rich.console import Console

from dataguard_pipelines import job_names
from dataguard_pipelines.core.billing.snapshot import previous_month
from dataguard_pipelines.core.capture.shipper import ship_changes
from dataguard_pipelines.core.credentials import CredentialStore
from dataguard_pipelines.core.database import protected_database
from dataguard_pipelines.core.keys import Keyring, open_keyring
from dataguard_pipelines.core.settings import Settings, redact_url, write_config_file
from dataguard_pipelines.core.status import backup_status
from dataguard_pipelines.core.store import Store

MIRROR_RESOURCES = ["calcom_event_types", "calcom_bookings", "retell_calls"]


def run_demo(
    settings: Settings, *, scale: float, serve_ui: bool, port: int, out: Console, err: Console
) -> bool:
    """Returns True when every step and check of the cycle passed."""
    from dataguard_pipelines.cli.render import status_table
    from dataguard_pipelines.defs.database.critical.partitions import critical_tables_partitions
    from dataguard_pipelines.defs.database.partitions import (
        full_backup_partitions,
        incremental_backup_partitions,
    )
    from dataguard_pipelines.launch import prepare_instance, run_job
    from dataguard_pipelines.sandbox.demo_data import is_seeded, seed

    settings.home.mkdir(parents=True, exist_ok=True)
    keyring = open_keyring(settings.keyring_path, may_create=settings.may_create_keyring)
    with protected_database(settings.database_url, settings.home) as db:
        err.print(f"protected database: {redact_url(db.url)}")
        if not is_seeded(db.url):
            with err.status(f"seeding demo data (scale {scale})…"):
                report = seed(db.url, scale=scale)
            err.print(
                f"seeded {report.tables} tables, {report.rows:,} rows, "
                f"{report.database_bytes / 1e6:.0f} MB in {report.duration_s:.1f} s"
            )
        store = Store(settings.store_url, s3_endpoint_url=settings.s3_endpoint_url)
        with err.status("starting change capture (replication slot + DDL trigger)…"):
            shipped = ship_changes(db, store, keyring, settings.capture_slot, level=settings.zstd_level)
        err.print(
            f"change capture: slot {settings.capture_slot!r} "
            + ("created" if shipped.created_slot else f"shipped {shipped.changes:,} pending changes")
            + "; `dataguard capture` keeps shipping every "
            + f"{settings.capture_interval_s} s in production"
        )
        started = time.monotonic()
        with err.status("full backup + restore drill through Dagster…"):
            outcome = run_job(
                settings,
                job_names.BACK_UP_POSTGRES_JOB,
                partition_key=full_backup_partitions.get_last_partition_key(),
            )
        _report_run(err, "full backup", outcome, started)
        checks = {name: [ok] for name, ok in outcome.checks.items()}
        ok = outcome.success
        started = time.monotonic()
        with err.status("table guards, critical tables, audit trail through Dagster…"):
            protection = [
                run_job(settings, job_names.INSTALL_TABLE_GUARDS_JOB),
                run_job(
                    settings,
                    job_names.BACK_UP_CRITICAL_TABLES_JOB,
                    partition_key=critical_tables_partitions.get_last_partition_key(),
                ),
                run_job(settings, job_names.CHECK_AUDIT_TRAIL_JOB),
            ]
        for what, run in zip(
            ("table guards", "critical tables", "audit trail check"), protection, strict=True
        ):
            _report_run(err, what, run, started)
            ok = ok and run.success
            checks.update({name: [passed] for name, passed in run.checks.items()})
        with _emulators(db.url, settings) as settings:
            companies = _demo_credentials(settings, keyring)
            started = time.monotonic()
            with err.status(f"mirroring Cal.com and Retell for {len(companies)} companies through Dagster…"):
                for company in companies:
                    mirrored = run_job(
                        settings,
                        job_names.MIRROR_EXTERNAL_JOB,
                        partition_key=company,
                        dynamic_partitions=("companies", companies),
                    )
                    ok = ok and mirrored.success
                    if not mirrored.success:
                        err.print(f"[red]mirror of company {company} failed[/red]: {mirrored.error}")
            err.print(f"mirrors of {len(companies)} companies in {time.monotonic() - started:.1f} s")
            with err.status("verifying mirrors against the emulated vendors…"):
                for company in companies:
                    verified = run_job(settings, job_names.VERIFY_MIRRORS_JOB, partition_key=company)
                    ok = ok and verified.success
                    for name, passed in verified.checks.items():
                        checks.setdefault(name, []).append(passed)
            month = previous_month()
            with err.status(f"billing snapshots of {month:%Y-%m} for {len(companies)} companies…"):
                for company in companies:
                    billed = run_job(
                        settings,
                        job_names.SNAPSHOT_BILLING_JOB,
                        partition_key=f"{company}|{month:%Y-%m-%d}",
                        dynamic_partitions=("companies", companies),
                    )
                    ok = ok and billed.success
                    if not billed.success:
                        err.print(f"[red]billing of company {company} failed[/red]: {billed.error}")
                intact = run_job(settings, job_names.CHECK_BILLING_JOB)
            checks.update({name: [passed] for name, passed in intact.checks.items()})
            started = time.monotonic()
            with err.status("sealing this hour's changes and drilling a point-in-time restore…"):
                sealed = run_job(
                    settings,
                    job_names.SEAL_CHANGES_JOB,
                    partition_key=incremental_backup_partitions.get_last_partition_key(),
                )
                drilled = run_job(settings, job_names.DRILL_PITR_JOB)
            _report_run(err, "change seal + PITR drill", sealed, started)
            ok = ok and sealed.success and drilled.success
            checks.update({name: [passed] for name, passed in {**sealed.checks, **drilled.checks}.items()})
            out.print("\n[bold]continuity report[/bold]")
            for name, results in sorted(checks.items()):
                scope = f" ({sum(results)}/{len(results)} companies)" if len(results) > 1 else ""
                out.print(f"  {'[green]pass[/green]' if all(results) else '[red]FAIL[/red]'}  {name}{scope}")
            out.print(status_table(backup_status(store, capture_slot=settings.capture_slot)))
            ok = ok and all(all(results) for results in checks.values())
            if serve_ui:
                dagster_home = prepare_instance(settings)
                err.print(
                    f"serving the Dagster UI on http://127.0.0.1:{port} (instance {dagster_home}) and running "
                    f"`dataguard capture` beside it; Ctrl-C stops both"
                )
                with _capture_daemon(settings):
                    _serve_ui(port)
        return ok


@contextlib.contextmanager
def _emulators(database_url: str, settings: Settings) -> Iterator[Settings]:
    """Cal.com and Retell emulators over the demo data, recorded in DATAGUARD_HOME/dataguard.json so the UI's
    runs reach them too (a DATAGUARD_*_BASE_URL variable that is set still wins)."""
    from dataguard_pipelines.sandbox.emulators import EmulatorState, running_emulators

    with running_emulators(EmulatorState.from_database(database_url)) as (calcom, retell):
        write_config_file(
            settings.home,
            {
                "DATAGUARD_CALCOM_BASE_URL": calcom.base_url,
                "DATAGUARD_RETELL_BASE_URL": retell.base_url,
                "DATAGUARD_API_REQUESTS_PER_MINUTE": "0",
            },
        )
        yield Settings.from_env()


def _demo_credentials(settings: Settings, keyring: Keyring) -> list[str]:
    """Each demo company gets its own emulator keys, sealed like real ones."""
    from dataguard_pipelines.sandbox.demo_data import DEMO_COMPANIES
    from dataguard_pipelines.sandbox.emulators import demo_api_keys

    store = CredentialStore(settings.credentials_dir, keyring)
    for company in DEMO_COMPANIES:
        calcom_key, retell_key = demo_api_keys(company.id)
        store.set(str(company.id), calcom_key=calcom_key, retell_key=retell_key)
    return [str(company.id) for company in DEMO_COMPANIES]


def _report_run(err: Console, what: str, outcome, started: float) -> None:
    err.print(
        f"{what}: run {outcome.run_id} {'succeeded' if outcome.success else 'FAILED'} in "
        f"{time.monotonic() - started:.1f} s" + (f": {outcome.error}" if outcome.error else "")
    )


@contextlib.contextmanager
def _capture_daemon(settings: Settings) -> Iterator[None]:
    """While the UI runs, changes keep shipping (and capture_is_fresh stays green), as in production."""
    command = [os.path.join(os.path.dirname(sys.executable), "dataguard"), "capture"]
    env = {**os.environ, "DATAGUARD_HOME": str(settings.home)}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.terminate()  # SIGTERM: one last shipment, then exit
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


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
