"""Cases over JSON: push one case or a batch into a campaign, and read a case's progress back.

A pushed item is validated, hashed and planned by ivr.cases.importer exactly as a CSV row of the
campaign's template (import_items): there is one validator. Idempotency rests on the unique
constraint (campaign_id, external_ref): a ref already there is reported as "exists" with its case
id, and two pushes racing on the same refs are sorted by that constraint, not by a pre-check.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from ivr.api.blueprint import bp
from ivr.api.errors import ApiError
from ivr.api.params import checked_text, invalid
from ivr.api.queue_routes import acting
from ivr.campaigns.service import CampaignError
from ivr.cases.csv_rows import RowError
from ivr.cases.importer import BATCH_SIZE, ImportReport, import_items
from ivr.models import Attempt, Campaign, Case, Escalation, EscalationStatus, StaffUser
from ivr.privacy import mask_phone
from ivr.queue.access import MANAGERS, may_work

MAX_BATCH = 10_000


@bp.post("/campaigns/<string:name>/cases")
def push_route(name: str) -> Response:
    """Add one case or a batch; 201 when something was created, 200 when all were there."""
    items = _items()
    with acting() as (session, services, user):
        if user.role not in MANAGERS:
            raise ApiError(403, "forbidden", "only a supervisor or an admin pushes cases")
        campaign = _campaign(session, name)
        campaign_id = campaign.id
        secret_key = services.settings.secret_key
        now = services.clock()
    try:
        # Outside the token's transaction: the importer commits batch by batch on its own.
        report = import_items(
            services.sessions,
            campaign_id,
            items,
            now=now,
            batch_size=BATCH_SIZE,
            secret_key=secret_key,
        )
    except CampaignError as exc:  # the template has facts and the server has no secret key
        raise ApiError(422, "campaign_not_ready", str(exc)) from None
    results = _results(services.sessions, campaign_id, len(items), report)
    created = sum(1 for item in results if item["status"] == "created")
    errors = sum(1 for item in results if item["status"] == "error")
    body: dict[str, Any] = {
        "created": created,
        "exists": len(results) - created - errors,
        "errors": errors,
        "items": results,
    }
    response = jsonify(body)
    # 422 when nothing was taken and something was refused: a caller checking the status alone
    # must not read a batch of errors as done.
    response.status_code = 201 if created else (422 if errors else 200)
    return response


@bp.get("/campaigns/<string:name>/cases/<string:ref>")
def case_route(name: str, ref: str) -> Response:
    """A case's status, attempts, answers and open escalations; no identity fact, phone masked."""
    checked_text(ref, "ref", 100)
    with acting() as (session, _services, user):
        campaign = _campaign(session, name)
        case = session.scalar(
            select(Case)
            .where(Case.campaign_id == campaign.id, Case.external_ref == ref)
            .options(selectinload(Case.attempts).selectinload(Attempt.answers))
        )
        if case is None:
            raise ApiError(404, "not_found", f"campaign {name!r} has no case {ref!r}")
        _require_case_scope(session, user, case)
        return jsonify(_case_view(session, campaign, case))


def _items() -> list[dict[str, Any]]:
    """The body's items: one object is a batch of one."""
    if not request.is_json:
        raise ApiError(
            415, "unsupported_media_type", "send the body as JSON (Content-Type: application/json)"
        )
    data: Any = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise invalid('the body must be a JSON object: one case, or {"cases": [...]}')
    if "cases" not in data:
        return [data]
    if set(data) != {"cases"}:
        raise invalid('a batch is {"cases": [...]} and nothing else')
    cases = data["cases"]
    if not isinstance(cases, list) or not cases:
        raise invalid("cases must be a non-empty list of objects")
    if len(cases) > MAX_BATCH:
        raise ApiError(
            413,
            "too_many_cases",
            f"a batch holds at most {MAX_BATCH} cases, not {len(cases)}; split it",
        )
    for index, item in enumerate(cases):
        if not isinstance(item, dict):
            raise invalid(f"cases[{index}] must be an object")
    return cases


def _campaign(session: Session, name: str) -> Campaign:
    campaign = session.scalar(select(Campaign).where(Campaign.name == name))
    if campaign is None:
        raise ApiError(404, "not_found", f"there is no campaign {name!r}")
    return campaign


def _require_case_scope(session: Session, user: StaffUser, case: Case) -> None:
    # The queue's rule (ivr.queue.access.may_work): an agent's scope rows name the campaigns
    # and departments they may see; other roles see everything.
    if not may_work(session, user, case):
        raise ApiError(403, "forbidden", f"this case is outside the scope of {user.username}")


def _errors(reason: str) -> list[dict[str, str]]:
    """A RowError's "column: rule; column: rule" as objects; the rules never echo a value."""
    found = []
    for part in reason.split("; "):
        head, sep, rest = part.partition(": ")
        if sep and " " not in head:
            found.append({"field": head, "message": rest})
        else:
            found.append({"field": "external_ref", "message": part})  # a repeated ref
    return found


def _results(
    sessions: sessionmaker[Session], campaign_id: int, count: int, report: ImportReport
) -> list[dict[str, Any]]:
    """One entry per item, in order: created, exists (with the case already there) or error."""
    by_index: dict[int, dict[str, Any]] = {}
    for made in report.created:
        entry = by_index.setdefault(
            made.line,
            {"index": made.line, "ref": made.external_ref, "status": "created", "errors": []},
        )
        entry.setdefault("case_ids", []).append(made.case_id)
    error: RowError
    for error in report.errors:
        by_index[error.line] = {
            "index": error.line,
            "ref": error.external_ref,
            "status": "error",
            "case_ids": [],
            "errors": _errors(error.reason),
        }
    refs = {dup.external_ref for dup in report.duplicates}
    ids: dict[str, int] = {}
    if refs:
        with sessions() as session:
            query = select(Case.external_ref, Case.id).where(
                Case.campaign_id == campaign_id, Case.external_ref.in_(refs)
            )
            ids = {ref: case_id for ref, case_id in session.execute(query)}
    for dup in report.duplicates:
        entry = by_index.setdefault(
            dup.line, {"index": dup.line, "ref": dup.external_ref, "status": "exists", "errors": []}
        )
        if entry["status"] == "exists":
            entry.setdefault("case_ids", [])
            if dup.external_ref in ids:
                entry["case_ids"].append(ids[dup.external_ref])
    results: list[dict[str, Any]] = []
    for index in range(count):
        # Every item is created, a duplicate or an error; the fallback only keeps the list whole.
        entry = by_index.get(index) or {
            "index": index,
            "ref": None,
            "status": "error",
            "case_ids": [],
            "errors": [{"field": "", "message": "not imported"}],
        }
        entry["case_id"] = entry["case_ids"][0] if entry["case_ids"] else None
        results.append(entry)
    return results


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _case_view(session: Session, campaign: Campaign, case: Case) -> dict[str, Any]:
    """What an integration may read back: never the facts, the details or the clear number."""
    escalations = session.scalars(
        select(Escalation)
        .where(Escalation.case_id == case.id, Escalation.status != EscalationStatus.RESOLVED)
        .order_by(Escalation.id)
    )
    return {
        "id": case.id,
        "campaign": campaign.name,
        "external_ref": case.external_ref,
        "status": case.status.value,
        "outcome": None if case.outcome is None else case.outcome.value,
        "excluded_reason": case.excluded_reason,
        "phone": mask_phone(case.contact.phone),
        "anchor_date": case.anchor_date.isoformat(),
        "deadline_at": _iso(case.deadline_at),
        "next_call_at": _iso(case.next_call_at),
        "done_at": _iso(case.done_at),
        "attempts_made": case.attempts_made,
        "attempts": [
            {
                "number": attempt.number,
                "status": attempt.status.value,
                "placed_at": _iso(attempt.placed_at),
                "reached": attempt.reached,
                "duration_s": attempt.duration_s,
                "answers": {answer.question: answer.value for answer in attempt.answers},
            }
            for attempt in case.attempts
        ],
        "escalations": [
            {
                "id": escalation.id,
                "reason": escalation.reason,
                "priority": escalation.priority,
                "status": escalation.status.value,
                "due": _iso(escalation.due_at),
            }
            for escalation in escalations
        ],
    }
