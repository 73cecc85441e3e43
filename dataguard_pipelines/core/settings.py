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
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dataguard_pipelines.core.atomic_file import replace_file_atomically
from dataguard_pipelines.core.errors import ConfigError

# DESIGN.md §3 variables for capabilities of later issues; refused below until those land.
_LATER_VARS = (
    "DATAGUARD_UI_URL",
    "DATAGUARD_RPO_TARGET",
    "DATAGUARD_RTO_TARGET",
    "DATAGUARD_REPLICA_MAX_LAG",
    "DATAGUARD_KMS_KEY_ID",
    "DATAGUARD_MAINTENANCE_DOWN_CMD",
    "DATAGUARD_MAINTENANCE_UP_CMD",
    "DATAGUARD_APP_DB_USER",
    "DATAGUARD_DATABASES",
)
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
    "DATAGUARD_TIMEZONE",
    "DATAGUARD_CRITICAL_TABLES",
    "DATAGUARD_CRITICAL_MAX_SHRINK",
    "DATAGUARD_MIGRATIONS_FROM_UI",
    "DAGSTER_HOME",
    *_LATER_VARS,
)
SECRET_VARS = frozenset({"DATAGUARD_DATABASE_URL", "DATAGUARD_ALERT_WEBHOOK_URL", "DATAGUARD_SMTP_URL"})
# Part of the contract (DESIGN.md §3) but not implemented yet: setting one is refused rather than ignored,
# so nobody believes a replica or an alert exists. The change that implements one removes it from here.
NOT_YET_SUPPORTED = frozenset(
    {"DATAGUARD_REPLICA_URL", "DATAGUARD_ALERT_WEBHOOK_URL", "DATAGUARD_SMTP_URL", *_LATER_VARS}
)
# Secrets whose every value is secret; DATAGUARD_DATABASE_URL is refused in the file only with a password.
_ALWAYS_SECRET_VARS = SECRET_VARS - {"DATAGUARD_DATABASE_URL"}
# The file lives under DATAGUARD_HOME, so naming DATAGUARD_HOME inside it could never take effect.
_ENVIRONMENT_ONLY_VARS = frozenset({"DATAGUARD_HOME"})
CONFIG_FILE_NAME = "dataguard.json"
# DESIGN.md §6: the original system's most valuable tables
DEFAULT_CRITICAL_TABLES = (
    "users",
    "companies",
    "branches",
    "customers",
    "appointments",
    "calls",
    "staff",
    "services",
    "calcom_event_types",
)


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
    timezone: str | None = None  # zone of times given without one; None: the protected server's TimeZone
    # the tables guarded and backed up every 6 h (schema-qualified or in public); listed but absent: a warning
    critical_tables: tuple[str, ...] = DEFAULT_CRITICAL_TABLES
    critical_max_shrink: float = 0.10  # share of rows a critical table may lose between two snapshots
    # the safe_migration job runs an arbitrary command: launched from the UI only when this is switched on
    migrations_from_ui: bool = False

    @property
    def is_embedded(self) -> bool:
        """True when no database URL is configured and the embedded PostgreSQL is the protected database."""
        return self.database_url is None

    @property
    def may_create_keyring(self) -> bool:
        """Whether a missing keyring may be generated on first use: only for the embedded demo.

        A configured deployment must get its keyring from `dataguard keys init` (or its key backup), so a
        wrong DATAGUARD_KEYRING fails loudly instead of sealing backups with a key nobody has a copy of.
        """
        return self.is_embedded

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
        from_file = _read_config_file(home)
        from_env = {k: v for k, v in env.items() if k in ENV_VARS and v}
        _refuse_unsupported(from_env, from_file, home / CONFIG_FILE_NAME)
        values = {**from_file, **from_env}
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
            timezone=_zone_name(values.get("DATAGUARD_TIMEZONE")),
            critical_tables=_table_names(values.get("DATAGUARD_CRITICAL_TABLES")),
            critical_max_shrink=_share_setting(values, "DATAGUARD_CRITICAL_MAX_SHRINK", 0.10),
            migrations_from_ui=_switch_setting(values, "DATAGUARD_MIGRATIONS_FROM_UI"),
        )


def _refuse_unsupported(from_env: Mapping[str, str], from_file: Mapping[str, str], path: Path) -> None:
    """A variable that is set must do something: refuse the ones this version accepts but ignores."""
    unsupported = sorted(NOT_YET_SUPPORTED & (set(from_env) | set(from_file)))
    if unsupported:
        name = unsupported[0]
        where = "the environment" if name in from_env else str(path)
        raise ConfigError(f"{name} is set in {where} but is not supported yet in this version; unset it")


def _zone_name(name: str | None) -> str | None:
    """An IANA zone such as Europe/Berlin, checked now so a typo fails at startup, not at restore time."""
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"DATAGUARD_TIMEZONE={name!r} is not a known time zone; use an IANA name such as Europe/Berlin or UTC"
        ) from exc
    return name


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
    _check_config_values(path, data)
    return data


def _check_config_values(path: Path, data: Mapping[str, str]) -> None:
    """Only known, non-secret settings belong in the file; names are quoted, values never (they may be secret)."""
    unknown = sorted(set(data) - set(ENV_VARS))
    if unknown:
        raise ConfigError(f"{path} names unknown settings {unknown}; allowed are the DATAGUARD_* variables")
    environment_only = sorted(_ENVIRONMENT_ONLY_VARS & set(data))
    if environment_only:
        raise ConfigError(
            f"{path} sets {environment_only[0]}, which only the environment can set; remove it from the file"
        )
    secret = sorted(_ALWAYS_SECRET_VARS & set(data))
    if secret:
        raise ConfigError(
            f"{path} holds {secret[0]}, which is secret; remove it from the file and use the environment instead"
        )
    if _has_password(data.get("DATAGUARD_DATABASE_URL")):
        raise ConfigError(
            f"{path} holds DATAGUARD_DATABASE_URL with a password; remove the password from the file and "
            "use the environment instead (DATAGUARD_DATABASE_URL or PGPASSWORD)"
        )


def _has_password(url: str | None) -> bool:
    """A password in the URL's user part, in its query (``?password=``), or in a key=value conninfo."""
    if not url:
        return False
    if re.search(r"(^|\s)password\s*=", url, flags=re.IGNORECASE):
        return True
    try:
        parts = urlsplit(url)
        has_user_password = parts.password is not None
    except ValueError:
        return True  # unparseable: assume the worst rather than write it to disk
    query_names = {name.lower() for name in parse_qs(parts.query, keep_blank_values=True)}
    return has_user_password or "password" in query_names


def _slot_name(name: str) -> str:
    """PostgreSQL's rule for slot names: lower-case letters, digits and underscores, at most 63."""
    if not re.fullmatch(r"[a-z0-9_]{1,63}", name):
        raise ConfigError(f"DATAGUARD_CAPTURE_SLOT={name!r} may only hold a-z, 0-9 and _ (at most 63)")
    return name


def _table_names(raw: str | None) -> tuple[str, ...]:
    """'users, app.calls' -> ('users', 'app.calls'); each name an identifier or schema.identifier."""
    if raw is None:
        return DEFAULT_CRITICAL_TABLES
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    for name in names:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?", name):
            raise ConfigError(
                f"DATAGUARD_CRITICAL_TABLES names {name!r}, which is not a table name such as calls or app.calls"
            )
    if not names:
        raise ConfigError(
            "DATAGUARD_CRITICAL_TABLES is set but names no table; unset it for the default list"
        )
    return names


def _share_setting(values: Mapping[str, str], name: str, default: float) -> float:
    raw = values.get(name)
    if raw is None:
        return default
    try:
        share = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number such as 0.10") from exc
    if not 0 <= share < 1:
        raise ConfigError(f"{name}={share} must be a share from 0 up to (not including) 1, such as 0.10")
    return share


def _switch_setting(values: Mapping[str, str], name: str) -> bool:
    """On or off, said plainly; anything else is refused rather than guessed."""
    raw = values.get(name)
    if raw is None:
        return False
    if raw.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is neither on nor off; set it to 1 or 0")


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
    merged = {**_read_config_file(home), **values}
    _check_config_values(path, merged)
    replace_file_atomically(path, (json.dumps(merged, indent=2, sort_keys=True) + "\n").encode())
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


def debug_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """DATAGUARD_DEBUG=1: the CLI shows the traceback of an unexpected error (read even when settings fail)."""
    env = os.environ if environ is None else environ
    return bool(env.get("DATAGUARD_DEBUG"))
