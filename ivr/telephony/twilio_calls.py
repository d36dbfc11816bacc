"""Twilio's Call resource read as ProviderCall, and which listed call an attempt made. Pure.

The Call resource does not echo the callback URLs (which carry our attempt id), so an attempt
whose create answer was lost is found by what it does echo: To, From and date_created.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from ivr.telephony.port import ProviderCall

# Our clock and the provider's are not the same clock: a call created a little "before" the
# attempt's since (by the provider's clock) can still be the attempt's own.
CLOCK_SKEW = timedelta(minutes=2)


def parse_time(value: object) -> datetime | None:
    """An RFC 2822 date as Twilio writes it (date_created, start_time, ...) as aware UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_queue_time(value: object) -> float | None:
    """queue_time in seconds; Twilio gives it as a string of milliseconds ("1500")."""
    # Milliseconds: the Call resource reference ("the wait time in milliseconds before the call
    # is placed") and the changelog that introduced it (2020-02-25) both say so.
    if value is None or value == "":
        return None
    try:
        milliseconds = float(str(value))
    except ValueError:
        return None
    return milliseconds / 1000.0 if milliseconds >= 0 else None


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def parse_call(resource: Mapping[str, Any]) -> ProviderCall:
    """A Call resource (JSON) as a ProviderCall; ValueError if it has no sid or date_created."""
    sid = resource.get("sid")
    created_at = parse_time(resource.get("date_created"))
    if not isinstance(sid, str) or not sid or created_at is None:
        raise ValueError("a Call resource needs a sid and a date_created")
    answered_by = resource.get("answered_by")
    return ProviderCall(
        call_sid=sid,
        status=str(resource.get("status") or "queued"),
        created_at=created_at,
        started_at=parse_time(resource.get("start_time")),
        ended_at=parse_time(resource.get("end_time")),
        duration_s=_int_or_none(resource.get("duration")),
        answered_by=answered_by if isinstance(answered_by, str) and answered_by else None,
    )


def list_queries(to: str, from_: str, since: datetime) -> list[dict[str, str]]:
    """The list requests that together find every call to `to` from `from_` since `since`.

    StartTime>= narrows the list to days, but a call still queued (over the calls-per-second
    rate) has no start_time yet and would be filtered out, so queued calls are listed on their
    own, first: a call that leaves the queue between the two requests then shows up in the second.
    """
    day = (since.astimezone(UTC) - CLOCK_SKEW).date().isoformat()
    return [
        {"To": to, "From": from_, "Status": "queued"},
        # The library writes this filter as the parameter "StartTime>", which with its "=" is
        # the documented StartTime>=YYYY-MM-DD (calls started on or after that UTC day).
        {"To": to, "From": from_, "StartTime>": day},
    ]


def pick_call(
    calls: Iterable[ProviderCall], since: datetime, *, taken: Collection[str] = ()
) -> ProviderCall | None:
    """The call an attempt written at `since` most likely created, or None.

    Calls in `taken` are bound to other attempts (a number can be dialled by several cases) and
    are left out: without that, the first call to the number after since could be someone else's.

    The first call created at or after since (ours was created just after its row was written;
    a later one belongs to a later attempt). Failing that, the latest created within CLOCK_SKEW
    before since, in case the provider's clock runs behind ours.
    """
    since = since.astimezone(UTC).replace(microsecond=0)  # RFC 2822 dates are whole seconds
    unique = {call.call_sid: call for call in calls if call.call_sid not in taken}.values()
    after = sorted(
        (call for call in unique if call.created_at >= since), key=lambda c: c.created_at
    )
    if after:
        return after[0]
    skewed = sorted(
        (call for call in unique if since - CLOCK_SKEW <= call.created_at < since),
        key=lambda c: c.created_at,
    )
    return skewed[-1] if skewed else None
