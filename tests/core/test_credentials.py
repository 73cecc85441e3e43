"""Per-company credentials files: round trips, 0600 atomic writes, and refusal of another company's file."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from dataguard_pipelines.core.archive import open_sealed, seal
from dataguard_pipelines.core.credentials import CredentialStore, company_binding
from dataguard_pipelines.core.errors import ConfigError, WrongKeyError
from dataguard_pipelines.core.keys import Keyring

KEYRING = Keyring.generate()


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    return CredentialStore(tmp_path / "credentials", KEYRING)


def sealed_payload(company_id: str, *, associated_data: bytes = b"") -> bytes:
    payload = {"company_id": company_id, "calcom_key": "cal_live_85_secret", "retell_key": "key_85_secret"}
    return seal(json.dumps(payload).encode(), KEYRING, associated_data=associated_data)


def test_credentials_round_trip_keeps_a_key_not_given(store: CredentialStore) -> None:
    store.set("85", calcom_key="cal_live_85_secret", retell_key="key_85_secret")
    store.set("85", retell_key="key_85_rotated")
    got = store.get("85")
    assert (got.company_id, got.calcom_key, got.retell_key) == ("85", "cal_live_85_secret", "key_85_rotated")
    assert store.companies() == ["85"]


def test_credentials_file_is_0600_and_no_temp_file_is_left(store: CredentialStore) -> None:
    store.set("85", calcom_key="cal_live_85_secret")
    store.set("85", retell_key="key_85_secret")
    assert [p.name for p in store.directory.iterdir()] == ["85.dgar"]
    assert stat.S_IMODE((store.directory / "85.dgar").stat().st_mode) == 0o600


def test_credentials_file_is_sealed_with_its_company_as_associated_data(store: CredentialStore) -> None:
    store.set("85", calcom_key="cal_live_85_secret")
    blob = (store.directory / "85.dgar").read_bytes()
    assert json.loads(open_sealed(blob, KEYRING, associated_data=company_binding("85")))["company_id"] == "85"
    with pytest.raises(WrongKeyError):
        open_sealed(blob, KEYRING)
    with pytest.raises(WrongKeyError):
        open_sealed(blob, KEYRING, associated_data=company_binding("42"))


def test_credentials_copied_to_another_company_are_refused(store: CredentialStore) -> None:
    store.set("85", calcom_key="cal_live_85_secret", retell_key="key_85_secret")
    shutil.copy(store.directory / "85.dgar", store.directory / "42.dgar")
    with pytest.raises(
        ConfigError, match=r"42\.dgar does not open as company 42's: it belongs to another"
    ) as caught:
        store.get("42")
    assert "secret" not in str(caught.value)


def test_credentials_partial_update_of_a_foreign_file_is_refused(store: CredentialStore) -> None:
    store.set("85", calcom_key="cal_live_85_secret", retell_key="key_85_secret")
    shutil.copy(store.directory / "85.dgar", store.directory / "42.dgar")
    with pytest.raises(ConfigError, match="belongs to another company"):
        store.set("42", retell_key="key_42_secret")


def test_credentials_whose_company_field_differs_are_refused(store: CredentialStore) -> None:
    """Even a file bound to 42 must name 42 inside: the decrypted company_id is checked too."""
    store.directory.mkdir(parents=True)
    (store.directory / "42.dgar").write_bytes(sealed_payload("85", associated_data=company_binding("42")))
    with pytest.raises(ConfigError, match=r"belongs to another company \('85', not '42'\)"):
        store.get("42")


def test_credentials_written_before_the_binding_still_open(store: CredentialStore) -> None:
    store.directory.mkdir(parents=True)
    (store.directory / "85.dgar").write_bytes(sealed_payload("85"))
    assert store.get("85").retell_key == "key_85_secret"


def test_unbound_credentials_copied_to_another_company_are_refused(store: CredentialStore) -> None:
    store.directory.mkdir(parents=True)
    (store.directory / "42.dgar").write_bytes(sealed_payload("85"))
    with pytest.raises(ConfigError, match="belongs to another company"):
        store.get("42")


def test_sealed_object_without_associated_data_opens_as_before() -> None:
    blob = seal(b"backup bytes", KEYRING)
    assert open_sealed(blob, KEYRING) == b"backup bytes"
    with pytest.raises(WrongKeyError):
        open_sealed(blob, KEYRING, associated_data=b"anything")
