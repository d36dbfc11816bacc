"""What an audit re-call can find (REQUIREMENTS.md: the audit office checks that the follow-up
really happened)."""

from __future__ import annotations

CONFIRMED = "confirmed"  #: the person confirms the follow-up call took place
NOT_CONFIRMED = "not_confirmed"  #: reached, but the person says no follow-up call took place
UNREACHABLE = "unreachable"  #: the audit re-call did not reach the person
OUTCOMES = (CONFIRMED, NOT_CONFIRMED, UNREACHABLE)
REACHED_OUTCOMES = (CONFIRMED, NOT_CONFIRMED)
