"""Import a case CSV into a campaign: batched, safe to re-run, never stopped by a bad row.

Each batch of ``batch_size`` data lines (BATCH_SIZE, 1,000) is one transaction, so a 100k-row
file never holds one giant transaction and a crash loses at most the batch in hand. A batch holds
SQLite's write lock for some 50 ms: short enough for webhooks waiting on it, long enough that the
per-transaction costs (BEGIN, the SELECT of known refs, COMMIT) stay under a tenth of the import.
Re-running a file is safe: refs the campaign already has are skipped (one ``SELECT ... IN`` per
batch), and the unique constraint on (campaign_id, external_ref) settles an import racing another
one.

A case whose calling window is already gone when it is imported (a file uploaded after the
deadline) is stored, not dropped, so the register and the follow-up rate still count it: it is
done with outcome MISSED_DEADLINE, and an "unreachable" escalation asks a person to decide (call by
hand, or record why not). That is the reason and detail attempts.py uses when a retry finds no
window left; rules.py has no closer reason.

The campaign's template decides the columns (ivr.cases.columns). A row's per-case options (the
cooling-off template's cooling_off_days) override the campaign's for that case's deadline and are
kept in its details. Identity facts are replaced by keyed hashes (ivr.identity) in
``details["facts"]`` before anything is written: the clear values reach neither the database nor
a log line. A template with facts needs the instance secret, and refuses to import without it.
"""

from __future__ import annotations

import itertools
import logging
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ivr.campaigns.options import CampaignConfig, OptionError, campaign_config
from ivr.campaigns.service import CampaignError
from ivr.campaigns.templates import Template, template
from ivr.cases.bulk import insert_values
from ivr.cases.columns import Role
from ivr.cases.csv_rows import CaseRow, RowError, parse_case_csv, parse_case_items
from ivr.identity import FACTS_KEY, fact_hash
from ivr.models import Campaign, Case, CaseOutcome, CaseStatus, Contact
from ivr.outcome_webhook.outbox import note_closed
from ivr.queue.service import raise_escalation
from scheduler.planner import (
    CallPolicy,
    deadline_at,
    excluded_reason,
    first_call_earliest,
    next_call_at,
)

__all__ = [
    "BATCH_SIZE",
    "CreatedCase",
    "DuplicateRow",
    "ImportReport",
    "SecretRequiredError",
    "import_cases",
    "import_items",
]

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
"""Data lines per transaction (see the module docstring)."""

MISSED_DEADLINE_ESCALATION = "unreachable"
"""Escalation reason for a case imported with no calling window left (see the module docstring)."""
_MISSED_DEADLINE_DETAIL = "imported with no calling window left before the deadline; never called"

# The parser checks formats, not lengths; PostgreSQL refuses an over-long value with an error that
# would stop the whole import, so rows are measured against the columns they go into.
_LENGTH_CHECKED: tuple[tuple[str, ColumnElement[Any]], ...] = (
    ("external_ref", Case.__table__.c.external_ref),
    ("name", Contact.__table__.c.name),
    ("department", Case.__table__.c.department),
    ("ward", Case.__table__.c.ward),
    ("timezone", Contact.__table__.c.timezone),
)

_LENGTHS = tuple(
    (name, length)
    for name, column in _LENGTH_CHECKED
    if (length := getattr(column.type, "length", None)) is not None
)
_LENGTH_CHECKED_VALUES = operator.attrgetter(*(name for name, _ in _LENGTHS))
_MAX_LENGTHS = tuple(length for _, length in _LENGTHS)

_CONTACTS = Contact.metadata.tables[Contact.__tablename__]
_CASES = Case.metadata.tables[Case.__tablename__]
# The columns _contact and _case fill, in their tuples' order (contact_id: once it is known).
_CONTACT_KEYS = ("name", "phone", "language", "timezone", "sex", "age", "email")
_CASE_KEYS = (
    "contact_id",
    "campaign_id",
    "external_ref",
    "anchor_date",
    "department",
    "ward",
    "details",
    "status",
    "outcome",
    "excluded_reason",
    "attempts_made",
    "next_call_at",
    "deadline_at",
    "done_at",
    "created_at",
)
# Where _case puts them (contact_id is not in its tuple).
_STATUS, _OUTCOME = _CASE_KEYS.index("status") - 1, _CASE_KEYS.index("outcome") - 1
# The refs of a batch the campaign already has: a Core statement, built once.
_KNOWN_REFS = select(_CASES.c.external_ref).where(
    _CASES.c.campaign_id == bindparam("campaign_id"),
    _CASES.c.external_ref.in_(bindparam("refs", expanding=True)),
)
# Read once: Python 3.11 looks an enum member up through a descriptor on every access.
_PENDING, _EXCLUDED, _DONE = CaseStatus.PENDING, CaseStatus.EXCLUDED, CaseStatus.DONE
_MISSED_DEADLINE = CaseOutcome.MISSED_DEADLINE


class SecretRequiredError(CampaignError):
    """This campaign's cases carry identity facts, hashed with IVR_SECRET_KEY: set it first."""


class _Plan:
    """What every row of one import shares: the template, the options, the secret."""

    def __init__(self, tpl: Template, options: dict[str, Any], secret_key: str | None) -> None:
        self.template = tpl
        self.options = options
        self.secret_key = secret_key or ""
        self.config = campaign_config(options)
        self.option_names = tpl.csv.named(Role.OPTION)
        self.anchor = tpl.csv.anchor
        self._configs: dict[tuple[tuple[str, str], ...], CampaignConfig] = {}
        self._excluded: dict[tuple[str, int], str | None] = {}
        self._timings: dict[tuple[date, str, int], tuple[datetime | None, datetime | None]] = {}

    def config_for(self, row: CaseRow) -> CampaignConfig:
        """The campaign's config with the row's own options over it (cached: few distinct)."""
        if not row.options:
            return self.config
        key = tuple(sorted(row.options.items()))
        if key not in self._configs:
            self._configs[key] = campaign_config({**self.options, **row.options})
        return self._configs[key]

    def excluded_reason(self, ward: str, policy: CallPolicy) -> str | None:
        """The planner's excluded_reason, once per ward and policy (wards are few)."""
        key = (ward, id(policy))  # policies live as long as the plan, in its configs
        if key not in self._excluded:
            self._excluded[key] = excluded_reason(ward, policy)
        return self._excluded[key]

    def timing(
        self, row: CaseRow, policy: CallPolicy, now: datetime
    ) -> tuple[datetime | None, datetime | None]:
        """The case's deadline and first call (None: no window left before the deadline).

        Rows dated the same day, in the same zone, under the same policy share the answer, so a
        file of one week's discharges plans a handful of days instead of every row.
        """
        if row.anchor_at is not None:
            return _timing(row, policy, now)  # times differ from row to row: nothing to share
        key = (row.anchor_date, row.timezone, id(policy))
        if key not in self._timings:
            self._timings[key] = _timing(row, policy, now)
        return self._timings[key]

    def details_for(self, row: CaseRow) -> Mapping[str, Any]:
        """The row's details plus the anchor's time, its effective options and hashed facts."""
        if row.anchor_at is None and not self.option_names and not row.facts:
            return row.details  # nothing to add (a post-discharge row): no copy
        details: dict[str, Any] = dict(row.details)
        if row.anchor_at is not None:
            details[self.anchor] = row.anchor_at.isoformat().replace("+00:00", "Z")
        for name in self.option_names:
            value = row.options.get(name) or self.options.get(name)
            if value is not None:
                details[name] = value  # the flow reads it ("your N-day cooling-off period")
        if row.facts:
            details[FACTS_KEY] = {
                item: fact_hash(self.secret_key, item, value) for item, value in row.facts.items()
            }
        return details


@dataclass(frozen=True)
class DuplicateRow:
    """A row skipped because its external_ref is already taken."""

    line: int
    external_ref: str
    first_line: int | None = None  #: the earlier line of this file; None: already in the campaign

    def __str__(self) -> str:
        where = f"line {self.first_line}" if self.first_line else "a case already imported"
        return f"line {self.line} ({self.external_ref}): same external_ref as {where}"


@dataclass(frozen=True, slots=True)  # one per case: a million for a large file, kept in memory
class CreatedCase:
    """A case stored by this import, from the row on ``line`` (a renovation row makes three)."""

    line: int
    external_ref: str
    case_id: int


@dataclass
class ImportReport:
    """What an import did; ``imported`` includes the excluded and missed-deadline cases."""

    lines: int = 0  #: data lines read (blank lines are not counted)
    imported: int = 0  #: cases stored
    excluded: int = 0  #: stored with status EXCLUDED: never called (e.g. ward ICU)
    missed_deadline: int = 0  #: stored done, outcome MISSED_DEADLINE: no window left
    duplicates: list[DuplicateRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    #: filled by import_items, whose callers answer with the new ids; import_cases leaves it
    #: empty, as a million-row file would keep a million entries for nobody
    created: list[CreatedCase] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """One line for a terminal or a log: counts only, never a cell."""
        return (
            f"{self.lines} data lines: {self.imported} imported "
            f"({self.excluded} excluded, {self.missed_deadline} past the deadline), "
            f"{len(self.duplicates)} duplicates skipped, {len(self.errors)} with errors"
        )

    def __str__(self) -> str:
        return self.summary


@dataclass
class _Batch:
    """One batch's results, added to the report only once its transaction has committed."""

    imported: int = 0
    excluded: int = 0
    missed_deadline: int = 0
    duplicates: list[DuplicateRow] = field(default_factory=list)
    created: list[CreatedCase] = field(default_factory=list)  #: only when the caller keeps them


def import_cases(
    sessions: sessionmaker[Session],
    campaign_id: int,
    stream: TextIO,
    *,
    now: datetime,
    batch_size: int = BATCH_SIZE,
    on_progress: Callable[[int], None] | None = None,
    secret_key: str | None = None,
) -> ImportReport:
    """Add the CSV's valid rows to a campaign as cases; report the rest with their lines.

    Raises CampaignError for an unknown campaign, SecretRequiredError when the template has
    identity facts and ``secret_key`` (IVR_SECRET_KEY) is empty, and CsvFormatError for a bad
    header (all before anything is written) or an unreadable line further down (earlier batches
    stay committed; fix the file and re-run). ``on_progress`` gets the number of data lines done
    after each batch.
    """
    plan = _open_plan(sessions, campaign_id, secret_key)
    config = plan.config
    rows = parse_case_csv(
        stream,
        default_region=config.default_region,
        default_language=config.language,
        default_timezone=config.timezone,
        spec=plan.template.csv,
    )
    return _import_rows(sessions, campaign_id, plan, rows, now, batch_size, on_progress, False)


def import_items(
    sessions: sessionmaker[Session],
    campaign_id: int,
    items: Iterable[Mapping[str, object]],
    *,
    now: datetime,
    batch_size: int = BATCH_SIZE,
    secret_key: str | None = None,
) -> ImportReport:
    """import_cases for objects keyed by column name (the JSON API); ``line`` is the index.

    The same checks, hashing, planning and duplicate handling as a CSV: only the reading differs.
    """
    plan = _open_plan(sessions, campaign_id, secret_key)
    config = plan.config
    rows = parse_case_items(
        items,
        default_region=config.default_region,
        default_language=config.language,
        default_timezone=config.timezone,
        spec=plan.template.csv,
    )
    return _import_rows(sessions, campaign_id, plan, rows, now, batch_size, None, True)


def _open_plan(sessions: sessionmaker[Session], campaign_id: int, secret_key: str | None) -> _Plan:
    """The campaign's template and options; CampaignError or SecretRequiredError up front."""
    with sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise CampaignError(f"no campaign with id {campaign_id}")
        try:
            tpl = template(campaign.template)
        except OptionError as exc:
            raise CampaignError(f"campaign {campaign.name!r}: {exc}") from None
        plan = _Plan(tpl, dict(campaign.options), secret_key)
    if tpl.identity_facts and not secret_key:
        raise SecretRequiredError(
            f"template {tpl.name!r} stores identity facts ({', '.join(tpl.identity_facts)}) "
            "only as keyed hashes; set IVR_SECRET_KEY (the server's secret) and import again"
        )
    return plan


def _import_rows(
    sessions: sessionmaker[Session],
    campaign_id: int,
    plan: _Plan,
    rows: Iterator[CaseRow | RowError],
    now: datetime,
    batch_size: int,
    on_progress: Callable[[int], None] | None,
    keep_created: bool,
) -> ImportReport:
    """The one path every row takes, whatever it was read from: sort, expand, store in batches."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    report = ImportReport()

    def import_batch() -> int:
        """Read up to batch_size items, store the batch, add it to the report; items read."""
        # A function of its own so that a batch's rows are freed before the next batch is read:
        # kept alive across it (as loop variables would be), each batch outlived two collections
        # and moved to the garbage collector's oldest generation, whose full passes then took a
        # tenth of an import.
        chunk = list(itertools.islice(rows, batch_size))
        valid: list[CaseRow] = []
        for item in chunk:
            row = _sort(item, report)
            if row is not None:
                valid.extend(_expand(plan.template, row, report))
        if valid:
            batch = _store(sessions, campaign_id, plan, valid, now, keep_created)
            report.imported += batch.imported
            report.excluded += batch.excluded
            report.missed_deadline += batch.missed_deadline
            report.duplicates.extend(batch.duplicates)
            report.created.extend(batch.created)
        report.lines += len(chunk)
        return len(chunk)

    while import_batch():
        if on_progress is not None:
            on_progress(report.lines)
    log.info(
        "cases imported",
        extra={
            "action": "cases.imported",
            "campaign_id": campaign_id,
            "lines": report.lines,
            "imported": report.imported,
            "excluded": report.excluded,
            "missed_deadline": report.missed_deadline,
            "duplicates": len(report.duplicates),
            "errors": len(report.errors),
        },
    )
    return report


def _sort(item: CaseRow | RowError, report: ImportReport) -> CaseRow | None:
    """Return a row to store, or file the item under errors or duplicates."""
    if isinstance(item, RowError):
        # The parser flags every repeat of a ref as an error; a repeat with no other problem
        # ("; " joins problems) is a duplicate to skip, not a row for someone to fix.
        if item.first_line is not None and item.external_ref and "; " not in item.reason:
            report.duplicates.append(DuplicateRow(item.line, item.external_ref, item.first_line))
        else:
            report.errors.append(item)
        return None
    return item


def _expand(tpl: Template, row: CaseRow, report: ImportReport) -> tuple[CaseRow, ...]:
    """The cases a valid row becomes (renovation: three), or none after filing its error."""
    try:
        cases = tpl.cases_of(row)
    except ValueError as exc:  # a rule across columns: "job_end: must not be before job_start"
        report.errors.append(RowError(row.line, row.external_ref, str(exc)))
        return ()
    for case in cases:
        too_long = _too_long(case)
        if too_long is not None:
            report.errors.append(too_long)  # one error per row, not per case
            return ()
    return cases


def _too_long(row: CaseRow) -> RowError | None:
    """A RowError naming each value longer than its column allows, or None."""
    if not any(map(operator.gt, map(len, _LENGTH_CHECKED_VALUES(row)), _MAX_LENGTHS)):
        return None  # every row but a few: one pass in C
    problems: list[str] = []
    ref_fits = True
    for name, length in _LENGTHS:
        if len(getattr(row, name)) > length:
            problems.append(f"{name}: longer than {length} characters")
            ref_fits = ref_fits and name != "external_ref"
    if not problems:
        return None
    # An over-long ref is left out of the report, as the parser leaves out every cell it refuses.
    return RowError(row.line, row.external_ref if ref_fits else None, "; ".join(problems))


def _store(
    sessions: sessionmaker[Session],
    campaign_id: int,
    plan: _Plan,
    rows: list[CaseRow],
    now: datetime,
    keep_created: bool,
) -> _Batch:
    """Store one batch in one transaction, skipping refs the campaign already has."""
    try:
        with sessions.begin() as session:
            return _insert(session, campaign_id, plan, rows, now, keep_created, row_by_row=False)
    except IntegrityError:
        # Another import committed some of these refs after our SELECT. The batch rolled back
        # whole (contacts too); redo it with a savepoint per row so the constraint sorts them.
        log.warning(
            "concurrent import of the same refs; redoing the batch row by row",
            extra={"action": "cases.import_race", "campaign_id": campaign_id},
        )
        with sessions.begin() as session:
            return _insert(session, campaign_id, plan, rows, now, keep_created, row_by_row=True)


def _insert(
    session: Session,
    campaign_id: int,
    plan: _Plan,
    rows: list[CaseRow],
    now: datetime,
    keep_created: bool,
    *,
    row_by_row: bool,
) -> _Batch:
    """Add the batch's new cases; with row_by_row, a ref taken meanwhile becomes a duplicate."""
    batch = _Batch()
    refs = {"campaign_id": campaign_id, "refs": [row.external_ref for row in rows]}
    existing = set(session.connection().execute(_KNOWN_REFS, refs).scalars())
    new: list[CaseRow] = []
    for row in rows:
        if row.external_ref in existing:
            batch.duplicates.append(DuplicateRow(row.line, row.external_ref))
        else:
            new.append(row)
    # Plain tuples in column order, no object per case: a batch's rows live through its
    # transaction, and each object they hold is work for the garbage collector.
    contacts = [_contact(row) for row in new]
    shared: dict[tuple[tuple[str, Any], ...], Mapping[str, Any]] = {}
    cases = [_case(row, campaign_id, plan, now, shared) for row in new]
    if row_by_row:
        case_ids: list[int] = []
        added: list[CaseRow] = []
        kept: list[tuple[Any, ...]] = []
        for row, contact, case in zip(new, contacts, cases, strict=True):
            try:
                with session.begin_nested():  # the row's contact and case, or neither
                    case_ids.extend(_write(session, [contact], [case]))
            except IntegrityError:
                if not _ref_taken(session, campaign_id, row.external_ref):
                    raise
                batch.duplicates.append(DuplicateRow(row.line, row.external_ref))
                continue
            added.append(row)
            kept.append(case)
        new, cases = added, kept
    else:
        case_ids = list(_write(session, contacts, cases))  # IntegrityError: a ref taken meanwhile
    batch.imported = len(case_ids)
    closed: list[int] = []
    for case, case_id in zip(cases, case_ids, strict=True):
        if case[_STATUS] is _EXCLUDED:
            batch.excluded += 1
            closed.append(case_id)
        elif case[_OUTCOME] is _MISSED_DEADLINE:
            batch.missed_deadline += 1
            closed.append(case_id)
            raise_escalation(
                session,
                case_id=case_id,
                reason=MISSED_DEADLINE_ESCALATION,
                now=now,
                detail=_MISSED_DEADLINE_DETAIL,
            )
    # Core inserts bypass the outbox's flush hook: name the cases closed on arrival to it.
    note_closed(session, closed)
    if keep_created:
        batch.created = [
            CreatedCase(row.line, row.external_ref, case_id)
            for row, case_id in zip(new, case_ids, strict=True)
        ]
    return batch


def _write(
    session: Session, contacts: list[tuple[Any, ...]], cases: list[tuple[Any, ...]]
) -> Sequence[int]:
    """INSERT the contacts, then the cases pointing at them; the cases' ids, in order."""
    connection = session.connection()
    contact_ids = insert_values(connection, _CONTACTS, _CONTACT_KEYS, contacts)
    values = [(contact_id, *case) for contact_id, case in zip(contact_ids, cases, strict=True)]
    return insert_values(connection, _CASES, _CASE_KEYS, values)


def _ref_taken(session: Session, campaign_id: int, external_ref: str) -> bool:
    """Whether the campaign has a case with this ref (as this transaction sees it)."""
    query = select(Case.id).where(
        Case.campaign_id == campaign_id, Case.external_ref == external_ref
    )
    return session.scalar(query) is not None


def _timing(
    row: CaseRow, policy: CallPolicy, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """The case's deadline and its first call from ``now`` on (None: no window left)."""
    tz = ZoneInfo(row.timezone)  # the contact's zone: windows are the callee's local hours
    earliest = max(now.astimezone(UTC), first_call_earliest(row.anchor_date, policy, tz))
    if row.anchor_at is None:
        deadline = deadline_at(row.anchor_date, policy, tz)
    else:
        # A time is known (the receipt was signed at 15:30): count from it, not from midnight,
        # and never call before it.
        earliest = max(earliest, row.anchor_at + policy.offset)
        deadline = None if policy.deadline_after is None else row.anchor_at + policy.deadline_after
    return deadline, next_call_at(earliest, policy.schedule, tz, deadline)


def _contact(row: CaseRow) -> tuple[Any, ...]:
    """The row's contact, in _CONTACT_KEYS order."""
    return (row.name, row.phone, row.language, row.timezone, row.sex, row.age, row.email)


def _case(
    row: CaseRow,
    campaign_id: int,
    plan: _Plan,
    now: datetime,
    shared: dict[tuple[tuple[str, Any], ...], Mapping[str, Any]],
) -> tuple[Any, ...]:
    """The row's case, planned (pending, excluded, or done for a missed deadline), in
    _CASE_KEYS order but contact_id, which is known once the contact is stored.

    Rows of a batch whose details are the same text share one dict (through ``shared``), which
    insert_values then turns into JSON once: a ward's doctors and diagnoses repeat.
    """
    policy = plan.config_for(row).policy
    details = plan.details_for(row)
    # Only text (no options from the campaign, no hashed facts): equal keys then mean equal JSON,
    # which 1 == 1.0 == True would not.
    if not row.facts and not plan.option_names:
        details = shared.setdefault(tuple(details.items()), details)
    status = _PENDING
    outcome: CaseOutcome | None = None
    excluded = plan.excluded_reason(row.ward, policy) or row.excluded_reason
    deadline, next_call = plan.timing(row, policy, now)
    done_at: datetime | None = None
    if excluded is not None:
        status, next_call = _EXCLUDED, None
    elif next_call is None:
        status, outcome, done_at = _DONE, _MISSED_DEADLINE, now
    # Every column on every row: executemany sends one statement shape for the whole batch.
    return (
        campaign_id,
        row.external_ref,
        row.anchor_date,
        row.department or None,
        row.ward or None,
        details,
        status,
        outcome,
        excluded,
        0,  # attempts_made
        next_call,
        deadline,
        done_at,
        now,  # created_at
    )
