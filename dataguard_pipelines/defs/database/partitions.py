"""Time partitions of the database backups (Europe/Berlin, where the company's day starts)."""

import dagster as dg

TIMEZONE = "Europe/Berlin"

# end_offset=1: today's partition exists, so the 02:00 run and an on-call `dataguard backup` both land in
# the partition of the day they ran; a second run the same day replaces the first.
full_backup_partitions = dg.DailyPartitionsDefinition(
    start_date="2025-01-01", timezone=TIMEZONE, end_offset=1
)

# Hours in UTC (a Berlin hour repeats once a year). end_offset=1: the current hour exists, so an on-call
# `dataguard backup --type incremental` seals it so far; the hourly schedule seals the hour that just ended.
incremental_backup_partitions = dg.HourlyPartitionsDefinition(
    start_date="2026-01-01-00:00", timezone="UTC", end_offset=1
)
