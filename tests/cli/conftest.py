"""Fixtures of the CLI tests: a deployment protecting the demo database, addressed with a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import SECRET, unique_slot


@pytest.fixture
def env(tmp_path: Path, keyring_path: Path, demo_pg15_copy: str) -> dict[str, str]:
    """A deployment protecting a copy of the demo database, addressed with a password in its URL."""
    source = demo_pg15_copy.replace("postgres@", f"postgres:{SECRET}@")
    return {
        "DATAGUARD_HOME": str(tmp_path / "home"),
        "DATAGUARD_STORE_URL": (tmp_path / "store").as_uri(),
        "DATAGUARD_KEYRING": str(keyring_path),
        "DATAGUARD_DATABASE_URL": source,
        "DATAGUARD_CAPTURE_SLOT": unique_slot(),
    }
