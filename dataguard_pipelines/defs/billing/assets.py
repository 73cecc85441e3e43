"""billing_snapshot: a company's month priced into line items and a summary; drafts are replaceable (the
old one is kept as archived), a finalized month is never overwritten."""

import dagster as dg

from dataguard_pipelines.defs.billing.partitions import billing_partitions
from dataguard_pipelines.resource_types import DatabaseResource, KeyringResource, StoreResource


@dg.asset(
    partitions_def=billing_partitions,
    group_name="billing",
    kinds={"parquet", "postgres"},
    description="Monthly billing snapshot per company: line items (Parquet), summary, manifest with SHA-256.",
)
def billing_snapshot(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    store: StoreResource,
    keyring: KeyringResource,
) -> dg.MaterializeResult:
    from dataguard_pipelines.core.billing.snapshot import parse_month, write_draft  # pyarrow: import when run

    keys = context.partition_key.keys_by_dimension
    target = store.store()
    with database.open() as db, db.connect() as conn:
        snapshot = write_draft(
            conn, target, keyring.keyring(), keys["company"], parse_month(keys["month"][:7])
        )
    summary = snapshot.manifest["summary"]
    context.log.info(
        f"billing of company {keys['company']} for {keys['month'][:7]}: {summary['gross_cents']} cents gross"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/uri": target.uri(snapshot.key),
            "dagster/row_count": dg.MetadataValue.int(summary["line_items"]),
            "state": snapshot.manifest["state"],
            "version_id": snapshot.manifest["version_id"],
            "content_sha256": snapshot.manifest["content_sha256"],
            "manifest_sha256": snapshot.manifest_sha256,
            "calls_from": snapshot.manifest["source"]["calls_from"],
            "calls": dg.MetadataValue.int(summary["calls"]),
            "billable_minutes": dg.MetadataValue.int(summary["billable_minutes"]),
            "appointments": dg.MetadataValue.int(summary["appointments"]),
            "net_cents": dg.MetadataValue.int(summary["net_cents"]),
            "vat_cents": dg.MetadataValue.int(summary["vat_cents"]),
            "gross_cents": dg.MetadataValue.int(summary["gross_cents"]),
        }
    )
