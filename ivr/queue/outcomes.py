"""What an escalation may be resolved with, and what proof a resolution needs. Pure.

A campaign names its outcomes (option `outcomes`, defaults per template) and the reasons that
need evidence besides missell_suspected (option `evidence_reasons`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ivr.campaigns.options import campaign_config

# The regulator's rule: a suspected mis-sale is closed on a recording or a signed document.
ALWAYS_NEEDS_EVIDENCE = frozenset({"missell_suspected"})
# A letter or a home visit is proven by the receipt the policyholder signed, not by a call: for
# every reason, not only those that need evidence.
SCAN_OUTCOMES = frozenset({"letter_sent", "home_visit"})


@dataclass(frozen=True)
class ResolutionRules:
    """A campaign's outcomes and the reasons that cannot be closed without evidence."""

    outcomes: tuple[str, ...]
    evidence_reasons: frozenset[str]

    def needs_evidence(self, reason: str) -> bool:
        """True when an escalation with this reason is closed only with a recording or a scan."""
        return reason in ALWAYS_NEEDS_EVIDENCE or reason in self.evidence_reasons


def rules_for(template_name: str, options: Mapping[str, str]) -> ResolutionRules:
    """A campaign's rules; a campaign stored before the options existed gets its template's."""
    from ivr.campaigns.templates import TEMPLATES

    defaults = TEMPLATES[template_name].defaults if template_name in TEMPLATES else {}
    config = campaign_config(options)
    outcomes = config.outcomes
    if not outcomes and "outcomes" in defaults:
        outcomes = campaign_config({**options, "outcomes": defaults["outcomes"]}).outcomes
    return ResolutionRules(outcomes, config.evidence_reasons)


def missing_evidence(
    rules: ResolutionRules, *, reason: str, outcome: str, recordings: int, scans: int
) -> str | None:
    """Why the evidence linked so far does not allow this resolution; None when it does.

    A letter or a home visit is a valid outcome only with the receipt the policyholder signed,
    whatever the reason (REQUIREMENTS.md section 6): an uploaded scan, never a recording.
    """
    if outcome in SCAN_OUTCOMES and scans == 0:
        return (
            f"{outcome} needs a scan of the receipt the policyholder signed: upload it (--scan "
            "FILE, the console's scan field, or POST /api/v1/escalations/ID/evidence); a "
            "recording proves a call, not a letter or a visit"
        )
    if not rules.needs_evidence(reason):
        return None
    if recordings + scans == 0:
        return (
            f"{reason} is closed only with evidence: a recording of this case or a scanned "
            "document signed by the person"
        )
    return None


def is_seller(seller: object, username: str) -> bool:
    """True when the case's recorded seller is this user (trimmed, case-insensitive)."""
    if not isinstance(seller, str) or not seller.strip():
        return False
    return seller.strip().casefold() == username.strip().casefold()
