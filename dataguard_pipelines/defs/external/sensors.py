"""company_partitions_sensor: one partition per live row of the protected database's `companies` table."""

import dagster as dg

from dataguard_pipelines.core.mirror.companies import live_company_ids
from dataguard_pipelines.defs.companies import companies_partitions
from dataguard_pipelines.defs.conventions import SENSOR_STATUS
from dataguard_pipelines.resource_types import DatabaseResource


@dg.sensor(
    minimum_interval_seconds=300,
    default_status=SENSOR_STATUS,
    description="Adds a `companies` partition for every live company and removes deleted ones.",
)
def company_partitions_sensor(context: dg.SensorEvaluationContext, database: DatabaseResource):
    with database.open() as db:
        wanted = set(live_company_ids(db))
    have = set(context.instance.get_dynamic_partitions(companies_partitions.name))
    requests = []
    if wanted - have:
        requests.append(companies_partitions.build_add_request(sorted(wanted - have)))
    if have - wanted:
        requests.append(companies_partitions.build_delete_request(sorted(have - wanted)))
    if not requests:
        return dg.SkipReason(f"{len(have)} company partitions, in step with the companies table")
    return dg.SensorResult(dynamic_partitions_requests=requests)
