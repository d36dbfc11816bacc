"""The human queue over JSON: the same actions as `ivr queue ...`, acting as the token's user.

Every view runs the action functions of ivr.queue.actions in one transaction and answers with
the escalation as `ivr queue show` builds it, read after the change in that same transaction.
Refusals are the actions' own errors, turned into statuses by ivr.api.errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from flask import Response, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.api.auth import current_holder
from ivr.api.blueprint import bp
from ivr.api.errors import ApiError
from ivr.api.params import (
    Text,
    checked_id,
    json_body,
    query_bool,
    query_choice,
    query_int,
    query_text,
)
from ivr.app import current_services
from ivr.models import Campaign, Escalation, EscalationStatus, StaffUser
from ivr.queue.access import (
    MANAGERS,
    acting_user,
    load_escalation,
    require_scope,
    usernames_of,
)
from ivr.queue.actions import claim, reassign, release, reopen, resolve
from ivr.queue.cli import escalation_row, escalation_view
from ivr.queue.errors import NotAllowedError
from ivr.queue.service import list_escalations
from ivr.services import Services

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_OFFSET = 1_000_000
NOTE = Text(max_length=2000)
STATUSES = tuple(status.value for status in EscalationStatus)


@contextmanager
def acting() -> Iterator[tuple[Session, Services, StaffUser]]:
    """One transaction, with the token's user loaded in it (still active: checked again)."""
    services = current_services()
    with services.sessions.begin() as session:
        user = session.get(StaffUser, current_holder().user_id)
        if user is None or not user.active:
            raise ApiError(401, "unauthorized", "the token's user is disabled")
        yield session, services, user


@bp.get("/escalations")
def list_route() -> Response:
    """Escalations the user may work, most urgent first, a page at a time."""
    status = query_choice("status", STATUSES)
    campaign = query_text("campaign")
    mine = query_bool("mine")
    limit = query_int("limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    offset = query_int("offset", default=0, minimum=0, maximum=MAX_OFFSET)
    with acting() as (session, _services, user):
        campaign_id = None
        if campaign is not None:
            campaign_id = session.scalar(select(Campaign.id).where(Campaign.name == campaign))
        rows: list[Escalation] = []
        if campaign is None or campaign_id is not None:
            # One row past the page tells whether there is a next one, without a count.
            rows = list_escalations(
                session,
                campaign_id=campaign_id,
                status=EscalationStatus(status) if status else None,
                claimed_by_id=user.id if mine else None,
                visible_to=user,
                limit=limit + 1,
                offset=offset,
            )
        holders = usernames_of(session, (row.claimed_by_id for row in rows))
        items = [escalation_row(row, holders) for row in rows[:limit]]
    more = len(rows) > limit
    return jsonify(
        items=items, limit=limit, offset=offset, next_offset=offset + limit if more else None
    )


@bp.get("/escalations/<int:escalation_id>")
def show_route(escalation_id: int) -> Response:
    """One escalation with its evidence and history, if the user's scope covers it."""
    with acting() as (session, _services, user):
        escalation = load_escalation(session, checked_id(escalation_id))
        require_scope(session, user, escalation)
        view = escalation_view(session, escalation)
    return jsonify(view)


@bp.post("/escalations/<int:escalation_id>/claim")
def claim_route(escalation_id: int) -> Response:
    """Take the escalation; 409 naming the holder when someone else has it."""
    with acting() as (session, services, user):
        result = claim(session, services, checked_id(escalation_id), user)
    if not result.won:
        raise ApiError(
            409, "claimed", result.message(), holder=result.holder, since=_iso(result.since)
        )
    return jsonify(
        escalation_id=result.escalation_id,
        holder=result.holder,
        since=_iso(result.since),
        lapsed_holder=result.lapsed_holder,
    )


@bp.post("/escalations/<int:escalation_id>/release")
def release_route(escalation_id: int) -> Response:
    """Give the escalation back to the queue (its holder, a supervisor or an admin)."""
    with acting() as (session, services, user):
        release(session, services, checked_id(escalation_id), user)
        view = escalation_view(session, load_escalation(session, escalation_id))
    return jsonify(view)


@bp.post("/escalations/<int:escalation_id>/resolve")
def resolve_route(escalation_id: int) -> Response:
    """Close the escalation with an outcome, a note and optionally a recording as evidence."""
    body = json_body(
        {
            "outcome": Text(max_length=50, required=True, blank_ok=False),
            "note": NOTE,
            "recording_sid": Text(max_length=64),
        }
    )
    with acting() as (session, services, user):
        resolve(
            session,
            services,
            checked_id(escalation_id),
            user,
            outcome=str(body["outcome"]),
            note=body["note"],
            recording_sid=body["recording_sid"],
        )
        view = escalation_view(session, load_escalation(session, escalation_id))
    return jsonify(view)


@bp.post("/escalations/<int:escalation_id>/reopen")
def reopen_route(escalation_id: int) -> Response:
    """Set a resolved escalation back to open, saying why."""
    body = json_body({"note": Text(max_length=2000, required=True, blank_ok=False)})
    with acting() as (session, services, user):
        reopen(session, services, checked_id(escalation_id), user, note=str(body["note"]))
        view = escalation_view(session, load_escalation(session, escalation_id))
    return jsonify(view)


@bp.post("/escalations/<int:escalation_id>/reassign")
def reassign_route(escalation_id: int) -> Response:
    """Hand the escalation to another user (supervisors and admins)."""
    body = json_body({"to": Text(max_length=100, required=True, blank_ok=False), "note": NOTE})
    with acting() as (session, services, user):
        # The role first: an agent learns nothing about which user names exist.
        if user.role not in MANAGERS:
            raise NotAllowedError("only a supervisor or an admin reassigns escalations")
        target = acting_user(session, str(body["to"]))
        reassign(session, services, checked_id(escalation_id), user, to=target, note=body["note"])
        view = escalation_view(session, load_escalation(session, escalation_id))
    return jsonify(view)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
