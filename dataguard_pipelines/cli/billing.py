"""billing snapshot|finalize|amend|verify: monthly snapshots per company, sealed and write-once."""

from __future__ import annotations

from datetime import date

import typer

from dataguard_pipelines.cli.audit import audited_command
from dataguard_pipelines.cli.common import emit_json, err, guarded, open_keyring, open_store, out, settings
from dataguard_pipelines.cli.render import billing_table
from dataguard_pipelines.core.errors import ConfigError, DataguardError, StoreError, VerificationError
from dataguard_pipelines.core.settings import Settings
from dataguard_pipelines.job_names import SNAPSHOT_BILLING_JOB

MONTH = typer.Option(None, "--month", help="YYYY-MM.")
PREVIOUS = typer.Option(False, "--previous-month", help="The month before this one.")


def billing_month(month: str | None, previous: bool) -> date:
    from dataguard_pipelines.core.billing.snapshot import parse_month, previous_month

    if bool(month) == previous:
        raise ConfigError("give exactly one of --month YYYY-MM and --previous-month")
    return previous_month() if previous else parse_month(month)


def billing_companies(config: Settings, company: str | None) -> list[str]:
    from dataguard_pipelines.core.database import protected_database
    from dataguard_pipelines.core.mirror.companies import live_company_ids

    with protected_database(config.database_url, config.home) as db:
        known = live_company_ids(db)
    if company is None:
        return known
    if company not in known:
        raise ConfigError(f"unknown company {company}: it is not a live row of the companies table")
    return [company]


@guarded
def snapshot(
    company: str | None = typer.Option(None, "--company", help="One company (default: all companies)."),
    month: str | None = MONTH,
    previous: bool = PREVIOUS,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Draft the month's snapshot (replacing an earlier draft, which is kept as archived), as Dagster runs."""
    from dataguard_pipelines.launch import run_job

    config = settings()
    when = billing_month(month, previous)
    companies = billing_companies(config, company)
    results, failed = [], []
    for company_id in companies:
        key = f"{company_id}|{when:%Y-%m-%d}"
        outcome = run_job(
            config, SNAPSHOT_BILLING_JOB, partition_key=key, dynamic_partitions=("companies", companies)
        )
        summary = {k: outcome.metadata.get(k) for k in ("state", "gross_cents", "content_sha256")}
        results.append(
            {
                "company": company_id,
                "month": f"{when:%Y-%m}",
                "run_id": outcome.run_id,
                "success": outcome.success,
                **summary,
            }
        )
        if not outcome.success:
            failed.append(outcome.error)
        elif not as_json:
            out.print(
                f"[green]ok[/green] company {company_id} {when:%Y-%m}: draft, gross "
                f"{summary['gross_cents'] / 100:.2f}, sha256 {summary['content_sha256'][:16]}…",
                highlight=False,
            )
    if as_json:
        emit_json(results)
    if failed:
        raise DataguardError(
            failed[0] if len(failed) == 1 else f"{len(failed)} snapshots failed; first: {failed[0]}"
        )


@guarded
def finalize(
    company: str | None = typer.Option(None, "--company", help="One company (default: all with a draft)."),
    month: str | None = MONTH,
    previous: bool = PREVIOUS,
    retention_years: int = typer.Option(
        10, "--retention-years", min=1, max=100, help="Object Lock retention."
    ),
) -> None:
    """Seal the newest draft: written once (S3 Object Lock COMPLIANCE / read-only files), recorded in the ledger."""
    from dataguard_pipelines.core.billing.snapshot import finalize as finalize_month
    from dataguard_pipelines.core.billing.snapshot import partitions

    config = settings()
    when = billing_month(month, previous)
    store, keyring = open_store(config), open_keyring(config)
    companies = [company] if company else [c for c, _ in partitions(store, when)]
    if not companies:
        raise StoreError(f"no billing drafts for {when:%Y-%m}; run `dataguard billing snapshot` first")
    for company_id in companies:
        parameters = {"company": company_id, "month": f"{when:%Y-%m}", "retention_years": retention_years}
        with audited_command(config, "billing.finalize", parameters, store) as audit:
            sealed = finalize_month(store, keyring, company_id, when, retention_years=retention_years)
            audit.parameters["manifest_sha256"] = sealed.manifest_sha256
        out.print(
            f"[green]finalized[/green] company {company_id} {when:%Y-%m}: manifest sha256 "
            f"{sealed.manifest_sha256}, retained until {sealed.manifest['retain_until'][:10]}",
            highlight=False,
        )


@guarded
def amend(
    company: str = typer.Option(..., "--company", help="The company."),
    month: str = typer.Option(..., "--month", help="YYYY-MM."),
    reason: str = typer.Option(..., "--reason", help="Why the finalized month is corrected."),
) -> None:
    """Correct a finalized month: a new write-once version that references the finalized one."""
    from dataguard_pipelines.core.audit import audited
    from dataguard_pipelines.core.billing.snapshot import amend as amend_month
    from dataguard_pipelines.core.billing.snapshot import parse_month
    from dataguard_pipelines.core.database import protected_database

    config = settings()
    parameters = {"company": company, "month": month, "reason": reason}
    with (
        protected_database(config.database_url, config.home) as db,
        audited(db, operation="billing.amend", parameters=parameters, store=open_store(config)) as audit,
        db.connect() as conn,
    ):
        amended = amend_month(
            conn, open_store(config), open_keyring(config), company, parse_month(month), reason=reason
        )
        audit.parameters["version_id"] = amended.manifest["version_id"]
    out.print(
        f"[green]amended[/green] company {company} {month}: {amended.manifest['version_id']}, gross "
        f"{amended.manifest['summary']['gross_cents'] / 100:.2f}",
        highlight=False,
    )


@guarded
def verify(
    month: str | None = typer.Option(None, "--month", help="Only YYYY-MM."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A table per company: state, totals, checksum OK (drafts are recomputed from the source)."""
    from dataguard_pipelines.core.billing.snapshot import parse_month, verify_snapshots
    from dataguard_pipelines.core.database import protected_database

    config = settings()
    with protected_database(config.database_url, config.home) as db, db.connect() as conn:
        checks = verify_snapshots(
            open_store(config), open_keyring(config), conn=conn, month=parse_month(month) if month else None
        )
    if as_json:
        emit_json([c.as_dict() for c in checks])
    else:
        out.print(billing_table(checks))
        for c in checks:
            for problem in c.problems:
                err.print(f"[red]company {c.company_id} {c.month}[/red]: {problem}", highlight=False)
    bad = [c for c in checks if not c.ok]
    if bad:
        raise VerificationError(f"{len(bad)} billing snapshot(s) do not verify")
