"""calcom_event_types, calcom_bookings, retell_calls: one mirror per company partition, each company
synced with its own API key; current state and change history sealed in the store, a queryable copy
in the mirror database's `dataguard` schema."""

import dagster as dg

from dataguard_pipelines.core.mirror.schema import RESOURCE_SOURCE
from dataguard_pipelines.defs.companies import companies_partitions
from dataguard_pipelines.resource_types import (
    DatabaseResource,
    KeyringResource,
    StoreResource,
    VendorApisResource,
)


class MirrorConfig(dg.Config):
    """incremental every 30 min; sweep daily (start-time window); reconcile weekly (soft-deletes)."""

    mode: str = "incremental"


def sync_metadata(result, uri: str) -> dict[str, object]:
    """Run metadata of one sync (`result` is a core.mirror.sync.SyncResult)."""
    return {
        "dagster/uri": uri,
        "dagster/row_count": dg.MetadataValue.int(result.rows),
        "mode": result.mode,
        "requests": dg.MetadataValue.int(result.requests),
        "pages": dg.MetadataValue.int(result.pages),
        "retries": dg.MetadataValue.int(result.retries),
        "rate_limit_waits": dg.MetadataValue.int(result.rate_limit_waits),
        "rate_limit_wait_s": dg.MetadataValue.float(result.rate_limit_wait_s),
        "new_rows": dg.MetadataValue.int(result.new),
        "changed_rows": dg.MetadataValue.int(result.changed),
        "unchanged_rows": dg.MetadataValue.int(result.unchanged),
        "deleted_rows": dg.MetadataValue.int(result.deleted),
        "cursor": result.cursor or "none",
        "duration_s": dg.MetadataValue.float(result.duration_s),
    }


def build_mirror_asset(resource: str) -> dg.AssetsDefinition:
    source = RESOURCE_SOURCE[resource]

    @dg.asset(
        name=resource,
        partitions_def=companies_partitions,
        group_name="external",
        kinds={source, "parquet", "postgres"},
        description=f"Mirror of {resource.replace('_', ' ')} per company ({source} API).",
    )
    def mirror(
        context: dg.AssetExecutionContext,
        config: MirrorConfig,
        database: DatabaseResource,
        store: StoreResource,
        keyring: KeyringResource,
        vendors: VendorApisResource,
    ) -> dg.MaterializeResult:
        from dataguard_pipelines.core.mirror.sync import (
            MODES,
            sync_resource,
        )  # pyarrow/httpx: import when run

        if config.mode not in MODES:
            raise dg.Failure(f"mode {config.mode!r} is not one of {', '.join(MODES)}")
        company, keys, target = context.partition_key, keyring.keyring(), store.store()
        with database.open() as db, db.connect() as conn, vendors.client(source, company, keys) as client:
            result = sync_resource(
                resource,
                conn=conn,
                store=target,
                keyring=keys,
                client=client,
                company_id=company,
                mode=config.mode,
            )
        context.log.info(
            f"{resource} of company {company}: {result.new} new, {result.changed} changed, "
            f"{result.deleted} deleted in {result.requests} requests"
        )
        return dg.MaterializeResult(metadata=sync_metadata(result, target.uri(result.current_key)))

    return mirror


calcom_event_types = build_mirror_asset("calcom_event_types")
calcom_bookings = build_mirror_asset("calcom_bookings")
retell_calls = build_mirror_asset("retell_calls")
