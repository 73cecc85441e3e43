"""Month by company: one billing snapshot per company and (Europe/Berlin) month."""

import dagster as dg

from dataguard_pipelines.defs.companies import companies_partitions

months_partitions = dg.MonthlyPartitionsDefinition(start_date="2024-01-01", timezone="Europe/Berlin")
billing_partitions = dg.MultiPartitionsDefinition(
    {"month": months_partitions, "company": companies_partitions}
)
