"""mirror_matches_source (full id set + content hashes) and api_reachable, per company partition."""

import warnings

import dagster as dg

from dataguard_pipelines.core.errors import DataguardError
from dataguard_pipelines.core.mirror.schema import RESOURCE_SOURCE
from dataguard_pipelines.defs.companies import companies_partitions
from dataguard_pipelines.defs.external.assets import calcom_bookings, calcom_event_types, retell_calls
from dataguard_pipelines.resource_types import DatabaseResource, KeyringResource, VendorApisResource

warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*")
warnings.filterwarnings("ignore", category=dg.PreviewWarning, module=__name__)
SHOWN_IDS = 20


def build_checks(asset: dg.AssetsDefinition) -> list[dg.AssetChecksDefinition]:
    resource = asset.key.path[-1]
    source = RESOURCE_SOURCE[resource]

    @dg.asset_check(
        asset=asset,
        name="mirror_matches_source",
        partitions_def=companies_partitions,
        description="Every source id is in the mirror (ERROR if not), none extra, hashes equal.",
    )
    def matches(
        context: dg.AssetCheckExecutionContext,
        database: DatabaseResource,
        keyring: KeyringResource,
        vendors: VendorApisResource,
    ) -> dg.AssetCheckResult:
        from dataguard_pipelines.core.mirror.verify import verify_resource  # pyarrow/httpx: import when run

        company = context.partition_key
        with (
            database.open() as db,
            db.connect() as conn,
            vendors.client(source, company, keyring.keyring()) as c,
        ):
            report = verify_resource(resource, conn=conn, client=c, company_id=company)
        return dg.AssetCheckResult(
            passed=report.ok,
            severity=dg.AssetCheckSeverity.ERROR if report.missing_in_mirror else dg.AssetCheckSeverity.WARN,
            metadata={
                "source_count": report.source_count,
                "mirror_count": report.mirror_count,
                "missing_count": len(report.missing_in_mirror),
                "extra_count": len(report.only_in_mirror),
                "hash_mismatch_count": len(report.hash_mismatches),
                "missing_in_mirror": dg.MetadataValue.json(report.missing_in_mirror[:SHOWN_IDS]),
                "only_in_mirror": dg.MetadataValue.json(report.only_in_mirror[:SHOWN_IDS]),
                "hash_mismatches": dg.MetadataValue.json(report.hash_mismatches[:SHOWN_IDS]),
                "hashes_compared": report.hashes_compared,
            },
        )

    @dg.asset_check(
        asset=asset,
        name="api_reachable",
        partitions_def=companies_partitions,
        description=f"The {source} API answers and accepts this company's key.",
    )
    def reachable(
        context: dg.AssetCheckExecutionContext, keyring: KeyringResource, vendors: VendorApisResource
    ) -> dg.AssetCheckResult:
        try:
            with vendors.client(source, context.partition_key, keyring.keyring()) as client:
                probe(client)
        except DataguardError as exc:
            return dg.AssetCheckResult(passed=False, metadata={"error": str(exc)})
        return dg.AssetCheckResult(passed=True, metadata={"requests": client.stats.requests})

    return [matches, reachable]


def probe(client) -> None:
    """The cheapest authenticated request of each API."""
    if hasattr(client, "list_event_types"):
        client.list_event_types()
    else:
        next(iter(client.iter_calls(start_after_ms=None, limit=1)), None)


mirror_checks = [
    check for asset in (calcom_event_types, calcom_bookings, retell_calls) for check in build_checks(asset)
]
