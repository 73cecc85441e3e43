"""Cheap verification: every stored object is re-hashed against the manifest."""

from __future__ import annotations

import os

from dataguard_pipelines.core.backup import run_full_backup
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.verify import check_complete, verify_objects


def test_verify_objects_finds_flipped_and_missing_objects(demo_pg15, local_store, keyring_path):
    manifest = run_full_backup(
        PostgresDatabase(demo_pg15), local_store, Keyring.load(keyring_path), partition="p"
    ).manifest
    clean = verify_objects(local_store, [manifest])
    assert (
        clean.ok and clean.objects == len(manifest.objects()) and clean.stored_bytes == manifest.stored_bytes
    )
    flipped, removed = manifest.tables[0].object, manifest.tables[1].object
    with open(f"{local_store.root}/{manifest.prefix}/{flipped.key}", "r+b") as handle:
        handle.seek(-20, os.SEEK_END)  # flip the byte: writing a fixed value may leave it unchanged
        byte = handle.read(1)[0]
        handle.seek(-20, os.SEEK_END)
        handle.write(bytes([byte ^ 0xFF]))
    os.unlink(f"{local_store.root}/{manifest.prefix}/{removed.key}")
    report = verify_objects(local_store, [manifest])
    problems = {p.key.rsplit("/", 2)[-2] + "/" + p.key.rsplit("/", 1)[-1]: p.problem for p in report.problems}
    assert not report.ok
    assert problems[flipped.key] == "SHA-256 differs from the manifest"
    assert "does not exist" in problems[removed.key]
    assert check_complete(local_store, manifest) == [f"{removed.key}: missing"]
