"""A campaign's own escalation terms (options sla and priority), and scans typed by content."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ivr.calendar import WorkCalendar
from ivr.campaigns.options import (
    OptionError,
    apply_per_reason,
    campaign_config,
    campaign_terms,
    parse_overrides,
)
from ivr.campaigns.service import unset_reasons
from ivr.campaigns.templates import resolve_options, template
from ivr.flows.loader import parse_flow_text
from ivr.queue.errors import EvidenceError
from ivr.queue.evidence import check_upload, sniff_extension
from ivr.queue.rules import (
    DEFAULT_TERMS,
    GLOBAL_TERMS,
    Terms,
    TermTable,
    WorkingDays,
    due_at,
    format_sla_terms,
    parse_priorities,
    parse_sla_terms,
)

CN = WorkCalendar("CN")
# Monday 2 March 2026, 10:00 in Beijing: an ordinary working week.
MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n% a fictional signed receipt\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def test_the_sla_option_reads_working_days_and_clock_durations() -> None:
    """3wd is working days; 4h, 2d and 1d12h are elapsed time; written back sorted."""
    terms = parse_sla_terms(" complaint=3WD, callback_requested=4h,my_reason=1d12h")
    assert {
        "complaint": WorkingDays(3),
        "callback_requested": timedelta(hours=4),
        "my_reason": timedelta(hours=36),
    } == terms
    assert "callback_requested=4h,complaint=3wd,my_reason=1d12h" == format_sla_terms(terms)
    assert {} == parse_sla_terms("none")
    assert "none" == format_sla_terms({})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("complaint", "is not REASON=TERM"),
        ("complaint=", "is not REASON=TERM"),
        ("Bad Reason=3wd", "lower-case word"),
        ("complaint=3x", "is not a term such as 3wd"),
        ("complaint=0wd", "working days are 1 to 60"),
        ("complaint=0h", "more than 0"),
        ("complaint=91d", "at most 90d"),
        ("complaint=3wd,complaint=2wd", "given twice"),
        ("missell_suspected=16wd", "within 15 working days"),
        ("missell_suspected=16d", "within 15 working days"),
    ],
)
def test_bad_sla_terms_say_what_is_wrong(text: str, message: str) -> None:
    """Each mistake is named; the regulator's 15 working days cannot be lengthened."""
    with pytest.raises(ValueError, match=message):
        parse_sla_terms(text)


def test_a_suspected_missale_may_be_given_less_time_than_the_regulators() -> None:
    """Shorter is allowed: the 15 working days are a maximum."""
    assert {"missell_suspected": WorkingDays(10)} == parse_sla_terms("missell_suspected=10wd")


def test_priorities_are_1_to_9() -> None:
    """1 is the most urgent; anything else is refused."""
    assert {"complaint": 1, "sms_reply": 2} == parse_priorities("complaint=1,sms_reply=2")
    for bad in ("complaint=0", "complaint=10", "complaint=high"):
        with pytest.raises(ValueError, match="a priority is 1"):
            parse_priorities(bad)


def test_the_campaigns_terms_override_the_defaults_and_give_new_reasons_theirs() -> None:
    """Per reason: the campaign's sla or priority, else the starting set, else the fallback."""
    table = TermTable(
        sla={"complaint": timedelta(hours=4), "my_reason": WorkingDays(2)},
        priority={"complaint": 1},
    )
    assert Terms(1, timedelta(hours=4)) == table.terms_for("complaint")
    assert Terms(3, WorkingDays(2)) == table.terms_for("my_reason")
    assert Terms(2, WorkingDays(15)) == table.terms_for("missell_suspected")
    assert DEFAULT_TERMS == table.terms_for("other_reason")
    assert ("campaign", "default", "fallback") == tuple(
        table.source(r) for r in ("my_reason", "missell_suspected", "other_reason")
    )
    assert (True, True, False) == tuple(
        table.has_sla(r) for r in ("my_reason", "partial", "other_reason")
    )
    assert "my_reason" == table.reasons()[-1]


def test_due_at_uses_the_campaigns_term() -> None:
    """A complaint due in 3 working days by default is due in 4 hours for this campaign."""
    table = TermTable(sla={"complaint": timedelta(hours=4), "my_reason": WorkingDays(2)})
    assert MONDAY + timedelta(hours=4) == due_at("complaint", MONDAY, CN, table=table)
    assert CN.add_working_days(MONDAY, 3) == due_at("complaint", MONDAY, CN)
    assert CN.add_working_days(MONDAY, 2) == due_at("my_reason", MONDAY, CN, table=table)
    assert MONDAY + timedelta(hours=72) == due_at("my_reason", MONDAY, CN, table=GLOBAL_TERMS)


def test_a_campaign_sets_terms_with_one_option_or_one_reason_at_a_time() -> None:
    """`sla=...` and `sla.REASON=...` (none removes one) end up in the same option."""
    overrides = parse_overrides(
        ["sla=complaint=3wd,partial=24h", "sla.my_reason=2d", "sla.partial=none", "priority.x=1"]
    )
    folded = apply_per_reason({"sla": "none", "priority": "none"}, overrides)
    assert {"sla": "complaint=3wd,my_reason=2d", "priority": "x=1"} == folded
    assert {"sla": "a=1h,b=2h"} == apply_per_reason({"sla": "a=1h"}, {"sla.b": "2h"})
    options = resolve_options(template("cooling-off"), folded)
    assert ("complaint=3wd,my_reason=2d", "x=1") == (options["sla"], options["priority"])
    assert Terms(1, DEFAULT_TERMS.sla) == campaign_config(options).terms.terms_for("x")


def test_a_bad_term_is_refused_at_creation_naming_the_option() -> None:
    """The error names the option, the value and the rule broken."""
    with pytest.raises(OptionError, match=r"sla='complaint=3 weeks'.*is not a term"):
        resolve_options(template("post-discharge"), {"sla": "complaint=3 weeks"})


def test_evidence_and_same_day_reasons_may_name_the_campaigns_new_reasons() -> None:
    """A reason is known when the starting set or the campaign's own terms name it."""
    options = resolve_options(
        template("renovation"),
        {
            "sla": "site_damage=4h",
            "evidence_reasons": "site_damage",
            "same_day_reasons": "site_damage",
        },
    )
    config = campaign_config(options)
    assert (frozenset({"site_damage"}), frozenset({"site_damage"})) == (
        config.evidence_reasons,
        config.same_day_reasons,
    )
    with pytest.raises(OptionError, match=r"unknown escalation reason\(s\) site_damage"):
        resolve_options(template("renovation"), {"evidence_reasons": "site_damage"})


def test_a_campaign_older_than_the_options_has_the_default_terms() -> None:
    """Stored options without sla or priority: the starting set."""
    options = {
        k: v for k, v in template("cooling-off").defaults.items() if k not in ("sla", "priority")
    }
    assert GLOBAL_TERMS == campaign_terms(options)


FLOW = """
id: custom-terms
languages: [zh-CN]
start: hello
hangup_reason: partial
reprompt: {zh-CN: 请再说一遍}
nodes:
  hello: {kind: say, prompt: {zh-CN: 您好}, next: flag}
  flag: {kind: escalate, reason: site_damage, next: known}
  known: {kind: escalate, reason: complaint, next: bye}
  bye: {kind: end, outcome: completed}
"""


def test_a_flow_reason_without_any_term_is_warned_about() -> None:
    """site_damage has no term until the campaign gives it one; complaint has the default."""
    flow = parse_flow_text(FLOW)
    assert frozenset({"site_damage", "complaint", "partial"}) == flow.escalation_reasons()
    [warning] = unset_reasons(flow, GLOBAL_TERMS)
    assert "'site_damage'" in warning and "--set sla.site_damage=" in warning
    assert [] == unset_reasons(flow, TermTable(sla={"site_damage": timedelta(hours=4)}))
    # A priority alone is not a deadline: still the fallback's 72 h.
    assert 1 == len(unset_reasons(flow, TermTable(priority={"site_damage": 1})))


@pytest.mark.parametrize(
    ("data", "filename", "media_type", "expected"),
    [
        (PDF, "receipt.pdf", "application/pdf", "application/pdf"),
        (PDF, None, None, "application/pdf"),
        (PDF, "blob", "application/octet-stream", "application/pdf"),
        (PNG, "scan.PNG", "image/png", "image/png"),
        (b"\xff\xd8\xff\xe0 jpeg", "scan.jpeg", "image/jpeg", "image/jpeg"),
    ],
)
def test_an_upload_is_typed_by_its_content(
    data: bytes, filename: str | None, media_type: str | None, expected: str
) -> None:
    """The bytes decide; a missing or generic name or type is fine."""
    assert expected == check_upload(data, filename, media_type).media_type


@pytest.mark.parametrize(
    ("data", "filename", "media_type", "message"),
    [
        (b"", "a.pdf", None, "empty"),
        (b"GIF89a....", "a.gif", "image/gif", "not a PDF, PNG, JPEG or TIFF"),
        (b"PK\x03\x04 docx", "receipt.pdf", "application/pdf", "not a PDF, PNG, JPEG or TIFF"),
        (PNG, "receipt.pdf", None, "named .pdf but its content is image/png"),
        (PDF, "receipt", "image/png", "sent as image/png but its content is application/pdf"),
        (b"%PDF-" + b"0" * (20 * 1024 * 1024), None, None, "at most 20 MB"),
    ],
)
def test_an_upload_that_is_not_what_it_claims_is_refused(
    data: bytes, filename: str | None, media_type: str | None, message: str
) -> None:
    """A renamed or mislabelled file never becomes evidence."""
    with pytest.raises(EvidenceError, match=message):
        check_upload(data, filename, media_type)


def test_sniffing_knows_the_scan_types_only() -> None:
    """One extension per type; anything else is None."""
    assert (".pdf", ".png", ".tif", None) == (
        sniff_extension(PDF),
        sniff_extension(PNG),
        sniff_extension(b"II*\x00rest"),
        sniff_extension(b"hello"),
    )
