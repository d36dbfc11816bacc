"""`ivr recordings hold / release / purge`: legal hold and deletion past retention.

ivr/cli.py attaches these to its `recordings` group (`recordings.add_command(...)`). Each reads
IVR_DATABASE_URL and IVR_SECRET_KEY (every change is written to the keyed audit log); purge also
reads IVR_RECORDINGS_DIR.
"""

from __future__ import annotations

import getpass
import json
import sys

import click
from rich.console import Console
from rich.table import Table

from ivr.audit.log import AuditKeyMissing
from ivr.cli_context import command_services as _services
from ivr.cli_context import fail as _fail
from ivr.cli_options import FORMAT
from recordings.hold import HoldError, place_hold, release_hold
from recordings.purge import SYSTEM_ACTOR, PurgeReport, purge_expired

__all__ = ["hold", "purge", "release"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
TABLE_ROWS = 200  # a first purge may delete years of recordings: JSON lists them all

_REASON = click.option(
    "--reason", required=True, help="why (kept in the audit log, e.g. a complaint or case number)"
)
_BY = click.option("--by", "by", help="who asks, kept in the audit log [default: cli:<login name>]")


def _actor(by: str | None) -> str:
    if by and by.strip():
        return by.strip()
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in a bare container
        return "cli:unknown"


@click.command("hold")
@click.argument("recording_sid")
@_REASON
@_BY
def hold(recording_sid: str, reason: str, by: str | None) -> None:
    """Put a recording on legal hold: no purge deletes it until it is released.

    For a complaint, a dispute or an inquiry (insurers keep these recordings until at least two
    years after the dispute ends). Audited with the reason. Reads IVR_DATABASE_URL and
    IVR_SECRET_KEY.
    """
    try:
        with _services() as svc, svc.sessions.begin() as session:
            recording = place_hold(session, svc, recording_sid, reason=reason, actor=_actor(by))
            row_id, until = recording.id, recording.retain_until
    except (HoldError, AuditKeyMissing) as exc:
        _fail(str(exc), 2 if isinstance(exc, AuditKeyMissing) else 1)
    kept = "" if until is None else f"; retention alone would end on {until.isoformat()}"
    out.print(f"recording {recording_sid} (id {row_id}) is on legal hold{kept}")


@click.command("release")
@click.argument("recording_sid")
@_REASON
@_BY
def release(recording_sid: str, reason: str, by: str | None) -> None:
    """Lift a recording's legal hold; the next purge deletes it if its retention has run out.

    Audited with the reason. Reads IVR_DATABASE_URL and IVR_SECRET_KEY.
    """
    try:
        with _services() as svc, svc.sessions.begin() as session:
            recording = release_hold(session, svc, recording_sid, reason=reason, actor=_actor(by))
            row_id, until = recording.id, recording.retain_until
    except (HoldError, AuditKeyMissing) as exc:
        _fail(str(exc), 2 if isinstance(exc, AuditKeyMissing) else 1)
    when = "retention not yet computed" if until is None else f"retained until {until.isoformat()}"
    out.print(f"recording {recording_sid} (id {row_id}) released from legal hold; {when}")


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="list what would be deleted; change nothing")
@click.option("--by", "by", help=f"who runs it, kept in the audit log [default: {SYSTEM_ACTOR}]")
@FORMAT
def purge(dry_run: bool, by: str | None, fmt: str) -> None:
    """Delete the recordings past their campaign's retention and not on legal hold.

    First computes each stored recording's retention again (a case's dates may have been
    corrected), then deletes the evidence file and the listening copy of each one due (today in
    UTC on or after its retain-until date), marks it purged and writes an audit entry. The
    recording's row stays as the record that it existed. A file already missing counts as
    deleted. --dry-run deletes and writes nothing and needs no IVR_SECRET_KEY.

    Exits 0, or 1 if some files could not be deleted (they are retried on the next run), 2
    without IVR_SECRET_KEY. Reads IVR_DATABASE_URL, IVR_RECORDINGS_DIR and IVR_SECRET_KEY.
    """
    actor = by.strip() if by and by.strip() else SYSTEM_ACTOR
    try:
        with _services() as svc:
            report = purge_expired(svc, dry_run=dry_run, actor=actor)
    except AuditKeyMissing as exc:
        _fail(f"{exc}; nothing was deleted", 2)
    if fmt == "json":
        click.echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    else:
        _print_report(report)
    if report.failed:
        sys.exit(1)


def _print_report(report: PurgeReport) -> None:
    if report.purged:
        title = "would be deleted" if report.dry_run else "deleted"
        table = Table("id", "recording", "retain until", "rule", "files", title=title)
        for item in report.purged[:TABLE_ROWS]:
            files = ", ".join(
                f"{path} (already missing)" if path in item.missing else path for path in item.files
            )
            table.add_row(
                str(item.recording_id),
                item.recording_sid,
                item.retain_until.isoformat(),
                item.rule,
                files,
            )
        out.print(table)
        if len(report.purged) > TABLE_ROWS:
            out.print(f"... and {len(report.purged) - TABLE_ROWS} more (--format json lists all)")
    out.print(str(report))
    for reason, count in sorted(report.unknown.items()):
        out.print(f"  retention unknown, {count}: {reason}")
    for failure in report.failed:
        err.print(f"  failed: {failure}")
