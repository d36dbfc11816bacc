"""X-Twilio-Signature on every provider-facing route: refused when anything signed is changed,
never refused when Twilio signed exactly what arrived (odd query strings, ports, a TLS proxy).

The published known-answer vector is checked in tests/integration/test_webhooks.py.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ivr.app import create_app
from ivr.config import Settings
from ivr.models import Attempt
from ivr.services import Services
from tests.conftest import PUBLIC_BASE_URL, FakeClock
from tests.faults.support import Call, Statements, call_form, make_call, table_counts
from tests.webhook_client import signature

# Every URL prefix the app serves, and who calls it. A route under a prefix missing here fails
# test_every_route_prefix_is_known: whoever adds it decides whether the provider calls it.
SIGNED = "/twilio"  # Twilio's webhooks: signed or refused
UNSIGNED_MEDIA = "/prompts"  # Twilio fetches <Play> audio with a plain GET and no signature
STAFF = ("/console", "/api", "/auth", "/recordings", "/static", "/healthz", "/metrics")
HOST = "ivr.example.test"


@pytest.fixture
def call(sessions: sessionmaker[Session], clock: FakeClock) -> Call:
    return make_call(sessions, clock.now)


def provider_routes(app: Flask) -> list[tuple[str, str]]:
    """(path, method) of every rule the provider calls with a signature."""
    found = []
    for rule in app.url_map.iter_rules():
        faces_provider = rule.rule.startswith(SIGNED) or rule.endpoint.startswith("twilio")
        if not faces_provider:
            continue
        path = re.sub(r"<[^>]+>", "1", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((path, method))
    return found


def test_every_route_prefix_is_known(app: Flask) -> None:
    """Each rule's first segment is classified; a new provider route cannot slip in unsigned."""
    known = (SIGNED, UNSIGNED_MEDIA, *STAFF)
    unknown = [r.rule for r in app.url_map.iter_rules() if not r.rule.startswith(known)]
    assert [] == unknown
    signed_endpoints = {r.endpoint for r in app.url_map.iter_rules() if r.rule.startswith(SIGNED)}
    assert {
        "twilio.voice",
        "twilio.status",
        "twilio_agent.answer",
        "twilio_sms.incoming_message",
    } <= (signed_endpoints)


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_every_provider_route_refuses_unsigned_and_wrongly_signed_requests(
    app: Flask, call: Call, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    """Each /twilio rule, unsigned or signed with another token: 403 and not one SQL statement."""
    client = app.test_client()
    routes = provider_routes(app)
    assert len(routes) >= 11, routes  # voice, gather, status, recording, amd, agent x5, sms
    with sessions() as session:
        before = table_counts(session)
    refused = []
    with Statements(engine) as statements:
        for path, method in routes:
            url = f"{path}?attempt={call.attempt_id}&callback=1&step=1"
            body = call_form(call, CallStatus="completed", Digits="1", Body="STOP")
            forged = {"X-Twilio-Signature": signature(PUBLIC_BASE_URL + url, body, "other-token")}
            for headers in ({}, forged, {"X-Twilio-Signature": ""}):
                answer = client.open(url, method=method, data=body, headers=headers)
                refused.append((path, answer.status_code))
    assert [(path, 403) for path, _ in routes for _ in range(3)] == refused
    assert [] == statements
    with sessions() as session:
        assert before == table_counts(session)


def test_the_unsigned_prompt_route_only_serves_files_and_touches_no_row(
    app: Flask, engine: Engine
) -> None:
    """/prompts is GET-only (Twilio does not sign <Play> fetches) and never reads the database."""
    (rule,) = [r for r in app.url_map.iter_rules() if r.rule.startswith(UNSIGNED_MEDIA)]
    assert {"GET", "HEAD", "OPTIONS"} == rule.methods
    client = app.test_client()
    with Statements(engine) as statements:
        assert 404 == client.get("/prompts/post-discharge/missing.wav").status_code
        assert 404 == client.get("/prompts/..%2F..%2Fetc/passwd.wav").status_code
        assert 405 == client.post("/prompts/post-discharge/x.wav").status_code
    assert [] == statements


def _status_path(call: Call) -> str:
    return f"/twilio/status?attempt={call.attempt_id}"


MUTATIONS = {
    # name: (what was signed -> what is sent), each a change to a signed part of the request
    "value-changed": ("form", lambda f: {**f, "CallStatus": "ringing"}),
    "param-added": ("form", lambda f: {**f, "CallDuration": "99"}),
    "param-removed": ("form", lambda f: {k: v for k, v in f.items() if k != "SequenceNumber"}),
    "query-added": ("url", lambda u: u + "&held=1"),
    "query-param-before": ("url", lambda u: u.replace("?attempt=", "?x=1&attempt=")),
    "scheme": ("url", lambda u: u.replace("https://", "http://")),
    "host": ("url", lambda u: u.replace(HOST, "ivr.example.test.attacker.example")),
    "path-case": ("url", lambda u: u.replace("/status", "/Status")),
}


@pytest.mark.parametrize("mutation", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_a_signed_request_with_any_signed_part_changed_is_refused(
    client: FlaskClient,
    call: Call,
    engine: Engine,
    sessions: sessionmaker[Session],
    mutation: tuple[str, object],
) -> None:
    """The signature was made for other parameters or another URL than arrived: 403, no SQL."""
    part, change = mutation
    sent = call_form(call, CallStatus="completed", SequenceNumber="3")
    signed_form, signed_url = dict(sent), PUBLIC_BASE_URL + _status_path(call)
    if part == "form":
        signed_form = change(sent)  # type: ignore[operator]
    else:
        signed_url = change(signed_url)  # type: ignore[operator]
    headers = {"X-Twilio-Signature": signature(signed_url, signed_form)}
    with Statements(engine) as statements:
        assert 403 == client.post(_status_path(call), data=sent, headers=headers).status_code
    assert [] == statements


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(lambda good: good[:-2] + ("A=" if good[-2] != "A" else "B="), id="one-char"),
        pytest.param(lambda good: good.lower(), id="lower-case"),
        pytest.param(lambda good: good + good, id="doubled"),
        pytest.param(lambda good: " " + good, id="leading-space"),
        pytest.param(lambda good: good[:20], id="truncated"),
        pytest.param(lambda good: "sha256=" + good, id="prefixed"),
    ],
)
def test_a_tampered_signature_header_is_refused(
    client: FlaskClient, call: Call, engine: Engine, header: object
) -> None:
    """The right request with a mangled X-Twilio-Signature: 403 before any SQL."""
    body = call_form(call, CallStatus="completed", SequenceNumber="3")
    good = signature(PUBLIC_BASE_URL + _status_path(call), body)
    headers = {"X-Twilio-Signature": header(good)}  # type: ignore[operator]
    with Statements(engine) as statements:
        assert 403 == client.post(_status_path(call), data=body, headers=headers).status_code
    assert [] == statements


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("note=a+b", id="plus"),
        pytest.param("note=%27quoted%27", id="quote"),
        pytest.param("note=1&note=2&note=1", id="repeated-keys"),
        pytest.param("z=9&note=x&b=2", id="unsorted-keys"),
        pytest.param("note=a%20b+c%2Bd", id="space-encodings"),
        pytest.param("note=caf%C3%A9%E6%B5%8B", id="utf-8"),
        pytest.param("note=&empty", id="empty-values"),
    ],
)
def test_correctly_signed_query_strings_are_never_refused(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session], query: str
) -> None:
    """Twilio signs the query string as it sent it; the app checks it raw, so no false 403."""
    path = f"{_status_path(call)}&{query}"
    body = call_form(call, CallStatus="ringing", SequenceNumber="1", Note="a+b 'c' 测试 %27")
    headers = {"X-Twilio-Signature": signature(PUBLIC_BASE_URL + path, body)}
    assert 204 == client.post(path, data=body, headers=headers).status_code
    with sessions() as session:
        assert 1 == session.get_one(Attempt, call.attempt_id).last_sequence


PORTS = {"none": "", "443": ":443", "8443": ":8443"}
DEFAULT = {"none", "443"}  # https://host and https://host:443 are one URL


@pytest.mark.parametrize("signed_port", PORTS, ids=[f"signed-{p}" for p in PORTS])
@pytest.mark.parametrize("base_port", PORTS, ids=[f"base-{p}" for p in PORTS])
def test_public_base_url_ports_accept_exactly_the_url_twilio_signed(
    settings: Settings,
    services: Services,
    call: Call,
    base_port: str,
    signed_port: str,
) -> None:
    """Twilio may sign https://host/ with or without :443; a port like 8443 must match."""
    public = replace(settings, public_base_url=f"https://{HOST}{PORTS[base_port]}")
    client = create_app(public, services=replace(services, settings=public)).test_client()
    body = call_form(call, CallStatus="ringing", SequenceNumber="1")
    url = f"https://{HOST}{PORTS[signed_port]}{_status_path(call)}"
    headers = {"X-Twilio-Signature": signature(url, body)}
    accepted = base_port == signed_port or {base_port, signed_port} <= DEFAULT
    answer = client.post(_status_path(call), data=body, headers=headers)
    assert (204 if accepted else 403) == answer.status_code


# Behind a TLS-terminating proxy the app is reached at http://10.0.0.5:8000, told the rest.
PROXIED = {
    "base_url": "http://10.0.0.5:8000",
    "headers": {"X-Forwarded-Proto": "https", "X-Forwarded-Port": "443"},
}


def test_behind_a_tls_proxy_the_public_base_url_is_what_is_checked(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """Signed over the public URL: accepted, though the app itself saw plain http on :8000."""
    body = call_form(call, CallStatus="ringing", SequenceNumber="1")
    headers = {
        **PROXIED["headers"],  # type: ignore[dict-item]
        "X-Forwarded-Host": HOST,
        "X-Twilio-Signature": signature(PUBLIC_BASE_URL + _status_path(call), body),
    }
    answer = client.post(
        _status_path(call), data=body, headers=headers, base_url=PROXIED["base_url"]
    )
    assert 204 == answer.status_code


@pytest.mark.parametrize(
    "signed_base",
    [
        pytest.param("https://attacker.example", id="spoofed-forwarded-host"),
        pytest.param("http://10.0.0.5:8000", id="internal-url"),
    ],
)
def test_behind_a_tls_proxy_a_spoofed_forwarded_host_is_refused(
    client: FlaskClient, call: Call, engine: Engine, signed_base: str
) -> None:
    """Signed for the host a forged X-Forwarded-Host names, or the app's own: 403, no SQL."""
    body = call_form(call, CallStatus="completed", SequenceNumber="3")
    headers = {
        **PROXIED["headers"],  # type: ignore[dict-item]
        "X-Forwarded-Host": "attacker.example",
        "X-Twilio-Signature": signature(signed_base + _status_path(call), body),
    }
    with Statements(engine) as statements:
        answer = client.post(
            _status_path(call), data=body, headers=headers, base_url=PROXIED["base_url"]
        )
    assert 403 == answer.status_code
    assert [] == statements
