"""The one place (besides dg.EnvVar in defs/resources.py) that reads the environment.

A variable that is set always wins over `$DATAGUARD_HOME/dataguard.json`, which the demo may write;
that file in turn wins over the built-in defaults.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dataguard_pipelines.core.errors import ConfigError

ENV_VARS = (
    "DATAGUARD_HOME",
    "DATAGUARD_DATABASE_URL",
    "DATAGUARD_STORE_URL",
    "DATAGUARD_S3_ENDPOINT_URL",
    "DATAGUARD_REPLICA_URL",
    "DATAGUARD_KEYRING",
    "DATAGUARD_CALCOM_BASE_URL",
    "DATAGUARD_RETELL_BASE_URL",
    "DATAGUARD_ALERT_WEBHOOK_URL",
    "DATAGUARD_SMTP_URL",
    "DATAGUARD_ZSTD_LEVEL",
    "DATAGUARD_RESTORE_JOBS",
    "DATAGUARD_API_REQUESTS_PER_MINUTE",
    "DATAGUARD_CAPTURE_SLOT",
    "DATAGUARD_CAPTURE_INTERVAL",
    "DATAGUARD_SLOT_MAX_WAL_MB",
    "DAGSTER_HOME",
)
SECRET_VARS = frozenset({"DATAGUARD_DATABASE_URL", "DATAGUARD_ALERT_WEBHOOK_URL", "DATAGUARD_SMTP_URL"})
CONFIG_FILE_NAME = "dataguard.json"


@dataclass(frozen=True)
class Settings:
    """Everything dataguard needs to know about its deployment, resolved once."""

    home: Path
    database_url: str | None = field(repr=False)
    store_url: str
    s3_endpoint_url: str | None
    replica_url: str | None
    keyring_path: Path
    calcom_base_url: str
    retell_base_url: str
    alert_webhook_url: str | None = field(repr=False)
    smtp_url: str | None = field(repr=False)
    dagster_home: Path
    zstd_level: int = 1
    restore_jobs: int = 2
    api_requests_per_minute: int | None = (
        None  # client-side pacing per API key; None: vendor defaults, 0: off
    )
    capture_slot: str = "dataguard"  # the logical replication slot of change capture
    capture_interval_s: int = 30  # how often `dataguard capture` ships: the RPO
    slot_max_wal_mb: int = 1024  # slot hygiene: the WAL the slot may pin before its check fails

    @property
    def is_embedded(self) -> bool:
        """True when no database URL is configured and the embedded PostgreSQL is the protected database."""
        return self.database_url is None

    @property
    def embedded_dir(self) -> Path:
        return self.home / "postgres"

    @property
    def credentials_dir(self) -> Path:
        """Per-company vendor API keys, each sealed with the keyring."""
        return self.home / "credentials"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        home = Path(env.get("DATAGUARD_HOME") or ".dataguard").expanduser().absolute()
        values = {**_read_config_file(home), **{k: v for k, v in env.items() if k in ENV_VARS and v}}
        return cls(
            home=home,
            database_url=values.get("DATAGUARD_DATABASE_URL"),
            store_url=values.get("DATAGUARD_STORE_URL") or (home / "store").as_uri(),
            s3_endpoint_url=values.get("DATAGUARD_S3_ENDPOINT_URL"),
            replica_url=values.get("DATAGUARD_REPLICA_URL"),
            keyring_path=Path(values.get("DATAGUARD_KEYRING") or home / "keyring.json")
            .expanduser()
            .absolute(),
            calcom_base_url=values.get("DATAGUARD_CALCOM_BASE_URL") or "https://api.cal.com/v2",
            retell_base_url=values.get("DATAGUARD_RETELL_BASE_URL") or "https://api.retellai.com",
            alert_webhook_url=values.get("DATAGUARD_ALERT_WEBHOOK_URL"),
            smtp_url=values.get("DATAGUARD_SMTP_URL"),
            dagster_home=Path(values.get("DAGSTER_HOME") or home / "dagster").expanduser().absolute(),
            zstd_level=_int_setting(values, "DATAGUARD_ZSTD_LEVEL", 1, low=-7, high=22),
            restore_jobs=_int_setting(values, "DATAGUARD_RESTORE_JOBS", 2, low=1, high=64),
            api_requests_per_minute=(
                _int_setting(values, "DATAGUARD_API_REQUESTS_PER_MINUTE", 0, low=0, high=100_000)
                if values.get("DATAGUARD_API_REQUESTS_PER_MINUTE")
                else None
            ),
            capture_slot=_slot_name(values.get("DATAGUARD_CAPTURE_SLOT") or "dataguard"),
            capture_interval_s=_int_setting(values, "DATAGUARD_CAPTURE_INTERVAL", 30, low=1, high=3600),
            slot_max_wal_mb=_int_setting(values, "DATAGUARD_SLOT_MAX_WAL_MB", 1024, low=1, high=10_000_000),
        )


def _read_config_file(home: Path) -> dict[str, str]:
    path = home / CONFIG_FILE_NAME
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc.__class__.__name__}); fix or delete it") from exc
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError(f"{path} must be a JSON object of variable names to strings")
    unknown = sorted(set(data) - set(ENV_VARS))
    if unknown:
        raise ConfigError(f"{path} names unknown settings {unknown}; allowed are the DATAGUARD_* variables")
    return data


def _slot_name(name: str) -> str:
    """PostgreSQL's rule for slot names: lower-case letters, digits and underscores, at most 63."""
    if not re.fullmatch(r"[a-z0-9_]{1,63}", name):
        raise ConfigError(f"DATAGUARD_CAPTURE_SLOT={name!r} may only hold a-z, 0-9 and _ (at most 63)")
    return name


def _int_setting(values: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = values.get(name)
    if raw is None:
        return default
    try:
        number = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from exc
    if not low <= number <= high:
        raise ConfigError(f"{name}={number} is out of range ({low}..{high})")
    return number


def write_config_file(home: Path, values: Mapping[str, str]) -> Path:
    """Record choices (e.g. the demo's emulator URLs) that environment variables may still override."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / CONFIG_FILE_NAME
    existing = _read_config_file(home)
    existing.update(values)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def redact_url(url: str | None) -> str:
    """A URL with any password replaced, safe for logs, metadata and errors."""
    if not url:
        return ""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def variables_set(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Which dataguard variables the environment sets (the Dagster layer wires those as dg.EnvVar)."""
    env = os.environ if environ is None else environ
    return frozenset(name for name in ENV_VARS if env.get(name))
