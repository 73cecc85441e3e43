"""Mirror request counts, rate-limit-bound throughput and memory, against the Cal.com emulator.

    .venv/bin/python benchmarks/bench_mirrors.py [--bookings 100000]

Prints:
  requests of an incremental sync with no changes      (target: one page per resource)
  requests of an incremental sync with k changes        (target: ceil(k / 250) + 1)
  first full sync of N bookings at 120 requests/minute  (target: within 10 % of the rate-limit bound)
  peak RSS of the sync process for N/10 and N bookings  (target: flat in the number of records)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pgenv import password_free  # noqa: E402
from dataguard_pipelines.clients.calcom import CalcomClient  # noqa: E402
from dataguard_pipelines.core.keys import Keyring  # noqa: E402
from dataguard_pipelines.core.mirror.sync import sync_resource  # noqa: E402
from dataguard_pipelines.core.store import Store  # noqa: E402
from dataguard_pipelines.sandbox.emulators import EmulatorState, demo_api_keys, running_emulators  # noqa: E402

SERVER = os.environ.get("DATAGUARD_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
COMPANY = 85
TAKE = 250

CHILD = """
import json, resource, sys
from dataguard_pipelines.clients.calcom import CalcomClient
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.mirror.sync import sync_resource
from dataguard_pipelines.core.store import Store
import os, psycopg, time
db, store, keyring, base, rpm = sys.argv[1:6]
key = os.environ["BENCH_CALCOM_API_KEY"]
with psycopg.connect(db, autocommit=True) as conn, CalcomClient(api_key=key, base_url=base,
        requests_per_minute=None if rpm == "0" else float(rpm)) as client:
    started = time.monotonic()
    r = sync_resource("calcom_bookings", conn=conn, store=Store(store), keyring=Keyring.load(keyring),
                      client=client, company_id="85", mode="reconcile")
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"requests": r.requests, "rows": r.rows, "seconds": time.monotonic() - started,
                  "rate_limit_waits": r.rate_limit_waits, "peak_rss_mb": peak_mb}))
"""


def fresh_database() -> str:
    name = f"bench_mirror_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return SERVER.rsplit("/", 1)[0] + f"/{name}"


def drop(url: str) -> None:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def child_sync(db: str, work: Path, keyring: Path, base_url: str, rpm: str) -> dict:
    """Secrets (the database password, the API key) go to the child in its environment, never on argv."""
    dsn, password = password_free(db)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, dsn, (work / "store").as_uri(), str(keyring), base_url, rpm],
        env={**os.environ, **password, "BENCH_CALCOM_API_KEY": demo_api_keys(COMPANY)[0]},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def request_counts(work: Path, keyring: Keyring) -> None:
    state = EmulatorState.synthetic([COMPANY], bookings_per_company=5_000, calls_per_company=10)
    db = fresh_database()
    try:
        with (
            running_emulators(state, calcom_rate_limit=0) as (calcom, _),
            psycopg.connect(db, autocommit=True) as conn,
        ):

            def incremental() -> int:
                with CalcomClient(
                    api_key=demo_api_keys(COMPANY)[0], base_url=calcom.base_url, requests_per_minute=None
                ) as client:
                    return sync_resource(
                        "calcom_bookings",
                        conn=conn,
                        store=Store((work / "s1").as_uri()),
                        keyring=keyring,
                        client=client,
                        company_id=str(COMPANY),
                    ).requests

            incremental()  # first sync: everything
            print(f"incremental, no changes: {incremental()} request(s) (target 1)")
            for k in (10, 250, 1000):
                for booking in state.bookings(COMPANY)[:k]:
                    last = state.update_booking(booking["id"], title=f"changed {time.monotonic()}")
                # the emulator keeps updatedAt strictly increasing (1 ms steps), which can run ahead of the wall
                # clock; a sync only asks up to its own start time, so wait until the stamps are in the past
                stamp = datetime.fromisoformat(last["updatedAt"].replace("Z", "+00:00"))
                time.sleep(max(0.0, (stamp - datetime.now(UTC)).total_seconds()) + 0.05)
                print(
                    f"incremental, {k} changes: {incremental()} requests (target {math.ceil(k / TAKE) + 1})"
                )
    finally:
        drop(db)


def full_sync(work: Path, keyring_path: Path, bookings: int) -> None:
    for n in (bookings // 10, bookings):
        state = EmulatorState.synthetic([COMPANY], bookings_per_company=n, calls_per_company=1)
        db = fresh_database()
        try:
            with running_emulators(state, calcom_rate_limit=120, calcom_rate_window_s=60) as (calcom, _):
                result = child_sync(db, work, keyring_path, calcom.base_url, "0")
        finally:
            drop(db)
        bound = result["requests"] / 120 * 60  # the fastest any client may go at 120 requests a minute
        print(
            f"full sync of {n:,} bookings at 120 req/min: {result['requests']} requests, {result['seconds']:.0f} s "
            f"(rate-limit bound {bound:.0f} s; ratio {result['seconds'] / bound:.2f}), "
            f"{result['rate_limit_waits']} waits, peak RSS {result['peak_rss_mb']:.0f} MB, rows {result['rows']:,}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bookings", type=int, default=100_000)
    parser.add_argument("--skip-full", action="store_true", help="only the request counts")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dataguard-bench-mirror-"))
    keyring_path = work / "keyring.json"
    keyring = Keyring.create(keyring_path)
    request_counts(work, keyring)
    if not args.skip_full:
        full_sync(work, keyring_path, args.bookings)


if __name__ == "__main__":
    main()
