"""The keyring file: round trips, permissions, refusal to overwrite, and messages that name the file."""

from __future__ import annotations

import base64
import json
import re
import stat
from pathlib import Path

import pytest

from dataguard_pipelines.core.errors import ConfigError, KeyNotFoundError
from dataguard_pipelines.core.keys import Keyring, init_keyring, open_keyring
from dataguard_pipelines.core.settings import Settings

KEY_ID = "k20261127-3fa1b2c9"
KEY = bytes(range(32))


def write_keyring(path: Path, doc: object, *, mode: int = 0o600) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    path.chmod(mode)
    return path


def keyring_doc(**overrides: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "format": "dataguard-keyring",
        "version": 1,
        "active": KEY_ID,
        "keys": {KEY_ID: base64.b64encode(KEY).decode()},
    }
    doc.update(overrides)
    return doc


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keyring_create_then_load_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    created = Keyring.create(path)
    loaded = Keyring.load(path)
    assert loaded.active_id == created.active_id
    assert dict(loaded.keys) == dict(created.keys)
    assert loaded.active() == (created.active_id, created.keys[created.active_id])
    assert len(created.keys[created.active_id]) == 32


def test_keyring_create_writes_mode_0600_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    Keyring.create(path)
    assert mode_of(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["keyring.json"]


def test_keyring_create_makes_missing_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "state" / "keyring.json"
    Keyring.create(path)
    assert Keyring.load(path).active_id


def test_keyring_key_id_has_date_and_random_suffix(tmp_path: Path) -> None:
    keyring = Keyring.create(tmp_path / "keyring.json")
    assert re.fullmatch(r"k\d{8}-[0-9a-f]{8}", keyring.active_id)


def test_keyring_create_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    Keyring.create(path)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        Keyring.create(path)
    assert path.read_bytes() == before


def test_keyring_load_refuses_file_readable_by_others(tmp_path: Path) -> None:
    path = write_keyring(tmp_path / "keyring.json", keyring_doc(), mode=0o644)
    message = f"is readable by other users (mode 0644); run chmod 600 {path}"
    with pytest.raises(ConfigError, match=re.escape(message)):
        Keyring.load(path)


@pytest.mark.parametrize(
    ("mode", "wording"), [(0o640, "readable"), (0o604, "readable"), (0o602, "accessible")]
)
def test_keyring_load_refuses_any_group_or_other_access(tmp_path: Path, mode: int, wording: str) -> None:
    path = write_keyring(tmp_path / "keyring.json", keyring_doc(), mode=mode)
    with pytest.raises(ConfigError, match=f"is {wording} by other users \\(mode {mode:04o}\\)"):
        Keyring.load(path)


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "not a dataguard keyring"),
        (keyring_doc(format="something-else"), "not a dataguard keyring"),
        (keyring_doc(version=2), "version 2"),
        (keyring_doc(keys={}), 'no "keys"'),
        (keyring_doc(keys={KEY_ID: base64.b64encode(bytes(31)).decode()}), "not 32 bytes"),
        (keyring_doc(keys={KEY_ID: "not base64!"}), "not 32 bytes"),
        (keyring_doc(keys={KEY_ID: 12345}), "not 32 bytes"),
        (keyring_doc(active="k20200101-00000000"), "not among its keys"),
        (keyring_doc(active=None), "not among its keys"),
        (keyring_doc(keys={"": base64.b64encode(KEY).decode()}), "key id"),
    ],
    ids=[
        "bad-json",
        "not-an-object",
        "wrong-format",
        "wrong-version",
        "no-keys",
        "short-key",
        "bad-base64",
        "key-not-a-string",
        "active-missing",
        "active-null",
        "empty-key-id",
    ],
)
def test_keyring_load_rejects_malformed_file_naming_its_path(
    tmp_path: Path, doc: object, problem: str
) -> None:
    path = write_keyring(tmp_path / "keyring.json", doc)
    with pytest.raises(ConfigError, match=re.escape(problem)) as caught:
        Keyring.load(path)
    assert str(path) in str(caught.value)


def test_keyring_load_of_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    with pytest.raises(ConfigError, match=re.escape(f"keyring {path} does not exist")):
        Keyring.load(path)


def test_keyring_errors_never_contain_key_material(tmp_path: Path) -> None:
    secret = base64.b64encode(KEY).decode()
    path = write_keyring(tmp_path / "keyring.json", keyring_doc(active="nope"))
    with pytest.raises(ConfigError) as caught:
        Keyring.load(path)
    assert secret not in str(caught.value)
    short = base64.b64encode(KEY[:31]).decode()
    path = write_keyring(tmp_path / "short.json", keyring_doc(keys={KEY_ID: short}))
    with pytest.raises(ConfigError) as caught:
        Keyring.load(path)
    assert short not in str(caught.value)


def test_keyring_repr_lists_ids_but_no_key_bytes() -> None:
    keyring = Keyring(active_id=KEY_ID, keys={KEY_ID: KEY})
    for text in (repr(keyring), str(keyring), f"{keyring}"):
        assert KEY_ID in text
        assert repr(KEY) not in text
        assert KEY.hex() not in text
        assert base64.b64encode(KEY).decode() not in text


def test_keyring_kek_of_unknown_id_raises_key_not_found() -> None:
    keyring = Keyring(active_id=KEY_ID, keys={KEY_ID: KEY})
    assert keyring.kek(KEY_ID) == KEY
    message = "keyring has no key 'k19990101-deadbeef'; restore the keyring that wrote this backup "
    message += "(DATAGUARD_KEYRING)"
    with pytest.raises(KeyNotFoundError, match=re.escape(message)):
        keyring.kek("k19990101-deadbeef")


def test_keyring_rotation_keeps_old_keys_and_saves_atomically(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    old = Keyring.create(path)
    rotated = old.with_new_active_key()
    assert rotated.active_id != old.active_id
    assert rotated.kek(old.active_id) == old.kek(old.active_id)
    assert set(rotated.keys) == {old.active_id, rotated.active_id}
    rotated.save(path)
    assert mode_of(path) == 0o600
    loaded = Keyring.load(path)
    assert loaded.active_id == rotated.active_id
    assert dict(loaded.keys) == dict(rotated.keys)
    assert [p.name for p in tmp_path.iterdir()] == ["keyring.json"]


def test_keyring_keys_cannot_be_changed_after_construction() -> None:
    keys = {KEY_ID: KEY}
    keyring = Keyring(active_id=KEY_ID, keys=keys)
    keys[KEY_ID] = bytes(32)
    assert keyring.kek(KEY_ID) == KEY
    with pytest.raises(TypeError):
        keyring.keys[KEY_ID] = bytes(32)  # type: ignore[index]


def test_keyring_constructor_rejects_short_key_and_missing_active() -> None:
    with pytest.raises(ConfigError, match="not 32 bytes"):
        Keyring(active_id=KEY_ID, keys={KEY_ID: KEY[:16]})
    with pytest.raises(ConfigError, match="not among its keys"):
        Keyring(active_id="other", keys={KEY_ID: KEY})


def test_init_keyring_reports_key_id_path_and_advice_and_writes_0600(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "keyring.json"
    report = init_keyring(path)
    loaded = Keyring.load(path)
    assert report.key_id == loaded.active_id
    assert report.path == path
    assert mode_of(path) == 0o600
    assert (
        str(path) in report.advice and report.key_id in report.advice and "off this machine" in report.advice
    )
    assert report.as_dict() == {"key_id": report.key_id, "path": str(path), "advice": report.advice}
    secret = base64.b64encode(loaded.keys[report.key_id]).decode()
    assert secret not in repr(report) and secret not in json.dumps(report.as_dict())


def test_init_keyring_never_overwrites_an_existing_keyring(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    first = init_keyring(path)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        init_keyring(path)
    assert path.read_bytes() == before
    assert Keyring.load(path).active_id == first.key_id


def test_open_keyring_refuses_missing_file_in_production_and_creates_nothing(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "DATAGUARD_HOME": str(tmp_path / "home"),
            "DATAGUARD_DATABASE_URL": "postgresql://app@db.internal/app",
            "DATAGUARD_KEYRING": str(tmp_path / "secrets" / "keyring.json"),
        }
    )
    assert not settings.may_create_keyring
    with pytest.raises(ConfigError) as caught:
        open_keyring(settings.keyring_path, may_create=settings.may_create_keyring)
    message = str(caught.value)
    assert "DATAGUARD_KEYRING" in message and "`dataguard keys init`" in message
    assert str(settings.keyring_path) in message
    assert list(tmp_path.iterdir()) == []  # neither the file nor its folder appeared


def test_open_keyring_creates_a_missing_file_only_for_the_embedded_demo(tmp_path: Path) -> None:
    settings = Settings.from_env({"DATAGUARD_HOME": str(tmp_path)})
    assert settings.may_create_keyring
    created = open_keyring(settings.keyring_path, may_create=settings.may_create_keyring)
    assert mode_of(settings.keyring_path) == 0o600
    again = open_keyring(settings.keyring_path, may_create=False)
    assert again.active() == created.active()
