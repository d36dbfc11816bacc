"""Parse and validate a case CSV (one case per row) against a template's CsvSpec; pure.

The spec (ivr.cases.columns) says which columns are required, which is the anchor, and which are
details, per-case options or identity facts. Facts come out normalised in ``CaseRow.facts``
(left out of repr) for the importer to hash; they are never stored in clear.

Reasons in a ``RowError`` name the column and the rule but never echo a cell: a shifted row can
put a phone number or a name into any column, and these reasons end up in logs and on screens.
"""

from __future__ import annotations

import csv
import dataclasses
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import NamedTuple, Protocol, TextIO
from zoneinfo import ZoneInfo

import phonenumbers

from ivr.cases.addresses import parse_email
from ivr.cases.columns import LANGUAGES, POST_DISCHARGE_CSV, CsvSpec, Role
from ivr.cases.phones import PhoneError, to_e164

__all__ = [
    "DETAIL_COLUMNS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "CaseRow",
    "CsvFormatError",
    "RowError",
    "count_data_lines",
    "parse_case_csv",
    "parse_case_items",
]

MAX_AGE = 130

# [0-9], not \d: \d also matches full-width and other Unicode digits.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?:Z|[+-][0-9]{2}:[0-9]{2})?"
)
_AGE = re.compile(r"[0-9]{1,3}")
_SEXES = {"f": "F", "female": "F", "女": "F", "m": "M", "male": "M", "男": "M"}
_BOM = "\ufeff"
_LANGUAGES_BY_KEY = {language.lower(): language for language in LANGUAGES}
# Python 3.11 reads an enum member through a descriptor, some 0.3 µs a time; a row compares
# roles about 30 times, which was a third of validating it. So the members are read once here.
_ANCHOR, _CASE, _DETAIL, _OPTION, _FACT = (
    Role.ANCHOR,
    Role.CASE,
    Role.DETAIL,
    Role.OPTION,
    Role.FACT,
)


REQUIRED_COLUMNS = POST_DISCHARGE_CSV.required
OPTIONAL_COLUMNS = POST_DISCHARGE_CSV.optional
DETAIL_COLUMNS = POST_DISCHARGE_CSV.named(Role.DETAIL)


class _Reader(Protocol):
    """What we use of csv.reader: rows, and the line the last one ended on."""

    line_num: int

    def __iter__(self) -> _Reader: ...

    def __next__(self) -> list[str]: ...


class CsvFormatError(Exception):
    """The file as a whole cannot be read as a case CSV; nothing in it should be imported."""


@dataclass(frozen=True)
class CaseRow:
    """One valid data row, normalised (E.164 phone, ISO date, defaults applied).

    ``facts`` holds identity facts in clear (normalised) for the importer to hash at once; it is
    left out of repr so a logged or printed row never shows them.
    """

    line: int
    external_ref: str
    name: str
    phone: str
    anchor_date: date
    department: str
    ward: str
    language: str
    timezone: str
    sex: str | None = None
    age: int | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    anchor_at: datetime | None = None  #: aware UTC, when the anchor cell held a time too
    options: Mapping[str, str] = field(default_factory=dict)  #: per-case campaign options
    facts: Mapping[str, str] = field(default_factory=dict, repr=False)
    excluded_reason: str | None = None  #: a column's value excludes the case (bought=yes)
    email: str | None = None  #: the contact's address (templates with an email column)


_CASE_ROW_FIELDS = frozenset(f.name for f in dataclasses.fields(CaseRow))


def _case_row(**values: object) -> CaseRow:
    """CaseRow(**values) for values naming every field, without the frozen __init__'s cost."""
    # A frozen dataclass sets each field through object.__setattr__: for CaseRow's 17 that was a
    # fifth of parsing a row. Filling __dict__ at once makes an equal, as frozen, object.
    if values.keys() != _CASE_ROW_FIELDS:
        raise TypeError(f"CaseRow fields missing or unknown: {_CASE_ROW_FIELDS ^ values.keys()}")
    row = object.__new__(CaseRow)
    row.__dict__.update(values)
    return row


@dataclass(frozen=True)
class RowError:
    """One rejected data row; ``reason`` lists every problem, joined by "; "."""

    line: int
    external_ref: str | None
    reason: str
    #: the line that first had this row's external_ref, when this row repeats it
    first_line: int | None = None


def parse_case_csv(
    stream: TextIO,
    *,
    default_region: str = "CN",
    default_language: str = "zh-CN",
    default_timezone: str = "Asia/Shanghai",
    spec: CsvSpec = POST_DISCHARGE_CSV,
) -> Iterator[CaseRow | RowError]:
    """Read the header now, then yield one CaseRow or RowError per non-blank data row.

    Header problems raise CsvFormatError from this call; a decoding problem further down the
    file raises it while iterating. ``line`` is the line on which the record starts, so it stays
    right when a quoted cell holds a newline. Open files with ``newline=""``.
    """
    defaults = _defaults(default_region, default_language, default_timezone)
    reader = csv.reader(_lines(stream))
    columns = _read_header(reader, spec)
    return _rows(reader, columns, spec, defaults)


def parse_case_items(
    items: Iterable[Mapping[str, object]],
    *,
    default_region: str = "CN",
    default_language: str = "zh-CN",
    default_timezone: str = "Asia/Shanghai",
    spec: CsvSpec = POST_DISCHARGE_CSV,
) -> Iterator[CaseRow | RowError]:
    """Validate objects keyed by column name (the JSON API) exactly as CSV rows; line = index.

    Each object goes through the same checks as a CSV line; a field the spec does not name, or a
    value that is not a string (or null, read as an empty cell), is one more problem of its row.
    """
    defaults = _defaults(default_region, default_language, default_timezone)
    known = {column.name for column in spec.columns}
    steps = _steps(spec)
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        extra: list[str] = []
        values: dict[str, str] = {}
        for key, value in item.items():
            if key not in known:
                extra.append(f"{key}: not a field of this campaign's cases")
            elif value is None:
                values[key] = ""
            elif not isinstance(value, str):
                extra.append(f"{key}: must be a string")
            else:
                values[key] = value.strip()
        raws = tuple(values.get(step.name, "") for step in steps)
        result = _validate(steps, raws, index, first_seen, spec.anchor_time, defaults)
        if extra:
            reasons = [*extra, result.reason] if isinstance(result, RowError) else extra
            result = RowError(
                index, result.external_ref or None, "; ".join(r for r in reasons if r)
            )
        yield result


def _defaults(region: str, language: str, timezone: str) -> _Defaults:
    """The checked defaults, or ValueError naming the bad one."""
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"default_region {region!r} is not a region phonenumbers knows")
    if language not in LANGUAGES:
        raise ValueError(f"default_language must be one of {', '.join(LANGUAGES)}")
    if not _is_timezone(timezone):
        raise ValueError(f"default_timezone {timezone!r} is not a known IANA time zone")
    return _Defaults(region, language, timezone)


def count_data_lines(stream: TextIO) -> int:
    """Count the rows parse_case_csv will yield, then seek back to where the stream was."""
    start = stream.tell()
    try:
        rows = _wrap_csv_errors(csv.reader(_lines(stream)))
        if next(rows, None) is None:
            return 0
        return sum(1 for cells in rows if not _is_blank(cells))
    finally:
        stream.seek(start)


def _lines(stream: TextIO) -> Iterator[str]:
    """Yield the stream's lines without a leading BOM, turning decoding errors into ours."""
    # Excel's "CSV UTF-8" starts with a BOM; read as plain utf-8 it sticks to the first column
    # name. Strip it from the line, not the cell, so a quoted first column still parses.
    first = True
    try:
        for line in stream:
            if first:
                line = line.removeprefix(_BOM)
                first = False
            yield line
    except UnicodeDecodeError as exc:
        # Excel on a Chinese Windows saves plain "CSV" as GBK; only "CSV UTF-8" is UTF-8.
        raise CsvFormatError(
            f"the file is not {exc.encoding} text; save it as 'CSV UTF-8' and upload it again"
        ) from exc


def _wrap_csv_errors(reader: _Reader) -> Iterator[list[str]]:
    """Re-raise csv.Error (e.g. an oversized field) as CsvFormatError with its line."""
    try:
        yield from reader
    except csv.Error as exc:
        raise CsvFormatError(f"line {reader.line_num}: not valid CSV ({exc})") from exc


def _read_header(reader: _Reader, spec: CsvSpec) -> dict[str, int]:
    """Map each known column name to its index, or raise CsvFormatError."""
    header = next(_wrap_csv_errors(reader), None)
    if header is None or _is_blank(header):
        raise CsvFormatError("the file has no header row (line 1 must name the columns)")
    known = {column.name for column in spec.columns}
    columns: dict[str, int] = {}
    repeated: list[str] = []
    for index, raw in enumerate(header):
        name = raw.strip().lower()
        if name not in known:
            continue  # Extra columns (notes, internal ids) are allowed and ignored.
        if name in columns:
            repeated.append(name)
        columns.setdefault(name, index)
    problems: list[str] = []
    missing = [name for name in spec.required if name not in columns]
    if missing:
        problems.append(f"missing required column(s): {', '.join(missing)}")
    if repeated:
        problems.append(f"column(s) appearing more than once: {', '.join(sorted(set(repeated)))}")
    if problems:
        raise CsvFormatError("; ".join(problems))
    return columns


@dataclass(frozen=True)
class _Defaults:
    """What a row gets when it leaves a column out."""

    region: str
    language: str
    timezone: str


class _Step(NamedTuple):
    """What _validate does with one column's cell: the spec's column, looked at once per file."""

    name: str
    role: Role
    must_fill: bool  #: required, and not may_be_blank
    field_check: _CaseField | None  #: a Role.CASE column's check (_CASE_FIELDS)
    cell_check: Callable[[str], str] | None  #: a detail's, option's or fact's own check
    target: int  #: where a detail, option or fact goes: 0 details, 1 options, 2 facts
    key: str  #: its key there
    excluded_if: str | None
    excluded_reason: str


_TARGETS = {_DETAIL: 0, _OPTION: 1, _FACT: 2}


def _steps(spec: CsvSpec) -> tuple[_Step, ...]:
    """The spec's columns in order, as _validate reads them."""
    return tuple(
        _Step(
            name=column.name,
            role=column.role,
            must_fill=column.required and not column.may_be_blank,
            field_check=_CASE_FIELDS.get(column.name) if column.role is _CASE else None,
            cell_check=column.check,
            target=_TARGETS.get(column.role, -1),
            key=column.detail_key,
            excluded_if=column.excluded_if,
            excluded_reason=column.excluded_reason,
        )
        for column in spec.columns
    )


def _rows(
    reader: _Reader, columns: Mapping[str, int], spec: CsvSpec, defaults: _Defaults
) -> Iterator[CaseRow | RowError]:
    """Validate each data row after the header."""
    first_seen: dict[str, int] = {}
    # A detail, option or fact the header lacks is blank on every row, and a blank one is
    # left out: such columns are not looked at at all. Every other column is, header or not.
    steps = tuple(
        step for step in _steps(spec) if step.name in columns or step.target < 0 or step.must_fill
    )
    # A column the header lacks reads the blank cell put at the end of each row (index -1).
    indices = tuple(columns.get(step.name, -1) for step in steps)
    # One C call picks a full row's cells; a short row (cells missing at the end) goes cell by cell.
    # The header has every required column, so at least three: itemgetter returns a tuple.
    picked = operator.itemgetter(*indices)
    width = max(indices) + 1
    line_num = reader.line_num  # 1, unless a quoted header cell spans lines.
    for cells in _wrap_csv_errors(reader):
        # line_num is where the record ended; it started on the line after the previous one.
        line, line_num = line_num + 1, reader.line_num
        if _is_blank(cells):
            continue
        if len(cells) >= width:
            cells.append("")
            raws = tuple(map(str.strip, picked(cells)))
        else:
            raws = tuple(cells[i].strip() if 0 <= i < len(cells) else "" for i in indices)
        yield _validate(steps, raws, line, first_seen, spec.anchor_time, defaults)


def _validate(
    steps: tuple[_Step, ...],
    raws: tuple[str, ...],
    line: int,
    first_seen: dict[str, int],
    anchor_time: bool,
    defaults: _Defaults,
) -> CaseRow | RowError:
    """Turn one row's cells (one per step) into a CaseRow, or a RowError listing every problem."""
    # Checked in column order so the reason reads left to right like the spreadsheet.
    problems: list[str] = []
    fields: dict[str, str] = {}
    anchor: date | datetime | None = None
    extras: tuple[dict[str, str], dict[str, str], dict[str, str]] = ({}, {}, {})
    excluded: str | None = None
    for step, raw in zip(steps, raws, strict=True):
        name, role, must_fill, field_check, cell_check, target, key, excluded_if, reason = step
        if must_fill and not raw:
            problems.append(f"{name}: must not be empty")
        elif role is _CASE:
            fields[name] = (
                raw
                if field_check is None
                else field_check(raw, line, first_seen, defaults, problems)
            )
        elif role is _ANCHOR:
            anchor = _parse_anchor(name, raw, anchor_time, problems)
        elif raw:
            try:
                value = cell_check(raw) if cell_check else raw
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
                continue
            extras[target][key] = value
            if value == excluded_if and excluded is None:
                excluded = reason

    language = fields.get("language") or defaults.language
    timezone = fields.get("timezone") or defaults.timezone
    ref = fields.get("external_ref", "")
    if problems or anchor is None:
        first = first_seen.get(ref) if ref else None
        return RowError(
            line=line,
            external_ref=ref or None,
            reason="; ".join(problems),
            first_line=first if first != line else None,
        )
    anchor_date, anchor_at = _localise(anchor, ZoneInfo(timezone))
    age = fields.get("age")
    details, options, facts = extras
    return _case_row(
        line=line,
        external_ref=ref,
        name=fields["name"],
        phone=fields["phone"],
        anchor_date=anchor_date,
        department=fields.get("department", ""),
        ward=fields.get("ward", ""),
        language=language,
        timezone=timezone,
        sex=fields.get("sex") or None,
        age=int(age) if age else None,
        details=details,
        anchor_at=anchor_at,
        options=options,
        facts=facts,
        excluded_reason=excluded,
        email=fields.get("email") or None,
    )


def _ref_field(raw: str, line: int, first_seen: dict[str, int], _: _Defaults, p: list[str]) -> str:
    _claim_ref(raw, line, first_seen, p)
    return raw


def _phone_field(raw: str, _line: int, _seen: dict[str, int], d: _Defaults, p: list[str]) -> str:
    return _parse_phone(raw, d.region, p)


def _sex_field(raw: str, _line: int, _seen: dict[str, int], _: _Defaults, p: list[str]) -> str:
    return _parse_sex(raw, p) or ""


def _age_field(raw: str, _line: int, _seen: dict[str, int], _: _Defaults, p: list[str]) -> str:
    age = _parse_age(raw, p)
    return "" if age is None else str(age)


def _language_field(raw: str, _line: int, _seen: dict[str, int], _: _Defaults, p: list[str]) -> str:
    if not raw:
        return ""
    language = _LANGUAGES_BY_KEY.get(raw.lower(), "")
    if not language:
        p.append(f"language: must be one of {', '.join(LANGUAGES)}")
    return language


def _email_field(raw: str, _line: int, _seen: dict[str, int], _: _Defaults, p: list[str]) -> str:
    if not raw:
        return ""
    try:
        return parse_email(raw)
    except ValueError as exc:
        p.append(f"email: {exc}")
        return ""


def _timezone_field(raw: str, _line: int, _seen: dict[str, int], _: _Defaults, p: list[str]) -> str:
    if raw and not _is_timezone(raw):
        p.append("timezone: not a known IANA time zone name (e.g. Asia/Shanghai)")
        return ""
    return raw


_CaseField = Callable[[str, int, dict[str, int], _Defaults, list[str]], str]
_CASE_FIELDS: dict[str, _CaseField] = {
    "external_ref": _ref_field,
    "phone": _phone_field,
    "sex": _sex_field,
    "age": _age_field,
    "language": _language_field,
    "email": _email_field,
    "timezone": _timezone_field,
}
"""How each case or contact field is checked: "" for a blank optional cell or a refused one.

Looked up by name, not tested name by name: a row has some ten of these fields. name,
department and ward are any text, so they have no entry.
"""


def _claim_ref(ref: str, line: int, first_seen: dict[str, int], problems: list[str]) -> None:
    """Note a repeated ref; remember the first line of each (even of an invalid row)."""
    if ref in first_seen:
        problems.append(f"duplicate external_ref, first seen on line {first_seen[ref]}")
    elif ref:
        first_seen[ref] = line


def _parse_phone(raw: str, region: str, problems: list[str]) -> str:
    """Return the number as E.164, or "" after noting why it was refused."""
    try:
        return to_e164(raw, region)
    except PhoneError as exc:
        problems.append(f"phone: {exc}")
        return ""


def _parse_anchor(
    column: str, raw: str, with_time: bool, problems: list[str]
) -> date | datetime | None:
    """A strict YYYY-MM-DD date or, when with_time, also an ISO date and time (naive or not)."""
    # date.fromisoformat alone also takes 20260203 and 2026-W06-2 on Python 3.11+.
    try:
        if _ISO_DATE.fullmatch(raw):
            return date.fromisoformat(raw)
        if with_time and _ISO_DATETIME.fullmatch(raw):
            return datetime.fromisoformat(raw)
    except ValueError:
        pass
    if with_time:
        problems.append(
            f"{column}: must be a real date YYYY-MM-DD, or a date and time "
            "YYYY-MM-DDTHH:MM[:SS] with an optional offset such as +08:00"
        )
    else:
        problems.append(f"{column}: must be a real date written YYYY-MM-DD")
    return None


def _localise(anchor: date | datetime, tz: ZoneInfo) -> tuple[date, datetime | None]:
    """The anchor's local date in the contact's zone and, for a time, the UTC instant."""
    if not isinstance(anchor, datetime):
        return anchor, None
    if anchor.tzinfo is None:
        # A time without an offset is the contact's wall-clock time (the receipt was signed
        # where they live). In a DST gap or overlap fold=0 picks the earlier reading.
        anchor = anchor.replace(tzinfo=tz)
    return anchor.astimezone(tz).date(), anchor.astimezone(UTC)


def _parse_sex(raw: str, problems: list[str]) -> str | None:
    """Normalise F/M/female/male/女/男 to "F" or "M"; blank means unknown."""
    if not raw:
        return None
    sex = _SEXES.get(raw.lower())
    if sex is None:
        problems.append("sex: must be one of F, M, female, male, 女, 男")
    return sex


def _parse_age(raw: str, problems: list[str]) -> int | None:
    """Parse a whole number of years from 0 to MAX_AGE; blank means unknown."""
    if not raw:
        return None
    if _AGE.fullmatch(raw) and int(raw) <= MAX_AGE:
        return int(raw)
    problems.append(f"age: must be a whole number from 0 to {MAX_AGE}")
    return None


def _is_timezone(key: str) -> bool:
    """Tell whether key names a time zone zoneinfo can load."""
    try:
        ZoneInfo(key)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError.
        return False
    return True


def _is_blank(cells: Iterable[str]) -> bool:
    """Tell whether every cell is empty or whitespace."""
    return not "".join(cells).strip()  # one C call a row, not a generator over the cells
