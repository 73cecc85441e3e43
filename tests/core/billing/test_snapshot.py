"""Billing snapshots against a real seeded database and real stores: drafts, finalize, immutability,
the ledger, amendments, tamper detection, and Object Lock on moto's S3 server."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import boto3
import psycopg
import pytest
from botocore.exceptions import ClientError

from dataguard_pipelines.core.billing.snapshot import (
    FinalizedError,
    amend,
    finalize,
    ledger,
    ledger_problems,
    list_versions,
    verify_snapshots,
    write_draft,
)
from dataguard_pipelines.core.errors import ConfigError
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.store import Store
from tests.fixtures.postgres import DEMO_ANCHOR

COMPANY = "85"
MONTH = date(
    DEMO_ANCHOR.year, DEMO_ANCHOR.month - 1, 1
)  # the month before the anchor has calls and a plan change


@pytest.fixture
def keyring(keyring_path) -> Keyring:
    return Keyring.load(keyring_path)


@pytest.fixture
def conn(demo_pg15):
    with psycopg.connect(demo_pg15, autocommit=True) as connection:
        yield connection


def test_draft_counts_the_months_billable_calls(conn, local_store, keyring):
    snapshot = write_draft(conn, local_store, keyring, COMPANY, MONTH)
    summary = snapshot.manifest["summary"]
    ended = conn.execute(
        "SELECT count(*) FROM calls WHERE company_id = 85 AND call_status = 'ended' AND duration_ms > 0 AND "
        "started_at >= %s::timestamp AT TIME ZONE 'Europe/Berlin' AND "
        "started_at < (%s::timestamp + interval '1 month') AT TIME ZONE 'Europe/Berlin'",
        (MONTH, MONTH),
    ).fetchone()[0]
    assert summary["billable_calls"] == ended > 0
    assert summary["gross_cents"] == summary["net_cents"] + summary["vat_cents"]
    assert snapshot.manifest["source"]["calls_from"] == "calls"
    assert len(snapshot.manifest["source"]["plans"]) == 2  # company 85 changes plan in this month


def test_redrafting_keeps_the_previous_draft_as_archived(conn, local_store, keyring):
    first = write_draft(conn, local_store, keyring, COMPANY, MONTH)
    second = write_draft(conn, local_store, keyring, COMPANY, MONTH)
    versions = list_versions(local_store, COMPANY, MONTH, "drafts")
    assert [v.manifest["version_id"] for v in versions] == [
        first.manifest["version_id"],
        second.manifest["version_id"],
    ]
    assert first.manifest["content_sha256"] == second.manifest["content_sha256"]  # same data, same content


def test_finalized_month_refuses_rematerialization_and_stays_untouched(conn, local_store, keyring):
    write_draft(conn, local_store, keyring, COMPANY, MONTH)
    final = finalize(local_store, keyring, COMPANY, MONTH, who="finance@test")
    files = {Path(p): Path(p).read_bytes() for p in local_store.fs.find(f"{local_store.root}/{final.prefix}")}
    assert files and all(p.stat().st_mode & 0o222 == 0 for p in files)  # read-only
    with pytest.raises(FinalizedError, match="is finalized"):
        write_draft(conn, local_store, keyring, COMPANY, MONTH)
    assert {p: p.read_bytes() for p in files} == files
    [entry] = ledger(local_store)
    assert entry["event"] == "finalized" and entry["manifest_sha256"] == final.manifest_sha256
    assert all(c.ok for c in verify_snapshots(local_store, keyring, conn=conn))


def test_tampering_with_a_finalized_file_is_detected(conn, local_store, keyring):
    write_draft(conn, local_store, keyring, COMPANY, MONTH)
    final = finalize(local_store, keyring, COMPANY, MONTH)
    path = f"{local_store.root}/{final.prefix}/line_items.parquet.dgar"
    os.chmod(path, 0o644)
    with open(path, "r+b") as handle:  # flip the byte: writing a fixed value may leave it unchanged
        handle.seek(100)
        byte = handle.read(1)[0]
        handle.seek(100)
        handle.write(bytes([byte ^ 0xFF]))
    [check] = verify_snapshots(local_store, keyring, conn=conn)
    assert not check.ok and any("does not hash as recorded" in p for p in check.problems)


def test_amendments_reference_the_finalized_version_and_chain_in_the_ledger(conn, local_store, keyring):
    write_draft(conn, local_store, keyring, COMPANY, MONTH)
    final = finalize(local_store, keyring, COMPANY, MONTH)
    amended = amend(conn, local_store, keyring, COMPANY, MONTH, reason="call 17 was a test call", who="cfo")
    assert amended.manifest["amends"]["manifest_sha256"] == final.manifest_sha256
    assert (amended.manifest["reason"], amended.manifest["amended_by"]) == ("call 17 was a test call", "cfo")
    entries = ledger(local_store)
    assert [e["event"] for e in entries] == ["finalized", "amended"] and ledger_problems(entries) == []
    assert all(c.ok for c in verify_snapshots(local_store, keyring, conn=conn))
    tampered = [dict(entries[0], who="someone else"), entries[1]]
    assert ledger_problems(tampered) == ["ledger entry 2 does not chain to its predecessor"]
    with pytest.raises(ConfigError, match="needs a --reason"):
        amend(conn, local_store, keyring, COMPANY, MONTH, reason=" ")


def test_draft_drift_from_the_source_is_reported(demo_pg15, pg15_server, new_database, local_store, keyring):
    copy = new_database(pg15_server)
    with psycopg.connect(pg15_server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{copy.rsplit("/", 1)[1]}"')
        admin.execute(f'CREATE DATABASE "{copy.rsplit("/", 1)[1]}" TEMPLATE "{demo_pg15.rsplit("/", 1)[1]}"')
    with psycopg.connect(copy, autocommit=True) as conn:
        write_draft(conn, local_store, keyring, COMPANY, MONTH)
        conn.execute(
            "UPDATE calls SET duration_ms = duration_ms + 600000 WHERE company_id = 85 AND "
            "call_status = 'ended' AND started_at >= %s AND started_at < %s::date + 20",
            (MONTH, MONTH),
        )
        [check] = verify_snapshots(local_store, keyring, conn=conn)
    assert not check.ok and any(p.startswith("billable_seconds: stored") for p in check.problems)


def test_unknown_company_is_a_clear_error(conn, local_store, keyring):
    with pytest.raises(ConfigError, match="unknown company 999"):
        write_draft(conn, local_store, keyring, "999", MONTH)


def test_object_lock_on_s3_refuses_deleting_a_finalized_object(conn, s3_endpoint, monkeypatch, keyring):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="dg-billing-lock", ObjectLockEnabledForBucket=True)
    store = Store("s3://dg-billing-lock/dataguard", s3_endpoint_url=s3_endpoint)
    write_draft(conn, store, keyring, COMPANY, MONTH)
    final = finalize(store, keyring, COMPANY, MONTH, retention_years=1)
    key = f"dataguard/{final.prefix}/line_items.parquet.dgar"
    head = s3.head_object(Bucket="dg-billing-lock", Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket="dg-billing-lock", Key=key, VersionId=head["VersionId"])
    assert s3.get_object(Bucket="dg-billing-lock", Key=key, VersionId=head["VersionId"])["ContentLength"] > 0
