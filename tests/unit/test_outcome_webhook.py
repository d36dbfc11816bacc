"""The outcome webhook's pure parts: what an answer means, when to try again, the signature,
the URL option, the body."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from ivr.campaigns.options import OPTIONS, webhook_url_of
from ivr.outcome_webhook.delivery import GIVE_UP_AFTER, Reply, next_try_at, verdict
from ivr.outcome_webhook.payload import CaseFacts, body_of, outcome_payload
from ivr.outcome_webhook.signing import derive_secret, signature

NOW = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(200), "delivered"),
        (Reply(204), "delivered"),
        (Reply(500), "retry"),
        (Reply(503), "retry"),
        (Reply(408), "retry"),
        (Reply(429), "retry"),
        (Reply(None, "timeout"), "retry"),
        (Reply(400), "failed"),
        (Reply(401), "failed"),
        (Reply(404), "failed"),
        (Reply(410), "failed"),
        (Reply(301), "failed"),
        (Reply(None, "no url", permanent=True), "failed"),
    ],
)
def test_what_an_answer_means_for_the_event(reply: Reply, expected: str) -> None:
    """2xx delivered; 408, 429, 5xx and no answer retried; other answers failed at once."""
    assert expected == verdict(reply)


@pytest.mark.parametrize(
    ("tries", "low", "high"),
    [
        (1, timedelta(seconds=15), timedelta(seconds=30)),
        (2, timedelta(seconds=30), timedelta(seconds=60)),
        (3, timedelta(seconds=60), timedelta(seconds=120)),
        (8, timedelta(minutes=30), timedelta(hours=1)),
        (40, timedelta(minutes=30), timedelta(hours=1)),
    ],
)
def test_backoff_doubles_from_30_s_to_an_hour_with_jitter(
    tries: int, low: timedelta, high: timedelta
) -> None:
    """The wait keeps between half and all of 30 s * 2^(tries-1), at most an hour."""
    waits = [next_try_at(tries=tries, created_at=NOW, now=NOW, jitter=j) for j in (0.0, 0.5, 0.999)]
    assert all(w is not None and low <= w - NOW <= high for w in waits)
    assert waits[0] == NOW + low


def test_no_next_try_once_past_the_give_up_time() -> None:
    """An event whose next try would fall after 24 h from its outcome is given up."""
    late = NOW + GIVE_UP_AFTER - timedelta(minutes=10)
    assert next_try_at(tries=30, created_at=NOW, now=late, jitter=0.9) is None
    assert next_try_at(tries=30, created_at=NOW, now=late, jitter=0.0) is None
    early = NOW + timedelta(hours=1)
    assert next_try_at(tries=5, created_at=NOW, now=early, jitter=0.5) is not None


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    """A receiver asking for 10 minutes gets at least that; asking for a day gets the hour."""
    ten = next_try_at(
        tries=1, created_at=NOW, now=NOW, jitter=0.0, retry_after=timedelta(minutes=10)
    )
    day = next_try_at(tries=1, created_at=NOW, now=NOW, jitter=0.0, retry_after=timedelta(days=1))
    assert (NOW + timedelta(minutes=10), NOW + timedelta(hours=1)) == (ten, day)


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    """What a receiver computes with the standard library matches the header."""
    body = b'{"event":"case.closed"}'
    expected = hmac.new(b"whsec_x", b"1893978000." + body, hashlib.sha256).hexdigest()
    assert "sha256=" + expected == signature("whsec_x", 1893978000, body)


def test_secrets_differ_per_campaign_salt_and_installation_key() -> None:
    """A new salt, another campaign or another IVR_SECRET_KEY: another secret."""
    base = derive_secret("key-one", 1, "aa")
    assert base == derive_secret("key-one", 1, "aa")
    assert len({base, derive_secret("key-one", 1, "bb"), derive_secret("key-one", 2, "aa"),
                derive_secret("key-two", 1, "aa")}) == 4  # fmt: skip
    assert base.startswith("whsec_")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("none", None),
        ("", None),
        ("https://crm.example.test/ivr", "https://crm.example.test/ivr"),
        ("http://127.0.0.1:8080/hook", "http://127.0.0.1:8080/hook"),
        ("http://localhost/hook", "http://localhost/hook"),
    ],
)
def test_webhook_url_option_accepts_https_and_local_http(text: str, expected: str | None) -> None:
    """https anywhere; http only to this machine; none turns it off."""
    assert expected == OPTIONS["outcome_webhook_url"].parse(text)
    assert expected == webhook_url_of({"outcome_webhook_url": text})


@pytest.mark.parametrize(
    "text",
    [
        "http://crm.example.test/hook",
        "ftp://crm.example.test/hook",
        "https://user:pw@crm.example.test/hook",
        "https:///nohost",
        "https://crm.example.test:99999/hook",
        "crm.example.test/hook",
    ],
)
def test_webhook_url_option_refuses_the_rest(text: str) -> None:
    """Plain http to another host, other schemes, credentials, no host, a bad port."""
    with pytest.raises(ValueError):
        OPTIONS["outcome_webhook_url"].parse(text)


def test_campaigns_older_than_the_option_have_no_webhook() -> None:
    """A stored campaign without the key sends nothing."""
    assert webhook_url_of({}) is None


def test_body_is_the_same_bytes_for_the_same_payload() -> None:
    """Keys sorted and compact: every retry signs exactly what it sends."""
    payload = outcome_payload(
        kind="case.closed",
        event_id="e-1",
        occurred_at=NOW,
        case=CaseFacts(1, "ward-7", "P-1", "done", "completed", NOW, 2),
        answers={"b": "1", "a": None},
        open_escalations=[("complaint", "open")],
    )
    assert body_of(payload) == body_of(dict(reversed(list(payload.items()))))
    assert b'"answers":{"a":null,"b":"1"}' in body_of(payload)
    assert b'"done_at":"2030-01-07T01:00:00Z"' in body_of(payload)
