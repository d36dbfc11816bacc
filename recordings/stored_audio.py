"""A stored recording opened for serving, and the per-process cache of its checksum.

The evidence file is served only while its SHA-256 is the one recorded when it was stored;
otherwise the request is refused (409), logged as an error and audited as
`recording.integrity_failed`. Hashing a 5 MB file for every range request a seeking player sends
would cost more than serving it, so on the local, unencrypted store the digest is cached per
process under the file's identity and change stamps (device, inode, size, mtime, ctime). Any
write to the file or replacement of it changes at least the ctime, which, unlike the mtime,
utime() cannot set back (only moving the system clock could), so a file changed after it was
hashed is hashed again before it is served. What the cache does not cover: a change made below
the file system (editing the raw disk) while this process runs; `ivr recordings verify`
re-hashes everything for that. The bytes served are read from the same open file the digest was
checked on. Stores that are not a plain local folder (object storage, encryption at rest) are
read whole and hashed on every request: their objects carry no stamp this process can trust.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import BinaryIO

from ivr.services import Services
from recordings.crypto import UnknownKeyError
from recordings.store import LocalStore, RecordingStore, open_store

CHUNK = 64 * 1024


Stamp = tuple[int, int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns


class DigestCache:
    """SHA-256 digests of local files, per process, valid while the file's stamp is unchanged."""

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[Stamp, str]] = OrderedDict()
        self._lock = threading.Lock()  # threaded servers share one cache

    def get(self, path: str, stamp: Stamp) -> str | None:
        """The digest recorded for the file if it still has this stamp."""
        with self._lock:
            entry = self._entries.get(path)
            if entry is None or entry[0] != stamp:
                return None
            self._entries.move_to_end(path)
            return entry[1]

    def put(self, path: str, stamp: Stamp, digest: str) -> None:
        """Remember a digest computed from the file while it had this stamp."""
        with self._lock:
            self._entries[path] = (stamp, digest)
            self._entries.move_to_end(path)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)


DIGESTS = DigestCache()


class FileAudio:
    """A file of the local store, open; its digest comes from the cache, or from `load`."""

    def __init__(self, handle: BinaryIO, absolute: str) -> None:
        self._handle = handle
        self._absolute = absolute
        info = os.fstat(handle.fileno())
        self._stamp = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        self.size = info.st_size
        self.digest = DIGESTS.get(absolute, self._stamp)

    def load(self) -> None:
        """Hash the file (the slow part: call it with no transaction open)."""
        sha = hashlib.sha256()
        self._handle.seek(0)
        while block := self._handle.read(1 << 20):
            sha.update(block)
        self.digest = sha.hexdigest()
        DIGESTS.put(self._absolute, self._stamp, self.digest)

    def chunks(self, start: int, length: int) -> Iterator[bytes]:
        """The bytes of the range, a chunk at a time; closes the file when done or abandoned."""
        try:
            self._handle.seek(start)
            while length > 0:
                block = self._handle.read(min(CHUNK, length))
                if not block:
                    return
                length -= len(block)
                yield block
        finally:
            self._handle.close()

    def close(self) -> None:
        """Close the file without serving it."""
        self._handle.close()


class StoreAudio:
    """A file of another store (object storage, encrypted): read whole and hashed by `load`."""

    def __init__(self, store: RecordingStore, path: str) -> None:
        self._store = store
        self._path = path
        self._data = b""
        self.size = 0
        self.digest: str | None = None

    def load(self) -> None:
        """Read and hash the whole file (the slow part: call it with no transaction open)."""
        self._data = self._store.read(self._path)
        self.size = len(self._data)
        self.digest = hashlib.sha256(self._data).hexdigest()

    def chunks(self, start: int, length: int) -> Iterator[bytes]:
        """The bytes of the range."""
        view = memoryview(self._data)[start : start + length]
        for offset in range(0, len(view), CHUNK):
            yield bytes(view[offset : offset + CHUNK])

    def close(self) -> None:
        """Let the bytes go."""
        self._data = b""


def open_audio(services: Services, path: str, key_id: str | None) -> FileAudio | StoreAudio:
    """A stored file ready to serve once its `digest` is known (else call `load` first).

    FileNotFoundError or StorePathError (here or from `load`) if the file is not there;
    recordings.crypto's UnknownKeyError or TamperedError if it cannot be decrypted.
    """
    store = open_store(services.settings)
    if key_id is not None and store.key_id is None:
        # Stored encrypted, and IVR_RECORDINGS_KEY is not set here: the bytes are no recording.
        raise UnknownKeyError(key_id, ())
    if isinstance(store, LocalStore) and key_id is None:
        handle = store.open(path)
        return FileAudio(handle, str(handle.name))
    return StoreAudio(store, path)
