"""Import do-not-call numbers from a CSV file: bad lines reported by number, the good ones listed.

The file: UTF-8, a header row naming `phone` (required), `reason` and `until` (optional; a date
YYYY-MM-DD, the number is kept off through that local day; blank: indefinitely). Other columns are
ignored. Like the case importer, a reason never echoes a cell: a shifted row can put anything
anywhere, and these reasons end up on screens and in logs.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from ivr.consent.dnc import DEFAULT_REGION, add_number, listed_through, normalise_phone
from ivr.models import DncSource

__all__ = ["DncCsvError", "DncImportReport", "LineError", "import_numbers"]

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_COLUMNS = ("phone", "reason", "until")
MAX_REASON = 500


class DncCsvError(Exception):
    """The file as a whole cannot be read as a do-not-call CSV; nothing in it was imported."""


@dataclass(frozen=True)
class LineError:
    """One rejected data line; `reason` lists every problem, joined by "; "."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class DncImportReport:
    """What an import did."""

    lines: int = 0  #: data lines read (blank lines are not counted)
    listed: int = 0  #: numbers added or updated
    errors: list[LineError] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """One line for a terminal or a log: counts only, never a cell."""
        return (
            f"{self.lines} data lines: {self.listed} numbers listed, {len(self.errors)} with errors"
        )


@dataclass(frozen=True)
class _Row:
    phone: str
    reason: str | None
    until: datetime | None


def import_numbers(
    session: Session,
    stream: TextIO,
    *,
    now: datetime,
    region: str = DEFAULT_REGION,
    tz: ZoneInfo,
    added_by: str | None = None,
) -> DncImportReport:
    """Add the file's valid lines to the list in the caller's transaction; report the others.

    Raises DncCsvError for a missing `phone` column or a file that is not CSV text.
    """
    report = DncImportReport()
    for line, cells in _records(stream):
        report.lines += 1
        problems: list[str] = []
        row = _validate(cells, region, tz, now, problems)
        if row is None:
            report.errors.append(LineError(line, "; ".join(problems)))
            continue
        add_number(
            session,
            row.phone,
            now=now,
            source=DncSource.CSV,
            reason=row.reason,
            until=row.until,
            added_by=added_by,
        )
        report.listed += 1
    return report


def _records(stream: TextIO) -> Iterator[tuple[int, dict[str, str]]]:
    """(line the record starts on, {column: cell}) for each non-blank data record."""
    reader = csv.reader(stream)
    try:
        header = next(reader, None)
        if header is None:
            raise DncCsvError("the file is empty; expected a header row naming 'phone'")
        names = [cell.strip().lstrip("\ufeff").lower() for cell in header]
        if "phone" not in names:
            raise DncCsvError("the header row has no 'phone' column")
        index = {name: names.index(name) for name in _COLUMNS if name in names}
        before = reader.line_num
        for cells in reader:
            start, before = before + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            yield (
                start,
                {name: cells[i].strip() if i < len(cells) else "" for name, i in index.items()},
            )
    except csv.Error as exc:
        raise DncCsvError(f"line {reader.line_num}: not valid CSV ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise DncCsvError(
            f"the file is not {exc.encoding} text; save it as 'CSV UTF-8' and import it again"
        ) from exc


def _validate(
    cells: dict[str, str], region: str, tz: ZoneInfo, now: datetime, problems: list[str]
) -> _Row | None:
    phone = ""
    if not cells["phone"]:
        problems.append("phone: missing")
    else:
        try:
            phone = normalise_phone(cells["phone"], region)
        except ValueError as exc:
            problems.append(f"phone: {exc}")
    reason = cells.get("reason") or None
    if reason is not None and len(reason) > MAX_REASON:
        problems.append(f"reason: longer than {MAX_REASON} characters")
    until = None
    raw_until = cells.get("until", "")
    if raw_until:
        day = _date(raw_until)
        if day is None:
            problems.append("until: not a date YYYY-MM-DD")
        else:
            until = listed_through(day, tz)
            if until <= now:
                problems.append("until: the date has passed")
    return None if problems else _Row(phone, reason, until)


def _date(text: str) -> date | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
