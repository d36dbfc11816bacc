"""Where stored recordings live: the store protocol, the local-folder backend, `open_store`.

Paths are relative to the store's root and carry no personal data: the year and month the
recording was made and the provider's recording id (see `recording_path`).

Backends: `LocalStore` (a folder, the default), `recordings.s3.S3Store` (an S3-compatible
bucket), each optionally wrapped in `recordings.crypto.EncryptedStore` (AES-256-GCM at rest).
`open_store(settings)` picks them; every reader and writer of recordings goes through it.

Exceptions::

    StorePathError (ValueError)   the path is empty, absolute or leaves the store
    OSError                       the store failed; callers catch this one type
        FileNotFoundError         no file at the path
        StoreError                the store could not be reached or refused (S3: network, auth)
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO, Protocol

if TYPE_CHECKING:
    from ivr.config import Settings

# Provider ids are letters and digits (Twilio: RE + 32 hex); anything else could steer the path.
_SID = re.compile(r"[A-Za-z0-9]{2,64}")


# Where health checks (ivr.ops.health) write and delete their probe files: never evidence.
PROBE_PREFIX = ".health/"


class StorePathError(ValueError):
    """The relative path is empty, absolute, or leads outside the store's root."""


class StoreError(OSError):
    """The store could not be reached or refused the request; the message names no secret."""


class RecordingStore(Protocol):
    """Keeps recording files by relative path."""

    @property
    def key_id(self) -> str | None:
        """The id of the key files are written with (recordings.crypto); None: in clear."""
        ...

    def put(self, relative_path: str, data: bytes) -> None:
        """Store data at the path, replacing any earlier file, all or nothing."""
        ...

    def read(self, relative_path: str) -> bytes:
        """Return the file's bytes; FileNotFoundError if there is none."""
        ...

    def exists(self, relative_path: str) -> bool:
        """Tell whether a file is stored at the path."""
        ...

    def delete(self, relative_path: str) -> bool:
        """Remove the file; False if there was none."""
        ...

    def open(self, relative_path: str) -> BinaryIO:
        """Open the file for reading (a replay); the caller closes it."""
        ...

    def files(self) -> Iterator[str]:
        """Every stored file as a relative path, sorted."""
        ...

    def digest(self, relative_path: str) -> tuple[str, int]:
        """SHA-256 (hex) and size of the file's content; FileNotFoundError if none."""
        ...


def open_store(settings: Settings) -> RecordingStore:
    """The store the settings name; every reader and writer of recordings opens it here.

    IVR_RECORDINGS_STORE picks the backend (local folder or S3 bucket); IVR_RECORDINGS_KEY, when
    set, wraps it so that files are encrypted on the way in and decrypted on the way out.
    """
    backend: RecordingStore
    if settings.recordings_store == "s3":
        from recordings.s3 import S3Store

        backend = S3Store.from_settings(settings)
    elif settings.recordings_store == "local":
        backend = LocalStore(settings.recordings_dir)
    else:
        from ivr.config import ConfigError

        raise ConfigError(
            [f"IVR_RECORDINGS_STORE must be local or s3, got {settings.recordings_store!r}"]
        )
    if not settings.recordings_key:
        return backend
    from recordings.crypto import EncryptedStore, RecordingKey

    return EncryptedStore(
        backend,
        RecordingKey.from_base64(settings.recordings_key),
        [RecordingKey.from_base64(old) for old in settings.recordings_old_keys],
    )


def check_path(relative_path: str) -> PurePosixPath:
    """The path as a relative POSIX path; StorePathError if it is empty or would leave the root."""
    pure = PurePosixPath(relative_path)
    if not relative_path or "\\" in relative_path or "\x00" in relative_path:
        raise StorePathError(f"not a usable store path: {relative_path!r}")
    if pure.is_absolute() or ".." in pure.parts or pure.name in ("", "."):
        raise StorePathError(f"path leaves the store: {relative_path!r}")
    return pure


def recording_path(recording_sid: str, created_at: datetime) -> str:
    """The relative path for a recording, e.g. "2030/01/RE0123....wav" (UTC year and month)."""
    if not _SID.fullmatch(recording_sid):
        raise StorePathError(f"not a usable recording id: {recording_sid!r}")
    if created_at.tzinfo is None:
        raise ValueError("created_at must be an aware datetime")
    # UTC, not local time: a recording near midnight must land in one folder whatever the host.
    when = created_at.astimezone(UTC)
    return f"{when:%Y}/{when:%m}/{recording_sid}.wav"


class LocalStore:
    """A folder on the local disk; writes are atomic and durable (temp file, fsync, rename)."""

    key_id: str | None = None  # files are written as given

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, relative_path: str, data: bytes) -> None:
        """Write the file atomically: readers see the old file or the new one, never a part."""
        target = self._resolve(relative_path)
        self._make_dirs(target.parent)
        # Same folder as the target: os.replace is only atomic within one file system. mkstemp
        # creates the file readable by its owner only, which suits recordings of people.
        fd, temp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
        try:
            with os.fdopen(fd, "wb") as temp:
                temp.write(data)
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        # The rename lives in the directory: without this a power cut can undo it.
        _fsync_dir(target.parent)

    def open(self, relative_path: str) -> BinaryIO:
        """Open the file for reading (for streaming a replay); the caller closes it."""
        return self._resolve(relative_path).open("rb")

    def read(self, relative_path: str) -> bytes:
        """Return the file's bytes; FileNotFoundError if there is none."""
        return self._resolve(relative_path).read_bytes()

    def exists(self, relative_path: str) -> bool:
        """Tell whether a file is stored at the path."""
        return self._resolve(relative_path).is_file()

    def delete(self, relative_path: str) -> bool:
        """Remove the file; False if there was none."""
        target = self._resolve(relative_path)
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(target.parent)
        return True

    def files(self) -> Iterator[str]:
        """Every file under the root as a relative path, temporary files included, sorted."""
        root = self.root.resolve()
        if not root.is_dir():
            return
        for path in sorted(root.rglob("*")):
            if path.is_file():
                yield path.relative_to(root).as_posix()

    def digest(self, relative_path: str) -> tuple[str, int]:
        """SHA-256 (hex) and size of a stored file, read in chunks; FileNotFoundError if none."""
        sha = hashlib.sha256()
        size = 0
        with self._resolve(relative_path).open("rb") as stream:
            while chunk := stream.read(1 << 20):
                sha.update(chunk)
                size += len(chunk)
        return sha.hexdigest(), size

    def _resolve(self, relative_path: str) -> Path:
        """The absolute path for a relative one, refusing anything that leaves the root."""
        pure = check_path(relative_path)
        root = self.root.resolve()
        target = (root / pure).resolve()
        # resolve() follows symlinks, so a link inside the root pointing out is caught here too.
        if not target.is_relative_to(root) or target == root:
            raise StorePathError(f"path leaves the store: {relative_path!r}")
        return target

    def _make_dirs(self, folder: Path) -> None:
        """Create missing folders, syncing each new entry into its parent."""
        missing: list[Path] = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for new in reversed(missing):
            new.mkdir(exist_ok=True)
            _fsync_dir(new.parent)


def _fsync_dir(folder: Path) -> None:
    """Flush a directory's entries to disk (POSIX; Windows cannot open a directory)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
