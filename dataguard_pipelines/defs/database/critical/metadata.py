"""What a person wants to see on a critical snapshot and on its intact check in the UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from dataguard_pipelines.core.critical.intact import IntactReport

if TYPE_CHECKING:  # pyarrow: imported when a snapshot runs, not when Dagster loads the definitions
    from dataguard_pipelines.core.critical.snapshot import CriticalBackupResult


def snapshot_metadata(result: CriticalBackupResult) -> dict[str, dg.RawMetadataValue]:
    manifest = result.manifest
    rows = "| table | rows | Parquet MB | stored MB |\n|---|---:|---:|---:|\n" + "\n".join(
        f"| {t.name} | {t.rows:,} | {t.object.content_bytes / 1e6:.2f} | {t.object.sealed_bytes / 1e6:.2f} |"
        for t in manifest.tables
    )
    return {
        "dagster/uri": dg.MetadataValue.url(result.uri) if "://" in result.uri else result.uri,
        "backup_id": manifest.backup_id,
        "tables": dg.MetadataValue.json([t.name for t in manifest.tables]),
        "table_count": dg.MetadataValue.int(len(manifest.tables)),
        "dagster/row_count": dg.MetadataValue.int(manifest.rows),
        "parquet_bytes": dg.MetadataValue.int(manifest.content_bytes),
        "stored_bytes": dg.MetadataValue.int(manifest.stored_bytes),
        "missing_tables": dg.MetadataValue.json(result.missing),
        "duration_s": dg.MetadataValue.float(round(result.duration_s, 2)),
        "consistency_lsn": str(manifest.consistency["lsn"]),
        "per_table": dg.MetadataValue.md(rows),
    }


def intact_metadata(report: IntactReport) -> dict[str, dg.RawMetadataValue]:
    failures = [
        {
            "table": f.table,
            "problem": f.status,
            "previous_rows": f.baseline_rows,
            "rows": f.rows,
            "shrink": f.shrink,
            "detail": f.detail,
        }
        for f in report.failures
    ]
    return {
        "failed_tables": dg.MetadataValue.json(failures),
        "missing_tables": dg.MetadataValue.json(list(report.missing)),
        "compared_with": report.baseline_id or "none (first snapshot)",
        "max_shrink": dg.MetadataValue.float(report.max_shrink),
        "tables": dg.MetadataValue.json(
            {f.table: {"previous_rows": f.baseline_rows, "rows": f.rows} for f in report.findings}
        ),
    }
