"""billing snapshot, finalize and verify through the CLI."""

from __future__ import annotations

import json

import pytest

from tests.cli.helpers import assert_one_clear_sentence, run


@pytest.mark.slow
def test_billing_snapshot_finalize_verify_through_the_cli(env, tmp_path):
    snap = json.loads(
        run(["billing", "snapshot", "--company", "85", "--month", "2026-10", "--json"], env).stdout
    )
    assert [r["success"] for r in snap] == [True] and snap[0]["state"] == "draft"
    run(["billing", "finalize", "--company", "85", "--month", "2026-10"], env)
    [row] = json.loads(run(["billing", "verify", "--month", "2026-10", "--json"], env).stdout)
    assert (row["state"], row["ok"]) == ("finalized", True) and row["gross_cents"] > 0

    again = run(["billing", "snapshot", "--company", "85", "--month", "2026-10"], env, check=1)
    assert_one_clear_sentence(again, "is finalized", "amendments")
    bad_month = run(["billing", "snapshot", "--company", "85", "--month", "10/2026"], env, check=2)
    assert_one_clear_sentence(bad_month, "is not YYYY-MM")
    unknown = run(["billing", "snapshot", "--company", "999", "--month", "2026-10"], env, check=2)
    assert_one_clear_sentence(unknown, "unknown company 999")

    [line_items] = list((tmp_path / "store").rglob("final/line_items.parquet.dgar"))
    line_items.chmod(0o644)
    line_items.write_bytes(line_items.read_bytes()[:-10] + b"0123456789")
    tampered = run(["billing", "verify"], env, check=1)
    assert "does not hash as recorded" in tampered.stderr and "Traceback" not in tampered.stderr
