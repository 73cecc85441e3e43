"""`dataguard capture` under fire: SIGKILLed shipper, immediately stopped database, SIGTERM at the end.

A writer commits numbered transactions the whole time. Afterwards every acknowledged commit must be in the
store exactly once, and a point-in-time restore to the end must equal the source table by table.
"""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from dataguard_pipelines.core.backup import run_full_backup
from dataguard_pipelines.core.capture.decoding import RowChange, parse_event
from dataguard_pipelines.core.capture.segments import list_chains, list_segments, read_segment
from dataguard_pipelines.core.engines.embedded import (
    PROTECTED_SETTINGS,
    EmbeddedPostgres,
    _run_as,
    _service_user,
)
from dataguard_pipelines.core.engines.pgtools import embedded_bin_dir
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.pitr import RecoveryTarget, plan_recovery, recover
from dataguard_pipelines.core.store import Store
from tests.fixtures.environment import subprocess_env
from tests.fixtures.postgres import create_database, table_fingerprints

pytestmark = pytest.mark.slow  # every test here runs for 15 s or more

DATAGUARD = str(Path(sys.executable).parent / "dataguard")
SLOT = "dataguard"


class Writer(threading.Thread):
    """Commits numbered transactions; remembers which ones the server acknowledged."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.acknowledged: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.url, connect_timeout=2)
                n += 1
                conn.execute("INSERT INTO events(n, note) VALUES (%s, %s)", (n, f"event {n}"))
                conn.execute("UPDATE counters SET value = %s, touched = now() WHERE id = %s", (n, n % 5))
                conn.execute("INSERT INTO log_no_pk VALUES (%s, %s)", (n % 3, f"n={n}"))
                conn.execute("DELETE FROM log_no_pk WHERE k = %s AND note = %s", (n % 3, f"n={n - 3}"))
                conn.commit()
                self.acknowledged.append(n)
            except psycopg.Error:
                conn = None  # the outcome of n is unknown: it is neither expected nor forbidden
                time.sleep(0.2)
            time.sleep(0.01)
        if conn is not None:
            conn.close()


class CrashableServer:
    """An embedded PostgreSQL 18 with durable settings that can be stopped with -m immediate (a crash)."""

    def __init__(self, base: Path) -> None:
        self.engine = EmbeddedPostgres(base / "pg", settings=PROTECTED_SETTINGS)
        self.server = self.engine.acquire("postgres")
        self.port = self.server.port

    def url(self, database: str) -> str:
        return self.server.url(database)

    def crash_and_restart(self) -> None:
        pg_ctl = [str(embedded_bin_dir() / "pg_ctl"), "-D", str(self.engine.pgdata), "-w", "-t", "60"]
        assert _run_as(_service_user(), [*pg_ctl, "-m", "immediate", "stop"]).returncode == 0
        time.sleep(0.5)
        log = str(self.engine.data_dir / "server.log")
        result = _run_as(_service_user(), [*pg_ctl, "-l", log, "-o", f"-p {self.port}", "start"])
        assert result.returncode == 0, result.stderr

    def stop(self) -> None:
        self.engine.stop()


def _daemon(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [DATAGUARD, "capture", "--interval", "1"],
        env=subprocess_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.mark.timeout(300)
def test_no_committed_change_is_lost_or_doubled_through_kills_and_crashes(tmp_path, keyring_path):
    crashable = CrashableServer(tmp_path)
    daemon = None
    try:
        source = create_database(crashable.url("postgres"))
        with psycopg.connect(source, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE events (n int PRIMARY KEY, note text);"
                "CREATE TABLE counters (id int PRIMARY KEY, value int, touched timestamptz);"
                "INSERT INTO counters SELECT g, 0, now() FROM generate_series(0, 4) g;"
                "CREATE TABLE log_no_pk (k int, note text)"
            )
        store = Store((tmp_path / "store").as_uri())
        keyring = Keyring.load(keyring_path)
        env = {
            "DATAGUARD_HOME": str(tmp_path / "home"),
            "DATAGUARD_STORE_URL": store.url,
            "DATAGUARD_KEYRING": str(keyring_path),
            "DATAGUARD_DATABASE_URL": source,
        }
        daemon = _daemon(env)
        _wait_for(lambda: bool(list_chains(store, SLOT)))
        run_full_backup(PostgresDatabase(source), store, keyring, partition="p", capture_slot=SLOT)
        writer = Writer(source)
        writer.start()
        rng = random.Random(7)
        for _ in range(6):
            time.sleep(rng.uniform(1.0, 3.0))
            if rng.random() < 0.5:
                daemon.send_signal(signal.SIGKILL)
                daemon.wait()
                daemon = _daemon(env)
            else:
                crashable.crash_and_restart()
        time.sleep(2)
        writer.stop.set()
        writer.join()
        with psycopg.connect(source) as conn:
            end = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        time.sleep(1.5)  # the shipper claims a second less than it saw: see shipper.COMMIT_MARGIN
        daemon.send_signal(signal.SIGTERM)  # its final cycle ships through `end`
        _out, err = daemon.communicate(timeout=60)
        assert daemon.returncode == 0, err
        daemon = None

        assert len(writer.acknowledged) > 50
        seen: list[int] = []
        for segment in list_segments(store, SLOT):
            for _lsn, _xid, data in read_segment(store, keyring, segment):
                if data.startswith("table public.events: INSERT"):
                    event = parse_event(data)
                    assert isinstance(event, RowChange)
                    seen.append(int(dict(event.new)["n"]))
        assert len(seen) == len(set(seen)), "a transaction was shipped twice"
        assert set(writer.acknowledged) <= set(seen), "an acknowledged commit is missing from the store"
        assert len(list_chains(store, SLOT)) == 1, "the chain was broken"

        target = create_database(crashable.url("postgres"), "restored")
        plan = plan_recovery(store, keyring, SLOT, RecoveryTarget(time=end))
        result = recover(plan, store, keyring, target)
        assert result.transactions >= len(writer.acknowledged)
        assert table_fingerprints(target) == table_fingerprints(source)
    finally:
        if daemon is not None:
            daemon.kill()
            daemon.wait()
        crashable.stop()


class FlakyProxy:
    """A TCP proxy in front of the S3 server whose link can be cut: a real network outage on loopback."""

    def __init__(self, upstream: str) -> None:
        import socket

        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.cut = threading.Event()
        self._open: list = []
        threading.Thread(target=self._accept, daemon=True).start()

    def set_cut(self, cut: bool) -> None:
        if cut:
            self.cut.set()
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.close()
            self._open.clear()
        else:
            self.cut.clear()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            self._open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source, sink) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.close()

    def close(self) -> None:
        self.listener.close()
        self.set_cut(True)


@pytest.mark.timeout(300)
def test_a_store_outage_is_waited_out_without_loss_or_duplicates(
    pg15_server, new_database, s3_bucket, s3_endpoint, keyring_path
):
    from dataguard_pipelines.core.capture.daemon import run_capture

    proxy = FlakyProxy(s3_endpoint)
    store = Store(s3_bucket, s3_endpoint_url=proxy.url)
    keyring = Keyring.load(keyring_path)
    source = new_database(pg15_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE events (n int PRIMARY KEY, note text)")
    slot = f"dataguard_{uuid.uuid4().hex[:8]}"
    db = PostgresDatabase(source)
    stop = threading.Event()
    failures: list[int] = []
    durations: list[float] = []
    shipper = threading.Thread(
        target=lambda: failures.append(
            run_capture(
                db,
                store,
                keyring,
                slot,
                interval_s=0.5,
                stop=stop,
                on_cycle=lambda r: durations.append(r.duration_s),
            ).failures
        ),
        daemon=True,
    )
    shipper.start()
    _wait_for(lambda: bool(list_chains(Store(s3_bucket, s3_endpoint_url=s3_endpoint), slot)))
    with psycopg.connect(source, autocommit=True) as conn:
        for n in range(1, 61):
            if n == 20:
                proxy.set_cut(True)
            if n == 40:
                time.sleep(20)  # longer than the S3 client retries: cycles fail meanwhile
                proxy.set_cut(False)
            conn.execute("INSERT INTO events VALUES (%s, %s)", (n, f"event {n}"))
            time.sleep(0.05)
    time.sleep(1.5)
    stop.set()
    shipper.join(timeout=120)
    proxy.close()
    # the S3 client's own retries may absorb the outage inside one long cycle, or cycles fail and are retried
    assert failures and (failures[0] > 0 or max(durations) > 10), "the outage never reached the shipper"
    direct = Store(s3_bucket, s3_endpoint_url=s3_endpoint)
    seen = []
    for segment in list_segments(direct, slot):
        for _lsn, _xid, data in read_segment(direct, keyring, segment):
            if data.startswith("table public.events: INSERT"):
                seen.append(int(dict(parse_event(data).new)["n"]))
    assert sorted(seen) == list(range(1, 61))
