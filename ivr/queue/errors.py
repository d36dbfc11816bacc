"""Why a queue action was refused. Each message is shown to the member of staff as it is.

    QueueError
    ├── EscalationNotFoundError    no escalation with that id
    ├── StaffUserError             the acting or named user is unknown or disabled
    ├── NotAllowedError            role, scope, not the holder, the policy's own seller
    ├── EscalationStateError       already resolved, not resolved (reopen), not claimed
    ├── OutcomeError               not one of the campaign's outcomes
    ├── EvidenceError              evidence missing, of another case, or not a usable scan
    ├── ReopenConflictError        another escalation of the case and reason is open
    └── CallbackError              an agent's callback cannot be placed (ivr.queue.callback)
        ├── NoPhoneError           the agent has no phone to ring first
        ├── DoNotCallError         the customer's number is on the do-not-call list
        └── OutsideWindowError     outside the campaign's calling windows, and no override

A claim lost to another agent is not an error: claim() returns who holds it.
"""

from __future__ import annotations

from datetime import datetime


class QueueError(Exception):
    """A queue action was refused; the message says why, without personal data."""


class EscalationNotFoundError(QueueError):
    """There is no escalation with this id."""


class StaffUserError(QueueError):
    """The user is unknown or disabled."""


class NotAllowedError(QueueError):
    """This user may not do this to this escalation."""


class EscalationStateError(QueueError):
    """The escalation is not in a state that allows this action."""


class OutcomeError(QueueError):
    """The outcome is not one of the campaign's."""


class EvidenceError(QueueError):
    """The evidence is missing or cannot be linked to this escalation."""


class ReopenConflictError(QueueError):
    """Another escalation of the same case and reason is not resolved yet."""


class CallbackError(QueueError):
    """An agent's callback cannot be placed now."""


class NoPhoneError(CallbackError):
    """The agent has no phone number to ring first."""


class DoNotCallError(CallbackError):
    """The customer's number is on the do-not-call list."""


class OutsideWindowError(CallbackError):
    """It is outside the campaign's calling windows and no override was confirmed."""

    def __init__(self, message: str, *, opens_at: datetime | None) -> None:
        super().__init__(message)
        self.opens_at = opens_at  #: when the next window opens (UTC); None: none within a year
