"""Creating and finding campaigns."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.audit.log import ensure_key, record
from ivr.campaigns.options import (
    OPTIONS,
    OptionError,
    apply_per_reason,
    campaign_config,
    campaign_terms,
)
from ivr.campaigns.templates import resolve_options, template
from ivr.flows.loader import load_shipped_flow, parse_flow_text, read_flow_text
from ivr.flows.model import Flow
from ivr.models import Campaign
from ivr.queue.rules import DEFAULT_TERMS, TermTable, format_sla
from ivr.services import Services

# What `ivr campaigns update` may change: options read from the campaign's row each time they are
# used (an escalation raised, a resolution checked, an outcome event written or delivered). The
# calling options are not among them: the cases were planned with them, and the diallers keep
# them parsed (Services.config).
UPDATABLE = ("sla", "priority", "outcomes", "evidence_reasons", "outcome_webhook_url")


class CampaignError(ValueError):
    """A campaign cannot be created or is not there."""


def create_campaign(
    session: Session,
    *,
    name: str,
    template_name: str,
    overrides: Mapping[str, str],
    now: datetime,
    flow_file: Path | None = None,
) -> Campaign:
    """A new campaign from a template; options and flow are checked here, never at call time.

    With `flow_file` the campaign runs that flow instead of the template's; the file's text is
    kept with the campaign, so later edits to the file change nothing until a new campaign.
    """
    if not name.strip():
        raise CampaignError("a campaign needs a name")
    tpl = template(template_name)
    options = resolve_options(tpl, apply_per_reason(tpl.defaults, overrides))
    definition = None
    if flow_file is None:
        flow = load_shipped_flow(tpl.flow)  # raises FlowError naming the file and node
    else:
        definition = read_flow_text(flow_file)
        flow = parse_flow_text(definition, str(flow_file))
    if options["language"] not in flow.languages:
        raise CampaignError(
            f"flow {flow.id!r} has no {options['language']} prompts "
            f"(it speaks {', '.join(flow.languages)}); set language= to one of them"
        )
    if session.scalar(select(Campaign.id).where(Campaign.name == name)) is not None:
        raise CampaignError(f"a campaign named {name!r} already exists")
    campaign = Campaign(
        name=name,
        template=tpl.name,
        flow=flow.id[:50],
        flow_definition=definition,
        options=options,
        created_at=now,
    )
    session.add(campaign)
    session.flush()
    return campaign


def campaign_named(session: Session, name: str) -> Campaign:
    """The campaign with this name; the error lists the names that exist."""
    campaign = session.scalar(select(Campaign).where(Campaign.name == name))
    if campaign is None:
        names = list(session.scalars(select(Campaign.name).order_by(Campaign.name)))
        known = ", ".join(names) if names else "none yet (ivr campaigns create)"
        raise CampaignError(f"no campaign named {name!r}; campaigns: {known}")
    return campaign


def update_campaign(
    session: Session,
    services: Services,
    campaign: Campaign,
    overrides: Mapping[str, str],
    *,
    actor: str,
) -> dict[str, tuple[str | None, str]]:
    """Change the queue's options of a campaign; audited (`campaign.update`).

    Returns each changed key with its old and new value. Only UPDATABLE keys the campaign's
    template takes are accepted; each is checked as at creation, then with the others.
    """
    tpl = template(campaign.template)
    stored = dict(campaign.options)
    folded = apply_per_reason(stored, overrides)
    problems: list[str] = []
    refused = sorted(key for key in folded if key not in UPDATABLE or key not in tpl.defaults)
    if refused:
        allowed = ", ".join(key for key in UPDATABLE if key in tpl.defaults)
        problems.append(
            f"option(s) {', '.join(refused)} cannot be changed on a campaign (updatable: "
            f"{allowed}); make a new campaign for the others"
        )
    options = dict(stored)
    for key, text in folded.items():
        if key in refused:
            continue
        option = OPTIONS[key]
        try:
            options[key] = option.format(option.parse(text))
        except ValueError as exc:
            problems.append(f"{key}={text!r}: {exc}")
    if not problems:
        try:
            campaign_config(options)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise OptionError("; ".join(problems))
    changed = {
        key: (stored.get(key), value) for key, value in options.items() if stored.get(key) != value
    }
    if not changed:
        return {}
    ensure_key(services)
    campaign.options = options  # a new dict: the JSON column sees the change
    record(
        session,
        services,
        actor=actor,
        action="campaign.update",
        object_kind="campaign",
        object_id=campaign.id,
        detail={key: {"from": old, "to": new} for key, (old, new) in changed.items()},
    )
    return changed


def campaign_flow(campaign: Campaign) -> Flow:
    """The flow the campaign runs: its own text, or its template's shipped file."""
    if campaign.flow_definition is not None:
        return parse_flow_text(campaign.flow_definition, f"campaign {campaign.name!r}")
    return load_shipped_flow(campaign.flow)


def effective_terms(campaign: Campaign) -> list[dict[str, object]]:
    """Each reason's priority and SLA for this campaign, and where they come from."""
    table = campaign_terms(campaign.options)
    same_day = campaign_config(campaign.options).same_day_reasons
    rows: list[dict[str, object]] = []
    for reason in table.reasons():
        terms = table.terms_for(reason)
        rows.append(
            {
                "reason": reason,
                "priority": terms.priority,
                "sla": "same working day" if reason in same_day else format_sla(terms.sla),
                "source": table.source(reason),
            }
        )
    return rows


def unset_reasons(flow: Flow, table: TermTable) -> list[str]:
    """Warnings for the reasons the flow escalates with that have no SLA term anywhere."""
    fallback = format_sla(DEFAULT_TERMS.sla)
    return [
        f"flow {flow.id!r} escalates with reason {reason!r}, which has no SLA term: it is due "
        f"in {fallback} at priority {DEFAULT_TERMS.priority}; give it one with "
        f"--set sla.{reason}=TERM (e.g. 3wd or 24h)"
        for reason in sorted(flow.escalation_reasons())
        if not table.has_sla(reason)
    ]


def flow_warnings(campaign: Campaign) -> list[str]:
    """unset_reasons for the campaign's flow and terms."""
    return unset_reasons(campaign_flow(campaign), campaign_terms(campaign.options))


__all__ = [
    "UPDATABLE",
    "CampaignError",
    "OptionError",
    "campaign_flow",
    "campaign_named",
    "create_campaign",
    "effective_terms",
    "flow_warnings",
    "unset_reasons",
    "update_campaign",
]
