"""runner: the command finds the database the way Laravel, psql and DATABASE_URL users expect it."""

from __future__ import annotations

import json
import sys
import time

from dataguard_pipelines.core.migration.runner import run_command

SECRET = "Mig-Secret-Pw"
PRINT_ENV = (
    "import json, os; print(json.dumps({k: os.environ.get(k) for k in "
    "('DATABASE_URL', 'DB_CONNECTION', 'DB_HOST', 'DB_PORT', 'DB_DATABASE', 'DB_USERNAME', 'DB_PASSWORD', "
    "'PGDATABASE', 'PGHOSTADDR')}))"
)


def test_run_command_hands_the_database_to_laravel_and_libpq_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("PGHOSTADDR", "10.9.9.9")  # an inherited redirect must not reach the command
    monkeypatch.setenv("PGDATABASE", "the_real_one")
    url = f"postgresql://app:{SECRET}@db.internal:6432/dataguard_migrate_x"
    lines: list[str] = []
    result = run_command(
        [sys.executable, "-c", PRINT_ENV],
        url,
        output_path=tmp_path / "out.log",
        timeout_s=60,
        on_line=lines.append,
    )
    seen = json.loads((tmp_path / "out.log").read_text())
    assert seen == {
        "DATABASE_URL": url,
        "DB_CONNECTION": "pgsql",
        "DB_HOST": "db.internal",
        "DB_PORT": "6432",
        "DB_DATABASE": "dataguard_migrate_x",
        "DB_USERNAME": "app",
        "DB_PASSWORD": SECRET,
        "PGDATABASE": "dataguard_migrate_x",
        "PGHOSTADDR": None,
    }
    assert result.ok and result.database == "dataguard_migrate_x"
    assert SECRET not in "".join(result.output_tail) and SECRET not in "".join(lines)  # redacted for people


def test_run_command_takes_a_shell_string_and_reports_its_exit_status(tmp_path):
    result = run_command(
        "echo one && echo two >&2 && exit 3",
        "postgresql://u@h/db",
        output_path=tmp_path / "out.log",
        timeout_s=60,
    )
    assert (result.exit_code, result.output_tail, result.ok) == (3, ("one", "two"), False)


def test_run_command_kills_the_whole_process_group_at_the_timeout(tmp_path):
    began = time.monotonic()
    result = run_command(
        "sleep 30 & sleep 30; echo never",
        "postgresql://u@h/db",
        output_path=tmp_path / "out.log",
        timeout_s=0.5,
    )
    assert result.timed_out and not result.ok and time.monotonic() - began < 10
    assert "never" not in (tmp_path / "out.log").read_text()
