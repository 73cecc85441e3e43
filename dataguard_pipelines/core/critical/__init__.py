"""Critical tables: a consistent snapshot of a few tables every 6 hours as sealed Parquet, restored table by
table into a side schema of the live database, and the check that none of them vanished or shrank.

Import from the modules (`snapshot`, `restore`, `intact`): importing the package stays free of pyarrow, so the
Dagster definitions that name these functions load fast."""
