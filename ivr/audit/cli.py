"""`ivr audit ...`: check the audit log's chain and read its entries.

Registered on the main group by ivr/cli.py (`main.add_command(audit)`); every command reads
IVR_DATABASE_URL, and `verify` IVR_SECRET_KEY (the chain is keyed with it).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ivr.audit.log import AuditKeyMissing, ChainReport, check_chain, entry_hash_at, recent_entries
from ivr.cli_context import command_services as _services
from ivr.cli_context import fail as _fail
from ivr.cli_options import FORMAT
from ivr.models import AuditEntry

__all__ = ["audit"]

out = Console(highlight=False, soft_wrap=True)


def _emit_json(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=2, ensure_ascii=False))


def _noted(text: str | None) -> tuple[int, str] | None:
    if text is None:
        return None
    entry_id, sep, digest = text.partition(":")
    if not sep or not entry_id.strip().isdigit() or len(digest.strip()) != 64:
        raise click.BadParameter(
            "must be ID:HASH as `ivr audit verify` printed it", param_hint="--expect"
        )
    return int(entry_id), digest.strip().lower()


def _object(text: str | None) -> tuple[str | None, str | None]:
    if text is None:
        return None, None
    kind, sep, object_id = text.partition(":")
    if not kind.strip() or (sep and not object_id.strip()):
        raise click.BadParameter(
            "must be KIND:ID, e.g. recording:17, or KIND", param_hint="--object"
        )
    return kind.strip(), object_id.strip() if sep else None


@click.group()
def audit() -> None:
    """The audit log (who replayed, exported, held, released or purged what, and when) and the
    audit re-calls (a sample of cases re-called to check the follow-up really happened)."""


@audit.command("verify")
@click.option(
    "--expect",
    "expected",
    metavar="ID:HASH",
    help="an entry noted from an earlier run; fails if it is gone or its hash changed",
)
@FORMAT
def audit_verify(expected: str | None, fmt: str) -> None:
    """Check every entry against its keyed hash and the entry before it.

    Prints how many entries were checked and the last entry's id and hash. Note those somewhere
    the database's administrators cannot write (a ticket, a signed report) and pass them back with
    --expect ID:HASH next time: entries cut off the END of the log leave a shorter chain that
    still checks, so truncation of the tail is otherwise undetectable.

    Exits 1 at the first broken entry, naming it: "altered" (its fields no longer match its hash)
    or "broken link" (an entry before it was removed, or it was slipped in); exits 2 without
    IVR_SECRET_KEY. Reads IVR_DATABASE_URL and IVR_SECRET_KEY.
    """
    noted = _noted(expected)
    try:
        with _services() as svc, svc.sessions() as session:
            report = check_chain(session, svc)
            noted_found = None if noted is None else entry_hash_at(session, noted[0]) == noted[1]
    except AuditKeyMissing as exc:
        _fail(f"{exc}; without the key the log cannot be checked", 2)
    if fmt == "json":
        _emit_json(_verify_json(report, noted, noted_found))
    else:
        _print_verify(report, noted, noted_found)
    if report.broken is not None or noted_found is False:
        sys.exit(1)


def _verify_json(
    report: ChainReport, noted: tuple[int, str] | None, found: bool | None
) -> dict[str, Any]:
    broken = report.broken
    return {
        "ok": broken is None and found is not False,
        "checked": report.checked,
        "last_id": report.last_id,
        "last_hash": report.last_hash,
        "broken": None
        if broken is None
        else {"entry_id": broken.entry_id, "problem": broken.problem},
        "expected": None
        if noted is None
        else {"entry_id": noted[0], "hash": noted[1], "found": bool(found)},
    }


def _print_verify(report: ChainReport, noted: tuple[int, str] | None, found: bool | None) -> None:
    if report.broken is not None:
        out.print(
            f"[red]audit log broken[/red] at entry {report.broken.entry_id}: "
            f"{report.broken.problem} ({report.checked} entries read)"
        )
        return
    out.print(f"audit log intact: {report.checked} entries checked")
    if report.last_id is not None:
        out.print(f"last entry: {report.last_id}:{report.last_hash}")
        out.print("note it elsewhere; `ivr audit verify --expect ID:HASH` then detects truncation")
    if noted is not None:
        if found:
            out.print(f"entry {noted[0]} still carries the hash noted earlier")
        else:
            out.print(
                f"[red]entry {noted[0]} is gone or carries another hash[/red]: the log was cut "
                "back or rewritten since it was noted"
            )


@audit.command("show")
@click.option("--action", help="only this action, e.g. recording.purge or recording.hold")
@click.option(
    "--object",
    "object_ref",
    metavar="KIND:ID",
    help="only this object, e.g. recording:17 (the id hold and purge print); "
    "KIND alone: every object of that kind",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=50,
    show_default=True,
    help="entries to show",
)
@FORMAT
def audit_show(action: str | None, object_ref: str | None, limit: int, fmt: str) -> None:
    """List audit entries, newest first. Reads IVR_DATABASE_URL.

    Shows what was written; `ivr audit verify` tells whether it is still as written.
    """
    kind, object_id = _object(object_ref)
    with _services() as svc, svc.sessions() as session:
        rows = [
            _row(entry)
            for entry in recent_entries(
                session, action=action, object_kind=kind, object_id=object_id, limit=limit
            )
        ]
    if fmt == "json":
        _emit_json(rows)
        return
    table = Table("id", "at (UTC)", "actor", "action", "object", "detail")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["at"][:19].replace("T", " "),
            row["actor"],
            row["action"],
            f"{row['object_kind']}:{row['object_id']}",
            json.dumps(row["detail"], ensure_ascii=False, sort_keys=True),
        )
    out.print(table)
    out.print(f"{len(rows)} entries, newest first")


def _row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": _iso(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "object_kind": entry.object_kind,
        "object_id": entry.object_id,
        "detail": entry.detail,
        "entry_hash": entry.entry_hash,
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
