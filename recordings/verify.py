"""`ivr recordings verify`: every stored recording re-hashed against the checksum recorded for it.

Evidence is only evidence while it is provably unchanged: a file missing, altered (checksum or
size differs) or lying in the store without a row is reported, never repaired here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.models import Recording, RecordingStatus
from recordings.store import LocalStore, StorePathError


@dataclass(frozen=True)
class Finding:
    """One problem in the store."""

    kind: str  # missing | altered | unreferenced
    path: str
    recording_sid: str | None = None
    detail: str = ""


@dataclass
class VerifyReport:
    """What a verification run found."""

    checked: int = 0  # stored recordings re-hashed
    intact: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def __str__(self) -> str:
        kinds = {kind: 0 for kind in ("missing", "altered", "unreferenced")}
        for finding in self.findings:
            kinds[finding.kind] += 1
        counts = ", ".join(f"{kind} {n}" for kind, n in kinds.items())
        return f"checked {self.checked}, intact {self.intact}, {counts}"


def verify_store(sessions: sessionmaker[Session], store: LocalStore) -> VerifyReport:
    """Re-hash each stored recording and look for files no recording claims."""
    report = VerifyReport()
    referenced: set[str] = set()
    with sessions() as session:
        rows = session.execute(
            select(Recording.recording_sid, Recording.path, Recording.sha256, Recording.size_bytes)
            .where(Recording.status == RecordingStatus.STORED)
            .order_by(Recording.id)
            .execution_options(yield_per=500)
        )
        for sid, path, sha256, size in rows:
            report.checked += 1
            if not path:
                report.findings.append(Finding("missing", "", sid, "stored without a path"))
                continue
            referenced.add(path)
            try:
                actual, actual_size = store.digest(path)
            except (FileNotFoundError, StorePathError):
                report.findings.append(Finding("missing", path, sid))
                continue
            if actual != sha256 or (size is not None and actual_size != size):
                detail = f"sha256 {actual[:12]}... size {actual_size}, recorded {sha256 or '?'}"
                report.findings.append(Finding("altered", path, sid, detail[:120]))
                continue
            report.intact += 1
    for path in store.files():
        if path not in referenced:
            report.findings.append(Finding("unreferenced", path))
    return report
