"""The case page and what is done from it: resolve, release, call back.

GET  /console/cases/<case_id>                       the case, its answers, timeline, recordings
POST /console/escalations/<id>/resolve              outcome, note, a recording or a scan as evidence
POST /console/escalations/<id>/release              back to the queue
POST /console/escalations/<id>/callback             ring the agent's phone, then the customer

Who opens a case: ivr.console.agent_access.may_open_case (agents: their scope, and not a case a
colleague holds). Each opening is audited as `case.view` (the recordings whose timelines it
showed, and whether the phone was shown in full). The POSTs call the queue's own functions, which
check the holder and the scope again; each answers with a redirect to the case page and a
one-line message (post/redirect/get).
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

import ivr.console.agent_texts  # noqa: F401  (registers the texts)
from ivr.app import current_services
from ivr.audit.log import AuditKeyMissing, record
from ivr.console.access import console_page, signed_in
from ivr.console.agent_access import may_open_case
from ivr.console.agent_case_view import case_view
from ivr.console.agent_pages import staff_user
from ivr.console.blueprint import bp
from ivr.console.i18n import t
from ivr.models import AgentCallbackStatus, Case, Escalation, StaffRole, StaffUser
from ivr.queue.actions import release, resolve
from ivr.queue.callback import request_callback
from ivr.queue.errors import OutsideWindowError, QueueError
from ivr.queue.evidence import Scan

MAX_NOTE = 2000
MAX_REASON = 500
MAX_SID = 64


@bp.get("/cases/<int:case_id>")
@console_page()
def case_page(case_id: int) -> str | tuple[str, int]:
    """The case for whoever may open it; 403 (said in the page) for a colleague's claimed case."""
    services = current_services()
    user = staff_user(signed_in().id)
    with services.sessions.begin() as session:
        case = session.get(Case, case_id)
        if case is None:
            abort(404)
        if not may_open_case(session, user, case):
            return render_template("case/forbidden.html"), 403
        view = case_view(session, case, user, services.clock())
        # The page carries the answers and the calls' timelines, which the recordings' own
        # timeline endpoint audits: opening the case is recorded the same way.
        record(
            session,
            services,
            actor=user.username,
            action="case.view",
            object_kind="case",
            object_id=case_id,
            detail={
                "recordings": [r.id for r in view.recordings],
                "phone_shown": view.phone_shown,
            },
        )
    return render_template(
        "case/case.html",
        case=view,
        telephony=services.telephony is not None,
        replay_reason=f"console: case {view.id}",
    )


def _case_of(escalation_id: int) -> int:
    with current_services().sessions() as session:
        case_id = session.scalar(select(Escalation.case_id).where(Escalation.id == escalation_id))
    if case_id is None:
        abort(404)
    return case_id


def _field(name: str, limit: int) -> str | None:
    value = request.form.get(name, "").strip()
    if len(value) > limit:
        abort(400, description=f"{name} is longer than {limit} characters")
    return value or None


def _acting(session: Session) -> StaffUser:
    user = session.get(StaffUser, signed_in().id)
    assert user is not None  # current_staff() read it in this request
    return user


def _back(case_id: int) -> Response:
    return redirect(url_for("console.case_page", case_id=case_id))


@bp.post("/escalations/<int:escalation_id>/resolve")
@console_page()
def resolve_escalation(escalation_id: int) -> Response:
    """Close the escalation with an outcome; a refusal changes nothing and says why."""
    case_id = _case_of(escalation_id)
    outcome = _field("outcome", 50) or ""
    note = _field("note", MAX_NOTE)
    recording_sid = _field("recording_sid", MAX_SID)
    upload = request.files.get("scan")
    # A browser sends an empty part when no file was chosen: that is no scan, not an empty one.
    scan = Scan(upload.read(), upload.filename) if upload and upload.filename else None
    services = current_services()
    try:
        with services.sessions.begin() as session:
            resolve(
                session,
                services,
                escalation_id,
                _acting(session),
                outcome=outcome,
                note=note,
                recording_sid=recording_sid,
                scan=scan,
            )
    except (QueueError, AuditKeyMissing) as exc:
        flash(f"{t('refused')} {exc}", "error")
    else:
        flash(t("resolved_ok"), "ok")
    return _back(case_id)


@bp.post("/escalations/<int:escalation_id>/release")
@console_page()
def release_escalation(escalation_id: int) -> Response:
    """Give the escalation back to the queue."""
    case_id = _case_of(escalation_id)
    services = current_services()
    try:
        with services.sessions.begin() as session:
            release(session, services, escalation_id, _acting(session))
    except QueueError as exc:
        flash(f"{t('refused')} {exc}", "error")
        return _back(case_id)
    flash(t("released_ok"), "ok")
    # An agent who let go of the case has nothing more to do on its page.
    if signed_in().role == StaffRole.AGENT:
        return redirect(url_for("console.my_queue"))
    return _back(case_id)


@bp.post("/escalations/<int:escalation_id>/callback")
@console_page()
def call_back(escalation_id: int) -> Response:
    """Ring the member of staff's phone, then bridge the customer (ivr.queue.callback)."""
    case_id = _case_of(escalation_id)
    services = current_services()
    if services.telephony is None:
        flash(t("callback_no_telephony"), "error")
        return _back(case_id)
    override = request.form.get("override_window") == "1"
    reason = _field("override_reason", MAX_REASON)
    user = staff_user(signed_in().id)
    try:
        result = request_callback(
            services, escalation_id, user, override_window=override, override_reason=reason
        )
    except OutsideWindowError as exc:
        opens = (
            f"{t('next_window')} {exc.opens_at:%Y-%m-%d %H:%M} UTC."
            if exc.opens_at is not None
            else t("no_window")
        )
        flash(f"{t('refused')} {opens} {exc}", "error")
    except (QueueError, AuditKeyMissing) as exc:
        flash(f"{t('refused')} {exc}", "error")
    else:
        if result.status == AgentCallbackStatus.FAILED:
            flash(f"{t('callback_failed')} {result.message()}", "error")
        else:
            flash(f"{t('callback_ok')} {result.message()}", "ok")
    return _back(case_id)
