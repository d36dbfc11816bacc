"""Creating and finding campaigns."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.campaigns.options import OptionError
from ivr.campaigns.templates import resolve_options, template
from ivr.flows.loader import load_shipped_flow, parse_flow_text, read_flow_text
from ivr.models import Campaign


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
    options = resolve_options(tpl, overrides)
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


__all__ = ["CampaignError", "OptionError", "campaign_named", "create_campaign"]
