"""LocalStore and recording_path: atomic writes, no escape from the root, no personal data."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from recordings.store import LocalStore, StorePathError, recording_path

SID = "RE" + "0123456789abcdef" * 2
SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    """A store rooted in a folder that does not exist yet."""
    return LocalStore(tmp_path / "recordings")


def all_files(root: Path) -> list[str]:
    """Every file under root, relative, sorted (hidden temp files included)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_put_then_read_returns_the_same_bytes(store: LocalStore) -> None:
    """What goes in comes out, folders are created on the way."""
    store.put("2030/01/a.wav", b"RIFF-one")

    assert b"RIFF-one" == store.read("2030/01/a.wav")
    assert store.exists("2030/01/a.wav")
    with store.open("2030/01/a.wav") as stream:
        assert b"RIFF-one" == stream.read()


def test_put_replaces_an_earlier_file(store: LocalStore) -> None:
    """A second put at the same path (a refetch after a crash) replaces the first."""
    store.put("a.wav", b"first")
    store.put("a.wav", b"second")

    assert b"second" == store.read("a.wav")


def test_put_leaves_no_temp_files(store: LocalStore) -> None:
    """After puts only the target files exist: the temp files were renamed into place."""
    store.put("2030/01/a.wav", b"a")
    store.put("2030/01/a.wav", b"b")
    store.put("2030/02/b.wav", b"c")

    assert ["2030/01/a.wav", "2030/02/b.wav"] == all_files(store.root)


def test_failed_put_leaves_no_temp_file(store: LocalStore) -> None:
    """When the final rename fails the temp file is removed and nothing else changes."""
    (store.root / "taken.wav").mkdir(parents=True)  # a folder where the file should go

    with pytest.raises(OSError):
        store.put("taken.wav", b"data")

    assert [] == all_files(store.root)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_stored_files_are_readable_by_their_owner_only(store: LocalStore) -> None:
    """Recordings of people are not world-readable."""
    store.put("a.wav", b"data")

    assert 0o600 == stat.S_IMODE((store.root / "a.wav").stat().st_mode)


def test_delete_removes_the_file_once(store: LocalStore) -> None:
    """delete says whether there was something to remove."""
    store.put("a.wav", b"data")

    assert store.delete("a.wav")
    assert not store.exists("a.wav")
    assert not store.delete("a.wav")


def test_read_of_a_missing_file_raises(store: LocalStore) -> None:
    """A missing file is FileNotFoundError, not empty bytes."""
    with pytest.raises(FileNotFoundError):
        store.read("2030/01/none.wav")


@pytest.mark.parametrize(
    "path",
    ["", ".", "..", "../x.wav", "a/../../x.wav", "a/../b.wav", "/etc/passwd", "a\\..\\x", "a\0b"],
)
def test_paths_that_escape_the_root_are_refused(store: LocalStore, path: str) -> None:
    """Absolute paths, parent steps and odd characters never reach the file system."""
    for operation in (
        lambda: store.put(path, b"x"),
        lambda: store.read(path),
        lambda: store.exists(path),
        lambda: store.delete(path),
    ):
        with pytest.raises(StorePathError):
            operation()
    assert not store.root.exists()


def test_a_symlink_out_of_the_root_is_refused(store: LocalStore, tmp_path: Path) -> None:
    """A link inside the root that points elsewhere does not become a way out."""
    outside = tmp_path / "outside"
    outside.mkdir()
    store.root.mkdir()
    (store.root / "link").symlink_to(outside, target_is_directory=True)

    with pytest.raises(StorePathError):
        store.put("link/x.wav", b"x")

    assert [] == list(outside.iterdir())


def test_recording_path_is_utc_year_month_and_sid() -> None:
    """The path holds the UTC month and the provider id, nothing about the person."""
    assert f"2030/01/{SID}.wav" == recording_path(SID, datetime(2030, 1, 7, 1, 0, tzinfo=UTC))


def test_recording_path_uses_utc_not_the_local_month() -> None:
    """03:00 on 1 February in Shanghai is still January in UTC."""
    created_at = datetime(2030, 2, 1, 3, 0, tzinfo=SHANGHAI)

    assert f"2030/01/{SID}.wav" == recording_path(SID, created_at)


@pytest.mark.parametrize("sid", ["", "R", "../RE1", "RE/1", "RE 1", "RE1.wav"])
def test_recording_path_refuses_odd_sids(sid: str) -> None:
    """Only letters and digits make it into a path."""
    with pytest.raises(StorePathError):
        recording_path(sid, datetime(2030, 1, 7, tzinfo=UTC))


def test_recording_path_refuses_naive_datetimes() -> None:
    """A naive time has no month we could trust."""
    with pytest.raises(ValueError):
        recording_path(SID, datetime(2030, 1, 7))
