"""billing_snapshot_intact: finalized snapshots hash as their manifest and ledger say; drafts still
match what the source data gives today."""

import dagster as dg

from dataguard_pipelines.defs.billing.assets import billing_snapshot
from dataguard_pipelines.resource_types import DatabaseResource, KeyringResource, StoreResource

SHOWN = 20


@dg.asset_check(
    asset=billing_snapshot,
    description="Every finalized snapshot matches its manifest and the ledger; "
    "every draft matches a recomputation from the source. ERROR on any mismatch.",
)
def billing_snapshot_intact(
    database: DatabaseResource, store: StoreResource, keyring: KeyringResource
) -> dg.AssetCheckResult:
    from dataguard_pipelines.core.billing.snapshot import verify_snapshots  # pyarrow: import when run

    with database.open() as db, db.connect() as conn:
        checks = verify_snapshots(store.store(), keyring.keyring(), conn=conn)
    bad = [c for c in checks if not c.ok]
    return dg.AssetCheckResult(
        passed=not bad,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "snapshots": len(checks),
            "finalized": sum(c.state == "finalized" for c in checks),
            "problems": dg.MetadataValue.json(
                [
                    {"company": c.company_id, "month": c.month, "problems": list(c.problems)}
                    for c in bad[:SHOWN]
                ]
            ),
        },
    )
