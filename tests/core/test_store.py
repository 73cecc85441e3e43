"""The store, local and on moto's S3 server: atomic publish, listing, clear errors."""

from __future__ import annotations

import pytest

from dataguard_pipelines.core.errors import ConfigError, StoreError
from dataguard_pipelines.core.store import Store


def test_store_round_trips_and_lists_objects(any_store: Store):
    any_store.put_bytes("backups/full/p/a/manifest.json", b"{}")
    with any_store.open_write("backups/full/p/a/data/1.dgar") as handle:
        handle.write(b"x" * 100_000)
    assert any_store.get_bytes("backups/full/p/a/manifest.json") == b"{}"
    assert any_store.size("backups/full/p/a/data/1.dgar") == 100_000
    assert any_store.glob("backups/full/*/*/manifest.json") == ["backups/full/p/a/manifest.json"]
    any_store.delete_prefix("backups/full/p/a")
    assert any_store.glob("backups/full/*/*/manifest.json") == []


def test_failed_write_publishes_nothing(any_store: Store):
    with pytest.raises(RuntimeError), any_store.open_write("obj.dgar") as handle:
        handle.write(b"partial" * 1000)
        raise RuntimeError("pipeline died")
    assert not any_store.exists("obj.dgar")
    assert any_store.fs.find(any_store.root) == []


def test_missing_object_is_a_store_error(any_store: Store):
    with pytest.raises(StoreError, match="does not exist"):
        any_store.get_bytes("nope.json")


def test_store_rejects_escaping_keys(local_store: Store):
    with pytest.raises(StoreError, match="invalid store key"):
        local_store.put_bytes("../outside", b"")


@pytest.mark.parametrize(
    ("url", "message"), [("ftp://x/y", "unsupported scheme"), ("s3:///nobucket", "no bucket")]
)
def test_bad_store_urls_are_config_errors(url: str, message: str):
    with pytest.raises(ConfigError, match=message):
        Store(url)


@pytest.mark.slow  # over 5 s: make test runs it, make test-fast does not
def test_unreachable_s3_endpoint_is_a_store_error(s3_bucket: str):
    store = Store(s3_bucket, s3_endpoint_url="http://127.0.0.1:1")
    with pytest.raises(StoreError):
        store.put_bytes("x", b"y")
