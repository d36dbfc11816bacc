"""The neutral opening: what an answered call hears first while AMD decides, and its TwiML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from ivr.flows.twiml import OPENING_PAUSE_S, OPENINGS, VOICES, opening
from ivr.webhooks.routes import Opening, choose_opening

REDIRECT = "https://ivr.example.test/twilio/voice?attempt=42&held=1"


@pytest.mark.parametrize(
    ("answered_by", "held", "started", "expected"),
    [
        (None, False, False, Opening.HOLD),
        (None, True, False, Opening.FLOW),
        ("human", False, False, Opening.FLOW),
        ("human", True, False, Opening.FLOW),
        ("unknown", False, False, Opening.FLOW),
        ("unknown", True, False, Opening.FLOW),
        ("machine_start", False, False, Opening.MACHINE),
        ("machine_start", True, False, Opening.MACHINE),
        ("machine_end_beep", True, False, Opening.MACHINE),
        ("fax", True, False, Opening.MACHINE),
        (None, False, True, Opening.FLOW),
        ("machine_start", False, True, Opening.MACHINE),
    ],
)
def test_the_opening_follows_what_amd_has_said_so_far(
    answered_by: str | None, held: bool, started: bool, expected: Opening
) -> None:
    """Hold only before any AMD answer and only once; a machine is always ended."""
    assert expected == choose_opening(answered_by, held=held, started=started)


def test_a_voice_request_for_a_started_flow_never_holds() -> None:
    """A late duplicate of the first voice request replays the flow instead of greeting again."""
    assert Opening.FLOW == choose_opening(None, held=False, started=True)


def parsed(xml: str) -> ET.Element:
    """The Response element of a TwiML document."""
    root = ET.fromstring(xml)
    assert "Response" == root.tag
    return root


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh-CN", "您好，这里是示例医院回访中心。"),  # noqa: RUF001 (Chinese punctuation)
        ("en-US", "Hello, this is the Example Hospital follow-up service."),
    ],
)
def test_the_greeting_names_the_organisation_in_the_call_s_language(
    language: str, expected: str
) -> None:
    """One Say in the language's voice, naming only the organisation."""
    organisation = "示例医院" if language == "zh-CN" else "Example Hospital"
    say = parsed(opening(organisation, language, REDIRECT)).find("Say")
    assert say is not None
    assert (expected, VOICES[language], language) == (
        say.text,
        say.get("voice"),
        say.get("language"),
    )


def test_the_greeting_pauses_then_redirects_by_post_to_the_held_url() -> None:
    """Say, a short Pause, then a POST Redirect to exactly the URL given (query intact)."""
    root = parsed(opening("Example Hospital", "en-US", REDIRECT))
    assert ["Say", "Pause", "Redirect"] == [child.tag for child in root]
    pause, redirect = root[1], root[2]
    assert str(OPENING_PAUSE_S) == pause.get("length")
    assert ("POST", REDIRECT) == (redirect.get("method"), redirect.text)


def test_an_unknown_language_falls_back_to_english() -> None:
    """A language with no greeting is greeted in English, with the English voice."""
    say = parsed(opening("Example Hospital", "fr-FR", REDIRECT)).find("Say")
    assert say is not None
    assert ("en-US", VOICES["en-US"]) == (say.get("language"), say.get("voice"))


def test_an_organisation_with_markup_characters_is_escaped() -> None:
    """An ampersand in the organisation's name stays text, not broken XML."""
    say = parsed(opening("Care & Cure", "en-US", REDIRECT)).find("Say")
    assert say is not None and "Care & Cure" in (say.text or "")


def test_greeting_and_pause_hold_a_person_for_under_five_seconds() -> None:
    """Greeting plus pause stays short, so a person is not kept waiting on the hold."""
    # Spoken at about 15 English characters or 4.5 Mandarin characters a second.
    english = len(OPENINGS["en-US"].format(organisation="Example Hospital")) / 15
    spoken = [char for char in OPENINGS["zh-CN"].format(organisation="示例医院") if char.isalpha()]
    mandarin = len(spoken) / 4.5
    assert max(english, mandarin) + OPENING_PAUSE_S < 5.0
