"""The company partitions shared by the mirrors (and later billing), kept in step with `companies`."""

import dagster as dg

companies_partitions = dg.DynamicPartitionsDefinition(name="companies")
