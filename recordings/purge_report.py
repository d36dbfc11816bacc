"""What a purge did, or in a dry run would do: the recordings deleted and why the others stay."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True)
class PurgeItem:
    """A recording purged (or, in a dry run, that would be)."""

    recording_id: int  #: the row id, which audit entries name (object recording:<id>)
    recording_sid: str
    retain_until: date
    rule: str  #: how retain_until was reached, as kept in the audit entry
    files: tuple[str, ...]  #: the evidence file, then the listening copy if there is one
    missing: tuple[str, ...] = ()  #: of those, the ones already gone (counted as deleted)

    def as_json(self) -> dict[str, Any]:
        """The item for `--format json`."""
        return {
            "recording_id": self.recording_id,
            "recording_sid": self.recording_sid,
            "retain_until": self.retain_until.isoformat(),
            "rule": self.rule,
            "files": list(self.files),
            "missing": list(self.missing),
        }


@dataclass
class PurgeReport:
    """What one run did (a dry run: what it would do), and why the other recordings stay."""

    today: date
    dry_run: bool
    checked: int = 0  #: stored recordings not yet purged
    refreshed: int = 0  #: retain_until written anew because it had changed
    purged: list[PurgeItem] = field(default_factory=list)
    on_hold: int = 0  #: past retention, kept by a legal hold
    not_due: int = 0  #: retention runs out later, or counts from a case still open
    unknown: Counter[str] = field(default_factory=Counter)  #: no date, by reason
    failed: list[str] = field(default_factory=list)  #: "<sid>: <why>", files not deleted
    skipped: int = 0  #: purged or gone meanwhile (another run)

    @property
    def files_missing(self) -> int:
        """Files that were already gone when their recording was purged."""
        return sum(len(item.missing) for item in self.purged)

    def as_json(self) -> dict[str, Any]:
        """The report for `--format json` and for logs."""
        return {
            "dry_run": self.dry_run,
            "today": self.today.isoformat(),
            "checked": self.checked,
            "refreshed": self.refreshed,
            "purged": len(self.purged),
            "files_missing": self.files_missing,
            "on_hold": self.on_hold,
            "not_due": self.not_due,
            "unknown": sum(self.unknown.values()),
            "unknown_reasons": dict(self.unknown),
            "failed": self.failed,
            "skipped": self.skipped,
            "recordings": [item.as_json() for item in self.purged],
        }

    def __str__(self) -> str:
        verb = "would purge" if self.dry_run else "purged"
        parts = [f"{verb} {len(self.purged)}"]
        if self.files_missing:
            parts[0] += f" ({self.files_missing} files already missing)"
        parts += [
            f"on hold {self.on_hold}",
            f"not yet due {self.not_due}",
            f"retention unknown {sum(self.unknown.values())}",
        ]
        if self.failed:
            parts.append(f"failed {len(self.failed)}")
        if self.skipped:
            parts.append(f"skipped {self.skipped}")
        return f"{', '.join(parts)} (of {self.checked} stored, as of {self.today.isoformat()})"
