"""Per-company API keys, sealed with the keyring (the same container as backups).

Each company's keys live in their own sealed file, so a sync for company A never even decrypts
company B's keys. The company id is the seal's associated data (docs/format.md, "Credentials files"):
a file copied or renamed to another company does not open there. Keys never appear in repr, logs,
errors or metadata.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataguard_pipelines.core.archive import open_sealed, seal
from dataguard_pipelines.core.atomic_file import replace_file_atomically
from dataguard_pipelines.core.errors import ConfigError, FormatError, WrongKeyError
from dataguard_pipelines.core.keys import Keyring

COMPANY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ASSOCIATED_DATA_PREFIX = b"dataguard-credentials\x00"  # keeps this binding apart from any other use of AD


def company_binding(company_id: str) -> bytes:
    """The associated data a company's credentials file is sealed with."""
    return ASSOCIATED_DATA_PREFIX + company_id.encode("ascii")


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
        keeps_a_key = calcom_key is None or retell_key is None
        current = (
            self.get(company_id)
            if keeps_a_key and self._path(company_id).exists()
            else CompanyCredentials(company_id)
        )
        updated = CompanyCredentials(
            company_id,
            calcom_key=calcom_key or current.calcom_key,
            retell_key=retell_key or current.retell_key,
        )
        payload = json.dumps(
            {"company_id": company_id, "calcom_key": updated.calcom_key, "retell_key": updated.retell_key}
        ).encode()
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        sealed = seal(payload, self.keyring, associated_data=company_binding(company_id))
        replace_file_atomically(self._path(company_id), sealed)
        return updated

    def get(self, company_id: str) -> CompanyCredentials:
        path = self._path(company_id)
        if not path.exists():
            raise ConfigError(
                f"no API keys stored for company {company_id}; run `dataguard credentials set "
                f"--company {company_id} --calcom-key … --retell-key …`"
            )
        data = _open_credentials(path, path.read_bytes(), self.keyring, company_id)
        return CompanyCredentials(
            company_id, calcom_key=data.get("calcom_key"), retell_key=data.get("retell_key")
        )

    def companies(self) -> list[str]:
        if not self.directory.exists():
            return []
        return sorted(p.stem for p in self.directory.glob("*.dgar"))


def _open_credentials(path: Path, blob: bytes, keyring: Keyring, company_id: str) -> dict[str, Any]:
    """Open ``blob`` as ``company_id``'s credentials, or refuse it: never use another company's keys."""
    name = f"credentials file {path}"
    try:
        plain = open_sealed(blob, keyring, name=name, associated_data=company_binding(company_id))
    except WrongKeyError as bound_error:
        try:  # written before the company was bound as associated data: the company_id check below decides
            plain = open_sealed(blob, keyring, name=name)
        except WrongKeyError:
            raise ConfigError(
                f"{name} does not open as company {company_id}'s: it belongs to another company (copied or "
                f"renamed) or was modified; remove it and store company {company_id}'s keys again with "
                f"`dataguard credentials set --company {company_id}`"
            ) from bound_error
    try:
        data = json.loads(plain)
    except ValueError as exc:
        raise FormatError(f"{name} does not hold JSON; store the company's keys again") from exc
    if not isinstance(data, dict):
        raise FormatError(f"{name} does not hold a JSON object; store the company's keys again")
    owner = data.get("company_id")
    if owner != company_id:
        raise ConfigError(
            f"{name} belongs to another company ({owner!r}, not {company_id!r}); remove it and store company "
            f"{company_id}'s keys again with `dataguard credentials set --company {company_id}`"
        )
    return data


def _mask(key: str | None) -> str | None:
    return None if not key else f"…{key[-4:]}"
