"""The services a request or a tick needs, built once and passed in (app.extensions["ivr"])."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache

from sqlalchemy.orm import Session, sessionmaker

from ivr.campaigns.options import CampaignConfig, campaign_config
from ivr.config import Settings
from ivr.flows.loader import load_shipped_flow, parse_flow_text
from ivr.flows.model import Flow
from ivr.models import Campaign
from ivr.telephony.port import Telephony

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time, aware UTC."""
    return datetime.now(UTC)


@cache
def shipped_flow(flow_id: str) -> Flow:
    """A shipped flow, loaded and validated once per process."""
    return load_shipped_flow(flow_id)


@dataclass
class Services:
    """What the shells (webhooks, dispatcher, fetcher, CLI) work with."""

    settings: Settings
    sessions: sessionmaker[Session]
    telephony: Telephony | None = None
    clock: Clock = system_clock
    _configs: dict[int, CampaignConfig] = field(default_factory=dict, repr=False)
    _flows: dict[tuple[int, str], Flow] = field(default_factory=dict, repr=False)

    def flow(self, campaign: Campaign) -> Flow:
        """The flow a campaign runs: its own, validated when it was created, or a shipped one."""
        if campaign.flow_definition is None:
            return shipped_flow(campaign.flow)
        # Parsed once per process (every webhook asks). Keyed by the text too, not the id alone:
        # a definition changed in the row, or an id reused by a new database, is parsed afresh
        # rather than served stale; hashing and comparing the text costs microseconds.
        key = (campaign.id, campaign.flow_definition)
        cached = self._flows.get(key)
        if cached is None:
            path = f"campaign {campaign.name!r}"
            cached = self._flows[key] = parse_flow_text(campaign.flow_definition, path)
        return cached

    def config(self, campaign: Campaign) -> CampaignConfig:
        """A campaign's parsed options, cached: the calling options never change on a campaign.

        `ivr campaigns update` changes only options read from the campaign's row at each use
        (ivr.campaigns.service.UPDATABLE); never read those through this cache.
        """
        cached = self._configs.get(campaign.id)
        if cached is None:
            cached = self._configs[campaign.id] = campaign_config(campaign.options)
        return cached

    def config_of(self, session: Session, campaign_id: int) -> CampaignConfig:
        """A campaign's parsed options by id; the row is read only the first time it is asked."""
        cached = self._configs.get(campaign_id)
        if cached is None:
            cached = self.config(session.get_one(Campaign, campaign_id))
        return cached

    def url(self, path: str) -> str:
        """An absolute URL the provider can reach."""
        return f"{self.settings.public_base_url}{path}"
