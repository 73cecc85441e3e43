"""Critical tables: a consistent snapshot of a few tables every 6 hours as sealed Parquet, restored table by
table into a side schema of the live database, and the check that none of them vanished or shrank."""

from dataguard_pipelines.core.critical.intact import IntactReport, TableFinding, check_intact
from dataguard_pipelines.core.critical.restore import TablesRestoreResult, restore_tables
from dataguard_pipelines.core.critical.snapshot import CriticalBackupResult, back_up_critical_tables

__all__ = [
    "CriticalBackupResult",
    "IntactReport",
    "TableFinding",
    "TablesRestoreResult",
    "back_up_critical_tables",
    "check_intact",
    "restore_tables",
]
