"""credentials set and sync-external against the vendor emulators."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.cli.helpers import DATAGUARD, assert_one_clear_sentence, run
from tests.fixtures.environment import subprocess_env


@pytest.mark.slow
def test_credentials_and_sync_external_with_verify(
    tmp_path, keyring_path, demo_pg15, pg15_server, new_database
):
    from dataguard_pipelines.sandbox.emulators import EmulatorState, demo_api_keys, running_emulators

    calcom_key, retell_key = demo_api_keys(85)
    state = EmulatorState.from_database(demo_pg15)
    with running_emulators(state, calcom_rate_limit=0) as (calcom, retell):
        env = {
            "DATAGUARD_HOME": str(tmp_path / "home"),
            "DATAGUARD_KEYRING": str(keyring_path),
            "DATAGUARD_STORE_URL": (tmp_path / "store").as_uri(),
            "DATAGUARD_DATABASE_URL": new_database(pg15_server),
            "DATAGUARD_CALCOM_BASE_URL": calcom.base_url,
            "DATAGUARD_RETELL_BASE_URL": retell.base_url,
            "DATAGUARD_API_REQUESTS_PER_MINUTE": "0",
        }
        stored = subprocess.run(
            [
                DATAGUARD,
                "credentials",
                "set",
                "--company",
                "85",
                "--calcom-key",
                calcom_key,
                "--retell-key",
                "-",
            ],
            input=retell_key + "\n",
            env=subprocess_env(env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert stored.returncode == 0, stored.stderr
        assert calcom_key[-4:] in stored.stdout and calcom_key not in stored.stdout

        synced = run(["sync-external", "--company", "85", "--verify", "--json"], env)
        document = json.loads(synced.stdout)
        assert [r["success"] for r in document["runs"]] == [True]
        assert {r["resource"]: r["ok"] for r in document["verification"]} == {
            "calcom_event_types": True,
            "calcom_bookings": True,
            "retell_calls": True,
        }

        # a sync without --verify costs what the scheduled one costs: no scan of the source
        calcom.faults.reset_counters()
        plain = run(["sync-external", "--company", "85", "--source", "calcom", "--json"], env)
        assert json.loads(plain.stdout)["verification"] == []
        plain_requests = calcom.faults.requests_by_path()["/v2/bookings"]
        assert plain_requests == 1  # nothing changed: one page of bookings updated since the cursor
        # --verify adds exactly one scan of the source, inside the run; its result is the run's check
        calcom.faults.reset_counters()
        verified = json.loads(
            run(["sync-external", "--company", "85", "--source", "calcom", "--verify", "--json"], env).stdout
        )
        scan_requests = calcom.faults.requests_by_path()["/v2/bookings"] - plain_requests
        calcom.faults.reset_counters()
        from dataguard_pipelines.clients.calcom import CalcomClient
        from dataguard_pipelines.core.mirror.verify import _source_hashes

        with CalcomClient(api_key=calcom_key, base_url=calcom.base_url, requests_per_minute=None) as client:
            _source_hashes("calcom_bookings", client, 0, None)
        assert scan_requests == calcom.faults.requests_by_path()["/v2/bookings"]
        [bookings] = [r for r in verified["verification"] if r["resource"] == "calcom_bookings"]
        assert bookings["ok"] and bookings["source_count"] == bookings["mirror_count"] > 0

        state.hard_delete_booking(state.bookings(85)[0]["id"])
        drifted = run(["sync-external", "--company", "85", "--source", "calcom", "--verify"], env, check=1)
        assert "calcom_bookings: 0 missing, 1 extra" in drifted.stderr.replace("\n", " ")
        unknown = run(["sync-external", "--company", "999"], env, check=2)
        assert_one_clear_sentence(unknown, "no API keys stored for company 999")

    outputs = stored.stdout + stored.stderr + synced.stdout + synced.stderr + drifted.stdout + drifted.stderr
    for key in (calcom_key, retell_key):
        assert key not in outputs
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert key.encode() not in path.read_bytes(), path
