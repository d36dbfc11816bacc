"""An agent's callback's states: the order they move in, the time limits, what a request came to.

Shared by the request (ivr.queue.callback), the provider's webhooks (ivr.webhooks.agent_routes)
and the queue's views.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.models import AgentCallback, AgentCallbackStatus

__all__ = [
    "ACTIVE",
    "AGENT_RING_TIMEOUT_S",
    "AGENT_TIME_LIMIT_S",
    "BRIDGE_TIME_LIMIT_S",
    "FINAL",
    "CallbackResult",
    "callbacks_of",
    "move_forward",
]

S = AgentCallbackStatus
ACTIVE = frozenset({S.REQUESTED, S.CALLING_AGENT, S.AGENT_ANSWERED, S.BRIDGING})
FINAL = frozenset({S.COMPLETED, S.CUSTOMER_UNREACHED, S.AGENT_UNREACHED, S.FAILED})
# Webhooks come twice and out of order: a callback only ever moves to a higher rank, and the
# final states share the top one, so none of them is ever replaced by another.
_RANK = {S.REQUESTED: 0, S.CALLING_AGENT: 1, S.AGENT_ANSWERED: 2, S.BRIDGING: 3} | dict.fromkeys(
    FINAL, 4
)

AGENT_RING_TIMEOUT_S = 30
BRIDGE_TIME_LIMIT_S = 3600  # the <Dial>'s timeLimit: the bridged conversation
# The agent's leg carries the prompt and the customer's ringing before the bridged part.
AGENT_TIME_LIMIT_S = BRIDGE_TIME_LIMIT_S + 300


def move_forward(callback: AgentCallback, status: AgentCallbackStatus) -> bool:
    """Set the status if it is progress; False (nothing changed) for a repeated or late step."""
    if _RANK[status] <= _RANK[callback.status]:
        return False
    callback.status = status
    return True


@dataclass(frozen=True)
class CallbackResult:
    """What a request came to: the agent's phone is ringing, or why not."""

    callback_id: int
    escalation_id: int
    status: AgentCallbackStatus
    call_sid: str | None
    window_override: bool
    error: str | None = None  #: the provider's refusal, numbers redacted

    def message(self) -> str:
        """One line for the agent who asked."""
        head = f"callback {self.callback_id} of escalation {self.escalation_id}"
        if self.status == S.FAILED:
            return f"{head} failed: {self.error}"
        if self.error is not None:
            return (
                f"{head}: the provider's answer was lost ({self.error}); your phone may still "
                "ring, so do not ask again for a few minutes"
            )
        override = " (outside the calling windows, override logged)" if self.window_override else ""
        return f"{head}: your phone is ringing; press 1 to call the customer{override}"


def callbacks_of(session: Session, escalation_id: int) -> list[AgentCallback]:
    """The escalation's callbacks, oldest first."""
    query = (
        select(AgentCallback)
        .where(AgentCallback.escalation_id == escalation_id)
        .order_by(AgentCallback.id)
    )
    return list(session.scalars(query))
