"""The mirrors in Dagster: company partitions from the companies table, per-company schedules, a real
materialization against the emulators with metadata, and the partitioned verification checks."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import psycopg
import pytest

from dataguard_pipelines.core.credentials import CredentialStore
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.defs.external.assets import calcom_bookings, calcom_event_types, retell_calls
from dataguard_pipelines.defs.external.checks import mirror_checks
from dataguard_pipelines.defs.external.jobs import mirror_external_every_30_min
from dataguard_pipelines.defs.external.sensors import company_partitions_sensor
from dataguard_pipelines.resource_types import (
    DatabaseResource,
    KeyringResource,
    StoreResource,
    VendorApisResource,
)
from dataguard_pipelines.sandbox.emulators import EmulatorState, demo_api_keys, running_emulators


@pytest.fixture
def app_db(pg15_server, new_database) -> str:
    """A protected database with the demo's companies table (ids 85 and 42, one deleted company)."""
    url = new_database(pg15_server)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE companies (id int PRIMARY KEY, name text, deleted_at timestamptz)")
        conn.execute("INSERT INTO companies VALUES (85, 'a', NULL), (42, 'b', NULL), (7, 'gone', now())")
    return url


def test_company_sensor_keeps_partitions_in_step_with_the_companies_table(app_db, tmp_path):
    database = DatabaseResource(url=app_db, home=str(tmp_path))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("companies", ["999"])
        result = company_partitions_sensor(dg.build_sensor_context(instance=instance), database=database)
        added, deleted = result.dynamic_partitions_requests
        assert sorted(added.partition_keys) == ["42", "85"] and list(deleted.partition_keys) == ["999"]


def test_every_thirty_minutes_one_run_per_company(definitions):
    schedule = definitions.resolve_schedule_def("mirror_external_every_30_min")
    assert schedule.cron_schedule == "*/30 * * * *"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("companies", ["42", "85"])
        tick = datetime(2026, 11, 27, 10, 30, tzinfo=ZoneInfo("Europe/Berlin"))
        requests = mirror_external_every_30_min(
            dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        )
    assert sorted(r.partition_key for r in requests) == ["42", "85"]
    assert all(r.run_config["ops"]["calcom_bookings"]["config"]["mode"] == "incremental" for r in requests)


@pytest.mark.slow
def test_mirrors_materialize_per_company_and_match_the_source(
    demo_pg15, pg15_server, new_database, tmp_path, keyring_path
):
    mirror_db = new_database(pg15_server)
    keyring = Keyring.load(keyring_path)
    credentials = CredentialStore(tmp_path / "credentials", keyring)
    calcom_key, retell_key = demo_api_keys(85)
    credentials.set("85", calcom_key=calcom_key, retell_key=retell_key)
    with running_emulators(EmulatorState.from_database(demo_pg15), calcom_rate_limit=0) as (calcom, retell):
        resources = {
            "database": DatabaseResource(url=mirror_db, home=str(tmp_path)),
            "store": StoreResource(url=(tmp_path / "store").as_uri()),
            "keyring": KeyringResource(path=str(keyring_path)),
            "vendors": VendorApisResource(
                calcom_base_url=calcom.base_url,
                retell_base_url=retell.base_url,
                credentials_dir=str(tmp_path / "credentials"),
                requests_per_minute=0,
            ),
        }
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("companies", ["85"])
            result = dg.materialize(
                [calcom_event_types, calcom_bookings, retell_calls, *mirror_checks],
                partition_key="85",
                instance=instance,
                resources=resources,
            )
    assert result.success
    meta = {
        m.asset_key.path[-1]: {k: getattr(v, "value", v) for k, v in m.metadata.items()}
        for m in (e.materialization for e in result.get_asset_materialization_events())
    }
    assert meta["calcom_bookings"]["new_rows"] == meta["calcom_bookings"]["dagster/row_count"] > 0
    assert (
        meta["retell_calls"]["requests"] > meta["retell_calls"]["dagster/row_count"]
    )  # list pages + get-call
    assert Path(meta["calcom_bookings"]["dagster/uri"].removeprefix("file://")).exists()
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert len(checks) == 6 and all(checks.values()), checks
    for value in meta.values():
        assert calcom_key not in str(value) and retell_key not in str(value)
