"""Schemathesis against /api/v1/openapi.json: no 500, and every answer as the document says.

The document is the one the app serves (loaded over WSGI); each operation is then fuzzed, with
valid and invalid data, against an app on a database holding two campaigns with cases, attempts,
answers, escalations and a recording. Dictionaries put those rows' names and ids into a share of
the generated requests, so they reach real escalations and cases, not only 404s.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis import BaseSchema, Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from sqlalchemy import select

from ivr.api.tokens import make_token
from ivr.app import create_app
from ivr.campaigns.templates import TEMPLATES
from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.models import Escalation, StaffRole
from ivr.queue.outcomes import rules_for
from ivr.services import Services
from tests.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    PUBLIC_BASE_URL,
    SECRET_KEY,
    FakeClock,
)
from tests.integration.api_client import REPORT, Api
from tests.integration.test_queue_actions import (
    SID,
    add_campaign,
    add_escalation,
    add_recording,
    add_user,
)
from tests.report_population import NOW, build_ward

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

OPENAPI = "/api/v1/openapi.json"
CASES = "/api/v1/campaigns/{name}/cases"
PHONE = "+8613800138000"  # fictional: the +86 138 0013 8xxx range the API tests use
CAMPAIGNS = ["ward-7", "co-2030"]
ESCALATION_IDS = [1, 2, 3]  # build_ward's two (one resolved), then the suspected missale
REFS = ["P-02", "P-03", "POL-7"]
USERS = ["ada", "sue", "carl"]
OUTCOMES = sorted(
    {
        outcome
        for name in ("post-discharge", "cooling-off")
        for outcome in rules_for(name, dict(TEMPLATES[name].defaults)).outcomes
    }
)
# Schemathesis' own default for negative_data_rejection, and 413: a body over IVR_MAX_BODY_BYTES
# (or a batch over MAX_BATCH) is refused for its size before it is read, as documented.
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            # The token is sent by the test; schemathesis must not generate or break it, or a
            # request it meant as unauthenticated would carry a valid token. ignored_auth
            # checks the refusals without it.
            "with-security-parameters": False,
            # An OpenAPI document cannot close the query string: unknown parameters are
            # ignored, as by most HTTP APIs, and are not a schema violation.
            "allow-extra-parameters": False,
        },
        "checks": {"negative_data_rejection": {"expected-statuses": REJECTED}},
        "operations": [
            {
                # The body is what is fuzzed here: an unknown campaign would answer 404 before
                # the importer ever read an item (the report and the case read fuzz the name).
                "include-path": "/api/v1/campaigns/{name}/cases",
                "include-method": "POST",
                "parameters": {"path.name": "ward-7"},
            }
        ],
        "dictionaries": {
            "campaigns": {"values": CAMPAIGNS},
            "escalations": {"values": ESCALATION_IDS},
            "refs": {"values": REFS},
            "users": {"values": USERS},
            "outcomes": {"values": OUTCOMES},
            "recordings": {"values": [SID]},
            "phones": {"values": [PHONE]},
            "days": {"values": ["2030-01-05", "2029-12-20"]},
            "departments": {"values": ["cardiology", "oncology"]},
            "wards": {"values": ["3B", "ICU"]},
        },
        "parameters": {
            "path.name": {"dictionary": "campaigns", "probability": 0.6},
            "query.campaign": {"dictionary": "campaigns", "probability": 0.5},
            "path.escalation_id": {"dictionary": "escalations", "probability": 0.7},
            "path.ref": {"dictionary": "refs", "probability": 0.6},
            "body.to": {"dictionary": "users", "probability": 0.6},
            "body.outcome": {"dictionary": "outcomes", "probability": 0.6},
            "body.recording_sid": {"dictionary": "recordings", "probability": 0.5},
            # A share of the pushed items are cases the importer takes (201), not only refusals.
            "body.phone": {"dictionary": "phones", "probability": 0.7},
            "body.discharge_date": {"dictionary": "days", "probability": 0.7},
            "body.department": {"dictionary": "departments", "probability": 0.7},
            "body.cases[*].phone": {"dictionary": "phones", "probability": 0.7},
            "body.cases[*].discharge_date": {"dictionary": "days", "probability": 0.7},
            "body.cases[*].department": {"dictionary": "departments", "probability": 0.7},
            "body.ward": {"dictionary": "wards", "probability": 0.7},
            "body.cases[*].ward": {"dictionary": "wards", "probability": 0.7},
        },
    }
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    ignored_auth,
    unsupported_method,
    allow_header_conformance,
]

# The evidence upload's file part is typed "application/pdf, image/*": schemathesis ships no
# serializer for those and would refuse to send the request. Its bytes go out as they are.
schemathesis.serializer.alias(
    ["application/pdf", "image/png", "image/jpeg", "image/tiff"], "application/octet-stream"
)


def served_schema() -> BaseSchema:
    """The document as the app serves it; the endpoint is public and reads no database."""
    settings = Settings(
        database_url="sqlite://",
        public_base_url=PUBLIC_BASE_URL,
        secret_key=SECRET_KEY,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number=FROM_NUMBER,
    )
    services = Services(settings=settings, sessions=make_sessions(make_engine("sqlite://")))
    return schemathesis.openapi.from_wsgi(
        OPENAPI, create_app(settings, services=services), config=CONFIG
    )


schema = served_schema()


@dataclass(frozen=True)
class Target:
    """The app the generated requests go to, and the admin token they carry."""

    app: Flask
    token: str


@pytest.fixture
def target(settings: Settings, services: Services, clock: FakeClock) -> Target:
    """Two campaigns with cases, attempts, answers, escalations and a recording; staff."""
    build_ward(services.sessions)
    clock.now = NOW
    with services.sessions.begin() as session:
        co = add_campaign(session, NOW, "cooling-off", name="co-2030")
        missell = add_escalation(
            session, co, NOW, "missell_suspected", ref="POL-7", details={"seller": "carl"}
        )
        row = session.get(Escalation, missell)
        assert row is not None
        add_recording(session, row.case_id, NOW)
        add_user(session, NOW, "ada", StaffRole.ADMIN)
        add_user(session, NOW, "sue", StaffRole.SUPERVISOR)
        add_user(session, NOW, "carl")
        token = make_token(session, services, name="ada-fuzz", username="ada", actor="t").secret
        assert ESCALATION_IDS == list(session.scalars(select(Escalation.id).order_by("id")))
    return Target(create_app(settings, services=services), token)


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    # The database is meant to carry over from one generated request to the next, as a real
    # integration's would: claims, resolutions and pushed cases change what the next one meets.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_every_operation_answers_as_documented_and_never_500(case: Case, target: Target) -> None:
    """No 5xx; status, content type, headers and body are the document's, whatever is sent."""
    case.call_and_validate(
        app=target.app, headers={"Authorization": f"Bearer {target.token}"}, checks=CHECKS
    )


def test_a_body_over_the_cap_is_413_payload_too_large_as_documented(target: Target) -> None:
    """Werkzeug's own 413 is answered with the API's code, naming the limit, as the README says."""
    api = Api(target.app.test_client(), {"ada": target.token})
    cases = [{"external_ref": f"P-{n}", "name": "x" * 900, "phone": PHONE} for n in range(100)]
    answer = api.post(CASES, "ada", name="ward-7", json={"cases": cases})
    assert (413, "payload_too_large") == (answer.status_code, answer.json["error"]["code"])
    assert "65536 bytes" in answer.json["error"]["message"]


@pytest.mark.parametrize("month", ["\u0662\u0660\u0663\u0660-\u0660\u0661", "2030-13", "2030-00"])
def test_a_month_the_document_refuses_is_refused_by_the_report_too(
    target: Target, month: str
) -> None:
    """Other scripts' digits and month 13 break the document's pattern, so the API says 400."""
    api = Api(target.app.test_client(), {"ada": target.token})
    answer = api.get(REPORT, "ada", name="ward-7", query_string={"month": month})
    assert (400, "invalid_request") == (answer.status_code, answer.json["error"]["code"])
