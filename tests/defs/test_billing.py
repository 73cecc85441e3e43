"""billing_snapshot in Dagster: month x company partitions, the monthly schedule, a small backfill in
which every partition records its own checksum, and the intact check."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.definitions.partitions.context import partition_loading_context

from dataguard_pipelines.defs.billing.assets import billing_snapshot
from dataguard_pipelines.defs.billing.checks import billing_snapshot_intact
from dataguard_pipelines.resource_types import DatabaseResource, KeyringResource, StoreResource


def test_monthly_schedule_drafts_last_month_for_every_company(definitions):
    schedule = definitions.resolve_schedule_def("snapshot_billing_monthly")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 3 1 * *", "Europe/Berlin")
    tick = datetime(2026, 12, 1, 3, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    with dg.instance_for_test() as instance, partition_loading_context(dynamic_partitions_store=instance):
        instance.add_dynamic_partitions("companies", ["42", "85"])
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        keys = sorted(r.partition_key for r in schedule.evaluate_tick(context).run_requests)
    assert keys == ["42|2026-11-01", "85|2026-11-01"]


def test_backfill_of_months_and_companies_records_a_checksum_per_partition(demo_pg15, tmp_path, keyring_path):
    resources = {
        "database": DatabaseResource(url=demo_pg15, home=str(tmp_path)),
        "store": StoreResource(url=(tmp_path / "store").as_uri()),
        "keyring": KeyringResource(path=str(keyring_path)),
    }
    months, companies = ["2026-08-01", "2026-09-01", "2026-10-01"], ["42", "85"]
    checksums = {}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("companies", companies)
        for month in months:
            for company in companies:
                key = dg.MultiPartitionKey({"month": month, "company": company})
                result = dg.materialize(
                    [billing_snapshot], partition_key=key, instance=instance, resources=resources
                )
                [event] = result.get_asset_materialization_events()
                meta = event.materialization.metadata
                assert event.materialization.partition == str(key)
                checksums[str(key)] = meta["content_sha256"].value
                assert meta["gross_cents"].value == meta["net_cents"].value + meta["vat_cents"].value
        checked = dg.materialize(
            [billing_snapshot, billing_snapshot_intact],
            selection=dg.AssetSelection.checks(billing_snapshot_intact),
            instance=instance,
            resources=resources,
        )
    assert len(set(checksums.values())) == len(months) * len(companies)
    [evaluation] = checked.get_asset_check_evaluations()
    assert evaluation.passed and evaluation.metadata["snapshots"].value == 6
