"""docs/format.md is the contract: its test vector and its reference reader must agree with archive.py."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from dataguard_pipelines.core.archive import (
    _seal_deterministic,
    open_sealed,
    read_header,
    seal,
)
from dataguard_pipelines.core.archive_stream import ArchiveWriter
from dataguard_pipelines.core.keys import Keyring

SPEC = (Path(__file__).resolve().parents[2] / "docs" / "format.md").read_text(encoding="utf-8")


def fenced_block(info: str, after: str = "") -> str:
    """The first fenced block with this info string (after the heading ``after``, if given)."""
    start = SPEC.index(after) if after else 0
    match = re.compile(rf"^```{re.escape(info)}\n(.*?)^```$", re.M | re.S).search(SPEC, start)
    assert match, f"docs/format.md has no ```{info} block"
    return match.group(1)


VECTOR = dict(
    line.split(": ", 1) for line in fenced_block("dataguard-test-vector").splitlines() if line.strip()
)
KEY_ID = VECTOR["key_id"]
KEK = bytes.fromhex(VECTOR["kek_hex"])
PLAINTEXT = bytes.fromhex(VECTOR["plaintext_hex"])
OBJECT = bytes.fromhex(VECTOR["object_hex"])
KEYRING = Keyring(active_id=KEY_ID, keys={KEY_ID: KEK})


def reference_reader() -> Callable[[bytes, dict[str, bytes]], bytes]:
    namespace: dict[str, object] = {}
    exec(fenced_block("python", after="## Decrypting with nothing but this spec"), namespace)
    return namespace["read_object"]  # type: ignore[return-value]


def test_format_vector_is_what_the_writer_produces() -> None:
    built = _seal_deterministic(
        PLAINTEXT,
        key_id=KEY_ID,
        kek=KEK,
        dek=bytes.fromhex(VECTOR["dek_hex"]),
        nonce_prefix=bytes.fromhex(VECTOR["nonce_prefix_hex"]),
        wrap_nonce=bytes.fromhex(VECTOR["wrap_nonce_hex"]),
        chunk_bytes=int(VECTOR["chunk_bytes"]),
        compression=VECTOR["compression"],
    )
    assert built.hex() == OBJECT.hex()


def test_format_vector_opens_to_its_plaintext() -> None:
    assert open_sealed(OBJECT, KEYRING) == PLAINTEXT
    assert len(PLAINTEXT) == 41  # three chunks of 16, 16 and 9 bytes


def test_format_vector_sha256_matches() -> None:
    assert hashlib.sha256(OBJECT).hexdigest() == VECTOR["object_sha256"]


def test_format_vector_header_has_the_documented_size() -> None:
    header = read_header(io.BytesIO(OBJECT))
    assert header.size == 17 + 1 + len(KEY_ID) + 60
    assert (header.key_id, header.chunk_bytes, header.compression) == (KEY_ID, 16, "none")
    assert len(OBJECT) == header.size + len(PLAINTEXT) + 3 * 16 + 16


def test_format_vector_field_by_field_listing_adds_up_to_the_object() -> None:
    listing = fenced_block("", after="The same object, field by field")
    hex_parts = []
    for line in listing.splitlines():
        tokens = line.split("(")[0].split()
        hex_parts += [t for t in tokens if re.fullmatch(r"[0-9a-f]+", t)]
    assert "".join(hex_parts) == OBJECT.hex()


def test_reference_reader_in_the_spec_opens_the_vector() -> None:
    assert reference_reader()(OBJECT, {KEY_ID: KEK}) == PLAINTEXT


def test_reference_reader_in_the_spec_opens_a_compressed_archive() -> None:
    content = b"".join(b"%d,row,%d\n" % (i, i * i) for i in range(20_000))
    sink = io.BytesIO()
    with ArchiveWriter(sink, KEYRING, chunk_bytes=4096) as writer:
        writer.write(content)
        writer.close()
    assert reference_reader()(sink.getvalue(), {KEY_ID: KEK}) == content


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob: blob[:-1],
        lambda blob: blob[: 96 + 32] + b"DGEND\x00\x00\x00" + (1).to_bytes(8, "little"),
        lambda blob: blob[:100] + bytes([blob[100] ^ 1]) + blob[101:],
    ],
    ids=["cut", "forged-trailer", "bit-flip"],
)
def test_reference_reader_in_the_spec_rejects_damage(damage: Callable[[bytes], bytes]) -> None:
    """It raises for damage, and for the right reason: a NameError in the spec's code must not pass."""
    with pytest.raises((ValueError, InvalidTag)):  # its own checks, or AES-GCM's authentication
        reference_reader()(damage(OBJECT), {KEY_ID: KEK})


def test_reference_reader_in_the_spec_opens_a_random_object() -> None:
    payload = bytes(range(256)) * 40
    assert reference_reader()(seal(payload, KEYRING, chunk_bytes=100), {KEY_ID: KEK}) == payload
