"""The audit log page and the case file export.

GET  /console/audit                      entries newest first, by action and object, paged; the
                                         chain's verification at the top
POST /console/cases/<case_id>/export     the case file zip (ivr.console.case_file); CSRF checked
                                         by the blueprint; audited as `case.export` with the
                                         zip's SHA-256, committed before the zip is sent

Compliance officers and administrators only: agents and supervisors get 403.
"""

from __future__ import annotations

import hashlib

from flask import abort, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from ivr.app import current_services
from ivr.audit.log import check_chain, record
from ivr.console.access import console_page, signed_in
from ivr.console.blueprint import bp
from ivr.console.case_file import build_zip, collect, read_recordings
from ivr.console.compliance_pages import COMPLIANCE_ROLES
from ivr.models import AuditEntry

AUDIT_PAGE = 50
MAX_FILTER = 100


def _filter(name: str) -> str:
    return request.args.get(name, "").strip()[:MAX_FILTER]


@bp.get("/audit")
@console_page(*COMPLIANCE_ROLES)
def audit_log() -> str:
    """One page of the audit log, newest first, under the chain's verification state."""
    services = current_services()
    action, target = _filter("action"), _filter("object")
    before = request.args.get("before", "")
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(AUDIT_PAGE + 1)
    if action:
        query = query.where(AuditEntry.action == action)
    if target:
        kind, _, object_id = target.partition(":")
        query = query.where(AuditEntry.object_kind == kind.strip())
        if object_id.strip():
            query = query.where(AuditEntry.object_id == object_id.strip())
    if before.isdigit():
        # Keyset paging: entries keep arriving while the officer reads, and an offset would
        # shift under them.
        query = query.where(AuditEntry.id < int(before))
    with services.sessions() as session:
        # The whole chain is walked each time: a log broken since the last look must show at once.
        chain = check_chain(session, services)
        entries = list(session.scalars(query))
    more = len(entries) > AUDIT_PAGE
    entries = entries[:AUDIT_PAGE]
    return render_template(
        "compliance/audit.html",
        chain=chain,
        entries=entries,
        action=action,
        target=target,
        older=entries[-1].id if more else None,
        paged=before.isdigit(),
    )


@bp.post("/cases/<int:case_id>/export")
@console_page(*COMPLIANCE_ROLES)
def export_case(case_id: int) -> Response:
    """The case file as a zip download, after its audit entry is committed."""
    services = current_services()
    actor = signed_in().username
    with services.sessions() as session:
        found = collect(session, case_id)
    if found is None:
        abort(404)
    read_recordings(services, found)  # no transaction open while the store is read
    now = services.clock()
    header = f"case file of case {case_id}, exported {now.isoformat()} by {actor}"
    data = build_zip(found, header)
    digest = hashlib.sha256(data).hexdigest()
    with services.sessions.begin() as session:
        record(
            session,
            services,
            actor=actor,
            action="case.export",
            object_kind="case",
            object_id=case_id,
            detail={
                "zip_sha256": digest,
                "size": len(data),
                "recordings": sorted(found.audio),
                "problems": {str(k): v for k, v in sorted(found.problems.items())},
            },
        )
    return Response(
        data,
        mimetype="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="case-{case_id}.zip"',
            "X-Content-SHA256": digest,
        },
    )
