"""The TwiML of an agent's callback, parsed as XML, and the order its statuses move in. No app."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from ivr.models import AgentCallback, AgentCallbackStatus
from ivr.queue.callback_state import move_forward
from ivr.webhooks.agent_twiml import agent_prompt, bridge, not_called

S = AgentCallbackStatus
CONNECT = "https://ivr.example.test/twilio/agent/connect?callback=7"
CUSTOMER = "+12025550101"  # fictional (555-01xx)
CALLER_ID = "+15005550006"


def test_agent_prompt_gathers_one_key_then_says_goodbye_and_hangs_up() -> None:
    """Gather(numDigits=1, timeout=10, action=connect) with the Mandarin line, then Say, Hangup."""
    root = ET.fromstring(
        agent_prompt(42, "clinical_concern", language="zh-CN", connect_url=CONNECT)
    )

    assert "Response" == root.tag
    assert ["Gather", "Say", "Hangup"] == [child.tag for child in root]
    gather, goodbye, _ = list(root)
    assert {"numDigits": "1", "timeout": "10", "action": CONNECT} == gather.attrib
    (say,) = list(gather)
    assert {"voice": "Polly.Zhiyu", "language": "zh-CN"} == say.attrib
    assert "42" in (say.text or "")
    assert "clinical concern" in (say.text or "")
    assert "按1" in (say.text or "")
    assert {"voice": "Polly.Zhiyu", "language": "zh-CN"} == goodbye.attrib
    assert "再见" in (goodbye.text or "")


def test_agent_prompt_names_no_customer_data() -> None:
    """The agent's voicemail may keep the prompt: only the escalation's id and reason are said."""
    body = agent_prompt(42, "complaint", language="en-US", connect_url=CONNECT)

    spoken = " ".join(e.text or "" for e in ET.fromstring(body).iter("Say"))
    assert "escalation 42, reason complaint. Press 1 to call the customer." in spoken
    assert "+" not in spoken


def test_agent_prompt_in_an_unknown_language_is_english() -> None:
    """A language with no prompt falls back to English with its voice."""
    root = ET.fromstring(agent_prompt(1, "partial", language="fr-FR", connect_url=CONNECT))

    say = root.find("Gather/Say")
    assert say is not None
    assert {"voice": "Polly.Joanna", "language": "en-US"} == say.attrib


def test_bridge_dials_the_customer_recorded_in_two_channels_with_an_action() -> None:
    """The <Dial> of the contract: caller id, ring timeout, 1 h, dual recording, callbacks."""
    body = bridge(
        CUSTOMER,
        caller_id=CALLER_ID,
        ring_timeout_s=30,
        time_limit_s=3600,
        recording_url="https://ivr.example.test/twilio/agent/recording?callback=7",
        action_url="https://ivr.example.test/twilio/agent/dialed?callback=7",
    )

    root = ET.fromstring(body)
    assert ["Dial"] == [child.tag for child in root]
    (dial,) = list(root)
    expected = {
        "callerId": CALLER_ID,
        "timeout": "30",
        "timeLimit": "3600",
        "record": "record-from-answer-dual",
        "recordingStatusCallback": "https://ivr.example.test/twilio/agent/recording?callback=7",
        "recordingStatusCallbackEvent": "completed",
        "action": "https://ivr.example.test/twilio/agent/dialed?callback=7",
    }
    assert expected == dial.attrib
    assert [("Number", CUSTOMER)] == [(n.tag, n.text) for n in dial]


def test_not_called_tells_the_agent_and_hangs_up() -> None:
    """A customer listed since the request: a short line, then the hang-up."""
    root = ET.fromstring(not_called("zh-CN"))

    assert ["Say", "Hangup"] == [child.tag for child in root]


def _callback(status: AgentCallbackStatus) -> AgentCallback:
    return AgentCallback(
        escalation_id=1,
        case_id=1,
        agent_id=1,
        status=status,
        requested_at=datetime(2030, 1, 7, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("current", "new", "moved"),
    [
        (S.REQUESTED, S.CALLING_AGENT, True),
        (S.CALLING_AGENT, S.AGENT_ANSWERED, True),
        (S.AGENT_ANSWERED, S.BRIDGING, True),
        (S.BRIDGING, S.COMPLETED, True),
        (S.AGENT_ANSWERED, S.AGENT_UNREACHED, True),
        (S.AGENT_ANSWERED, S.CALLING_AGENT, False),  # a late "ringing"
        (S.BRIDGING, S.AGENT_ANSWERED, False),  # a repeated answer request
        (S.COMPLETED, S.AGENT_UNREACHED, False),  # final stays final
        (S.CUSTOMER_UNREACHED, S.COMPLETED, False),
        (S.FAILED, S.CALLING_AGENT, False),
    ],
)
def test_a_callback_only_moves_forward(
    current: AgentCallbackStatus, new: AgentCallbackStatus, moved: bool
) -> None:
    """Repeated or late steps never move a callback back, and a final state is never replaced."""
    callback = _callback(current)

    assert moved == move_forward(callback, new)
    assert (new if moved else current) == callback.status
