"""The simulator's Call resource, and its list endpoint's filters and paging, as Twilio has them.

GET .../Calls.json takes To, From, Status, ParentCallSid (the legs a call's <Dial> placed),
StartTime / StartTime> / StartTime< and the same for EndTime (a UTC day, YYYY-MM-DD, or a UTC
date-time), PageSize (default 50, at most 1000), Page and PageToken. The answer is Twilio's
paging envelope: calls (newest first), page, page_size, start, end, uri, first_page_uri,
next_page_uri, previous_page_uri.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from urllib.parse import urlencode

from ivr.telephony.sim_calls import SimCall
from ivr.telephony.sim_format import API_VERSION, Json, national_format, rfc2822

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


class ListQueryError(ValueError):
    """A list filter the simulator (like Twilio) cannot read; the message says which."""


def call_resource(account_sid: str, call: SimCall, queue_time_ms: int = 0) -> Json:
    """The Call resource as Twilio writes it, for a create's answer, a fetch or a list."""
    base = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{call.sid}"
    ended = call.done.is_set()
    return {
        "sid": call.sid,
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "to": call.to,
        "to_formatted": national_format(call.to),
        "from": call.from_,
        "from_formatted": national_format(call.from_),
        "status": call.status,
        "direction": call.direction,
        "date_created": rfc2822(call.created_at),
        "date_updated": rfc2822(call.ended_at or call.started_at or call.created_at),
        "start_time": rfc2822(call.started_at) if call.started_at else None,
        "end_time": rfc2822(call.ended_at) if ended and call.ended_at else None,
        "duration": str(call.duration_s) if ended else None,
        "answered_by": call.answered_by,
        "price": None,
        "price_unit": "USD",
        "caller_name": None,
        "forwarded_from": None,
        "group_sid": None,
        "parent_call_sid": call.parent_sid,
        "phone_number_sid": None,
        # milliseconds, as a string; a <Dial> leg is placed at once, never through the CPS queue
        "queue_time": "0" if call.parent_sid else str(queue_time_ms),
        "trunk_sid": None,
        "annotation": None,
        "uri": f"{base}.json",
        "subresource_uris": {
            "recordings": f"{base}/Recordings.json",
            "notifications": f"{base}/Notifications.json",
            "events": f"{base}/Events.json",
        },
    }


def _moment(text: str, name: str) -> datetime:
    """A filter value: a UTC day (its midnight) or a UTC date-time."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ListQueryError(f"{name} must be a date YYYY-MM-DD, got {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _time_test(args: Mapping[str, str], name: str) -> Callable[[datetime | None], bool]:
    """The test StartTime / EndTime filters put on one of a call's times (None: not yet)."""
    tests: list[Callable[[datetime], bool]] = []
    if exact := args.get(name):
        day = _moment(exact, name).date()
        tests.append(lambda at: at.date() == day)
    if after := args.get(f"{name}>"):
        # "StartTime>=YYYY-MM-DD": on or after midnight of that day.
        low = _moment(after, f"{name}>")
        tests.append(lambda at: at >= low)
    if before := args.get(f"{name}<"):
        # "StartTime<=YYYY-MM-DD": on or before midnight of that day.
        high = _moment(before, f"{name}<")
        tests.append(lambda at: at <= high)
    if not tests:
        return lambda _at: True
    return lambda at: at is not None and all(test(at) for test in tests)


def select_calls(calls: Sequence[SimCall], args: Mapping[str, str]) -> list[SimCall]:
    """The calls that pass the list filters, newest first (ListQueryError for a bad filter)."""
    started = _time_test(args, "StartTime")
    ended = _time_test(args, "EndTime")
    to, from_, status = args.get("To"), args.get("From"), args.get("Status")
    parent = args.get("ParentCallSid")
    chosen = [
        call
        for call in calls
        if (to is None or call.to == to)
        and (parent is None or call.parent_sid == parent)
        and (from_ is None or call.from_ == from_)
        and (status is None or call.status == status)
        and started(call.started_at)
        and ended(call.ended_at if call.done.is_set() else None)
    ]
    return sorted(chosen, key=lambda call: (call.created_at, call.sid), reverse=True)


def page_of(
    account_sid: str, chosen: list[SimCall], args: Mapping[str, str], queue_time_ms: int = 0
) -> Json:
    """One page of the chosen calls in Twilio's envelope; next_page_uri when more remain."""
    try:
        size = min(MAX_PAGE_SIZE, max(1, int(args.get("PageSize") or DEFAULT_PAGE_SIZE)))
        number = max(0, int(args.get("Page") or 0))
    except ValueError:
        raise ListQueryError("PageSize and Page must be whole numbers") from None
    path = f"/{API_VERSION}/Accounts/{account_sid}/Calls.json"
    filters = {k: v for k, v in args.items() if k not in ("Page", "PageSize", "PageToken")}

    def uri(page: int) -> str:
        query = {**filters, "PageSize": str(size), "Page": str(page)}
        if page > 0:
            query["PageToken"] = f"PA{page}"
        return f"{path}?{urlencode(query)}"

    start = number * size
    rows = chosen[start : start + size]
    more = start + size < len(chosen)
    return {
        "calls": [call_resource(account_sid, call, queue_time_ms) for call in rows],
        "page": number,
        "page_size": size,
        "start": start,
        "end": start + max(0, len(rows) - 1),
        "uri": uri(number),
        "first_page_uri": uri(0),
        "next_page_uri": uri(number + 1) if more else None,
        "previous_page_uri": uri(number - 1) if number > 0 else None,
    }
