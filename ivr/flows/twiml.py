"""Render an engine step as TwiML with the twilio library."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from twilio.twiml.voice_response import Gather, VoiceResponse

from ivr.flows.model import Audio, Prompt, Step

# Amazon Polly voices Twilio offers for each language the flows speak.
VOICES: Mapping[str, str] = {"zh-CN": "Polly.Zhiyu", "en-US": "Polly.Joanna"}


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        # The loader only lets known placeholders through; an empty field reads as nothing.
        return ""


def fill(text: str, context: Mapping[str, str]) -> str:
    """Put case fields into a prompt text."""
    return text.format_map(_Blank(context))


class AudioPromptError(Exception):
    """A step plays an audio prompt but the caller gave no audio_url to locate it."""


def render(
    step: Step,
    *,
    language: str,
    context: Mapping[str, str],
    action_url: str,
    audio_url: Callable[[str], str] | None = None,
) -> str:
    """TwiML for one step: the prompts inside a Gather that posts to action_url, a Dial, or a
    hang-up. audio_url turns an audio prompt's file name into the URL Twilio fetches it from."""
    response = VoiceResponse()
    if step.gather is None:
        _speak(response, step.prompts, language, context, audio_url)
        if step.dial is None:
            response.hangup()
            return str(response)
        number = fill(step.dial, context).strip()
        if number:
            # Nothing follows the Dial: when the person hangs up, the call ends.
            response.dial(number)
        else:
            # No line configured for this campaign: better a hang-up than a Twilio error.
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
    _speak(gather, step.prompts, language, context, audio_url)
    return str(response)


def _speak(
    verb: VoiceResponse | Gather,
    prompts: tuple[Prompt, ...],
    language: str,
    context: Mapping[str, str],
    audio_url: Callable[[str], str] | None,
) -> None:
    voice = VOICES.get(language)
    for prompt in prompts:
        part = prompt.part(language)
        if isinstance(part, Audio):
            if audio_url is None:
                raise AudioPromptError(f"audio prompt {part.file!r} needs an audio_url")
            verb.play(audio_url(part.file))
        else:
            verb.say(fill(part, context), voice=voice, language=language)


def hangup() -> str:
    """A document that ends the call at once."""
    response = VoiceResponse()
    response.hangup()
    return str(response)


# Said after an answering machine's beep. Only who called and that they will call again: a
# voicemail can be heard by anyone in the household, so nothing about the case is in it.
MACHINE_MESSAGES: Mapping[str, str] = {
    "zh-CN": "您好。这里是{organisation}。我们稍后会再给您来电。再见。",
    "en-US": "Hello, this is {organisation}. We will call you again later. Goodbye.",
}


def machine_message(organisation: str, language: str) -> str:
    """A document that leaves the short message on an answering machine, then hangs up."""
    text = MACHINE_MESSAGES.get(language, MACHINE_MESSAGES["en-US"])
    response = VoiceResponse()
    response.say(
        text.format(organisation=organisation),
        voice=VOICES.get(language),
        language=language if language in MACHINE_MESSAGES else "en-US",
    )
    response.hangup()
    return str(response)


# Said as soon as the call is answered, while answering-machine detection is still listening.
# Only the organisation: whoever (or whatever) picked up may not be the contact, and a voicemail
# keeps what it hears, so no name and nothing about the case is in it.
OPENINGS: Mapping[str, str] = {
    "zh-CN": "您好，这里是{organisation}回访中心。",  # noqa: RUF001 (Chinese punctuation)
    "en-US": "Hello, this is the {organisation} follow-up service.",
}
OPENING_PAUSE_S = 1  # after the greeting; the two together hold the call for about 4 s


def opening(organisation: str, language: str, redirect_url: str) -> str:
    """A document that says the neutral greeting, pauses, then POSTs to redirect_url."""
    known = language if language in OPENINGS else "en-US"
    response = VoiceResponse()
    response.say(
        OPENINGS[known].format(organisation=organisation), voice=VOICES.get(known), language=known
    )
    response.pause(length=OPENING_PAUSE_S)
    response.redirect(redirect_url, method="POST")
    return str(response)
