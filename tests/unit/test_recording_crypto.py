"""Encryption at rest: AES-256-GCM per file, the path bound in, keys named by a short id."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from ivr.config import ConfigError, load_settings
from recordings.crypto import (
    HEADER_BYTES,
    MAGIC,
    EncryptedStore,
    RecordingKey,
    TamperedError,
    UnknownKeyError,
    open_sealed,
    seal,
    sealed_key_id,
)
from recordings.store import LocalStore

KEY = RecordingKey(bytes(range(32)))
OLD_KEY = RecordingKey(bytes(range(100, 132)))
PATH = "2030/01/REa.wav"
AUDIO = b"RIFF" + b"\x01\x02" * 4000


@pytest.fixture
def inner(tmp_path: Path) -> LocalStore:
    """The plain folder under the encrypted store (to look at and damage the bytes at rest)."""
    return LocalStore(tmp_path / "store")


@pytest.fixture
def store(inner: LocalStore) -> EncryptedStore:
    """A store sealing with KEY."""
    return EncryptedStore(inner, KEY)


def flip(data: bytes, index: int) -> bytes:
    """The same bytes with one bit changed."""
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


def test_a_sealed_file_opens_to_the_same_bytes() -> None:
    """Round trip, and the layout: magic, version, key id, nonce, ciphertext with its tag."""
    blob = seal(KEY, PATH, AUDIO)

    assert AUDIO == open_sealed([KEY], PATH, blob)
    assert blob.startswith(MAGIC + b"\x01" + bytes.fromhex(KEY.key_id))
    assert HEADER_BYTES + len(AUDIO) + 16 == len(blob)
    assert KEY.key_id == sealed_key_id(blob)


def test_each_write_uses_a_fresh_nonce() -> None:
    """The same audio sealed twice gives two different files (a reused nonce breaks GCM)."""
    first, second = seal(KEY, PATH, AUDIO), seal(KEY, PATH, AUDIO)

    assert first[:HEADER_BYTES] != second[:HEADER_BYTES]
    assert first[HEADER_BYTES:] != second[HEADER_BYTES:]


@pytest.mark.parametrize("index", [HEADER_BYTES + 10, -1, HEADER_BYTES - 1, len(MAGIC)])
def test_a_changed_bit_anywhere_fails_to_open(index: int) -> None:
    """Ciphertext, tag, nonce or version: one bit and the file is refused as tampered."""
    blob = flip(seal(KEY, PATH, AUDIO), index)

    with pytest.raises(TamperedError):
        open_sealed([KEY], PATH, blob)


def test_a_file_moved_to_another_recordings_path_fails_to_open(
    store: EncryptedStore, inner: LocalStore
) -> None:
    """Recording B's file copied over recording A's: the path is bound in, so it is refused."""
    store.put("2030/01/REb.wav", b"RIFF other person's call")
    inner.put(PATH, inner.read("2030/01/REb.wav"))

    with pytest.raises(TamperedError, match="moved from another path"):
        store.read(PATH)


def test_a_file_sealed_with_an_unknown_key_names_the_key_it_needs(inner: LocalStore) -> None:
    """Reading with the wrong key says which key the file needs, and which keys are known."""
    EncryptedStore(inner, OLD_KEY).put(PATH, AUDIO)

    with pytest.raises(UnknownKeyError) as caught:
        EncryptedStore(inner, KEY).read(PATH)

    assert OLD_KEY.key_id == caught.value.key_id
    assert KEY.key_id in str(caught.value)


def test_an_old_key_still_reads_while_new_files_use_the_new_key(inner: LocalStore) -> None:
    """Rotation: files sealed with the old key open; new writes are sealed with the new one."""
    EncryptedStore(inner, OLD_KEY).put("2030/01/REold.wav", b"old")
    rotated = EncryptedStore(inner, KEY, [OLD_KEY])

    rotated.put("2030/01/REnew.wav", b"new")

    assert (b"old", b"new") == (
        rotated.read("2030/01/REold.wav"),
        rotated.read("2030/01/REnew.wav"),
    )
    assert KEY.key_id == sealed_key_id(inner.read("2030/01/REnew.wav"))
    assert OLD_KEY.key_id == rotated.sealed_digest("2030/01/REold.wav").key_id


def test_files_stored_before_the_key_was_set_stay_readable(
    store: EncryptedStore, inner: LocalStore
) -> None:
    """A recording kept in clear (no key then) reads as it is; its digest says so."""
    inner.put(PATH, AUDIO)

    assert AUDIO == store.read(PATH)
    assert store.sealed_digest(PATH).key_id is None


def test_a_sealed_file_cut_short_is_tampered(store: EncryptedStore, inner: LocalStore) -> None:
    """A truncated file (a half-copied backup) does not open."""
    store.put(PATH, AUDIO)
    inner.put(PATH, inner.read(PATH)[:20])

    with pytest.raises(TamperedError):
        store.read(PATH)


def test_the_key_id_is_short_stable_and_reveals_nothing_of_the_key() -> None:
    """16 hex digits from a hash; the repr shows the id, never the secret."""
    again = RecordingKey.from_base64(KEY.to_base64())

    assert KEY.key_id == again.key_id
    assert 16 == len(KEY.key_id) and KEY.secret.hex()[:16] != KEY.key_id
    assert KEY.to_base64() not in repr(KEY) and KEY.secret.hex() not in repr(KEY)
    assert KEY.key_id != RecordingKey.generate().key_id


@pytest.mark.parametrize(
    "text", ["", "not base64!", base64.b64encode(b"\x00" * 16).decode(), "QUJD"]
)
def test_keys_that_are_not_32_bytes_of_base64_are_refused(text: str) -> None:
    """A short, empty or garbled key is refused, not padded or truncated."""
    with pytest.raises(ValueError):
        RecordingKey.from_base64(text)


def test_settings_refuse_a_bad_key_and_say_how_to_make_one() -> None:
    """The error names the variable and the command, never the value given."""
    with pytest.raises(ConfigError) as caught:
        load_settings({"IVR_RECORDINGS_KEY": "c2hvcnQ=", "IVR_RECORDINGS_OLD_KEYS": "x"})

    problems = caught.value.problems
    assert 2 == len(problems)
    assert problems[0].startswith("IVR_RECORDINGS_KEY must be the base64 of 32 random bytes")
    assert "os.urandom(32)" in problems[0]
    assert problems[1].startswith("IVR_RECORDINGS_OLD_KEYS (key 1) must be")
    assert all("c2hvcnQ=" not in problem for problem in problems)


def test_settings_read_the_key_and_the_old_keys() -> None:
    """The current key, and old ones separated by commas; neither appears in the repr."""
    loaded = load_settings(
        {
            "IVR_RECORDINGS_KEY": KEY.to_base64(),
            "IVR_RECORDINGS_OLD_KEYS": f" {OLD_KEY.to_base64()} ,",
        }
    )

    assert (KEY.to_base64(), (OLD_KEY.to_base64(),)) == (
        loaded.recordings_key,
        loaded.recordings_old_keys,
    )
    assert KEY.to_base64() not in repr(loaded)
