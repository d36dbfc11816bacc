"""The JSON API at /api/v1, for integrations: each acts through a named token as a staff user.

tokens.py        making, verifying and revoking tokens (only their SHA-256 is kept)
auth.py          the blueprint's before_request: Authorization: Bearer -> the acting user, or 401
errors.py        every error as {"error": {"code", "message"}} with its status; never HTML
params.py        query parameters and JSON bodies -> plain values, or 400 / 415
blueprint.py     the blueprint, with auth and the error handlers attached once
case_routes.py   cases: push one or a batch (as CSV rows of the template), read one back
case_schema.py   the case endpoints' part of the OpenAPI document
evidence_routes.py  a scan (a signed receipt) uploaded as an escalation's evidence
evidence_schema.py  the upload's part of the OpenAPI document
queue_routes.py  the human queue: list, show, claim, release, resolve, reopen, reassign
report_routes.py a campaign's report, as `ivr report --format json`
openapi.py       the OpenAPI 3.1 document, served at /api/v1/openapi.json without a token
cli.py           `ivr tokens add | list | revoke`
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the API's routes and its JSON answers to unknown addresses under /api/v1."""
    # Imported for their routes, which attach themselves to the blueprint.
    import ivr.api.case_routes
    import ivr.api.evidence_routes
    import ivr.api.openapi
    import ivr.api.queue_routes
    import ivr.api.report_routes  # noqa: F401
    from ivr.api.blueprint import bp
    from ivr.api.errors import register_routing_errors

    register_routing_errors(app)
    app.register_blueprint(bp)
