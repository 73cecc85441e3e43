"""credentials set, sync-external: per-company vendor keys and the Cal.com/Retell mirrors."""

from __future__ import annotations

import sys
from enum import StrEnum

import typer

from dataguard_pipelines.cli.common import emit_json, guarded, open_keyring, out, settings, spinner
from dataguard_pipelines.cli.render import verification_table
from dataguard_pipelines.core.errors import ConfigError, VerificationError
from dataguard_pipelines.job_names import MIRROR_EXTERNAL_JOB, VERIFY_MIRRORS_JOB

MATCHES_CHECK = "mirror_matches_source"


class Source(StrEnum):
    calcom = "calcom"
    retell = "retell"


def key_value(value: str | None) -> str | None:
    """`-` reads the key from standard input, so it stays out of shell history and `ps`."""
    return sys.stdin.readline().strip() if value == "-" else value


@guarded
def credentials_set(
    company: str = typer.Option(..., "--company", help="Company id (as in the companies table)."),
    calcom_key: str | None = typer.Option(None, "--calcom-key", help="Cal.com API key ('-': read stdin)."),
    retell_key: str | None = typer.Option(None, "--retell-key", help="Retell API key ('-': read stdin)."),
) -> None:
    """Store a company's Cal.com and/or Retell key (encrypted; each sync uses only its own company's keys)."""
    from dataguard_pipelines.core.credentials import CredentialStore

    config = settings()
    store = CredentialStore(config.credentials_dir, open_keyring(config))
    saved = store.set(company, calcom_key=key_value(calcom_key), retell_key=key_value(retell_key))
    masked = ", ".join(f"{k} {v or 'not set'}" for k, v in saved.masked().items() if k != "company_id")
    out.print(f"[green]ok[/green] company {company}: {masked}", highlight=False)


@guarded
def sync_external(
    source: Source | None = typer.Option(None, "--source", help="Only this vendor (default: both)."),
    company: str | None = typer.Option(None, "--company", help="Only this company (default: all with keys)."),
    verify: bool = typer.Option(
        False,
        "--verify",
        help="Also compare each mirror with the source (the run's mirror_matches_source check).",
    ),
    mode: str = typer.Option("incremental", "--mode", help="incremental | sweep | reconcile."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Mirror Cal.com and Retell data per company, as Dagster runs (they show in the UI).

    A sync costs what the scheduled one costs; --verify adds one scan of the source, inside the same run,
    and its result is the check result the UI shows."""
    from dataguard_pipelines.core.credentials import CredentialStore
    from dataguard_pipelines.core.mirror.plan import plan_mirror_runs
    from dataguard_pipelines.core.mirror.sync import MODES
    from dataguard_pipelines.launch import run_job

    if mode not in MODES:
        raise ConfigError(f"--mode {mode!r} is not one of {', '.join(MODES)}")
    config = settings()
    credentials = CredentialStore(config.credentials_dir, open_keyring(config))
    plan = plan_mirror_runs(credentials, company=company, source=source.value if source else None)
    runs, verification, failed = [], [], []
    for run in plan:
        with spinner(f"mirroring company {run.company_id}…", enabled=not as_json):
            outcome = run_job(
                config,
                VERIFY_MIRRORS_JOB if verify else MIRROR_EXTERNAL_JOB,
                partition_key=run.company_id,
                asset_keys=list(run.resources),
                with_checks=verify,
                run_config={"ops": {r: {"config": {"mode": mode}} for r in run.resources}},
                dynamic_partitions=("companies", [run.company_id]),
            )
        runs.append(
            {
                "company": run.company_id,
                "run_id": outcome.run_id,
                "success": outcome.success,
                "error": outcome.error,
            }
        )
        if not outcome.success:
            failed.append(f"company {run.company_id}: {outcome.error}")
            continue
        if not as_json:
            out.print(
                f"[green]ok[/green] company {run.company_id}: {', '.join(run.resources)} synced "
                f"(run {outcome.run_id})",
                highlight=False,
            )
        for resource in run.resources if verify else ():
            report = mirror_check(outcome, run.company_id, resource)
            verification.append(report)
            if not report["ok"]:
                failed.append(
                    f"company {run.company_id} {resource}: {report['missing']} missing, "
                    f"{report['extra']} extra, {report['hash_differs']} differ"
                )
    if as_json:
        emit_json({"runs": runs, "verification": verification})
    elif verify:
        out.print(verification_table(verification))
    if failed:
        raise VerificationError("; ".join(failed))


def mirror_check(outcome, company_id: str, resource: str) -> dict:
    """The run's mirror_matches_source result for one resource, as the table and --json show it."""
    name = f"{resource} / {MATCHES_CHECK}"
    meta = outcome.check_metadata.get(name, {})
    return {
        "company_id": company_id,
        "resource": resource,
        "ok": outcome.checks.get(name, False),
        "source_count": meta.get("source_count"),
        "mirror_count": meta.get("mirror_count"),
        "missing": meta.get("missing_count"),
        "extra": meta.get("extra_count"),
        "hash_differs": meta.get("hash_mismatch_count"),
        "hashes_compared": meta.get("hashes_compared"),
        "missing_in_mirror": meta.get("missing_in_mirror", []),
        "only_in_mirror": meta.get("only_in_mirror", []),
        "hash_mismatches": meta.get("hash_mismatches", []),
    }
