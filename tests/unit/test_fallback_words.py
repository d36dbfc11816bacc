"""The fallback's pure parts: reply keywords, e-mail addresses, SMS segments, the new options."""

from __future__ import annotations

import io

import pytest

from ivr.campaigns.options import OPTIONS, campaign_config
from ivr.campaigns.templates import resolve_options, template
from ivr.cases.addresses import parse_email
from ivr.cases.columns import CARE_INSURANCE_CSV
from ivr.cases.csv_rows import CaseRow, RowError, parse_case_csv
from ivr.queue.replies import ReplyAction, classify, normalise_body
from ivr.queue.rules import TERMS, WorkingDays
from ivr.telephony.sim_messages import segments


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("1", ReplyAction.CALLBACK_REQUESTED),
        ("\uff11", ReplyAction.CALLBACK_REQUESTED),  # full-width 1
        (" 1。", ReplyAction.CALLBACK_REQUESTED),
        ("TD", ReplyAction.OPTED_OUT),
        ("td", ReplyAction.OPTED_OUT),
        ("\uff34\uff24", ReplyAction.OPTED_OUT),  # full-width TD
        ("退订", ReplyAction.OPTED_OUT),
        ("取消", ReplyAction.OPTED_OUT),
        ("Stop", ReplyAction.OPTED_OUT),
        ("UNSUBSCRIBE!", ReplyAction.OPTED_OUT),
        ("11", ReplyAction.SMS_REPLY),
        ("1 please", ReplyAction.SMS_REPLY),
        ("stop calling at night", ReplyAction.SMS_REPLY),
        ("", ReplyAction.SMS_REPLY),
    ],
)
def test_a_reply_is_read_as_a_keyword_only_when_it_is_one(body: str, expected: ReplyAction) -> None:
    """Whole-message keywords only: a sentence that contains one is a person's text."""
    assert expected == classify(body)


def test_normalising_folds_width_and_case() -> None:
    """NFKC turns full-width letters to ASCII before the case is folded."""
    assert "td" == normalise_body(" \uff34\uff24\n")


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("name@example.com", "name@example.com"),
        ("  First.Last+care@Example.ORG ", "First.Last+care@example.org"),
        ("someone@例子.中国", "someone@xn--fsqu00a.xn--fiqs8s"),
    ],
)
def test_addresses_are_normalised(cell: str, expected: str) -> None:
    """Trimmed; the domain lower-cased and IDNA-encoded; the mailbox as written."""
    assert expected == parse_email(cell)


@pytest.mark.parametrize(
    "cell",
    [
        "nobody-here",
        "nobody-here@",
        "@nowhere.example",
        "name@example",
        "name@@example.com",
        "a b@example.com",
        "one@example.com, two@example.com",
        "Name <name@example.com>",
        "name@-example.com",
        "name@example.c",
        ".name@example.com",
        "na..me@example.com",
        "x" * 65 + "@example.com",
        "name@" + "a" * 250 + ".com",
        "+12025550100",
    ],
)
def test_what_is_not_one_address_is_refused_without_echoing_it(cell: str) -> None:
    """The reason names the rule, never the cell."""
    with pytest.raises(ValueError) as refused:
        parse_email(cell)
    assert cell.strip() not in str(refused.value)


def test_the_care_csv_takes_an_optional_email_column() -> None:
    """Blank is fine; a bad address rejects its line with a per-column reason."""
    header = "external_ref,name,phone,hospital_exit_date,frequency,service,provider,"
    header += "next_appointment,email\n"
    row = "C-{n},测试,+1202555010{n},2030-01-06,monthly,home nursing,Care Co,2030-02-01,{email}\n"
    text = header + "".join(
        row.format(n=n, email=email)
        for n, email in enumerate(["a@example.com", "", "a@example"], start=1)
    )
    rows = list(parse_case_csv(io.StringIO(text), spec=CARE_INSURANCE_CSV, default_region="US"))

    first, second, third = rows
    assert isinstance(first, CaseRow) and isinstance(second, CaseRow)
    assert ("a@example.com", None) == (first.email, second.email)
    assert isinstance(third, RowError)
    assert "email: the part after @ is not a domain such as example.com" == third.reason


@pytest.mark.parametrize(
    ("body", "expected"),
    [("1", 1), ("x" * 160, 1), ("x" * 161, 2), ("退订", 1), ("回" * 70, 1), ("回" * 71, 2)],
)
def test_segments_count_as_twilio_counts_them(body: str, expected: int) -> None:
    """GSM-7: 160 a message, 153 when split; anything else UCS-2: 70, then 67."""
    assert expected == segments(body)


def test_care_insurance_takes_the_fallback_options_with_safe_defaults() -> None:
    """E-mail off and close by default: today's behaviour unless a campaign asks."""
    config = campaign_config(template("care-insurance").defaults)
    assert (True, False, "close") == (
        config.sms_when_unreachable,
        config.email_when_unreachable,
        config.after_unreachable,
    )
    options = resolve_options(
        template("care-insurance"),
        {"email_when_unreachable": "yes", "after_unreachable": "PAUSE"},
    )
    assert ("yes", "pause") == (options["email_when_unreachable"], options["after_unreachable"])
    assert "after_unreachable" in OPTIONS


def test_a_campaign_stored_before_the_options_closes_and_sends_no_e_mail() -> None:
    """Old stored options lack the keys: the config falls back to close, no e-mail."""
    stored = {
        k: v
        for k, v in template("care-insurance").defaults.items()
        if k not in ("email_when_unreachable", "after_unreachable")
    }
    config = campaign_config(stored)
    assert (False, "close") == (config.email_when_unreachable, config.after_unreachable)


def test_the_reply_reasons_have_their_terms_and_are_valid_option_reasons() -> None:
    """callback_requested: priority 2, a working day; sms_reply: priority 3, 72 hours."""
    assert (2, WorkingDays(1)) == (
        TERMS["callback_requested"].priority,
        TERMS["callback_requested"].sla,
    )
    assert 3 == TERMS["sms_reply"].priority
    parsed = OPTIONS["same_day_reasons"].parse("callback_requested,sms_reply")
    assert frozenset({"callback_requested", "sms_reply"}) == parsed
