"""Creating campaigns from templates."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ivr.campaigns.options import OptionError
from ivr.campaigns.service import CampaignError, campaign_named, create_campaign
from ivr.campaigns.templates import template
from ivr.flows.loader import shipped_flow_path
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


def _flow_shipped(name: str) -> bool:
    """Whether the product ships this flow yet (cooling-off's is written by another change)."""
    return shipped_flow_path(name).is_file()


@pytest.mark.parametrize("template_name", ["post-discharge-72h", "post-discharge-1w"])
def test_post_discharge_variants_create_with_their_timing(
    sessions: sessionmaker[Session], clock: FakeClock, template_name: str
) -> None:
    """The variants run the post-discharge flow with their own offset and deadline."""
    with sessions.begin() as session:
        campaign = create_campaign(
            session, name=template_name, template_name=template_name, overrides={}, now=clock.now
        )
    assert ("post-discharge", template_name) == (campaign.flow, campaign.template)
    assert template(template_name).defaults["deadline"] == campaign.options["deadline"]


def test_cooling_off_campaign_stores_its_options(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """A cooling-off campaign keeps cooling_off_days and takes no deadline or ward options."""
    if not _flow_shipped("cooling-off"):
        pytest.skip("ivr/flows/definitions/cooling-off.yaml is not shipped yet")
    with sessions.begin() as session:
        campaign = create_campaign(
            session,
            name="policies",
            template_name="cooling-off",
            overrides={"cooling_off_days": "10"},
            now=clock.now,
        )
    assert ("cooling-off", "10", "0s") == (
        campaign.flow,
        campaign.options["cooling_off_days"],
        campaign.options["offset"],
    )
    assert "deadline" not in campaign.options
    assert "excluded_wards" not in campaign.options


def test_option_of_another_template_is_refused(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """cooling_off_days means nothing to a hospital campaign, so it is refused, not stored."""
    with sessions.begin() as session, pytest.raises(OptionError, match="cooling_off_days"):
        factories.campaign(session, clock.now, cooling_off_days="10")
