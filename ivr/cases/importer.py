"""Import a case CSV into a campaign: batched, safe to re-run, never stopped by a bad row.

Each batch of ``batch_size`` data lines is one transaction, so a 100k-row file never holds one
giant transaction and a crash loses at most the batch in hand. Re-running a file is safe: refs the
campaign already has are skipped (one ``SELECT ... IN`` per batch), and the unique constraint on
(campaign_id, external_ref) settles an import racing another one.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ivr.campaigns.options import CampaignConfig, OptionError, campaign_config
from ivr.campaigns.service import CampaignError
from ivr.campaigns.templates import Template, template
from ivr.cases.columns import Role
from ivr.cases.csv_rows import CaseRow, RowError, parse_case_csv
from ivr.identity import FACTS_KEY, fact_hash
from ivr.models import Campaign, Case, CaseOutcome, CaseStatus, Contact
from ivr.queue.service import raise_escalation
from scheduler.planner import deadline_at, excluded_reason, first_call_earliest, next_call_at

__all__ = ["DuplicateRow", "ImportReport", "SecretRequiredError", "import_cases"]

log = logging.getLogger(__name__)

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

_T = TypeVar("_T")


class SecretRequiredError(CampaignError):
    """This campaign's cases carry identity facts, hashed with IVR_SECRET_KEY: set it first."""


class _Plan:
    """What every row of one import shares: the template, the options, the secret."""

    def __init__(self, tpl: Template, options: dict[str, Any], secret_key: str | None) -> None:
        self.template = tpl
        self.options = options
        self.secret_key = secret_key or ""
        self.config = campaign_config(options)
        self._configs: dict[tuple[tuple[str, str], ...], CampaignConfig] = {}

    def config_for(self, row: CaseRow) -> CampaignConfig:
        """The campaign's config with the row's own options over it (cached: few distinct)."""
        if not row.options:
            return self.config
        key = tuple(sorted(row.options.items()))
        if key not in self._configs:
            self._configs[key] = campaign_config({**self.options, **row.options})
        return self._configs[key]

    def details_for(self, row: CaseRow) -> dict[str, Any]:
        """The row's details plus the anchor's time, its effective options and hashed facts."""
        details: dict[str, Any] = dict(row.details)
        spec = self.template.csv
        if row.anchor_at is not None:
            details[spec.anchor] = row.anchor_at.isoformat().replace("+00:00", "Z")
        for name in spec.named(Role.OPTION):
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


@dataclass
class ImportReport:
    """What an import did; ``imported`` includes the excluded and missed-deadline cases."""

    lines: int = 0  #: data lines read (blank lines are not counted)
    imported: int = 0  #: cases stored
    excluded: int = 0  #: stored with status EXCLUDED: never called (e.g. ward ICU)
    missed_deadline: int = 0  #: stored done, outcome MISSED_DEADLINE: no window left
    duplicates: list[DuplicateRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

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


def import_cases(
    sessions: sessionmaker[Session],
    campaign_id: int,
    stream: TextIO,
    *,
    now: datetime,
    batch_size: int = 500,
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
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
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
    config = plan.config
    rows = parse_case_csv(
        stream,
        default_region=config.default_region,
        default_language=config.language,
        default_timezone=config.timezone,
        spec=tpl.csv,
    )
    report = ImportReport()
    first_seen: dict[str, int] = {}
    for chunk in _chunks(rows, batch_size):
        valid: list[CaseRow] = []
        for item in chunk:
            row = _sort(item, first_seen, report)
            if row is not None:
                valid.extend(_expand(tpl, row, report))
        if valid:
            batch = _store(sessions, campaign_id, plan, valid, now)
            report.imported += batch.imported
            report.excluded += batch.excluded
            report.missed_deadline += batch.missed_deadline
            report.duplicates.extend(batch.duplicates)
        report.lines += len(chunk)
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


def _chunks(items: Iterator[_T], size: int) -> Iterator[list[_T]]:
    """Consecutive lists of up to size items."""
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def _sort(
    item: CaseRow | RowError, first_seen: dict[str, int], report: ImportReport
) -> CaseRow | None:
    """Return a row to store, or file the item under errors or duplicates."""
    ref = item.external_ref
    if isinstance(item, RowError):
        if ref and ref in first_seen:
            # The parser flags every repeat of a ref as an error; a repeat with no other problem
            # ("; " joins problems) is a duplicate to skip, not a row for someone to fix.
            if "; " not in item.reason:
                report.duplicates.append(DuplicateRow(item.line, ref, first_seen[ref]))
                return None
        elif ref:
            first_seen[ref] = item.line  # mirrors the parser, which remembers invalid rows too
        report.errors.append(item)
        return None
    first_seen[item.external_ref] = item.line
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
    problems: list[str] = []
    ref_fits = True
    for name, column in _LENGTH_CHECKED:
        length = getattr(column.type, "length", None)
        if length is not None and len(getattr(row, name)) > length:
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
) -> _Batch:
    """Store one batch in one transaction, skipping refs the campaign already has."""
    try:
        with sessions.begin() as session:
            return _insert(session, campaign_id, plan, rows, now, row_by_row=False)
    except IntegrityError:
        # Another import committed some of these refs after our SELECT. The batch rolled back
        # whole (contacts too); redo it with a savepoint per row so the constraint sorts them.
        log.warning(
            "concurrent import of the same refs; redoing the batch row by row",
            extra={"action": "cases.import_race", "campaign_id": campaign_id},
        )
        with sessions.begin() as session:
            return _insert(session, campaign_id, plan, rows, now, row_by_row=True)


def _insert(
    session: Session,
    campaign_id: int,
    plan: _Plan,
    rows: list[CaseRow],
    now: datetime,
    *,
    row_by_row: bool,
) -> _Batch:
    """Add the batch's new cases; with row_by_row, a ref taken meanwhile becomes a duplicate."""
    batch = _Batch()
    existing = set(
        session.scalars(
            select(Case.external_ref).where(
                Case.campaign_id == campaign_id,
                Case.external_ref.in_([row.external_ref for row in rows]),
            )
        )
    )
    added: list[Case] = []
    for row in rows:
        if row.external_ref in existing:
            batch.duplicates.append(DuplicateRow(row.line, row.external_ref))
            continue
        case = _new_case(row, campaign_id, plan, now)
        if row_by_row:
            try:
                with session.begin_nested():  # flushes on exit
                    session.add(case)
            except IntegrityError:
                if not _ref_taken(session, campaign_id, row.external_ref):
                    raise
                batch.duplicates.append(DuplicateRow(row.line, row.external_ref))
                continue
        else:
            session.add(case)
        added.append(case)
    session.flush()  # ids for the escalations; raises IntegrityError on a ref taken meanwhile
    for case in added:
        batch.imported += 1
        if case.status is CaseStatus.EXCLUDED:
            batch.excluded += 1
        elif case.outcome is CaseOutcome.MISSED_DEADLINE:
            batch.missed_deadline += 1
            raise_escalation(
                session,
                case_id=case.id,
                reason=MISSED_DEADLINE_ESCALATION,
                now=now,
                detail=_MISSED_DEADLINE_DETAIL,
            )
    return batch


def _ref_taken(session: Session, campaign_id: int, external_ref: str) -> bool:
    """Whether the campaign has a case with this ref (as this transaction sees it)."""
    query = select(Case.id).where(
        Case.campaign_id == campaign_id, Case.external_ref == external_ref
    )
    return session.scalar(query) is not None


def _new_case(row: CaseRow, campaign_id: int, plan: _Plan, now: datetime) -> Case:
    """A Case with its Contact, planned: pending, excluded, or done for a missed deadline."""
    policy = plan.config_for(row).policy
    tz = ZoneInfo(row.timezone)  # the contact's zone: windows are the callee's local hours
    contact = Contact(
        name=row.name,
        phone=row.phone,
        language=row.language,
        timezone=row.timezone,
        sex=row.sex,
        age=row.age,
        email=row.email,
    )
    earliest = max(now.astimezone(UTC), first_call_earliest(row.anchor_date, policy, tz))
    if row.anchor_at is None:
        deadline = deadline_at(row.anchor_date, policy, tz)
    else:
        # A time is known (the receipt was signed at 15:30): count from it, not from midnight,
        # and never call before it.
        earliest = max(earliest, row.anchor_at + policy.offset)
        deadline = None if policy.deadline_after is None else row.anchor_at + policy.deadline_after
    case = Case(
        campaign_id=campaign_id,
        contact=contact,
        external_ref=row.external_ref,
        anchor_date=row.anchor_date,
        department=row.department or None,
        ward=row.ward or None,
        details=plan.details_for(row),
        status=CaseStatus.PENDING,
        attempts_made=0,
        deadline_at=deadline,
        created_at=now,
    )
    reason = excluded_reason(row.ward, policy) or row.excluded_reason
    if reason is not None:
        case.status = CaseStatus.EXCLUDED
        case.excluded_reason = reason
        return case
    case.next_call_at = next_call_at(earliest, policy.schedule, tz, deadline)
    if case.next_call_at is None:
        case.status = CaseStatus.DONE
        case.outcome = CaseOutcome.MISSED_DEADLINE
        case.done_at = now
    return case
