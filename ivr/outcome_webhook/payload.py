"""What an outcome event says, and the exact bytes that are signed and sent. Pure.

Never identity facts, the case's details (diagnosis, doctor, ...) nor the phone number: the
receiver knows the case by its external_ref.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

CASE_CLOSED = "case.closed"  #: the case reached its final outcome (or was excluded)
ESCALATION_RESOLVED = "escalation.resolved"  #: a person resolved one of its escalations
KINDS = (CASE_CLOSED, ESCALATION_RESOLVED)


@dataclass(frozen=True)
class CaseFacts:
    """The case as the receiver sees it."""

    case_id: int
    campaign: str
    external_ref: str
    status: str
    outcome: str | None
    done_at: datetime | None
    attempts: int


@dataclass(frozen=True)
class Resolution:
    """The escalation an escalation.resolved event is about."""

    escalation_id: int
    reason: str
    outcome: str | None
    resolved_at: datetime | None


def iso(moment: datetime | None) -> str | None:
    """An aware UTC datetime as ISO 8601 with a Z."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def outcome_payload(
    *,
    kind: str,
    event_id: str,
    occurred_at: datetime,
    case: CaseFacts,
    answers: Mapping[str, str | None],
    open_escalations: Sequence[tuple[str, str]],
    resolution: Resolution | None = None,
) -> dict[str, Any]:
    """The JSON object of one event; answers are the completing attempt's (question -> value)."""
    payload: dict[str, Any] = {
        "event": kind,
        "event_id": event_id,
        "occurred_at": iso(occurred_at),
        "campaign": case.campaign,
        "case_id": case.case_id,
        "external_ref": case.external_ref,
        "status": case.status,
        "outcome": case.outcome,
        "done_at": iso(case.done_at),
        "attempts": case.attempts,
        "answers": dict(answers),
        "open_escalations": [
            {"reason": reason, "status": status} for reason, status in open_escalations
        ],
    }
    if resolution is not None:
        payload["escalation"] = {
            "id": resolution.escalation_id,
            "reason": resolution.reason,
            "outcome": resolution.outcome,
            "resolved_at": iso(resolution.resolved_at),
        }
    return payload


def body_of(payload: Mapping[str, Any]) -> bytes:
    """The request body: compact, keys sorted, so every retry signs and sends the same bytes."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
