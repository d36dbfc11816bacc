"""POST due outbox events to their campaign's outcome_webhook_url, signed, retried with backoff.

Per event, each database step its own short transaction, none open during the request:

1. claim: the oldest due event is locked (FOR UPDATE SKIP LOCKED on PostgreSQL, the one writing
   transaction on SQLite) and leased until `LEASE` from now, so two `ivr dial` processes never
   POST the same event at once;
2. POST it (no transaction open), with a connect and a read timeout;
3. record the answer, conditional on our lease: 2xx delivered; 408, 429, 5xx, a timeout or a
   connection error tried again after a backoff (30 s doubling, at most an hour, with jitter)
   until `GIVE_UP_AFTER` from the outcome; any other answer (4xx, a redirect) failed at once.

A deliverer that dies holding a lease delays its event by the lease; the next pass sends it
again with the same X-IVR-Event-Id, which is how the receiver knows it has it already.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ivr.campaigns.options import webhook_url_of
from ivr.db import is_postgres, rowcount
from ivr.models import Campaign, OutboxEvent, OutboxStatus
from ivr.outcome_webhook.payload import body_of
from ivr.outcome_webhook.signing import derive_secret, signature
from ivr.privacy import redact_phones
from ivr.services import Services
from recordings.fetch import BACKOFF_CAP, backoff

log = logging.getLogger(__name__)

TIMEOUT = (5.0, 10.0)  # seconds to connect, then to wait for the answer's first byte
# Longer than one request can take (TIMEOUT): a lease never runs out while its POST is in flight.
LEASE = timedelta(minutes=2)
GIVE_UP_AFTER = timedelta(hours=24)  # from the outcome: then the event is FAILED
BATCH = 50  # events a pass sends at most, so the job's pass stays short
RETRYABLE = frozenset({408, 429})  # 4xx answers that mean "later", not "never"
USER_AGENT = "ivr-followup outcome-webhook"


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    delivered: int = 0
    retrying: int = 0  # failed for now; tried again after a backoff
    failed: int = 0  # refused or given up: needs a person (`ivr webhooks list --status failed`)
    messages: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.delivered} delivered, {self.retrying} to retry, {self.failed} failed"


@dataclass(frozen=True)
class Reply:
    """What the receiver said, or why it said nothing."""

    status_code: int | None  # None: no HTTP answer (timeout, connection error, not sent)
    error: str | None = None
    retry_after: timedelta | None = None  # a 429's or 503's Retry-After, in seconds
    permanent: bool = False  # no answer, and none will come by trying again


def verdict(answer: Reply) -> str:
    """delivered, retry or failed: what an answer means for its event."""
    code = answer.status_code
    if code is None:
        return "failed" if answer.permanent else "retry"
    if 200 <= code < 300:
        return "delivered"
    if code >= 500 or code in RETRYABLE:
        return "retry"
    return "failed"  # the receiver refuses it (4xx) or points elsewhere (3xx): set the URL right


def next_try_at(
    *,
    tries: int,
    created_at: datetime,
    now: datetime,
    jitter: float,
    retry_after: timedelta | None = None,
) -> datetime | None:
    """When to try again after `tries` failed tries; None once that is past the give-up time.

    `jitter` in [0, 1) keeps between half and all of the backoff, so that the events a receiver's
    outage held back do not all come back in the same second.
    """
    wait = backoff(min(tries, 20)) * (0.5 + jitter / 2)
    if retry_after is not None:
        wait = max(wait, min(retry_after, BACKOFF_CAP))
    at = now + wait
    return None if at > created_at + GIVE_UP_AFTER else at


@dataclass(frozen=True)
class _Claim:
    """An event this pass holds until `lease_until`, with what its request needs."""

    id: int
    event_id: str
    kind: str
    case_id: int
    campaign: str
    url: str | None
    secret: str | None
    body: bytes
    tries: int
    created_at: datetime
    lease_until: datetime
    problem: Reply | None  # set when the event cannot be sent as it stands


def deliver_due(
    services: Services,
    *,
    http: requests.Session | None = None,
    limit: int = BATCH,
    timeout: tuple[float, float] = TIMEOUT,
    jitter: Callable[[], float] = random.random,
) -> DeliveryReport:
    """Send up to `limit` due events, one at a time, and record each answer."""
    report = DeliveryReport()
    client = http or requests.Session()
    try:
        for _ in range(limit):
            claim = _claim_next(services)
            if claim is None:
                break
            answer = claim.problem or _post(client, claim, services.clock(), timeout)
            _record(services, claim, answer, jitter(), report)
    finally:
        if http is None:
            client.close()
    return report


def _claim_next(services: Services) -> _Claim | None:
    now = services.clock()
    with services.sessions.begin() as session:
        query = (
            select(OutboxEvent)
            .where(
                OutboxEvent.status == OutboxStatus.PENDING,
                OutboxEvent.next_try_at <= now,
                or_(OutboxEvent.leased_until.is_(None), OutboxEvent.leased_until <= now),
            )
            .order_by(OutboxEvent.next_try_at, OutboxEvent.id)
            .limit(1)
        )
        if is_postgres(session.get_bind()):  # type: ignore[arg-type]
            # Another dialler's claim holds its row: take the next one rather than wait.
            query = query.with_for_update(skip_locked=True, of=OutboxEvent)
        row = session.scalar(query)
        if row is None:
            return None
        row.leased_until = lease_until = now + LEASE
        campaign = session.get_one(Campaign, row.campaign_id)
        url, secret, problem = _target(services, session, campaign)
        return _Claim(
            id=row.id,
            event_id=row.event_id,
            kind=row.kind,
            case_id=row.case_id,
            campaign=campaign.name,
            url=url,
            secret=secret,
            body=body_of(row.payload),
            tries=row.tries,
            created_at=row.created_at,
            lease_until=lease_until,
            problem=problem,
        )


def _target(
    services: Services, session: Session, campaign: Campaign
) -> tuple[str | None, str | None, Reply | None]:
    """The campaign's URL and secret, or the reason the event cannot go now."""
    try:
        url = webhook_url_of(campaign.options)
    except ValueError as exc:
        return None, None, Reply(None, f"outcome_webhook_url: {exc}", permanent=True)
    if url is None:
        return None, None, Reply(None, "the campaign has no outcome_webhook_url", permanent=True)
    key = services.settings.secret_key
    if not key or campaign.webhook_salt is None:
        # Never sent unsigned; retried, so that making the secret in time delivers it.
        missing = "IVR_SECRET_KEY" if not key else "a signing secret"
        fix = f"run `ivr campaigns webhook-secret {campaign.name}`" if key else "set it"
        return url, None, Reply(None, f"not signed: no {missing} ({fix})")
    return url, derive_secret(key, campaign.id, campaign.webhook_salt), None


def _post(
    http: requests.Session, claim: _Claim, now: datetime, timeout: tuple[float, float]
) -> Reply:
    assert claim.url is not None and claim.secret is not None  # _target said so
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-IVR-Event": claim.kind,
        "X-IVR-Event-Id": claim.event_id,
        "X-IVR-Timestamp": str(timestamp),
        "X-IVR-Signature": signature(claim.secret, timestamp, claim.body),
    }
    try:
        # Redirects are not followed: the signed body would go somewhere nobody configured.
        with http.post(
            claim.url,
            data=claim.body,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            stream=True,  # the answer's body is never read: a huge one cannot hold the pass up
        ) as response:
            return Reply(
                response.status_code,
                None if response.ok else f"HTTP {response.status_code}",
                _retry_after(response.headers.get("Retry-After")),
            )
    except requests.Timeout:
        return Reply(None, f"no answer within {timeout[0]:g}+{timeout[1]:g} s")
    except requests.RequestException as exc:
        # The exception's text carries the URL; its type says enough.
        return Reply(None, f"connection failed: {type(exc).__name__}")


def _retry_after(value: str | None) -> timedelta | None:
    if value is None or not value.strip().isdigit():
        return None  # the HTTP-date form is rare in practice; the backoff covers it
    return timedelta(seconds=int(value.strip()))


def _record(
    services: Services, claim: _Claim, answer: Reply, jitter: float, report: DeliveryReport
) -> None:
    now = services.clock()
    tries = claim.tries + 1
    outcome = verdict(answer)
    error = None if answer.error is None else redact_phones(answer.error)[:500]
    values: dict[str, object] = {
        "tries": tries,
        "leased_until": None,
        "last_status_code": answer.status_code,
        "last_error": error,
    }
    retry_at = None
    if outcome == "retry":
        retry_at = next_try_at(
            tries=tries,
            created_at=claim.created_at,
            now=now,
            jitter=jitter,
            retry_after=answer.retry_after,
        )
        if retry_at is None:
            outcome = "failed"
            values["last_error"] = f"gave up after {tries} tries: {error}"
    if outcome == "delivered":
        values.update(status=OutboxStatus.DELIVERED, delivered_at=now, next_try_at=None)
    elif outcome == "failed":
        values.update(status=OutboxStatus.FAILED, failed_at=now, next_try_at=None)
    else:
        values.update(next_try_at=retry_at)
    with services.sessions.begin() as session:
        moved = session.execute(
            update(OutboxEvent)
            .where(
                OutboxEvent.id == claim.id,
                OutboxEvent.status == OutboxStatus.PENDING,
                OutboxEvent.leased_until == claim.lease_until,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    fields = {
        "event_id": claim.event_id,
        "case_id": claim.case_id,
        "campaign": claim.campaign,
        "status_code": answer.status_code,
        "tries": tries,
    }
    if rowcount(moved) != 1:
        # Our lease ran out and another pass took the event over; its answer counts.
        log.warning("webhook lease lost", extra={"action": "webhook.lease_lost", **fields})
        return
    if outcome == "delivered":
        report.delivered += 1
        log.info("webhook delivered", extra={"action": "webhook.delivered", **fields})
    elif outcome == "failed":
        report.failed += 1
        report.messages.append(f"event {claim.id} (case {claim.case_id}) failed: {error}")
        log.error("webhook failed: %s", error, extra={"action": "webhook.failed", **fields})
    else:
        report.retrying += 1
        log.warning(
            "webhook to retry: %s",
            error,
            extra={"action": "webhook.retry", "next_try_at": retry_at, **fields},
        )
