"""Creating and finding campaigns."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.campaigns.templates import OptionError, resolve_options, template
from ivr.flows.loader import load_shipped_flow
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
) -> Campaign:
    """A new campaign from a template; options and flow are checked here, never at call time."""
    if not name.strip():
        raise CampaignError("a campaign needs a name")
    tpl = template(template_name)
    options = resolve_options(tpl, overrides)
    load_shipped_flow(tpl.flow)  # raises FlowError naming the file and node
    if session.scalar(select(Campaign.id).where(Campaign.name == name)) is not None:
        raise CampaignError(f"a campaign named {name!r} already exists")
    campaign = Campaign(
        name=name, template=tpl.name, flow=tpl.flow, options=options, created_at=now
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
