"""The metadata a person wants on a backup in the UI: where, how big, intact, how long, which version."""

from __future__ import annotations

import hashlib

import dagster as dg

from dataguard_pipelines.core.backup import BackupResult

PREVIEW_TABLES = 15


def backup_metadata(result: BackupResult) -> dict[str, dg.RawMetadataValue]:
    manifest = result.manifest
    biggest = sorted(manifest.tables, key=lambda t: t.object.content_bytes, reverse=True)[:PREVIEW_TABLES]
    preview = "| table | rows | dump MB | stored MB |\n|---|---:|---:|---:|\n" + "\n".join(
        f"| {t.name} | {t.rows:,} | {t.object.content_bytes / 1e6:.2f} | {t.object.sealed_bytes / 1e6:.2f} |"
        for t in biggest
    )
    return {
        "dagster/uri": dg.MetadataValue.url(result.uri) if "://" in result.uri else result.uri,
        "backup_id": manifest.backup_id,
        "dump_bytes": dg.MetadataValue.int(manifest.content_bytes),
        "stored_bytes": dg.MetadataValue.int(manifest.stored_bytes),
        "compression_ratio": dg.MetadataValue.float(round(result.compression_ratio, 2)),
        "duration_s": dg.MetadataValue.float(round(result.duration_s, 2)),
        "throughput_mb_s": dg.MetadataValue.float(round(result.throughput_mb_s, 1)),
        "tables": dg.MetadataValue.int(len(manifest.tables)),
        "dagster/row_count": dg.MetadataValue.int(manifest.rows),
        "manifest_sha256": hashlib.sha256(manifest.to_json().encode()).hexdigest(),
        "key_id": manifest.key_id,
        "pg_server_version": str(manifest.source["server_version"]),
        "consistency_lsn": str(manifest.consistency["lsn"]),
        # replication_slot: an exact cut that point-in-time restore continues from; exported: no PITR base
        "consistency_kind": str(manifest.consistency.get("kind", "exported")),
        "point_in_time": result.pitr_reason or "available",
        "format_version": dg.MetadataValue.int(manifest.version),
        "largest_tables": dg.MetadataValue.md(preview),
    }
