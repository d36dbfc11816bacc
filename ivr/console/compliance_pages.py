"""The compliance officer's pages: finding calls and replaying them.

GET /console/calls                    search by reference, phone, placed date, campaign; paged
GET /console/recordings/<id>          the player (seeks through Range), the call's timeline beside
                                      it, the checksum, retention and legal hold; audited
GET /console/compliance/replay.js     the few lines that make timeline moments seek the player

The audit log page and the case file export are in compliance_audit.py. Compliance officers and
administrators open these pages; everyone else gets 403.
"""

from __future__ import annotations

from pathlib import Path

from flask import abort, render_template, request
from werkzeug.wrappers import Response

import ivr.console.compliance_texts  # noqa: F401  (registers the texts)
from ivr.app import current_services
from ivr.audit.log import record
from ivr.console.access import console_page, signed_in
from ivr.console.agent_access import recording_case_id
from ivr.console.blueprint import bp
from ivr.console.compliance_search import (
    Criteria,
    SearchInputError,
    campaign_choices,
    read_criteria,
    search_calls,
)
from ivr.models import Recording, StaffRole
from recordings.timeline import recording_timeline

COMPLIANCE_ROLES = (StaffRole.COMPLIANCE, StaffRole.ADMIN)
STATIC = Path(__file__).parent / "static"
MAX_REASON = 500  # as recordings.replay accepts
DEFAULT_REASON = "console: compliance review"


@bp.get("/calls")
@console_page(*COMPLIANCE_ROLES)
def calls() -> str | tuple[str, int]:
    """The search form and, when something was asked, one page of matching calls."""
    services = current_services()
    problem = None
    try:
        criteria = read_criteria(request.args)
    except SearchInputError as exc:
        criteria, problem = Criteria(), str(exc)
    with services.sessions() as session:
        choices = campaign_choices(session)
        results = None
        if problem is None and not criteria.empty:
            try:
                results = search_calls(session, criteria)
            except SearchInputError as exc:
                problem = str(exc)
    return render_template(
        "compliance/calls.html",
        criteria=criteria,
        form=request.args,
        campaigns=choices,
        results=results,
        problem=problem,
    ), (400 if problem else 200)


def _reason() -> str:
    """The listener's reason from ?reason=, as the replay endpoint will accept it."""
    reason = " ".join(request.args.get("reason", "").split())
    if not reason or len(reason) > MAX_REASON or any(ord(ch) < 32 for ch in reason):
        return DEFAULT_REASON
    return reason


@bp.get("/recordings/<int:recording_id>")
@console_page(*COMPLIANCE_ROLES)
def replay_page(recording_id: int) -> str:
    """The recording's player and timeline; opening it is audited as `recording.view`."""
    services = current_services()
    reason = _reason()
    with services.sessions.begin() as session:
        recording = session.get(Recording, recording_id)
        if recording is None:
            abort(404)
        timeline = recording_timeline(session, recording_id)
        case_id = recording_case_id(session, recording_id)
        # The page shows the keys pressed during the call (the timeline): it is audited like the
        # timeline endpoint, and each range the player asks for is audited by the replay itself.
        record(
            session,
            services,
            actor=signed_in().username,
            action="recording.view",
            object_kind="recording",
            object_id=recording_id,
            detail={"reason": reason, "case_id": case_id},
        )
        page = render_template(
            "compliance/replay.html",
            recording=recording,
            timeline=timeline,
            case_id=case_id,
            reason=reason,
        )
    return page


@bp.get("/compliance/replay.js")
def replay_script() -> Response:
    """The replay page's script (the CSP allows scripts from this site only, none inline)."""
    # Bytes, not a file response: a few hundred of them, and no file handle left to close.
    return Response((STATIC / "replay.js").read_bytes(), mimetype="text/javascript")
