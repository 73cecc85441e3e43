"""keys init|list, and the rule behind them: no key is ever created behind an operator's back."""

from __future__ import annotations

import json
import stat

import pytest

from tests.cli.helpers import assert_one_clear_sentence, run


def test_keys_init_writes_a_private_keyring_once_and_list_shows_its_id(tmp_path):
    path = tmp_path / "keys" / "keyring.json"
    created = run(["keys", "init", "--keyring", str(path)], {"DATAGUARD_HOME": str(tmp_path)})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key_id = json.loads(path.read_text())["active"]
    assert key_id in created.stdout and "second copy" in created.stderr.replace("\n", " ")
    assert json.loads(path.read_text())["keys"][key_id] not in created.stdout + created.stderr

    again = run(["keys", "init", "--keyring", str(path)], {"DATAGUARD_HOME": str(tmp_path)}, check=2)
    assert_one_clear_sentence(again, "already exists")
    assert json.loads(path.read_text())["active"] == key_id  # never overwritten

    listed = json.loads(run(["keys", "list", "--json"], {"DATAGUARD_KEYRING": str(path)}).stdout)
    assert listed == [{"key_id": key_id, "active": True, "created": listed[0]["created"]}]


@pytest.mark.parametrize(
    "command",
    [
        ["backup", "--type", "full"],
        ["capture", "--once"],
        ["credentials", "set", "--company", "85", "--calcom-key", "cal_test_x"],
    ],
)
def test_production_settings_without_a_keyring_exit_2_and_create_no_key(
    tmp_path, pg15_server, new_database, command
):
    """A worker whose keyring mount is missing must not seal backups with a key only it holds."""
    keyring = tmp_path / "mount" / "keyring.json"
    env = {
        "DATAGUARD_HOME": str(tmp_path / "home"),
        "DATAGUARD_STORE_URL": (tmp_path / "store").as_uri(),
        "DATAGUARD_DATABASE_URL": new_database(pg15_server),
        "DATAGUARD_KEYRING": str(keyring),
    }
    result = run(command, env, check=2)
    assert_one_clear_sentence(result, "DATAGUARD_KEYRING", "dataguard keys init")
    assert not keyring.exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and "keyring" in p.name]
