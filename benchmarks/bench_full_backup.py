"""Full backup and restore against the raw tools, in the same run, on the demo database.

    .venv/bin/python benchmarks/bench_full_backup.py --scale 15

Prints wall times and ratios:
  dataguard backup --type full   vs  pg_dump -Fp | zstd -3 > file   (target <= 1.15x)
  dataguard backup --type full   vs  pg_dump -Fc > file             (target: >= 2.5x faster)
  peak RSS of the dataguard process, pg_dump excluded               (target <= 300 MB)
  dataguard restore              vs  pg_restore -j 2 of a -Fd dump  (target <= 1.2x)
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pgenv import password_free  # noqa: E402
from dataguard_pipelines.core.engines.embedded import EmbeddedPostgres  # noqa: E402
from dataguard_pipelines.core.engines.pgtools import tools_for_server  # noqa: E402
from dataguard_pipelines.core.keys import Keyring  # noqa: E402
from dataguard_pipelines.sandbox.demo_data import is_seeded, seed  # noqa: E402

DATAGUARD = str(Path(sys.executable).parent / "dataguard")


def timed(command: list[str] | str, *, env: dict | None = None, shell: bool = False) -> tuple[float, int]:
    """Wall time and peak RSS (bytes) of the top process alone, polled every 20 ms."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        env=env,
        shell=shell,
        executable="/bin/bash" if shell else None,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peak = [0]

    def poll() -> None:
        with_proc = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                peak[0] = max(peak[0], with_proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    _, err = proc.communicate()
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"{command!r} failed: {err.decode()[-500:]}")
    return time.perf_counter() - started, peak[0]


def fresh_db(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=15)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "dataguard-bench")
    args = parser.parse_args()

    home = args.work / f"home-scale{args.scale:g}"
    home.mkdir(parents=True, exist_ok=True)
    keyring = home / "keyring.json"
    if not keyring.exists():
        Keyring.create(keyring)
    engine = EmbeddedPostgres(home / "postgres")
    server = engine.acquire()
    try:
        source = server.url()
        if not is_seeded(source):
            print(f"seeding scale {args.scale:g} …", flush=True)
            report = seed(source, scale=args.scale)
            print(
                f"seeded {report.tables} tables, {report.database_bytes / 1e6:.0f} MB in {report.duration_s:.0f} s"
            )
        with psycopg.connect(source, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
        tools = tools_for_server(major)
        source_dsn, source_password = password_free(source)  # tools get the password from the environment
        out = args.work / "out"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        env = {
            **os.environ,
            "DATAGUARD_HOME": str(home),
            "DATAGUARD_KEYRING": str(keyring),
            "DATAGUARD_STORE_URL": (out / "store").as_uri(),
            "PGTZ": "UTC",
        }
        tool_env = {**os.environ, **source_password}
        print(f"database: {size / 1e6:.0f} MB (pg_database_size), PostgreSQL {major}, tools {tools.bin_dir}")

        runs: dict[str, list[float]] = {
            "zstd": [],
            "fc": [],
            "dataguard": [],
            "fd_restore": [],
            "dg_restore": [],
        }
        peaks: list[int] = []
        for i in range(args.repeat):
            runs["zstd"].append(
                timed(
                    f"set -o pipefail; {tools.path('pg_dump')} -Fp -d {shlex.quote(source_dsn)} | zstd -3 -q "
                    f"> {out}/plain.sql.zst",
                    shell=True,
                    env={**tool_env, "SHELL": "/bin/bash"},
                )[0]
            )
            runs["fc"].append(
                timed(
                    [tools.path("pg_dump"), "-Fc", "-d", source_dsn, "-f", str(out / "dump.fc")], env=tool_env
                )[0]
            )
            seconds, peak = timed([DATAGUARD, "backup", "--type", "full"], env=env)
            runs["dataguard"].append(seconds)
            peaks.append(peak)
            print(
                f"round {i + 1}: zstd pipeline {runs['zstd'][-1]:.1f} s, pg_dump -Fc {runs['fc'][-1]:.1f} s, "
                f"dataguard {seconds:.1f} s (peak RSS {peak / 1e6:.0f} MB)",
                flush=True,
            )

        shutil.rmtree(out / "dump.fd", ignore_errors=True)
        subprocess.run(
            [tools.path("pg_dump"), "-Fd", "-d", source_dsn, "-f", str(out / "dump.fd")],
            check=True,
            env=tool_env,
        )
        admin = server.url("postgres")
        for i in range(args.repeat):
            target_dsn, target_password = password_free(fresh_db(admin, "bench_pg_restore"))
            runs["fd_restore"].append(
                timed(
                    [tools.path("pg_restore"), "-j", "2", "-d", target_dsn, str(out / "dump.fd")],
                    env={**os.environ, **target_password},
                )[0]
            )
            target = fresh_db(admin, "bench_dg_restore")  # embedded, trust: the URL carries no password
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute('DROP DATABASE "bench_dg_restore"')
            runs["dg_restore"].append(
                timed([DATAGUARD, "restore", "--target-url", target, "-j", "2"], env=env)[0]
            )
            print(
                f"round {i + 1}: pg_restore -j 2 {runs['fd_restore'][-1]:.1f} s, "
                f"dataguard restore {runs['dg_restore'][-1]:.1f} s",
                flush=True,
            )

        med = {k: statistics.median(v) for k, v in runs.items()}
        sizes = {
            "zstd -3": (out / "plain.sql.zst").stat().st_size,
            "pg_dump -Fc": (out / "dump.fc").stat().st_size,
            "dataguard": sum(p.stat().st_size for p in (out / "store").rglob("*.dgar")),
        }
        print("\nresults (median of rounds)")
        print(
            f"  pg_dump -Fp | zstd -3   {med['zstd']:7.1f} s  {size / 1e6 / med['zstd']:6.1f} MB/s  "
            f"{sizes['zstd -3'] / 1e6:.0f} MB"
        )
        print(
            f"  pg_dump -Fc             {med['fc']:7.1f} s  {size / 1e6 / med['fc']:6.1f} MB/s  "
            f"{sizes['pg_dump -Fc'] / 1e6:.0f} MB"
        )
        print(
            f"  dataguard backup        {med['dataguard']:7.1f} s  {size / 1e6 / med['dataguard']:6.1f} MB/s  "
            f"{sizes['dataguard'] / 1e6:.0f} MB (encrypted, per table)"
        )
        print(f"  ratio dataguard / zstd pipeline = {med['dataguard'] / med['zstd']:.2f}x (target <= 1.15x)")
        print(f"  speed-up vs pg_dump -Fc       = {med['fc'] / med['dataguard']:.2f}x (target >= 2.5x)")
        print(f"  peak RSS of dataguard backup  = {max(peaks) / 1e6:.0f} MB (target <= 300 MB)")
        print(f"  pg_restore -j 2 (-Fd)   {med['fd_restore']:7.1f} s")
        print(f"  dataguard restore -j 2  {med['dg_restore']:7.1f} s")
        print(
            f"  ratio dataguard restore / pg_restore = {med['dg_restore'] / med['fd_restore']:.2f}x (target <= 1.2x)"
        )
    finally:
        engine.release()


if __name__ == "__main__":
    main()
