"""Render an engine step as TwiML with the twilio library."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.twiml.voice_response import VoiceResponse

from ivr.flows.model import Step

# Amazon Polly voices Twilio offers for each language the flows speak.
VOICES: Mapping[str, str] = {"zh-CN": "Polly.Zhiyu", "en-US": "Polly.Joanna"}


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        # The loader only lets known placeholders through; an empty field reads as nothing.
        return ""


def fill(text: str, context: Mapping[str, str]) -> str:
    """Put case fields into a prompt text."""
    return text.format_map(_Blank(context))


def render(step: Step, *, language: str, context: Mapping[str, str], action_url: str) -> str:
    """TwiML for one step: the prompts inside a Gather that posts to action_url, or a hang-up."""
    response = VoiceResponse()
    voice = VOICES.get(language)
    texts = [fill(prompt.text(language), context) for prompt in step.prompts]
    if step.gather is None:
        for text in texts:
            response.say(text, voice=voice, language=language)
        response.hangup()
        return str(response)
    gather = response.gather(
        input="dtmf",
        num_digits=step.gather.num_digits,
        timeout=step.gather.timeout_s,
        finish_on_key=step.gather.finish_on_key,
        action=action_url,
        method="POST",
        # Without it a silent caller falls through to the end of the document and is hung up on;
        # the engine wants to see the silence to re-prompt.
        action_on_empty_result=True,
    )
    for text in texts:
        gather.say(text, voice=voice, language=language)
    return str(response)


def hangup() -> str:
    """A document that ends the call at once."""
    response = VoiceResponse()
    response.hangup()
    return str(response)
