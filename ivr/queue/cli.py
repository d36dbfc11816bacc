"""`ivr queue claim | release | resolve | reopen | reassign | show`: working the human queue.

Attached to the `queue` group by ivr/cli.py (`queue list` lives there). `--as` names the staff
user acting (active, see `ivr users`); the web console passes its signed-in user instead. Every
command reads IVR_DATABASE_URL; reassign, resolve and reopen also IVR_SECRET_KEY (the audit log),
and resolve --scan the recordings store (IVR_RECORDINGS_DIR or IVR_RECORDINGS_STORE).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from ivr.audit.log import AuditKeyMissing
from ivr.cli_context import command_services, fail
from ivr.cli_options import FORMAT
from ivr.models import Escalation, EscalationStatus, Recording, StaffUser
from ivr.queue.access import acting_user
from ivr.queue.actions import (
    claim,
    reassign,
    release,
    reopen,
    resolve,
)
from ivr.queue.callback_state import callbacks_of
from ivr.queue.errors import EscalationNotFoundError, QueueError
from ivr.queue.evidence import Scan, evidence_of
from ivr.queue.history import history_of
from ivr.queue.outcomes import rules_for
from ivr.services import Services
from recordings.store import StoreError, StorePathError

__all__ = ["QUEUE_COMMANDS"]

out = Console(highlight=False)

AS_USER = click.option(
    "--as",
    "actor",
    required=True,
    metavar="USER",
    help="the staff user acting (must exist and be active)",
)
ESCALATION_ID = click.argument("escalation_id", type=int, metavar="ID")


@contextmanager
def _work() -> Iterator[Session]:
    """A transaction on the configured database; queue refusals become one-line errors."""
    try:
        with command_services() as services, services.sessions.begin() as session:
            session.info["services"] = services
            yield session
    except QueueError as exc:
        fail(str(exc))
    except AuditKeyMissing as exc:
        fail(str(exc), 2)
    except (StoreError, StorePathError) as exc:
        fail(f"the scan could not be stored: {exc}")


def _services(session: Session) -> Services:
    services: Services = session.info["services"]
    return services


def _acting(session: Session, actor: str) -> tuple[Services, StaffUser]:
    return _services(session), acting_user(session, actor)


@click.command("claim")
@ESCALATION_ID
@AS_USER
def queue_claim(escalation_id: int, actor: str) -> None:
    """Claim escalation ID to work on it; exits 1 naming the holder when someone has it.

    A claim lapses after IVR_CLAIM_IDLE_MINUTES (default 30) without any action by its holder;
    another agent may then take it. Reads IVR_DATABASE_URL.
    """
    with _work() as session:
        services, user = _acting(session, actor)
        result = claim(session, services, escalation_id, user)
    if not result.won:
        fail(result.message())
    click.echo(result.message())


@click.command("release")
@ESCALATION_ID
@AS_USER
def queue_release(escalation_id: int, actor: str) -> None:
    """Give escalation ID back to the queue (its holder, a supervisor or an admin).

    Reads IVR_DATABASE_URL.
    """
    with _work() as session:
        services, user = _acting(session, actor)
        release(session, services, escalation_id, user)
    click.echo(f"escalation {escalation_id} released")


@click.command("resolve")
@ESCALATION_ID
@AS_USER
@click.option("--outcome", required=True, help="one of the campaign's outcomes (`queue show ID`)")
@click.option("--note", help="what was done; long numbers are masked in the history")
@click.option(
    "--recording",
    "recording_sid",
    metavar="RECORDING_SID",
    help="link a stored recording of this case as evidence",
)
@click.option(
    "--scan",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="link a scanned document (PDF, PNG, JPEG, TIFF), e.g. a signed receipt",
)
def queue_resolve(
    escalation_id: int,
    actor: str,
    outcome: str,
    note: str | None,
    recording_sid: str | None,
    scan: Path | None,
) -> None:
    """Resolve escalation ID with an outcome, a note and any evidence.

    missell_suspected (and the reasons in the campaign's evidence_reasons) needs a recording of
    the case or a scan; letter_sent and home_visit need a scan of the signed receipt. Reads
    IVR_DATABASE_URL, IVR_SECRET_KEY and, with --scan, the recordings store settings.
    """
    upload = Scan(scan.read_bytes(), scan.name) if scan is not None else None
    with _work() as session:
        services, user = _acting(session, actor)
        resolve(
            session,
            services,
            escalation_id,
            user,
            outcome=outcome,
            note=note,
            recording_sid=recording_sid,
            scan=upload,
        )
    click.echo(f"escalation {escalation_id} resolved: {outcome.strip().lower()}")


@click.command("reopen")
@ESCALATION_ID
@AS_USER
@click.option("--note", required=True, help="why it is reopened")
def queue_reopen(escalation_id: int, actor: str, note: str) -> None:
    """Set resolved escalation ID back to open (a supervisor, an admin or its resolver).

    Reads IVR_DATABASE_URL and IVR_SECRET_KEY.
    """
    with _work() as session:
        services, user = _acting(session, actor)
        reopen(session, services, escalation_id, user, note=note)
    click.echo(f"escalation {escalation_id} reopened")


@click.command("reassign")
@ESCALATION_ID
@click.option("--to", "to_user", required=True, metavar="USER", help="the user who takes it over")
@AS_USER
@click.option("--note", help="why")
def queue_reassign(escalation_id: int, to_user: str, actor: str, note: str | None) -> None:
    """Hand escalation ID to another user (supervisors and admins).

    Reads IVR_DATABASE_URL and IVR_SECRET_KEY.
    """
    with _work() as session:
        services, user = _acting(session, actor)
        target = acting_user(session, to_user)
        reassign(session, services, escalation_id, user, to=target, note=note)
    click.echo(f"escalation {escalation_id} reassigned to {target.username}")


@click.command("show")
@ESCALATION_ID
@FORMAT
def queue_show(escalation_id: int, fmt: str) -> None:
    """Escalation ID with its evidence and its history. Reads IVR_DATABASE_URL."""
    with _work() as session:
        escalation = session.get(Escalation, escalation_id)
        if escalation is None:
            raise EscalationNotFoundError(f"there is no escalation {escalation_id}")
        view = escalation_view(session, escalation)
    if fmt == "json":
        from ivr.cli import emit_json

        emit_json(view)
        return
    print_view(view)


def escalation_row(escalation: Escalation, holders: dict[int, str]) -> dict[str, Any]:
    """A list row (`ivr queue list`, the API's list): holders maps user ids to names."""
    case = escalation.case
    claimed = escalation.status == EscalationStatus.CLAIMED and escalation.claimed_by_id
    return {
        "id": escalation.id,
        "campaign": case.campaign.name,
        "external_ref": case.external_ref,
        "reason": escalation.reason,
        "priority": escalation.priority,
        "status": str(escalation.status),
        "due": _iso(escalation.due_at),
        "triggers": escalation.triggers,
        "detail": escalation.detail,
        "claimed_by": holders.get(escalation.claimed_by_id or 0) if claimed else None,
        "claimed_at": _iso(escalation.claimed_at) if claimed else None,
    }


def escalation_view(session: Session, escalation: Escalation) -> dict[str, Any]:
    """An escalation, its evidence and its history as plain values (never the contact's data)."""
    case = escalation.case
    names = _usernames(session)
    sids = _recording_sids(session)
    return {
        "id": escalation.id,
        "campaign": case.campaign.name,
        "external_ref": case.external_ref,
        "reason": escalation.reason,
        "priority": escalation.priority,
        "status": str(escalation.status),
        "due": _iso(escalation.due_at),
        "triggers": escalation.triggers,
        "detail": escalation.detail,
        "claimed_by": names(escalation.claimed_by_id),
        "claimed_at": _iso(escalation.claimed_at),
        "touched_at": _iso(escalation.touched_at),
        "resolved_by": names(escalation.resolved_by_id),
        "resolved_at": _iso(escalation.resolved_at),
        "outcome": escalation.outcome,
        "resolution_note": escalation.resolution_note,
        "outcomes": list(rules_for(case.campaign.template, case.campaign.options).outcomes),
        "evidence": [
            {
                "id": e.id,
                "kind": str(e.kind),
                "recording_sid": sids(e.recording_id),
                "path": e.path,
                "sha256": e.sha256,
                "size_bytes": e.size_bytes,
                "media_type": e.media_type,
                "added_by": e.added_by,
                "added_at": _iso(e.added_at),
            }
            for e in evidence_of(session, escalation.id)
        ],
        "history": [
            {"at": _iso(ev.at), "actor": ev.actor, "action": ev.action, "detail": ev.detail}
            for ev in history_of(session, escalation.id)
        ],
        "callbacks": [
            {
                "id": c.id,
                "status": str(c.status),
                "agent": names(c.agent_id),
                "dial_status": c.dial_status,
                "requested_at": _iso(c.requested_at),
                "window_override": c.window_override,
            }
            for c in callbacks_of(session, escalation.id)
        ],
    }


def print_view(view: dict[str, Any], console: Console = out) -> None:
    """The escalation as three small tables: the row, its evidence, its history."""
    summary = Table("field", "value", title=f"escalation {view['id']}", show_header=False)
    for key in ("campaign", "external_ref", "reason", "priority", "status", "due", "triggers"):
        summary.add_row(key, str(view[key]))
    for key in ("claimed_by", "claimed_at", "resolved_by", "resolved_at", "outcome"):
        if view[key] is not None:
            summary.add_row(key, str(view[key]))
    if view["resolution_note"]:
        summary.add_row("note", view["resolution_note"])
    summary.add_row("outcomes", ", ".join(view["outcomes"]))
    console.print(summary)
    if view["evidence"]:
        evidence = Table("kind", "recording / file", "sha256", "added by", "added (UTC)")
        evidence.title = "evidence"
        for e in view["evidence"]:
            evidence.add_row(
                e["kind"],
                e["recording_sid"] or e["path"] or "",
                (e["sha256"] or "")[:12],
                e["added_by"],
                _short(e["added_at"]),
            )
        console.print(evidence)
    if view.get("callbacks"):
        callbacks = Table("id", "status", "agent", "dial status", "requested (UTC)", "override")
        callbacks.title = "callbacks"
        for c in view["callbacks"]:
            callbacks.add_row(
                str(c["id"]),
                c["status"],
                c["agent"] or "",
                c["dial_status"] or "",
                _short(c["requested_at"]),
                "yes" if c["window_override"] else "no",
            )
        console.print(callbacks)
    history = Table("at (UTC)", "who", "action", "detail", title="history")
    for ev in view["history"]:
        history.add_row(_short(ev["at"]), ev["actor"], ev["action"], ev["detail"] or "")
    console.print(history)


def _usernames(session: Session) -> Callable[[int | None], str | None]:
    def name(user_id: int | None) -> str | None:
        user = None if user_id is None else session.get(StaffUser, user_id)
        return None if user is None else user.username

    return name


def _recording_sids(session: Session) -> Callable[[int | None], str | None]:
    def sid(recording_id: int | None) -> str | None:
        recording = None if recording_id is None else session.get(Recording, recording_id)
        return None if recording is None else recording.recording_sid

    return sid


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _short(iso: str | None) -> str:
    return (iso or "")[:16].replace("T", " ")


QUEUE_COMMANDS = (
    queue_claim,
    queue_release,
    queue_resolve,
    queue_reopen,
    queue_reassign,
    queue_show,
)
