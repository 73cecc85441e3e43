"""Critical-table snapshots: four 6-hour windows a day, starting 00, 06, 12 and 18 Europe/Berlin."""

import dagster as dg

from dataguard_pipelines.defs.database.partitions import TIMEZONE

# end_offset=1: the current window exists, so the 06:00 run and an on-call `dataguard backup --type critical`
# both land in the window they ran in; a second run in the same window replaces the first.
critical_tables_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0,6,12,18 * * *",
    start="2026-01-01-00:00",
    fmt="%Y-%m-%d-%H:%M",
    timezone=TIMEZONE,
    end_offset=1,
)
