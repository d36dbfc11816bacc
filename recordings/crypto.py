"""Recordings encrypted at rest: AES-256-GCM, a fresh nonce per file, the store path bound in.

A sealed file is a 27-byte header, then the ciphertext and GCM's 16-byte tag::

    magic    6 bytes   b"IVRENC"
    version  1 byte    1
    key id   8 bytes   the start of SHA-256("ivr-recordings-key:" + key): which key opens it
    nonce   12 bytes   random, new for every write

The header and the file's relative path are the associated data: a changed byte anywhere, a
header from another file, or a file moved to another recording's path fails to decrypt. Random
96-bit nonces stay safe for 2**32 files per key (NIST SP 800-38D), far beyond any archive here.

Rotation: put the new key in IVR_RECORDINGS_KEY and the old one in IVR_RECORDINGS_OLD_KEYS;
new files are sealed with the new key, old ones still open. `reseal_recordings` then moves the
stored files to the new key, after which the old key can be dropped.

Exceptions::

    CryptoError              the file cannot be turned back into the recording
        UnknownKeyError      sealed with a key this installation does not have (key_id says which)
        TamperedError        the key is known but the file does not decrypt: altered or moved
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from ivr.models import Recording, RecordingStatus

if TYPE_CHECKING:
    from recordings.store import RecordingStore

MAGIC = b"IVRENC"
VERSION = 1
KEY_BYTES = 32
KEY_ID_BYTES = 8
NONCE_BYTES = 12
HEADER_BYTES = len(MAGIC) + 1 + KEY_ID_BYTES + NONCE_BYTES
_KEY_ID_CONTEXT = b"ivr-recordings-key:"


class CryptoError(Exception):
    """The stored file cannot be turned back into the recording."""


class UnknownKeyError(CryptoError):
    """The file was sealed with a key that is neither IVR_RECORDINGS_KEY nor an old key."""

    def __init__(self, key_id: str, known: Sequence[str]) -> None:
        self.key_id = key_id
        names = ", ".join(known) or "none: IVR_RECORDINGS_KEY is not set"
        super().__init__(f"encrypted with key {key_id}, which is not configured (known: {names})")


class TamperedError(CryptoError):
    """The file does not decrypt with its key: altered, truncated, or moved from another path."""


@dataclass(frozen=True)
class RecordingKey:
    """An AES-256 key and its short public id (safe to store and log; the key is not)."""

    secret: bytes = field(repr=False)
    key_id: str = field(init=False)

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise ValueError(f"a recordings key is {KEY_BYTES} bytes, got {len(self.secret)}")
        digest = hashlib.sha256(_KEY_ID_CONTEXT + self.secret).digest()
        object.__setattr__(self, "key_id", digest[:KEY_ID_BYTES].hex())

    @classmethod
    def from_base64(cls, text: str) -> RecordingKey:
        """The key from its base64 form (IVR_RECORDINGS_KEY); ValueError if it is not 32 bytes."""
        try:
            secret = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a recordings key must be base64") from None
        return cls(secret)

    @classmethod
    def generate(cls) -> RecordingKey:
        """A new random key."""
        return cls(os.urandom(KEY_BYTES))

    def to_base64(self) -> str:
        """The form IVR_RECORDINGS_KEY takes."""
        return base64.b64encode(self.secret).decode("ascii")


def seal(key: RecordingKey, relative_path: str, plain: bytes) -> bytes:
    """Encrypt a file's content for the given store path."""
    nonce = os.urandom(NONCE_BYTES)
    header = MAGIC + bytes([VERSION]) + bytes.fromhex(key.key_id) + nonce
    return header + AESGCM(key.secret).encrypt(nonce, plain, _associated(header, relative_path))


def is_sealed(blob: bytes) -> bool:
    """Tell whether the bytes start like a sealed file (a WAV or MP3 never does)."""
    return blob[: len(MAGIC)] == MAGIC


def sealed_key_id(blob: bytes) -> str | None:
    """The id of the key a sealed file needs; None for a file in clear."""
    if not is_sealed(blob):
        return None
    if len(blob) < HEADER_BYTES:
        raise TamperedError(f"sealed file cut short ({len(blob)} bytes)")
    start = len(MAGIC) + 1
    return blob[start : start + KEY_ID_BYTES].hex()


def open_sealed(keys: Sequence[RecordingKey], relative_path: str, blob: bytes) -> bytes:
    """Decrypt a sealed file stored at the path, with whichever of the keys sealed it."""
    key_id = sealed_key_id(blob)
    if key_id is None:
        raise TamperedError("not a sealed file")
    if blob[len(MAGIC)] != VERSION:
        raise TamperedError(f"unknown sealed-file version {blob[len(MAGIC)]}")
    key = next((k for k in keys if k.key_id == key_id), None)
    if key is None:
        raise UnknownKeyError(key_id, [k.key_id for k in keys])
    header = blob[:HEADER_BYTES]
    nonce = header[-NONCE_BYTES:]
    try:
        return AESGCM(key.secret).decrypt(
            nonce, blob[HEADER_BYTES:], _associated(header, relative_path)
        )
    except InvalidTag:
        raise TamperedError(
            f"does not decrypt with key {key_id}: altered, or moved from another path"
        ) from None


def _associated(header: bytes, relative_path: str) -> bytes:
    # The path binds the file to its place: the row that names the path names this content.
    return header + relative_path.encode("utf-8")


@dataclass(frozen=True)
class SealedDigest:
    """A stored file's content hash and size (after decrypting) and the key it was sealed with."""

    sha256: str
    size: int
    key_id: str | None  # None: the file is stored in clear


class EncryptedStore:
    """Wraps a store: files are sealed on `put` and opened on `read`, transparently.

    Files written before the key was set stay readable (they are in clear: no magic header);
    verification compares the row's `key_id` with the file's so a swap is still noticed.
    Decrypting needs the whole file in memory, a few MB for a call recording.
    """

    def __init__(
        self, inner: RecordingStore, key: RecordingKey, old_keys: Sequence[RecordingKey] = ()
    ) -> None:
        self.inner = inner
        self.key = key
        self.keys = (key, *(old for old in old_keys if old.key_id != key.key_id))

    @property
    def key_id(self) -> str | None:
        """The key new files are sealed with."""
        return self.key.key_id

    def put(self, relative_path: str, data: bytes) -> None:
        """Seal and store, all or nothing (the inner store's guarantee)."""
        self.inner.put(relative_path, seal(self.key, relative_path, data))

    def read(self, relative_path: str) -> bytes:
        """The plain content; CryptoError if the file cannot be opened."""
        return self._open_blob(relative_path, self.inner.read(relative_path))

    def open(self, relative_path: str) -> BinaryIO:
        """The plain content as a stream (decrypted in memory: GCM checks the tag at the end)."""
        return io.BytesIO(self.read(relative_path))

    def exists(self, relative_path: str) -> bool:
        """Tell whether a file is stored at the path."""
        return self.inner.exists(relative_path)

    def delete(self, relative_path: str) -> bool:
        """Remove the file; False if there was none."""
        return self.inner.delete(relative_path)

    def files(self) -> Iterator[str]:
        """Every stored file, as the inner store lists them."""
        return self.inner.files()

    def digest(self, relative_path: str) -> tuple[str, int]:
        """SHA-256 and size of the plain content: what was recorded when it was stored."""
        sealed = self.sealed_digest(relative_path)
        return sealed.sha256, sealed.size

    def sealed_digest(self, relative_path: str) -> SealedDigest:
        """The plain content's hash and size, and the id of the key the file was sealed with."""
        blob = self.inner.read(relative_path)
        plain = self._open_blob(relative_path, blob)
        return SealedDigest(hashlib.sha256(plain).hexdigest(), len(plain), sealed_key_id(blob))

    def _open_blob(self, relative_path: str, blob: bytes) -> bytes:
        if not is_sealed(blob):
            return blob  # stored before IVR_RECORDINGS_KEY was set
        return open_sealed(self.keys, relative_path, blob)


@dataclass
class ResealReport:
    """What a re-sealing pass did (key rotation)."""

    resealed: int = 0  # evidence files now sealed with the current key (listening copies too)
    skipped: list[str] = field(default_factory=list)  # recording ids left alone, with why


def reseal_recordings(
    sessions: sessionmaker[Session], store: EncryptedStore, *, limit: int | None = None
) -> ResealReport:
    """Seal every stored recording not yet under the current key with it (after a rotation).

    Each file is opened with its old key and checked against the recorded checksum first: a
    file that is altered, or whose key is gone, is left exactly as it is for `verify` to report,
    never re-sealed into something that would look intact. Run it until it reseals nothing,
    then drop the old key from IVR_RECORDINGS_OLD_KEYS.
    """
    report = ResealReport()
    query = (
        select(
            Recording.id,
            Recording.recording_sid,
            Recording.path,
            Recording.listen_path,
            Recording.sha256,
        )
        .where(
            Recording.status == RecordingStatus.STORED,
            Recording.purged_at.is_(None),
            Recording.path.is_not(None),
            Recording.key_id.is_distinct_from(store.key_id),
        )
        .order_by(Recording.id)
        .limit(limit)
    )
    with sessions() as session:
        rows = [
            (row_id, sid, path, copy, sha)
            for row_id, sid, path, copy, sha in session.execute(query)
            if path is not None
        ]
    for row_id, sid, path, copy, expected in rows:
        try:
            plain = store.read(path)
            copy_plain = store.read(copy) if copy else None
        except (CryptoError, FileNotFoundError) as exc:
            report.skipped.append(f"{sid}: {exc}")
            continue
        if hashlib.sha256(plain).hexdigest() != expected:
            report.skipped.append(f"{sid}: does not match its recorded checksum")
            continue
        # The evidence first, then the row: a crash between leaves the row naming the old key
        # and the file under the new one (verify calls that altered); the next pass re-puts the
        # file and corrects the row.
        store.put(path, plain)
        if copy and copy_plain is not None:
            store.put(copy, copy_plain)
        with sessions.begin() as session:
            session.execute(
                update(Recording).where(Recording.id == row_id).values(key_id=store.key_id)
            )
        report.resealed += 1
    return report
