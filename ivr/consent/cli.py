"""`ivr dnc ...`: the do-not-call list from the command line.

Registered on the main group by ivr/cli.py (`main.add_command(dnc)`); every command reads
IVR_DATABASE_URL.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from rich.console import Console
from rich.table import Table

from ivr.cli_context import fail as _fail
from ivr.cli_options import FORMAT
from ivr.consent.dnc import (
    DEFAULT_REGION,
    add_number,
    list_numbers,
    listed_through,
    normalise_phone,
    remove_number,
)
from ivr.consent.importer import DncCsvError, import_numbers
from ivr.models import DncSource, DoNotCall
from ivr.privacy import mask_phone
from ivr.services import Services

__all__ = ["dnc"]

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

_REGION = click.option(
    "--region",
    default=DEFAULT_REGION,
    show_default=True,
    help="region for national numbers (international +... numbers need none)",
)
_TIMEZONE = click.option(
    "--timezone",
    "zone",
    default="Asia/Shanghai",
    show_default=True,
    help="the zone whose calendar --until / the until column counts in",
)
_BY = click.option("--by", "by", help="who asked for the change (kept with the entry and logged)")
MAX_ERRORS_SHOWN = 50


def _services() -> Services:
    # Imported here: ivr.cli imports this module while it registers its groups.
    from ivr.cli import services_for, settings

    return services_for(settings())


def _phone(raw: str, region: str) -> str:
    try:
        return normalise_phone(raw, region.upper())
    except ValueError as exc:
        _fail(f"NUMBER: {exc}")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        _fail(f"--timezone {name!r} is not an IANA time zone such as Asia/Shanghai")


@click.group()
def dnc() -> None:
    """The do-not-call list: numbers no campaign dials, checked before every call."""


@dnc.command("add")
@click.argument("number")
@click.option("--reason", help="why (kept with the entry)")
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="keep the number off through this date (YYYY-MM-DD); default: until removed",
)
@_BY
@_REGION
@_TIMEZONE
def dnc_add(
    number: str,
    reason: str | None,
    until: datetime | None,
    by: str | None,
    region: str,
    zone: str,
) -> None:
    """Put NUMBER on the list, in force at once. Reads IVR_DATABASE_URL.

    A number already listed is updated; an entry in force is never shortened this way (the later
    end wins): to shorten one, remove it first.
    """
    phone = _phone(number, region)
    svc = _services()
    now = svc.clock()
    ends = None if until is None else listed_through(until.date(), _zone(zone))
    if ends is not None and ends <= now:
        _fail("--until: the date has passed")
    with svc.sessions.begin() as session:
        entry = add_number(
            session, phone, now=now, source=DncSource.CLI, reason=reason, until=ends, added_by=by
        )
        kept = _until_text(entry.until, _zone(zone))
    out.print(f"{mask_phone(phone)} is on the do-not-call list {kept}")


@dnc.command("remove")
@click.argument("number")
@_BY
@_REGION
def dnc_remove(number: str, by: str | None, region: str) -> None:
    """Take NUMBER off the list; its cases may be called again. Reads IVR_DATABASE_URL."""
    phone = _phone(number, region)
    svc = _services()
    with svc.sessions.begin() as session:
        removed = remove_number(session, phone, removed_by=by)
    if not removed:
        _fail(f"{mask_phone(phone)} is not on the do-not-call list")
    out.print(f"{mask_phone(phone)} removed from the do-not-call list")


@dnc.command("list")
@click.option("--show-full", is_flag=True, help="show whole numbers (they are masked by default)")
@click.option("--all", "include_expired", is_flag=True, help="include entries that have ended")
@FORMAT
def dnc_list(show_full: bool, include_expired: bool, fmt: str) -> None:
    """The numbers on the list, newest first. Reads IVR_DATABASE_URL."""
    svc = _services()
    with svc.sessions() as session:
        rows = [
            _row(entry, show_full)
            for entry in list_numbers(session, svc.clock(), include_expired=include_expired)
        ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    columns = ("phone", "source", "added_at", "until", "added_by", "reason")
    table = Table(*columns)
    for row in rows:
        table.add_row(*(str(row[key] or "") for key in columns))
    out.print(table)
    out.print(f"{len(rows)} numbers")


@dnc.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_BY
@_REGION
@_TIMEZONE
def dnc_import(file: Path, by: str | None, region: str, zone: str) -> None:
    """Add the numbers of a CSV file (UTF-8, header row). Reads IVR_DATABASE_URL.

    Columns: phone (required), reason, until (YYYY-MM-DD; blank: until removed); others are
    ignored. Bad lines are listed with their line number and skipped; the others are listed.
    Re-running an import is safe.
    """
    tz = _zone(zone)
    svc = _services()
    try:
        with (
            file.open(encoding="utf-8-sig", newline="") as stream,
            svc.sessions.begin() as session,
        ):
            report = import_numbers(
                session, stream, now=svc.clock(), region=region.upper(), tz=tz, added_by=by
            )
    except DncCsvError as exc:
        _fail(f"{file}: {exc}")
    out.print(report.summary)
    for problem in report.errors[:MAX_ERRORS_SHOWN]:
        err.print(f"  {problem}", soft_wrap=True)
    if len(report.errors) > MAX_ERRORS_SHOWN:
        err.print(f"  ... and {len(report.errors) - MAX_ERRORS_SHOWN} more")
    if report.errors:
        sys.exit(1)


def _row(entry: DoNotCall, show_full: bool) -> dict[str, Any]:
    return {
        "phone": entry.phone if show_full else mask_phone(entry.phone),
        "source": entry.source.value,
        "added_at": _iso(entry.added_at),
        "until": _iso(entry.until),
        "added_by": entry.added_by,
        "reason": entry.reason,
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _until_text(until: datetime | None, tz: ZoneInfo) -> str:
    if until is None:
        return "until removed"
    # `until` is the midnight after the last listed day.
    last_day = (until - timedelta(seconds=1)).astimezone(tz).date()
    return f"through {last_day.isoformat()} ({tz.key})"
