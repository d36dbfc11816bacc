"""Attempts by the contact's local hour of day, from counts grouped by zone and UTC hour."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def local_hours(
    slots: Iterable[tuple[str, str | datetime, int, int]],
) -> dict[int, tuple[int, int]]:
    """Sum (attempts, reached) per local hour 0-23.

    Each slot is (IANA zone, the UTC hour, attempts, reached) as the database groups them: the
    hour as a naive UTC datetime (PostgreSQL's date_trunc) or as text "YYYY-MM-DD HH" (SQLite);
    the date is needed because a zone's offset changes with daylight saving. Counts may be
    negative: a slot moved from one zone to another is taken out of the first.
    """
    hours: dict[int, tuple[int, int]] = {}
    zones: dict[str, ZoneInfo] = {}
    for zone, utc_hour, count, reached in slots:
        tz = zones.get(zone) or zones.setdefault(zone, ZoneInfo(zone))
        if isinstance(utc_hour, str):
            moment = datetime.strptime(utc_hour, "%Y-%m-%d %H").replace(tzinfo=UTC)
        else:
            moment = utc_hour.replace(tzinfo=UTC)
        hour = moment.astimezone(tz).hour
        before = hours.get(hour, (0, 0))
        hours[hour] = (before[0] + count, before[1] + reached)
    return hours
