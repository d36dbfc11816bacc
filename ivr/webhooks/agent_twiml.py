"""The TwiML of an agent's callback: the agent's prompt, then the <Dial> to the customer. Pure.

The simulator's <Dial> support is built against exactly these documents: keep the attributes and
the URLs as they are (ivr.webhooks.agent_routes builds the URLs).
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.twiml.voice_response import VoiceResponse

from ivr.flows.twiml import VOICES

# StaffUser has no language yet: the agents' working language is Mandarin.
AGENT_LANGUAGE = "zh-CN"
GATHER_TIMEOUT_S = 10
RECORD = "record-from-answer-dual"  # the agent and the customer on a channel each, from the answer

# Only the escalation's id and reason: the agent's phone may be answered by a voicemail, which
# keeps what it hears, so nothing about the customer is said before the agent confirms.
PROMPTS: Mapping[str, str] = {
    "zh-CN": "您好，这里是回访中心。升级工单{escalation_id}，原因：{reason}。按1呼叫客户。",  # noqa: RUF001 (Chinese punctuation)
    "en-US": "This is the follow-up centre: escalation {escalation_id}, reason {reason}. "
    "Press 1 to call the customer.",
}
NO_KEY: Mapping[str, str] = {
    "zh-CN": "没有收到按键，再见。",  # noqa: RUF001 (Chinese punctuation)
    "en-US": "No key was pressed. Goodbye.",
}
NOT_CALLED: Mapping[str, str] = {
    "zh-CN": "该客户已在免打扰名单上，不会拨打。再见。",  # noqa: RUF001 (Chinese punctuation)
    "en-US": "The customer is on the do-not-call list and will not be called. Goodbye.",
}


def _language(language: str) -> str:
    return language if language in PROMPTS else "en-US"


def agent_prompt(escalation_id: int, reason: str, *, language: str, connect_url: str) -> str:
    """Ask the agent to press 1 before the customer is rung; no key: goodbye and hang up.

    The key press is what keeps an agent's voicemail from being bridged to the customer. No
    actionOnEmptyResult: silence falls through to the goodbye, and the connect URL only ever
    sees a key.
    """
    language = _language(language)
    voice = VOICES.get(language)
    response = VoiceResponse()
    gather = response.gather(num_digits=1, timeout=GATHER_TIMEOUT_S, action=connect_url)
    spoken_reason = reason.replace("_", " ")
    text = PROMPTS[language].format(escalation_id=escalation_id, reason=spoken_reason)
    gather.say(text, voice=voice, language=language)
    response.say(NO_KEY[language], voice=voice, language=language)
    response.hangup()
    return str(response)


def bridge(
    customer: str,
    *,
    caller_id: str,
    ring_timeout_s: int,
    time_limit_s: int,
    recording_url: str,
    action_url: str,
) -> str:
    """Dial the customer into the agent's call, recorded from the answer, one channel a side."""
    response = VoiceResponse()
    dial = response.dial(
        caller_id=caller_id,
        timeout=ring_timeout_s,
        time_limit=time_limit_s,
        record=RECORD,
        recording_status_callback=recording_url,
        recording_status_callback_event="completed",
        action=action_url,
    )
    dial.number(customer)
    return str(response)


def not_called(language: str) -> str:
    """Tell the agent the customer is not rung (listed since the request), then hang up."""
    language = _language(language)
    response = VoiceResponse()
    response.say(NOT_CALLED[language], voice=VOICES.get(language), language=language)
    response.hangup()
    return str(response)
