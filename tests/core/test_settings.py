"""Settings: defaults, the config file under DATAGUARD_HOME, and environment variables that always win."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataguard_pipelines.core.errors import ConfigError
from dataguard_pipelines.core.settings import Settings, redact_url, variables_set, write_config_file


def test_defaults_live_under_dataguard_home(tmp_path: Path):
    settings = Settings.from_env({"DATAGUARD_HOME": str(tmp_path)})
    assert settings.is_embedded
    assert settings.store_url == (tmp_path / "store").as_uri()
    assert settings.keyring_path == tmp_path / "keyring.json"
    assert settings.dagster_home == tmp_path / "dagster"
    assert settings.calcom_base_url == "https://api.cal.com/v2"


def test_set_variable_wins_over_the_config_file(tmp_path: Path):
    write_config_file(tmp_path, {"DATAGUARD_STORE_URL": "file:///from/file", "DATAGUARD_ZSTD_LEVEL": "3"})
    settings = Settings.from_env({"DATAGUARD_HOME": str(tmp_path), "DATAGUARD_STORE_URL": "s3://bucket/x"})
    assert settings.store_url == "s3://bucket/x"
    assert settings.zstd_level == 3


def test_capture_defaults(tmp_path: Path):
    settings = Settings.from_env({"DATAGUARD_HOME": str(tmp_path)})
    assert (settings.capture_slot, settings.capture_interval_s, settings.slot_max_wal_mb) == (
        "dataguard",
        30,
        1024,
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATAGUARD_ZSTD_LEVEL", "fast", "not a whole number"),
        ("DATAGUARD_RESTORE_JOBS", "0", "out of range"),
        ("DATAGUARD_CAPTURE_INTERVAL", "0", "out of range"),
        ("DATAGUARD_SLOT_MAX_WAL_MB", "lots", "not a whole number"),
        ("DATAGUARD_CAPTURE_SLOT", "My-Slot", "may only hold"),
    ],
)
def test_malformed_numbers_are_config_errors(tmp_path: Path, name: str, value: str, message: str):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"DATAGUARD_HOME": str(tmp_path), name: value})


def test_broken_config_file_is_a_config_error_naming_it(tmp_path: Path):
    (tmp_path / "dataguard.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"dataguard\.json is not valid JSON"):
        Settings.from_env({"DATAGUARD_HOME": str(tmp_path)})


def test_database_url_never_shows_in_repr(tmp_path: Path):
    settings = Settings.from_env(
        {"DATAGUARD_HOME": str(tmp_path), "DATAGUARD_DATABASE_URL": "postgresql://app:s3cret@db/app"}
    )
    assert "s3cret" not in repr(settings)
    assert redact_url("postgresql://app:s3cret@db:5432/app") == "postgresql://app:***@db:5432/app"
    assert variables_set({"DATAGUARD_DATABASE_URL": "x", "OTHER": "y"}) == {"DATAGUARD_DATABASE_URL"}
