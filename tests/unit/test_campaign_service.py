"""Creating campaigns from templates."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ivr.campaigns.service import CampaignError, campaign_named, create_campaign
from ivr.campaigns.templates import OptionError
from tests import factories
from tests.conftest import FakeClock

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


def test_create_stores_canonical_options(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    with sessions.begin() as session:
        campaign = factories.campaign(session, clock.now, retry_spacing="120m", max_attempts="4")
    assert campaign.options["retry_spacing"] == "2h"
    assert campaign.options["max_attempts"] == "4"
    assert campaign.flow == "post-discharge"


def test_duplicate_name_is_refused(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    with sessions.begin() as session:
        factories.campaign(session, clock.now)
    with sessions.begin() as session, pytest.raises(CampaignError, match="already exists"):
        factories.campaign(session, clock.now)


def test_unknown_option_lists_valid_keys(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    with sessions.begin() as session, pytest.raises(OptionError) as info:
        create_campaign(
            session,
            name="x",
            template_name="post-discharge",
            overrides={"colour": "red"},
            now=clock.now,
        )
    assert "colour" in str(info.value)
    assert "retry_spacing" in str(info.value)


def test_unknown_campaign_lists_existing(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    with sessions.begin() as session:
        factories.campaign(session, clock.now, name="ward-7")
    with sessions.begin() as session, pytest.raises(CampaignError, match="ward-7"):
        campaign_named(session, "ward-9")
