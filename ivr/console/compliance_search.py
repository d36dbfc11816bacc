"""Finding calls for a compliance officer: by policy number or patient reference, phone, the day
the call was placed, campaign; a page at a time.

Every value typed in reaches the database as a bound parameter. The reference is matched
exactly or as a prefix with LIKE's wildcards escaped (`autoescape`), so `%` or `_` in it match
themselves; the phone is parsed to E.164 and compared for equality, never with LIKE.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ivr.models import Attempt, Campaign, Case, Contact, Recording, RecordingStatus
from ivr.privacy import mask_phone

PAGE_SIZE = 50
MAX_REF = 100
MAX_PHONE = 32
# The zone dates are read in when no campaign is chosen: the templates' default (Asia/Shanghai).
DEFAULT_ZONE = "Asia/Shanghai"
DEFAULT_REGION = "CN"


class SearchInputError(ValueError):
    """A search field cannot be used; the message is the text key the page shows."""


@dataclass(frozen=True)
class Criteria:
    """What the officer asked for; empty fields do not filter."""

    ref: str = ""
    phone: str = ""
    placed_from: date | None = None
    placed_to: date | None = None  # included
    campaign_id: int | None = None
    page: int = 1

    @property
    def empty(self) -> bool:
        """True when nothing narrows the search."""
        return not (
            self.ref or self.phone or self.placed_from or self.placed_to or self.campaign_id
        )


@dataclass(frozen=True)
class CallRow:
    """One call of the results."""

    case_id: int
    case_ref: str
    campaign: str
    attempt_id: int
    attempt_number: int
    placed_at: datetime | None  # in the search's zone
    status: str
    duration_s: int | None
    phone_masked: str
    recording_id: int | None  # the first stored recording of the call
    recording_duration_s: int | None


@dataclass(frozen=True)
class Results:
    """One page of calls, newest first, and whether an older page exists."""

    rows: tuple[CallRow, ...]
    page: int
    more: bool
    zone: str


def read_criteria(args: Mapping[str, str]) -> Criteria:
    """The criteria from a query string; SearchInputError names the field that cannot be read."""
    ref = " ".join(args.get("ref", "").split())
    phone = args.get("phone", "").strip()
    if len(ref) > MAX_REF or len(phone) > MAX_PHONE:
        raise SearchInputError("cp_too_long")
    campaign = args.get("campaign", "").strip()
    page = args.get("page", "1").strip()
    return Criteria(
        ref=ref,
        phone=phone,
        placed_from=_date(args.get("from", "")),
        placed_to=_date(args.get("to", "")),
        campaign_id=int(campaign) if campaign.isdigit() else None,
        page=max(1, min(int(page), 10_000)) if page.isdigit() else 1,
    )


def _date(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SearchInputError("cp_bad_date") from None


def phone_candidates(phone: str, regions: Sequence[str]) -> set[str]:
    """The E.164 numbers a typed phone may stand for: itself if international (+...), else read
    in each region given. SearchInputError when it is no number in any of them."""
    found = set()
    for region in (None,) if phone.startswith("+") else regions:
        try:
            number = phonenumbers.parse(phone, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            found.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    if not found:
        raise SearchInputError("cp_bad_phone")
    return found


def campaign_choices(session: Session) -> list[tuple[int, str]]:
    """Every campaign as (id, name), for the search form."""
    return [(row.id, row.name) for row in session.execute(select(Campaign.id, Campaign.name))]


def search_calls(session: Session, criteria: Criteria) -> Results:
    """One page of the calls that match, newest first."""
    campaign = None if criteria.campaign_id is None else session.get(Campaign, criteria.campaign_id)
    zone = str((campaign.options if campaign else {}).get("timezone") or DEFAULT_ZONE)
    tz = ZoneInfo(zone)
    query = _query(session, criteria, campaign, tz)
    offset = (criteria.page - 1) * PAGE_SIZE
    rows = session.execute(query.offset(offset).limit(PAGE_SIZE + 1)).all()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    recordings = _first_recordings(session, [row.attempt_id for row in rows])
    calls = tuple(
        CallRow(
            case_id=row.case_id,
            case_ref=row.external_ref,
            campaign=row.campaign,
            attempt_id=row.attempt_id,
            attempt_number=row.number,
            placed_at=None if row.placed_at is None else row.placed_at.astimezone(tz),
            status=str(row.status),
            duration_s=row.duration_s,
            phone_masked=mask_phone(row.phone),
            recording_id=recordings.get(row.attempt_id, (None, None))[0],
            recording_duration_s=recordings.get(row.attempt_id, (None, None))[1],
        )
        for row in rows
    )
    return Results(calls, criteria.page, more, zone)


def _query(
    session: Session, criteria: Criteria, campaign: Campaign | None, tz: ZoneInfo
) -> Select[tuple[int, str, str, int, int, datetime | None, str, int | None, str]]:
    query = (
        select(
            Case.id.label("case_id"),
            Case.external_ref,
            Campaign.name.label("campaign"),
            Attempt.id.label("attempt_id"),
            Attempt.number,
            Attempt.placed_at,
            Attempt.status,
            Attempt.duration_s,
            Contact.phone,
        )
        .join(Case, Attempt.case_id == Case.id)
        .join(Campaign, Case.campaign_id == Campaign.id)
        .join(Contact, Case.contact_id == Contact.id)
        .order_by(Attempt.placed_at.desc().nulls_last(), Attempt.id.desc())
    )
    if criteria.campaign_id is not None:
        query = query.where(Case.campaign_id == criteria.campaign_id)
    if criteria.ref:
        # Exact first in meaning, prefix in effect: "P-00" finds P-0001 and P-0002.
        query = query.where(Case.external_ref.startswith(criteria.ref, autoescape=True))
    if criteria.phone:
        regions = _regions(session, campaign)
        query = query.where(Contact.phone.in_(sorted(phone_candidates(criteria.phone, regions))))
    if criteria.placed_from is not None:
        query = query.where(Attempt.placed_at >= _day_start(criteria.placed_from, tz))
    if criteria.placed_to is not None:
        query = query.where(Attempt.placed_at < _day_start(criteria.placed_to + timedelta(1), tz))
    return query  # type: ignore[return-value]


def _day_start(day: date, tz: ZoneInfo) -> datetime:
    # Local midnight, then UTC: a day in Shanghai starts at 16:00 UTC the day before.
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(ZoneInfo("UTC"))


def _regions(session: Session, campaign: Campaign | None) -> list[str]:
    """The regions a national number may belong to: the chosen campaign's, else every one's."""
    if campaign is not None:
        return [str(campaign.options.get("default_region") or DEFAULT_REGION)]
    found = {
        str(options.get("default_region") or DEFAULT_REGION)
        for options in session.scalars(select(Campaign.options))
    }
    return sorted(found or {DEFAULT_REGION})


def _first_recordings(
    session: Session, attempt_ids: Sequence[int]
) -> dict[int, tuple[int, int | None]]:
    """Each attempt's first stored recording: (id, duration)."""
    if not attempt_ids:
        return {}
    rows = session.execute(
        select(Recording.attempt_id, Recording.id, Recording.duration_s)
        .where(
            Recording.attempt_id.in_(list(attempt_ids)),
            Recording.status == RecordingStatus.STORED,
        )
        .order_by(Recording.id.desc())
    )
    # Newest first, so the first recording is written last and wins.
    return {row.attempt_id: (row.id, row.duration_s) for row in rows}
