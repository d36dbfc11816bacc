"""What a flow's prompts may name, for one call: the values behind {name}, {crew}, ...

Only case fields meant to be said; identity facts are never here (ivr.flows.loader refuses
prompts that name them, and the hashes in the case's details are not read).
"""

from __future__ import annotations

from ivr.models import Attempt
from ivr.services import Services

# Case details a prompt may name as they are (see ivr.flows.loader.PLACEHOLDERS).
DETAILS = (
    "premium",
    "payment_years",
    "cooling_off_days",
    "appointment_date",
    "appointment_content",
    "service",
    "provider",
    "crew",
    "designer",
    "doctor",
)
# A renovation job is called three times; the prompt names which visit this is.
STAGES = {
    "start": {"zh-CN": "开工", "en-US": "start-of-works"},
    "mid": {"zh-CN": "中期", "en-US": "mid-point"},
    "end": {"zh-CN": "竣工", "en-US": "completion"},
}


def prompt_context(services: Services, attempt: Attempt) -> dict[str, str]:
    """The placeholder values for this attempt's call, in its language."""
    case = attempt.case
    campaign = case.campaign
    details = case.details
    organisation = services.config(campaign).organisation
    stage = STAGES.get(str(details.get("stage", "")), {})
    return {
        "name": case.contact.name,
        "organisation": organisation,
        "insurer": organisation,
        "department": case.department or "",
        "discharge_date": case.anchor_date.isoformat(),
        # Read digit by digit: "1 2 3 4" makes the voice say each digit, not a big number.
        "policy_number_digits": " ".join(case.external_ref),
        "transfer_number": str(campaign.options.get("transfer_number", "")),
        "stage_text": stage.get(attempt.language, ""),
        **{key: str(details.get(key, "")) for key in DETAILS},
    }
