"""Engine steps rendered as TwiML: the Gather's attributes, voices per language, escaping."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from ivr.flows.engine import start
from ivr.flows.loader import load_shipped_flow
from ivr.flows.model import Audio, Gather, Prompt, Step
from ivr.flows.twiml import AudioPromptError, fill, hangup, render

FLOW = load_shipped_flow("post-discharge")
ACTION = "https://ivr.example.test/twilio/gather?attempt=42&step=3"
CONTEXT = {"name": "Alex Example", "organisation": "Example Hospital"}


def parsed(xml: str) -> ET.Element:
    """The Response element of a TwiML document."""
    root = ET.fromstring(xml)
    assert "Response" == root.tag
    return root


def first_step() -> Step:
    """The shipped flow's first step (the identity question)."""
    step = start(FLOW).step
    assert step is not None
    return step


def test_gather_posts_keys_to_the_action_url_with_attempt_and_step() -> None:
    """The Gather carries every attribute the webhook relies on."""
    root = parsed(render(first_step(), language="en-US", context=CONTEXT, action_url=ACTION))
    (gather,) = list(root)
    assert "Gather" == gather.tag
    assert {
        "input": "dtmf",
        "numDigits": "1",
        "timeout": "6",
        "finishOnKey": "#",
        "action": ACTION,
        "method": "POST",
        "actionOnEmptyResult": "true",
    } == gather.attrib


def test_action_url_ampersand_is_escaped_in_the_document() -> None:
    """The raw XML writes & as &amp; (Twilio would refuse a bare ampersand)."""
    xml = render(first_step(), language="en-US", context=CONTEXT, action_url=ACTION)
    assert 'action="https://ivr.example.test/twilio/gather?attempt=42&amp;step=3"' in xml


def test_gather_width_timeout_and_finish_key_come_from_the_step() -> None:
    """numDigits, timeout and finishOnKey follow the engine's Gather."""
    step = Step((Prompt({"en-US": "Enter the code."}),), Gather(4, 12, ""))
    gather = parsed(render(step, language="en-US", context={}, action_url=ACTION))[0]
    assert ("4", "12", "") == (
        gather.get("numDigits"),
        gather.get("timeout"),
        gather.get("finishOnKey"),
    )


@pytest.mark.parametrize(
    ("language", "voice", "fragment"),
    [("zh-CN", "Polly.Zhiyu", "出院随访中心"), ("en-US", "Polly.Joanna", "follow-up service")],
)
def test_prompts_are_said_in_the_call_language_with_its_voice(
    language: str, voice: str, fragment: str
) -> None:
    """Each Say inside the Gather names the language and the Polly voice for it."""
    gather = parsed(render(first_step(), language=language, context=CONTEXT, action_url=ACTION))[0]
    (say,) = list(gather)
    assert ("Say", voice, language) == (say.tag, say.get("voice"), say.get("language"))
    assert say.text is not None and fragment in say.text
    assert "Alex Example" in say.text and "Example Hospital" in say.text


def test_names_are_escaped_not_interpreted() -> None:
    """A name with markup characters is said literally, never injected as TwiML."""
    name = 'Zoë <Hangup/> & "Co" {organisation}'
    xml = render(
        first_step(), language="en-US", context={**CONTEXT, "name": name}, action_url=ACTION
    )
    assert "<Hangup" not in xml
    assert "&lt;Hangup/&gt; &amp;" in xml
    say = parsed(xml)[0][0]
    assert say.text is not None and f"If you are {name}, press 1." in say.text


def test_step_without_gather_says_its_prompts_then_hangs_up() -> None:
    """An end step is Say elements followed by Hangup, with no Gather."""
    prompts = (Prompt({"en-US": "Thanks."}), Prompt({"en-US": "Bye {name}."}))
    root = parsed(render(Step(prompts, None), language="en-US", context=CONTEXT, action_url=ACTION))
    assert ["Say", "Say", "Hangup"] == [child.tag for child in root]
    assert ["Thanks.", "Bye Alex Example."] == [child.text for child in root[:2]]


def test_several_prompts_are_said_inside_one_gather_in_order() -> None:
    """A re-prompt comes before the question, both inside the Gather so a key interrupts."""
    step = Step((FLOW.reprompt, Prompt({"en-US": "Again?"})), Gather(1, 6))
    gather = parsed(render(step, language="en-US", context={}, action_url=ACTION))[0]
    assert ["Sorry, I did not get a valid key.", "Again?"] == [say.text for say in gather]


def test_missing_context_field_reads_as_nothing() -> None:
    """A case without a department says an empty string, not the placeholder."""
    assert "Ward , on ." == fill("Ward {department}, on {discharge_date}.", {})


def test_hangup_document_only_hangs_up() -> None:
    """The answer to an unknown call is a bare Hangup."""
    assert ["Hangup"] == [child.tag for child in parsed(hangup())]


def audio_url(file: str) -> str:
    """Where the test app would serve a prompt file."""
    return f"https://ivr.example.test/prompts/test-flow/{file}"


def test_audio_prompt_is_played_from_the_url_the_shell_builds() -> None:
    """An audio prompt is <Play> from the shell's URL; a text prompt stays <Say>."""
    prompt = Prompt({"zh-CN": Audio("greeting_zh.wav"), "en-US": "Hello {name}."})
    step = Step((prompt,), Gather(1, 6))
    zh = parsed(
        render(step, language="zh-CN", context=CONTEXT, action_url=ACTION, audio_url=audio_url)
    )[0]
    en = parsed(
        render(step, language="en-US", context=CONTEXT, action_url=ACTION, audio_url=audio_url)
    )[0]
    assert [("Play", "https://ivr.example.test/prompts/test-flow/greeting_zh.wav")] == [
        (verb.tag, verb.text) for verb in zh
    ]
    assert [("Say", "Hello Alex Example.")] == [(verb.tag, verb.text) for verb in en]


def test_audio_prompt_without_an_audio_url_is_an_error() -> None:
    """A shell that cannot locate prompt files is told so rather than saying nothing."""
    step = Step((Prompt({"en-US": Audio("bye.wav")}),), None)
    with pytest.raises(AudioPromptError, match=r"bye\.wav"):
        render(step, language="en-US", context={}, action_url=ACTION)


def test_transfer_step_says_its_prompt_then_dials_the_number_from_the_context() -> None:
    """A dial step is Say then Dial to the filled-in number, and no Hangup before it."""
    step = Step((Prompt({"en-US": "Connecting you."}),), None, dial="{transfer_number}")
    context = {**CONTEXT, "transfer_number": "+15005550006"}
    root = parsed(render(step, language="en-US", context=context, action_url=ACTION))
    assert [("Say", "Connecting you."), ("Dial", "+15005550006")] == [
        (verb.tag, verb.text) for verb in root
    ]


def test_transfer_without_a_number_hangs_up_after_the_prompt() -> None:
    """No line configured: the prompt, then a hang-up rather than an empty Dial."""
    step = Step((Prompt({"en-US": "Connecting you."}),), None, dial="{transfer_number}")
    root = parsed(render(step, language="en-US", context=CONTEXT, action_url=ACTION))
    assert ["Say", "Hangup"] == [verb.tag for verb in root]


def test_sensitive_gather_renders_like_any_gather() -> None:
    """The recording pause is the shell's job: the TwiML of a verify step is a plain Gather."""
    step = Step((Prompt({"en-US": "Date of birth."}),), Gather(8, 10, "#"), sensitive=True)
    gather = parsed(render(step, language="en-US", context={}, action_url=ACTION))[0]
    assert ("Gather", "8", "#") == (gather.tag, gather.get("numDigits"), gather.get("finishOnKey"))
