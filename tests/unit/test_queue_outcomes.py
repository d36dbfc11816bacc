"""Resolution rules without a database: outcomes per template, evidence, seller, notes, scans."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ivr.campaigns.options import OptionError
from ivr.campaigns.templates import TEMPLATES, resolve_options, template
from ivr.config import ConfigError, load_settings
from ivr.queue.errors import EvidenceError
from ivr.queue.evidence import Scan, check_scan
from ivr.queue.history import masked
from ivr.queue.outcomes import ResolutionRules, is_seller, missing_evidence, rules_for

COOLING_OFF = rules_for("cooling-off", template("cooling-off").defaults)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_has_outcomes_and_a_way_to_close_the_unreachable(name: str) -> None:
    """Each program offers a list, and every list can close a case nobody answers."""
    rules = rules_for(name, template(name).defaults)
    assert "unreachable_closed" in rules.outcomes
    assert len(rules.outcomes) == len(set(rules.outcomes)) >= 4


def test_the_cooling_off_outcomes_are_the_insurers() -> None:
    """The list the insurer's rules name, in that order."""
    assert (
        "confirmed",
        "refund_cancelled",
        "explained_again",
        "letter_sent",
        "home_visit",
        "unreachable_closed",
    ) == COOLING_OFF.outcomes


def test_a_campaign_older_than_the_option_gets_its_templates_outcomes() -> None:
    """Stored options without `outcomes` fall back to the template's defaults."""
    options = {k: v for k, v in template("post-discharge").defaults.items() if k != "outcomes"}
    assert ("advice_given", "referred_to_doctor", "no_action_needed", "unreachable_closed") == (
        rules_for("post-discharge", options).outcomes
    )


def test_outcomes_and_evidence_reasons_are_options() -> None:
    """A campaign sets its own list; bad names and unknown reasons are refused."""
    options = resolve_options(
        template("renovation"),
        {"outcomes": "Fixed, refunded,fixed", "evidence_reasons": "complaint"},
    )
    assert "fixed,refunded" == options["outcomes"]
    rules = rules_for("renovation", options)
    assert (("fixed", "refunded"), True) == (rules.outcomes, rules.needs_evidence("complaint"))
    with pytest.raises(OptionError, match="lower-case words"):
        resolve_options(template("renovation"), {"outcomes": "done!"})
    with pytest.raises(OptionError, match="at least one outcome"):
        resolve_options(template("renovation"), {"outcomes": " , "})
    with pytest.raises(OptionError, match="unknown escalation reason"):
        resolve_options(template("renovation"), {"evidence_reasons": "gossip"})


@pytest.mark.parametrize(
    ("reason", "outcome", "recordings", "scans", "refused"),
    [
        ("missell_suspected", "confirmed", 0, 0, "only with evidence"),
        ("missell_suspected", "confirmed", 1, 0, None),
        ("missell_suspected", "confirmed", 0, 1, None),
        ("missell_suspected", "letter_sent", 1, 0, "needs a scan"),
        ("missell_suspected", "home_visit", 0, 1, None),
        ("identity_failed", "letter_sent", 0, 0, "needs a scan"),
        ("identity_failed", "letter_sent", 1, 0, "not a letter or a visit"),
        ("identity_failed", "letter_sent", 0, 1, None),
        ("partial", "home_visit", 0, 0, "signed"),
        ("partial", "home_visit", 0, 1, None),
        ("partial", "unreachable_closed", 0, 0, None),
    ],
)
def test_which_resolutions_need_evidence(
    reason: str, outcome: str, recordings: int, scans: int, refused: str | None
) -> None:
    """missell_suspected needs a recording or a scan; a letter or a visit always the scan."""
    problem = missing_evidence(
        COOLING_OFF, reason=reason, outcome=outcome, recordings=recordings, scans=scans
    )
    if refused is None:
        assert problem is None
    else:
        assert problem is not None and refused in problem


def test_a_campaigns_evidence_reasons_add_to_missell_suspected() -> None:
    """Campaign reasons are added; missell_suspected cannot be taken off."""
    rules = ResolutionRules(("done",), frozenset({"complaint"}))
    assert (True, True, False) == (
        rules.needs_evidence("complaint"),
        rules.needs_evidence("missell_suspected"),
        rules.needs_evidence("partial"),
    )


@pytest.mark.parametrize(
    ("seller", "username", "expected"),
    [
        ("  Wang.Li ", "wang.li", True),
        ("WANG.LI", "wang.li", True),
        ("wang.lin", "wang.li", False),
        ("", "wang.li", False),
        (None, "wang.li", False),
        (42, "wang.li", False),
    ],
)
def test_the_seller_is_compared_trimmed_and_case_insensitively(
    seller: object, username: str, expected: bool
) -> None:
    """case.details["seller"] against the user name."""
    assert expected == is_seller(seller, username)


def test_notes_in_the_history_mask_long_numbers_and_stay_short() -> None:
    """Phone, ID and policy numbers never reach the history in full."""
    assert "called ••• twice, left msg" == masked("called +86 138-0013-8000 twice,\nleft msg")
    assert "room 12, 3 pills" == masked("room 12, 3 pills")
    assert 300 == len(masked("x" * 1000) or "")
    assert masked(None) is None


@pytest.mark.parametrize(
    ("data", "filename", "media_type", "extension"),
    [
        (b"%PDF-1.7 ...", "Receipt.PDF", "application/pdf", ".pdf"),
        (b"\x89PNG\r\n\x1a\n....", "a.png", "image/png", ".png"),
        (b"\xff\xd8\xff\xe0....", "a.jpeg", "image/jpeg", ".jpg"),
        (b"MM\x00*....", "a.tiff", "image/tiff", ".tif"),
    ],
)
def test_a_scan_is_typed_by_extension_and_content(
    data: bytes, filename: str, media_type: str, extension: str
) -> None:
    """One extension per type, so one content gives one path."""
    checked = check_scan(Scan(data, filename))
    assert (media_type, extension) == (checked.media_type, checked.extension)
    assert checked.path(datetime(2030, 2, 1, tzinfo=UTC)).startswith("evidence/2030/02/")


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"", "a.pdf", "empty"),
        (b"%PDF-", "a.docx", "PDF, PNG, JPEG or TIFF"),
        (b"GIF89a", "a.png", "not a PNG file"),
        (b"%PDF-" + b"0" * (20 * 1024 * 1024), "a.pdf", "at most 20 MB"),
    ],
)
def test_unusable_scans_are_refused(data: bytes, filename: str, message: str) -> None:
    """Empty, unknown, mislabelled or oversized files are not evidence."""
    with pytest.raises(EvidenceError, match=message):
        check_scan(Scan(data, filename))


def test_the_claim_idle_time_comes_from_the_environment() -> None:
    """IVR_CLAIM_IDLE_MINUTES: default 30, whole minutes up to a day."""
    assert 30 == load_settings({}).claim_idle_minutes
    assert 45 == load_settings({"IVR_CLAIM_IDLE_MINUTES": "45"}).claim_idle_minutes
    with pytest.raises(ConfigError, match="IVR_CLAIM_IDLE_MINUTES"):
        load_settings({"IVR_CLAIM_IDLE_MINUTES": "0"})
