"""Per-company API keys, sealed with the keyring (the same container as backups).

Each company's keys live in their own sealed file, so a sync for company A never even decrypts
company B's keys. Keys never appear in repr, logs, errors or metadata.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from dataguard_pipelines.core.archive import open_sealed, seal
from dataguard_pipelines.core.errors import ConfigError
from dataguard_pipelines.core.keys import Keyring

COMPANY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class CompanyCredentials:
    """One company's vendor API keys (either may be absent: that source is then not mirrored)."""

    company_id: str
    calcom_key: str | None = field(default=None, repr=False)
    retell_key: str | None = field(default=None, repr=False)

    def masked(self) -> dict[str, str | None]:
        """What a person may see: whether a key is set, and its last four characters."""
        return {
            "company_id": self.company_id,
            "calcom_key": _mask(self.calcom_key),
            "retell_key": _mask(self.retell_key),
        }


class CredentialStore:
    """Sealed files `<dir>/<company>.dgar`, mode 0600."""

    def __init__(self, directory: Path, keyring: Keyring) -> None:
        self.directory = directory
        self.keyring = keyring

    def _path(self, company_id: str) -> Path:
        if not COMPANY_ID.match(company_id):
            raise ConfigError(f"company id {company_id!r} must be 1-64 letters, digits, '-' or '_'")
        return self.directory / f"{company_id}.dgar"

    def set(
        self, company_id: str, *, calcom_key: str | None = None, retell_key: str | None = None
    ) -> CompanyCredentials:
        """Add or replace one or both keys of a company; keys not given are kept."""
        if calcom_key is None and retell_key is None:
            raise ConfigError("give --calcom-key, --retell-key or both")
        current = self.get(company_id) if self._path(company_id).exists() else CompanyCredentials(company_id)
        updated = CompanyCredentials(
            company_id,
            calcom_key=calcom_key or current.calcom_key,
            retell_key=retell_key or current.retell_key,
        )
        payload = json.dumps(
            {"company_id": company_id, "calcom_key": updated.calcom_key, "retell_key": updated.retell_key}
        ).encode()
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(company_id)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(seal(payload, self.keyring))
        os.replace(tmp, path)
        return updated

    def get(self, company_id: str) -> CompanyCredentials:
        path = self._path(company_id)
        if not path.exists():
            raise ConfigError(
                f"no API keys stored for company {company_id}; run `dataguard credentials set "
                f"--company {company_id} --calcom-key … --retell-key …`"
            )
        data = json.loads(
            open_sealed(path.read_bytes(), self.keyring, name=f"credentials of company {company_id}")
        )
        return CompanyCredentials(
            company_id, calcom_key=data.get("calcom_key"), retell_key=data.get("retell_key")
        )

    def companies(self) -> list[str]:
        if not self.directory.exists():
            return []
        return sorted(p.stem for p in self.directory.glob("*.dgar"))


def _mask(key: str | None) -> str | None:
    return None if not key else f"…{key[-4:]}"
