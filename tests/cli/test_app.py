"""The command itself: light import, help, configuration errors as one sentence and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.cli.helpers import assert_one_clear_sentence, run


def test_cli_import_stays_light():
    code = "import sys, dataguard_pipelines.cli; sys.exit('dagster' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_help_explains_every_command():
    result = run(["--help"], {})
    for command in ("backup", "backup-status", "verify", "restore", "capture", "demo"):
        assert command in result.stdout


def test_backup_status_on_an_empty_store(tmp_path):
    result = run(["backup-status", "--json"], {"DATAGUARD_HOME": str(tmp_path)})
    [full] = json.loads(result.stdout)
    assert full["backup_type"] == "full" and full["backup_id"] is None and full["verified"] is False


def test_bad_configuration_exits_2_with_one_sentence(tmp_path):
    result = run(
        ["backup-status"], {"DATAGUARD_HOME": str(tmp_path), "DATAGUARD_ZSTD_LEVEL": "fast"}, check=2
    )
    assert_one_clear_sentence(result, "DATAGUARD_ZSTD_LEVEL='fast' is not a whole number")
    result = run(
        ["backup-status"], {"DATAGUARD_HOME": str(tmp_path), "DATAGUARD_STORE_URL": "ftp://x"}, check=2
    )
    assert_one_clear_sentence(result, "unsupported scheme")
    result = run(
        ["restore", "--target-url", "postgresql://x/y", "--into-schema", "recovered"],
        {"DATAGUARD_HOME": str(tmp_path)},
        check=2,
    )
    assert_one_clear_sentence(result, "--into-schema needs --tables")


def test_restore_to_a_non_postgres_url_is_a_usage_error(tmp_path):
    result = run(["restore", "--target-url", "mysql://x/y"], {"DATAGUARD_HOME": str(tmp_path)}, check=2)
    assert_one_clear_sentence(result, "is not a postgresql:// URL")


def test_help_lists_the_command_groups():
    result = run(["--help"], {})
    for group in ("credentials", "sync-external", "billing", "keys"):
        assert group in result.stdout
    assert "init" in run(["keys", "--help"], {}).stdout


@pytest.mark.parametrize(
    "variable, value",
    [
        ("DATAGUARD_REPLICA_URL", "s3://elsewhere/dataguard"),
        ("DATAGUARD_ALERT_WEBHOOK_URL", "https://hooks.example.com/T000/B000/XXXX"),
        ("DATAGUARD_SMTP_URL", "smtp://ops@mail.example.com:587?to=oncall@example.com"),
        ("DATAGUARD_RPO_TARGET", "1h"),
    ],
)
def test_a_variable_that_is_set_but_not_supported_yet_is_refused(tmp_path, variable, value):
    result = run(["backup-status"], {"DATAGUARD_HOME": str(tmp_path), variable: value}, check=2)
    assert_one_clear_sentence(result, variable, "not supported")
    assert value not in result.stderr + result.stdout
