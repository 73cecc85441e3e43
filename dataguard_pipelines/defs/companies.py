"""The `companies` partitions: one per live company, shared by the mirrors and billing (kept in step with
the protected database's `companies` table by `company_partitions_sensor`)."""

import dagster as dg

companies_partitions = dg.DynamicPartitionsDefinition(name="companies")
