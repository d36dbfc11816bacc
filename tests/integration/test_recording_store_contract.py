"""One contract, every backend: local folder, S3 bucket (moto on 127.0.0.1), each also encrypted.

What fetch, verify, replay and purge rely on holds whichever store `open_store` returns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.config import Settings
from recordings.crypto import EncryptedStore, RecordingKey
from recordings.store import RecordingStore, StorePathError, open_store
from tests.integration.test_s3_store import REGION, MotoS3, fake_aws_environment

KEY = RecordingKey(bytes(range(32)))
BACKENDS = ["local", "s3", "local+key", "s3+key"]
BAD_PATHS = [
    "",
    ".",
    "..",
    "../x.wav",
    "a/../../x.wav",
    "a/../b.wav",
    "/etc/passwd",
    "a\\..\\x",
    "a\0b",
]


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    """One S3 server for this module."""
    with MotoS3() as server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend_settings(
    request: pytest.FixtureRequest,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    """Settings for one backend, as an operator would write them."""
    name: str = request.param
    chosen = settings.with_(recordings_dir=tmp_path / "store")
    if name.startswith("s3"):
        moto: MotoS3 = request.getfixturevalue("moto")
        fake_aws_environment(monkeypatch)
        chosen = chosen.with_(
            recordings_store="s3",
            s3_bucket=moto.new_bucket(),
            s3_prefix="recordings",
            s3_endpoint_url=moto.endpoint_url,
            s3_region=REGION,
        )
    if name.endswith("+key"):
        chosen = chosen.with_(recordings_key=KEY.to_base64())
    return chosen


@pytest.fixture
def store(backend_settings: Settings) -> RecordingStore:
    """The store `open_store` makes of those settings."""
    return open_store(backend_settings)


def test_put_then_read_returns_the_same_bytes(store: RecordingStore) -> None:
    """What goes in comes out, through read and through open."""
    store.put("2030/01/REa.wav", b"RIFF-one")

    assert b"RIFF-one" == store.read("2030/01/REa.wav")
    assert store.exists("2030/01/REa.wav")
    with store.open("2030/01/REa.wav") as stream:
        assert b"RIFF-one" == stream.read()


def test_put_replaces_an_earlier_file(store: RecordingStore) -> None:
    """A second put at the same path (a refetch after a crash) replaces the first."""
    store.put("2030/01/REa.wav", b"first")
    store.put("2030/01/REa.wav", b"second")

    assert b"second" == store.read("2030/01/REa.wav")
    assert ["2030/01/REa.wav"] == list(store.files())


def test_a_missing_file_is_file_not_found_everywhere(store: RecordingStore) -> None:
    """read, open and digest say FileNotFoundError; exists says False; never empty bytes."""
    for operation in (
        lambda: store.read("2030/01/REnone.wav"),
        lambda: store.open("2030/01/REnone.wav"),
        lambda: store.digest("2030/01/REnone.wav"),
    ):
        with pytest.raises(FileNotFoundError):
            operation()
    assert not store.exists("2030/01/REnone.wav")


def test_delete_removes_the_file_once(store: RecordingStore) -> None:
    """delete says whether there was something to remove."""
    store.put("2030/01/REa.wav", b"data")

    assert store.delete("2030/01/REa.wav")
    assert not store.exists("2030/01/REa.wav")
    assert not store.delete("2030/01/REa.wav")
    assert [] == list(store.files())


def test_files_lists_every_file_sorted_by_relative_path(store: RecordingStore) -> None:
    """The listing verify walks: relative paths, sorted, in every folder."""
    for path in ("2030/02/REb.wav", "2030/01/REa.listen.mp3", "2030/01/REa.wav", "2029/12/REz.wav"):
        store.put(path, path.encode())

    assert [
        "2029/12/REz.wav",
        "2030/01/REa.listen.mp3",
        "2030/01/REa.wav",
        "2030/02/REb.wav",
    ] == list(store.files())


def test_digest_is_the_sha256_and_size_of_the_content(store: RecordingStore) -> None:
    """Whatever the store does to the bytes at rest, digest describes what was put."""
    data = bytes(range(256)) * 5000  # more than one 1 MiB read chunk

    store.put("2030/01/REa.wav", data)

    assert (hashlib.sha256(data).hexdigest(), len(data)) == store.digest("2030/01/REa.wav")


@pytest.mark.parametrize("path", BAD_PATHS)
def test_paths_that_escape_the_root_are_refused(store: RecordingStore, path: str) -> None:
    """Absolute paths, parent steps and odd characters never reach the backend."""
    for operation in (
        lambda: store.put(path, b"x"),
        lambda: store.read(path),
        lambda: store.exists(path),
        lambda: store.delete(path),
        lambda: store.digest(path),
    ):
        with pytest.raises(StorePathError):
            operation()
    assert [] == list(store.files())


def test_key_id_says_whether_files_are_written_encrypted(
    store: RecordingStore, backend_settings: Settings
) -> None:
    """None in clear; the key's id when IVR_RECORDINGS_KEY is set (fetch records it per row)."""
    expected = KEY.key_id if backend_settings.recordings_key else None

    assert expected == store.key_id


def test_bytes_at_rest_are_the_audio_only_without_a_key(
    store: RecordingStore, backend_settings: Settings
) -> None:
    """In clear the backend keeps the bytes as given; with a key it never holds them plain."""
    audio = b"RIFF" + b"a recording of a person talking about their health " * 100

    store.put("2030/01/REa.wav", audio)

    settings_in_clear = backend_settings.with_(recordings_key="")
    at_rest = open_store(settings_in_clear).read("2030/01/REa.wav")
    if backend_settings.recordings_key:
        assert isinstance(store, EncryptedStore)
        assert audio not in at_rest and b"their health" not in at_rest
    else:
        assert audio == at_rest
    assert audio == store.read("2030/01/REa.wav")
