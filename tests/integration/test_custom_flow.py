"""A campaign may run a flow of its own: checked at creation, kept with the campaign, spoken."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.app import create_app
from ivr.campaigns.service import CampaignError, create_campaign
from ivr.flows.loader import FlowError
from ivr.models import Attempt, AttemptStatus, Campaign, CaseStatus
from ivr.services import Services
from tests import factories
from tests.conftest import FakeClock
from tests.webhook_client import signed_post

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

FLOW = """
id: ward-survey
languages: [zh-CN, en-US]
start: ask
reprompt: {zh-CN: "请再按一次。", en-US: "Please press again."}
nodes:
  ask:
    kind: ask
    answer: overall
    prompt:
      zh-CN: "{name}您好 请为护理打分 1到5"
      en-US: "Hello {name}, rate the care 1 to 5."
    keys: {"1": "1", "2": "2", "3": "3", "4": "4", "5": "5"}
    next: done
    on_no_input: done
  done:
    kind: end
    outcome: completed
    prompt: {zh-CN: "谢谢 再见", en-US: "Thank you, goodbye."}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ward-survey.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_campaign_speaks_its_own_flow(
    sessions: sessionmaker[Session], services: Services, clock: FakeClock, tmp_path: Path
) -> None:
    with sessions.begin() as session:
        campaign = create_campaign(
            session,
            name="ward-3",
            template_name="post-discharge",
            overrides={"language": "en-US"},
            now=clock.now,
            flow_file=write(tmp_path, FLOW),
        )
        assert campaign.flow == "ward-survey" and campaign.flow_definition is not None
        case = factories.case(session, campaign, clock.now, language="en-US")
        case.status, case.attempts_made = CaseStatus.IN_CALL, 1
        attempt = Attempt(
            case_id=case.id,
            number=1,
            status=AttemptStatus.QUEUED,
            call_sid="CA" + "c1" * 16,
            language="en-US",
            created_at=clock.now,
        )
        session.add(attempt)
        session.flush()
        attempt_id = attempt.id
    write(tmp_path, "changed later: not the campaign's business")
    client = create_app(services.settings, services=services).test_client()
    opening = signed_post(
        client, f"/twilio/voice?attempt={attempt_id}", {"CallSid": "CA" + "c1" * 16}
    )
    assert "rate the care" not in opening.get_data(as_text=True)  # neutral until AMD answers
    answer = signed_post(
        client, f"/twilio/voice?attempt={attempt_id}&held=1", {"CallSid": "CA" + "c1" * 16}
    )
    assert answer.status_code == 200
    assert "rate the care 1 to 5" in answer.get_data(as_text=True)


def test_a_broken_flow_is_refused_at_creation_naming_the_node(
    sessions: sessionmaker[Session], clock: FakeClock, tmp_path: Path
) -> None:
    broken = FLOW.replace("next: done", "next: nowhere")
    with sessions.begin() as session, pytest.raises(FlowError) as info:
        create_campaign(
            session,
            name="ward-3",
            template_name="post-discharge",
            overrides={},
            now=clock.now,
            flow_file=write(tmp_path, broken),
        )
    assert info.value.node_id == "ask" and "nowhere" in info.value.reason
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Campaign)) == 0


def test_a_flow_without_the_campaigns_language_is_refused(
    sessions: sessionmaker[Session], clock: FakeClock, tmp_path: Path
) -> None:
    english_only = (
        FLOW.replace("languages: [zh-CN, en-US]", "languages: [en-US]")
        .replace('zh-CN: "请再按一次。", ', "")
        .replace('      zh-CN: "{name}您好 请为护理打分 1到5"\n', "")
        .replace('zh-CN: "谢谢 再见", ', "")
    )
    with sessions.begin() as session, pytest.raises(CampaignError, match="no zh-CN prompts"):
        create_campaign(
            session,
            name="ward-3",
            template_name="post-discharge",
            overrides={},
            now=clock.now,
            flow_file=write(tmp_path, english_only),
        )
