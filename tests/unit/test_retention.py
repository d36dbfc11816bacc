"""Retention rules: the options, the insurer rule's dates, periods from anchor or close."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from ivr.campaigns.options import OptionError, campaign_config
from ivr.campaigns.templates import TEMPLATES, resolve_options, template
from recordings.retention import (
    CaseDates,
    CountFrom,
    RetentionRule,
    add_years,
    format_retention,
    parse_retention,
    retention_for,
    rule_from_options,
)

ANCHOR = date(2030, 1, 7)
INSURER = RetentionRule(insurer=True)


def dates(done_on: date | None = None, **details: Any) -> CaseDates:
    """A case anchored on ANCHOR with these details."""
    return CaseDates(anchor=ANCHOR, done_on=done_on, details=details)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("insurer", RetentionRule(insurer=True)),
        (" Insurer ", RetentionRule(insurer=True)),
        ("30y", RetentionRule(years=30)),
        ("15Y", RetentionRule(years=15)),
        ("180d", RetentionRule(days=180)),
    ],
)
def test_retention_option_reads_insurer_or_a_period(text: str, rule: RetentionRule) -> None:
    """The option takes the insurer rule or whole years or days, and writes them back the same."""
    assert rule == parse_retention(text)
    assert text.strip().lower() == format_retention(parse_retention(text))


@pytest.mark.parametrize("text", ["", "30", "30m", "6w", "0y", "0d", "101y", "forever", "-1y"])
def test_retention_option_refuses_anything_else(text: str) -> None:
    """No unit, an unknown unit, zero or an absurd length is refused, never read as 'keep'."""
    with pytest.raises(ValueError):
        parse_retention(text)


@pytest.mark.parametrize(
    ("term_months", "until"),
    [
        (12, date(2036, 6, 30)),  # one year or less: 5 years after the end
        ("12", date(2036, 6, 30)),  # as a CSV or JSON string
        (1, date(2036, 6, 30)),
        (13, date(2041, 6, 30)),  # longer: 10 years after the end
        (240, date(2041, 6, 30)),
    ],
)
def test_insurer_rule_counts_5_or_10_years_from_the_contract_end(
    term_months: Any, until: date
) -> None:
    """Terms up to 12 months keep 5 years after contract_end; longer terms 10 years."""
    retention = retention_for(INSURER, dates(contract_end="2031-06-30", term_months=term_months))
    assert until == retention.until
    assert not retention.unknown
    assert "contract_end 2031-06-30" in retention.rule


def test_insurer_rule_without_the_contract_end_never_lets_the_recording_go() -> None:
    """No contract_end: any date guessed from the anchor could come before the rule's."""
    retention = retention_for(INSURER, dates())
    assert retention.unknown and retention.until is None
    assert not retention.due(date(2200, 1, 1))
    assert "no contract_end" in retention.rule


def test_insurer_rule_with_an_end_but_no_term_takes_the_longer_period() -> None:
    """An unknown term is read as over one year: 10 years after the end."""
    retention = retention_for(INSURER, dates(contract_end="2031-06-30"))
    assert date(2041, 6, 30) == retention.until
    assert "term unknown" in retention.rule


@pytest.mark.parametrize(
    "details",
    [
        {"contract_end": "30/06/2031", "term_months": 12},
        {"contract_end": "2031-02-30", "term_months": 12},
        {"contract_end": "\uff12\uff10\uff13\uff11-06-30", "term_months": 12},  # full-width
        {"contract_end": "2031-06-30", "term_months": "twelve"},
        {"contract_end": "2031-06-30", "term_months": 0},
        {"contract_end": "2031-06-30", "term_months": "1.5"},
    ],
)
def test_insurer_rule_with_malformed_details_gives_no_date(details: dict[str, Any]) -> None:
    """Bad data never leads to a deletion: retention is unknown until the case is corrected."""
    retention = retention_for(INSURER, dates(**details))
    assert retention.until is None and retention.unknown
    assert not retention.due(date(2200, 1, 1))


def test_period_counts_from_the_anchor_date() -> None:
    """30y from anchor is the same day 30 years on; 180d is 180 days on."""
    assert date(2060, 1, 7) == retention_for(RetentionRule(years=30), dates()).until
    assert date(2030, 7, 6) == retention_for(RetentionRule(days=180), dates()).until


def test_period_from_done_counts_from_the_day_the_case_closed() -> None:
    """retention_from=done counts from the closing day, not the anchor."""
    rule = RetentionRule(years=15, count_from=CountFrom.DONE)
    assert date(2045, 3, 2) == retention_for(rule, dates(done_on=date(2030, 3, 2))).until


def test_done_rule_with_an_open_case_is_never_due() -> None:
    """An open case has no closing day yet: no date, not unknown, never due."""
    for rule in (RetentionRule(days=1, count_from=CountFrom.DONE), INSURER):
        open_rule = RetentionRule(rule.insurer, rule.years, rule.days, CountFrom.DONE)
        retention = retention_for(open_rule, dates())
        assert retention.until is None
        assert not retention.unknown
        assert not retention.due(date(2200, 1, 1))
        assert "still open" in retention.rule


def test_insurer_rule_counts_from_the_contract_end_even_with_retention_from_done() -> None:
    """retention_from=done only decides when an open case may start counting."""
    rule = RetentionRule(insurer=True, count_from=CountFrom.DONE)
    closed = dates(done_on=date(2030, 2, 1), contract_end="2031-06-30", term_months="12")
    assert date(2036, 6, 30) == retention_for(rule, closed).until


def test_retain_until_is_the_first_day_deletion_is_allowed() -> None:
    """Due on retain_until itself, not the day before."""
    retention = retention_for(RetentionRule(days=10), dates())
    assert retention.due(date(2030, 1, 17))
    assert not retention.due(date(2030, 1, 16))


def test_29_february_plus_years_lands_on_1_march() -> None:
    """The later reading of a year after a leap day: kept a day longer, never a day short."""
    assert date(2029, 3, 1) == add_years(date(2028, 2, 29), 1)
    assert date(2032, 2, 29) == add_years(date(2028, 2, 29), 4)


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("post-discharge", RetentionRule(years=30)),
        ("post-discharge-72h", RetentionRule(years=30)),
        ("post-discharge-1w", RetentionRule(years=30)),
        ("clinic-treated", RetentionRule(years=15)),
        ("clinic-visitor", RetentionRule(years=3)),
        ("renovation", RetentionRule(years=5)),
        ("cooling-off", RetentionRule(insurer=True)),
        ("care-insurance", RetentionRule(insurer=True)),
    ],
)
def test_templates_default_to_their_programs_retention(name: str, rule: RetentionRule) -> None:
    """Hospitals 30 years, clinics 15 (treated) or 3 (visitors), insurers their rule."""
    assert rule == campaign_config(resolve_options(template(name), {})).retention


def test_every_template_takes_both_retention_options() -> None:
    """A campaign of any program can change its retention and what it counts from."""
    for tpl in TEMPLATES.values():
        assert {"retention", "retention_from"} <= set(tpl.defaults), tpl.name
        assert "anchor" == tpl.defaults["retention_from"]


def test_retention_can_be_overridden_per_campaign() -> None:
    """--set retention=10y --set retention_from=done is parsed into the campaign's rule."""
    options = resolve_options(
        template("post-discharge"), {"retention": "10Y", "retention_from": "Done"}
    )
    assert ("10y", "done") == (options["retention"], options["retention_from"])
    assert RetentionRule(years=10, count_from=CountFrom.DONE) == campaign_config(options).retention


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"retention": "30"}, "retention='30'"),
        ({"retention_from": "discharge"}, "must be anchor or done"),
    ],
)
def test_bad_retention_options_are_refused_at_creation(
    overrides: dict[str, str], message: str
) -> None:
    """A typo is refused when the campaign is created, never found at purge time."""
    with pytest.raises(OptionError) as caught:
        resolve_options(template("post-discharge"), overrides)
    assert message in str(caught.value)


def test_campaign_older_than_the_options_has_no_rule() -> None:
    """Stored options without the keys: no rule, so its recordings are never purged."""
    old = {
        key: value
        for key, value in resolve_options(template("post-discharge"), {}).items()
        if not key.startswith("retention")
    }
    assert rule_from_options(old) is None
    assert campaign_config(old).retention is None
