"""`ivr recordings verify`: every stored recording re-hashed against the checksum recorded for it.

Evidence is only evidence while it is provably unchanged: a file missing, altered (checksum or
size differs, or an encrypted file that no longer decrypts) or lying in the store without a row
is reported, never repaired here. Encrypted files are decrypted and the plain audio re-hashed,
the checksum being the audio's as recorded. A file that cannot be read for want of its key is
`unreadable`: not proof of a change, but not verified either.

A missing listening copy is `listen_missing`, a lesser kind that does not fail the run: the copy
is derived from the evidence and can be made again (clear the row's `listen_path`; the next
fetch run makes it), while nothing can make lost evidence again. Purged recordings (`purged_at`)
are skipped: their files are meant to be gone, and one still there is reported as unreferenced.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.models import Evidence, EvidenceKind, Recording, RecordingStatus
from recordings.crypto import CryptoError, EncryptedStore, TamperedError, UnknownKeyError
from recordings.listen import listen_path
from recordings.store import PROBE_PREFIX, RecordingStore, StorePathError

EVIDENCE_KINDS = ("missing", "altered", "unreferenced", "unreadable")
LESSER_KINDS = ("listen_missing",)  # reported, but the run still passes


@dataclass(frozen=True)
class Finding:
    """One problem in the store."""

    kind: str  # missing | altered | unreferenced | unreadable | listen_missing
    path: str
    recording_sid: str | None = None
    detail: str = ""


@dataclass
class VerifyReport:
    """What a verification run found."""

    checked: int = 0  # stored recordings re-hashed
    intact: int = 0
    purged: int = 0  # rows whose files a purge deleted: not checked
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every piece of evidence is there and unchanged (lesser findings allowed)."""
        return all(finding.kind in LESSER_KINDS for finding in self.findings)

    def __str__(self) -> str:
        counts = {kind: 0 for kind in (*EVIDENCE_KINDS, *LESSER_KINDS)}
        for finding in self.findings:
            counts[finding.kind] += 1
        # The first three always, the rest when they occur: scripts read this line.
        parts = [f"checked {self.checked}", f"intact {self.intact}"]
        parts += [f"{kind} {counts[kind]}" for kind in ("missing", "altered", "unreferenced")]
        if counts["unreadable"]:
            parts.append(f"unreadable {counts['unreadable']}")
        if counts["listen_missing"]:
            parts.append(f"listening copies missing {counts['listen_missing']}")
        if self.purged:
            parts.append(f"purged {self.purged} (not checked)")
        return ", ".join(parts)


@dataclass(frozen=True)
class _Row:
    sid: str
    path: str | None
    sha256: str | None
    size: int | None
    key_id: str | None
    listen_path: str | None


def verify_store(sessions: sessionmaker[Session], store: RecordingStore) -> VerifyReport:
    """Re-hash each stored recording, check its listening copy, look for files nobody claims.

    Raises OSError (StoreError) when the store itself cannot be read: that is no finding about
    a recording, and a run that could not look must not pass.
    """
    report = VerifyReport()
    referenced: set[str] = set()
    expected_copies: dict[str, str] = {}  # listening copy path -> recording id
    pending_copies: set[str] = set()  # where a copy may lie that a crash left unrecorded
    purged: dict[str, str] = {}  # paths of purged recordings -> recording id
    for row in _stored_rows(sessions):
        if row.path is None:
            report.checked += 1
            report.findings.append(Finding("missing", "", row.sid, "stored without a path"))
            continue
        if row.listen_path is None:
            pending_copies.add(listen_path(row.path))
        else:
            expected_copies[row.listen_path] = row.sid
        referenced.add(row.path)
        report.checked += 1
        finding = _check_evidence(store, row, row.path)
        if finding is None:
            report.intact += 1
        else:
            report.findings.append(finding)
    for escalation_id, scan_path, sha256 in _scan_rows(sessions):
        # Scans of signed receipts are evidence too (ivr.queue.evidence), kept in the same store.
        referenced.add(scan_path)
        report.checked += 1
        finding = _check_scan(store, escalation_id, scan_path, sha256)
        if finding is None:
            report.intact += 1
        else:
            report.findings.append(finding)
    for sid, path, copy in _purged_rows(sessions):
        report.purged += 1
        for purged_path in (path, copy):
            if purged_path:
                purged[purged_path] = sid
    for path in store.files():
        if path in referenced or path in pending_copies or path.startswith(PROBE_PREFIX):
            continue
        if expected_copies.pop(path, None) is not None:
            continue
        if path in purged:
            detail = "the recording was purged; this file should be gone"
            report.findings.append(Finding("unreferenced", path, purged[path], detail))
            continue
        report.findings.append(Finding("unreferenced", path))
    for path, sid in expected_copies.items():
        detail = "derived copy; clear listen_path to have the next fetch run make it again"
        report.findings.append(Finding("listen_missing", path, sid, detail))
    return report


def _stored_rows(sessions: sessionmaker[Session]) -> Iterator[_Row]:
    """Stored, unpurged recordings, streamed (an archive can hold millions)."""
    with sessions() as session:
        rows = session.execute(
            select(
                Recording.recording_sid,
                Recording.path,
                Recording.sha256,
                Recording.size_bytes,
                Recording.key_id,
                Recording.listen_path,
            )
            .where(Recording.status == RecordingStatus.STORED, Recording.purged_at.is_(None))
            .order_by(Recording.id)
            .execution_options(yield_per=500)
        )
        for row in rows:
            yield _Row(*row)


def _purged_rows(sessions: sessionmaker[Session]) -> list[tuple[str, str | None, str | None]]:
    with sessions() as session:
        rows = session.execute(
            select(Recording.recording_sid, Recording.path, Recording.listen_path)
            .where(Recording.purged_at.is_not(None))
            .order_by(Recording.id)
        )
        return [(sid, path, copy) for sid, path, copy in rows]


def _scan_rows(sessions: sessionmaker[Session]) -> list[tuple[int, str, str | None]]:
    with sessions() as session:
        rows = session.execute(
            select(Evidence.escalation_id, Evidence.path, Evidence.sha256)
            .where(Evidence.kind == EvidenceKind.SCAN, Evidence.path.is_not(None))
            .order_by(Evidence.id)
        )
        return [(escalation_id, path, sha256) for escalation_id, path, sha256 in rows if path]


def _check_scan(
    store: RecordingStore, escalation_id: int, path: str, sha256: str | None
) -> Finding | None:
    """None if an uploaded scan is there and unchanged, else what is wrong with it."""
    label = f"scan of escalation {escalation_id}"
    try:
        if isinstance(store, EncryptedStore):
            actual = store.sealed_digest(path).sha256
        else:
            actual, _size = store.digest(path)
    except (FileNotFoundError, StorePathError):
        return Finding("missing", path, None, label)
    except TamperedError as exc:
        return Finding("altered", path, None, f"{label}: {str(exc)[:150]}")
    except CryptoError as exc:
        return Finding("unreadable", path, None, f"{label}: {str(exc)[:150]}")
    if actual != sha256:
        return Finding("altered", path, None, f"{label}: sha256 {actual[:12]}...")
    return None


def _check_evidence(store: RecordingStore, row: _Row, path: str) -> Finding | None:
    """None if the file at path holds exactly what was recorded, else what is wrong with it."""
    if row.key_id is not None and not isinstance(store, EncryptedStore):
        detail = f"encrypted with key {row.key_id}; IVR_RECORDINGS_KEY is not set"
        return Finding("unreadable", path, row.sid, detail)
    file_key: str | None = None
    try:
        if isinstance(store, EncryptedStore):
            sealed = store.sealed_digest(path)
            actual, actual_size, file_key = sealed.sha256, sealed.size, sealed.key_id
        else:
            actual, actual_size = store.digest(path)
    except (FileNotFoundError, StorePathError):
        return Finding("missing", path, row.sid)
    except UnknownKeyError as exc:
        if isinstance(store, EncryptedStore) and row.key_id in {k.key_id for k in store.keys}:
            # We hold the key the row says it was sealed with: the file's header was changed.
            detail = f"stored with key {row.key_id}, the file now names key {exc.key_id}"
            return Finding("altered", path, row.sid, detail)
        return Finding("unreadable", path, row.sid, str(exc)[:200])
    except TamperedError as exc:
        return Finding("altered", path, row.sid, str(exc)[:200])
    except CryptoError as exc:  # a kind added later: never silently "intact"
        return Finding("unreadable", path, row.sid, str(exc)[:200])
    if actual != row.sha256 or (row.size is not None and actual_size != row.size):
        detail = f"sha256 {actual[:12]}... size {actual_size}, recorded {row.sha256 or '?'}"
        return Finding("altered", path, row.sid, detail[:120])
    if isinstance(store, EncryptedStore) and file_key != row.key_id:
        # Same audio, but not the file we stored: re-sealed or decrypted outside the product.
        found = f"key {file_key}" if file_key else "in clear"
        recorded = f"key {row.key_id}" if row.key_id else "in clear"
        return Finding("altered", path, row.sid, f"stored {recorded}, found {found}")
    return None
