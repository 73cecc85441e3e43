"""Mirrors against the Cal.com and Retell emulators over real HTTP, into a real PostgreSQL mirror copy."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from dataguard_pipelines.clients.factory import client_for
from dataguard_pipelines.core.credentials import CompanyCredentials
from dataguard_pipelines.core.errors import ApiError
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.mirror.export import read_mirror_snapshot
from dataguard_pipelines.core.mirror.sync import sync_resource
from dataguard_pipelines.core.mirror.verify import verify_resource
from dataguard_pipelines.sandbox.emulators import EmulatorState, demo_api_keys, running_emulators

COMPANY, OTHER = 85, 42
FAST = {"requests_per_minute": None, "max_rate_limit_wait_s": 0.2}


@pytest.fixture(scope="module")
def emulator_state(demo_pg15) -> EmulatorState:
    return EmulatorState.from_database(demo_pg15)


@pytest.fixture
def emulators(demo_pg15):
    state = EmulatorState.from_database(demo_pg15)
    with running_emulators(state, calcom_rate_limit=0) as (calcom, retell):
        yield state, calcom, retell


@pytest.fixture
def mirror(pg15_server, new_database, local_store, keyring_path):
    url = new_database(pg15_server)
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn, local_store, Keyring.load(keyring_path)


def _client(source: str, company: int, calcom, retell, **options):
    calcom_key, retell_key = demo_api_keys(company)
    credentials = CompanyCredentials(str(company), calcom_key=calcom_key, retell_key=retell_key)
    return client_for(
        source,
        credentials,
        calcom_base_url=calcom.base_url,
        retell_base_url=retell.base_url,
        **{**FAST, **options},
    )


def _sync(resource, mirror, emulators, company=COMPANY, mode="incremental", now=None, **options):
    conn, store, keyring = mirror
    _, calcom, retell = emulators
    source = "retell" if resource.startswith("retell") else "calcom"
    with _client(source, company, calcom, retell, **options) as client:
        return sync_resource(
            resource,
            conn=conn,
            store=store,
            keyring=keyring,
            client=client,
            company_id=str(company),
            mode=mode,
            now=now,
        )


def _verify(resource, mirror, emulators, company=COMPANY):
    conn, _, _ = mirror
    _, calcom, retell = emulators
    source = "retell" if resource.startswith("retell") else "calcom"
    with _client(source, company, calcom, retell) as client:
        return verify_resource(resource, conn=conn, client=client, company_id=str(company), sample=1000)


@pytest.mark.slow
def test_first_sync_mirrors_everything_and_matches_the_source(mirror, emulators):
    state = emulators[0]
    for resource in ("calcom_event_types", "calcom_bookings", "retell_calls"):
        result = _sync(resource, mirror, emulators)
        report = _verify(resource, mirror, emulators)
        assert report.ok, report
        assert result.new == report.source_count == result.rows > 0
    assert result.rows == len(state.calls(COMPANY))
    conn, store, keyring = mirror
    snapshot = read_mirror_snapshot(store, keyring, result.current_key)
    assert snapshot.num_rows == result.rows and set(snapshot.column("company_id").to_pylist()) == {
        str(COMPANY)
    }
    transcripts = conn.execute(
        "SELECT count(*) FROM dataguard.retell_calls WHERE raw ? 'transcript'"
    ).fetchone()[0]
    assert transcripts > 0  # get-call fetched the full calls, transcripts included


def test_incremental_sync_picks_up_every_kind_of_change(mirror, emulators):
    state = emulators[0]
    _sync("calcom_bookings", mirror, emulators)
    [first, second, third, *_] = state.bookings(COMPANY)
    now = datetime.now(UTC)
    added = state.add_booking(COMPANY, start=now + timedelta(days=3))
    state.update_booking(second["id"], title="Renamed by the customer")
    state.cancel_booking(third["id"], reason="sick")
    _old, new = state.reschedule_booking(first["id"], start=now + timedelta(days=5))
    result = _sync("calcom_bookings", mirror, emulators, now=_just_after(new["updatedAt"]))
    assert (result.new, result.changed) == (
        2,
        3,
    )  # added + reschedule target; renamed, cancelled, rescheduled
    assert result.requests == 1  # everything fits one page of the incremental window
    conn = mirror[0]
    row = conn.execute(
        "SELECT status, link_to FROM dataguard.calcom_bookings WHERE id = %s", (str(first["id"]),)
    ).fetchone()
    assert row == ("cancelled", new["uid"])
    assert conn.execute(
        "SELECT link_from FROM dataguard.calcom_bookings WHERE id = %s", (str(new["id"]),)
    ).fetchone() == (first["uid"],)
    assert _verify("calcom_bookings", mirror, emulators).ok
    assert added["id"]


def test_hard_deleted_bookings_are_soft_deleted_after_two_reconciliations(mirror, emulators):
    state = emulators[0]
    _sync("calcom_bookings", mirror, emulators)
    victim = state.bookings(COMPANY)[0]
    state.hard_delete_booking(victim["id"])
    assert _verify("calcom_bookings", mirror, emulators).only_in_mirror == [str(victim["id"])]
    assert _sync("calcom_bookings", mirror, emulators, mode="reconcile").deleted == 0  # grace: one miss
    assert _sync("calcom_bookings", mirror, emulators, mode="reconcile").deleted == 1
    conn = mirror[0]
    row = conn.execute(
        "SELECT deleted_at IS NOT NULL, raw->>'uid' FROM dataguard.calcom_bookings WHERE id = %s",
        (str(victim["id"]),),
    ).fetchone()
    assert row == (True, victim["uid"])  # kept, never hard-deleted
    assert _verify("calcom_bookings", mirror, emulators).ok


@pytest.mark.slow  # seconds each: make test runs it, make test-fast does not
def test_calls_still_moving_are_refetched_until_they_end_and_are_analyzed(mirror, emulators):
    state = emulators[0]
    call = state.add_call(COMPANY, status="ongoing")
    _sync("retell_calls", mirror, emulators)
    conn = mirror[0]
    status = (
        "SELECT status, raw ? 'transcript', coalesce(raw->'call_analysis', 'null') <> 'null'"
        " FROM dataguard.retell_calls WHERE id = %s"
    )
    assert conn.execute(status, (call["call_id"],)).fetchone()[0] == "ongoing"
    state.end_call(call["call_id"], transcript="Agent: Hallo!\nUser: Termin bitte.")
    _sync("retell_calls", mirror, emulators)
    assert conn.execute(status, (call["call_id"],)).fetchone()[:2] == ("ended", True)
    state.analyze_call(call["call_id"])
    _sync("retell_calls", mirror, emulators)
    assert conn.execute(status, (call["call_id"],)).fetchone() == ("ended", True, True)


@pytest.mark.parametrize("fault", ["fail", "drop", "malformed", "rate_limit", "slow"])
def test_faults_mid_sync_never_lose_or_duplicate_records(mirror, emulators, fault):
    state, calcom, _ = emulators
    for i in range(300):  # more than one page of 250
        state.add_booking(COMPANY, start=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=i))
    switches = {
        "fail": lambda: calcom.faults.fail_next(2),
        "drop": lambda: calcom.faults.drop_next(2),
        "malformed": lambda: calcom.faults.malformed_next(1),
        "rate_limit": lambda: calcom.faults.rate_limit_next(1),
        "slow": lambda: calcom.faults.slow_next(1, seconds=0.3),
    }
    switches[fault]()
    with contextlib.suppress(
        ApiError
    ):  # failing cleanly is allowed; the rerun below must complete the mirror
        _sync("calcom_bookings", mirror, emulators, max_tries=3)
    result = _sync("calcom_bookings", mirror, emulators)
    conn = mirror[0]
    count = conn.execute("SELECT count(*) FROM dataguard.calcom_bookings").fetchone()[0]
    assert count == state.count_bookings(COMPANY) == result.rows
    assert _verify("calcom_bookings", mirror, emulators).ok


def _just_after(updated_at: str) -> datetime:
    """A sync start that sees every change so far, given to the sync instead of waiting for the wall clock.

    The emulator keeps updatedAt strictly increasing in 1 ms steps, which can run ahead of the wall clock
    after many quick changes, and a sync asks only up to its own start."""
    stamp = datetime.fromisoformat(updated_at.replace("Z", "+00:00"))
    return max(datetime.now(UTC), stamp + timedelta(milliseconds=1))


def test_a_failed_sync_does_not_move_the_cursor(mirror, emulators):
    state, calcom, _ = emulators
    first = _sync("calcom_bookings", mirror, emulators)
    for i in range(300):
        added = state.add_booking(COMPANY, start=datetime(2026, 2, 1, tzinfo=UTC) + timedelta(hours=i))
    now = _just_after(added["updatedAt"])
    calcom.faults.fail_next(50)
    with pytest.raises(ApiError):
        _sync("calcom_bookings", mirror, emulators, now=now, max_tries=2)
    conn = mirror[0]
    cursor = conn.execute(
        "SELECT cursor FROM dataguard.mirror_cursors WHERE resource = 'calcom_bookings'"
    ).fetchone()
    assert cursor == (first.cursor,)
    calcom.faults.clear()
    assert _sync("calcom_bookings", mirror, emulators, now=now).new == 300


def test_each_company_uses_only_its_own_key_and_keys_never_reach_the_logs(mirror, emulators, caplog):
    _, calcom, _ = emulators
    caplog.set_level(logging.DEBUG)
    for company in (COMPANY, OTHER):
        before = len(calcom.faults.authorizations())
        _sync("calcom_bookings", mirror, emulators, company=company)
        seen = set(calcom.faults.authorizations()[before:])
        assert seen == {f"Bearer {demo_api_keys(company)[0]}"}
    conn = mirror[0]
    companies = {r[0] for r in conn.execute("SELECT DISTINCT company_id FROM dataguard.calcom_bookings")}
    assert companies == {str(COMPANY), str(OTHER)}
    for company in (COMPANY, OTHER):
        for key in demo_api_keys(company):
            assert key not in caplog.text
