"""Templates: their defaults, timing, columns and questions, and `ivr templates list/show`."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.campaigns.cli import templates
from ivr.campaigns.options import OPTIONS, OptionError, campaign_config
from ivr.campaigns.templates import TEMPLATES, resolve_options, template
from scheduler.planner import format_duration, parse_duration

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_resolves_its_defaults_into_a_config(name: str) -> None:
    """Defaults are valid options that parse into a call policy with a deadline."""
    config = campaign_config(resolve_options(template(name), {}))
    assert config.policy.deadline_after is not None
    assert config.policy.deadline_after > config.policy.offset


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_describes_itself(name: str) -> None:
    """A description, a meaning per column, questions, and an example that exists."""
    tpl = template(name)
    assert tpl.description
    assert all(column.meaning for column in tpl.csv.columns)
    assert tpl.questions
    assert (ROOT / tpl.example).is_file()


@pytest.mark.parametrize(
    ("name", "offset", "deadline"),
    [
        ("post-discharge", timedelta(days=7), timedelta(days=10)),
        ("post-discharge-72h", timedelta(days=1), timedelta(hours=72)),
        ("post-discharge-1w", timedelta(days=2), timedelta(days=7)),
        ("cooling-off", timedelta(0), timedelta(days=15)),
        ("care-insurance", timedelta(days=1), timedelta(days=7)),
        ("renovation", timedelta(0), timedelta(days=5)),
        ("clinic-treated", timedelta(0), timedelta(hours=21)),
        ("clinic-visitor", timedelta(days=1), timedelta(days=2)),
    ],
)
def test_template_timing_follows_the_programs_rules(
    name: str, offset: timedelta, deadline: timedelta
) -> None:
    """Each program's written rule: 7-10 days, within 72 hours, within a week, 15 days."""
    policy = campaign_config(template(name).defaults).policy
    assert (offset, deadline) == (policy.offset, policy.deadline_after)


def test_post_discharge_variants_share_the_flow_and_the_csv() -> None:
    """The 72-hour and one-week variants differ only in timing."""
    base = template("post-discharge")
    for name in ("post-discharge-72h", "post-discharge-1w"):
        variant = template(name)
        assert (base.flow, base.csv, base.questions) == (
            variant.flow,
            variant.csv,
            variant.questions,
        )


def test_cooling_off_defaults() -> None:
    """Insurer hours before 21:00, 5 attempts 4h apart, recorded, zh-CN, CN numbers."""
    config = campaign_config(template("cooling-off").defaults)
    assert ("示例人寿 (demo)", "zh-CN", "CN", True) == (
        config.organisation,
        config.language,
        config.default_region,
        config.record,
    )
    assert "09:00-12:00,14:00-20:00" == OPTIONS["windows"].format(config.policy.windows)
    assert (5, timedelta(hours=4)) == (config.policy.max_attempts, config.policy.retry_spacing)
    assert ("dob", "id_last4") == template("cooling-off").identity_facts
    assert () == template("post-discharge").identity_facts


@pytest.mark.parametrize("text", ["0h", "0d", "0s", "0m"])
def test_zero_offset_parses_and_is_written_as_0s(text: str) -> None:
    """An offset of zero (call as soon as a window opens) is a valid duration."""
    assert timedelta(0) == parse_duration(text)
    assert "0s" == format_duration(parse_duration(text))


@pytest.mark.parametrize("days", ["10", "15"])
def test_cooling_off_days_option_sets_the_deadline(days: str) -> None:
    """The campaign's cooling_off_days is the deadline of cases whose row leaves it blank."""
    options = resolve_options(template("cooling-off"), {"cooling_off_days": days})
    assert timedelta(days=int(days)) == campaign_config(options).policy.deadline_after


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("post-discharge", {"cooling_off_days": "10"}, "unknown option(s) cooling_off_days"),
        ("cooling-off", {"deadline": "20d"}, "unknown option(s) deadline"),
        ("cooling-off", {"cooling_off_days": "30"}, "must be 10 or 15"),
        ("post-discharge", {"offset": "10d"}, "deadline_after must be later than offset"),
    ],
)
def test_options_outside_the_template_or_inconsistent_are_refused(
    name: str, overrides: dict[str, str], message: str
) -> None:
    """Each template takes its own keys; a deadline before the first call is refused up front."""
    with pytest.raises(OptionError) as caught:
        resolve_options(template(name), overrides)
    assert message in str(caught.value)


def test_timing_summary_is_written_from_the_defaults() -> None:
    """The summary cannot drift from the options: it is made from them."""
    assert (
        "first call 7d after discharge_date; windows 08:00-11:00,14:00-17:00 in the contact's "
        "time zone (default Asia/Shanghai); up to 3 attempts at least 2h apart, each retry in "
        "the other half of the day if one opens within a day; deadline 10d after "
        "discharge_date; wards never called: ICU"
    ) == template("post-discharge").timing()
    cooling = template("cooling-off").timing()
    assert cooling.startswith("first call as soon as a window opens after receipt_signed_at")
    assert "cooling_off_days (10 or 15; blank: 15)" in cooling


def test_templates_list_names_every_template() -> None:
    """The table lists each template with its first call and deadline."""
    result = CliRunner().invoke(templates, ["list"])
    assert 0 == result.exit_code, result.output
    for name in TEMPLATES:
        assert name in result.output
    assert "10d/15d per case" in result.output


def test_templates_list_json_is_one_object_per_template() -> None:
    """Scripts get names, flows, anchors and identity facts."""
    result = CliRunner().invoke(templates, ["list", "--format", "json"])
    assert 0 == result.exit_code, result.output
    rows = json.loads(result.output)
    assert list(TEMPLATES) == [row["name"] for row in rows]
    by_name = {row["name"]: row for row in rows}
    assert ("cooling-off", "receipt_signed_at", ["dob", "id_last4"]) == (
        by_name["cooling-off"]["flow"],
        by_name["cooling-off"]["anchor"],
        by_name["cooling-off"]["identity_facts"],
    )


def test_templates_show_lists_columns_timing_questions_and_options() -> None:
    """A person sees what the CSV needs, when calls happen and what is asked."""
    result = CliRunner().invoke(templates, ["show", "cooling-off"])
    assert 0 == result.exit_code, result.output
    for column in template("cooling-off").csv.columns:
        assert column.name in result.output
    for expected in (
        "timing",
        "09:00-12:00,14:00-20:00",
        "hashed with IVR_SECRET_KEY",
        "missell_suspected",
        "示例人寿 (demo)",
        "examples/cooling-off.csv",
    ):
        assert expected in result.output


def test_templates_show_json_carries_the_column_spec() -> None:
    """Each column with whether it is required, its role and its meaning."""
    result = CliRunner().invoke(templates, ["show", "post-discharge-72h", "--format", "json"])
    assert 0 == result.exit_code, result.output
    info = json.loads(result.output)
    assert ("post-discharge", "discharge_date", False) == (
        info["flow"],
        info["csv"]["anchor"],
        info["csv"]["anchor_may_have_time"],
    )
    columns = {column["name"]: column for column in info["csv"]["columns"]}
    assert {"required": True, "role": "case"} == {
        key: columns["ward"][key] for key in ("required", "role")
    }
    assert "detail" == columns["doctor"]["role"]
    assert "3d" == info["options"]["deadline"]
    assert info["questions"] == list(template("post-discharge").questions)


def test_templates_show_unknown_name_lists_the_known_ones() -> None:
    """A typo is a usage error naming the templates that exist."""
    result = CliRunner().invoke(templates, ["show", "cooling"])
    assert 2 == result.exit_code
    assert "cooling-off" in result.output


@pytest.mark.parametrize(
    ("name", "windows", "attempts", "spacing"),
    [
        ("care-insurance", "09:00-12:00,14:00-18:00", 3, timedelta(hours=4)),
        ("renovation", "09:00-12:00,14:00-19:00", 3, timedelta(hours=3)),
        ("clinic-treated", "18:00-20:30", 2, timedelta(hours=1)),
        ("clinic-visitor", "11:30-13:30", 2, timedelta(hours=1)),
    ],
)
def test_service_templates_call_in_their_hours(
    name: str, windows: str, attempts: int, spacing: timedelta
) -> None:
    """Care by day, renovation into the evening, the treated in the evening, visitors at noon."""
    config = campaign_config(template(name).defaults)
    assert (windows, attempts, spacing, True) == (
        OPTIONS["windows"].format(config.policy.windows),
        config.policy.max_attempts,
        config.policy.retry_spacing,
        config.record,
    )


def test_renovation_complaints_are_due_the_same_day_by_default() -> None:
    """Only renovation campaigns take same_day_reasons; its default is complaint."""
    assert (
        frozenset({"complaint"})
        == campaign_config(template("renovation").defaults).same_day_reasons
    )
    assert frozenset() == campaign_config(template("clinic-treated").defaults).same_day_reasons
    options = resolve_options(
        template("renovation"), {"same_day_reasons": "complaint, requested_agent"}
    )
    assert "complaint,requested_agent" == options["same_day_reasons"]
    none = resolve_options(template("renovation"), {"same_day_reasons": "none"})
    assert frozenset() == campaign_config(none).same_day_reasons
    assert "due the same working day: complaint" in template("renovation").timing()


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        (
            "renovation",
            {"same_day_reasons": "complaints"},
            "unknown escalation reason(s) complaints",
        ),
        ("post-discharge", {"same_day_reasons": "complaint"}, "unknown option(s) same_day_reasons"),
    ],
)
def test_same_day_reasons_are_checked(name: str, overrides: dict[str, str], message: str) -> None:
    """A typo in a reason, or the option on another template, is refused at creation."""
    with pytest.raises(OptionError) as caught:
        resolve_options(template(name), overrides)
    assert message in str(caught.value)


def test_renovation_and_care_timing_say_what_the_options_cannot() -> None:
    """Three calls per job; follow-ups per frequency; bought visitors never called."""
    renovation = template("renovation").timing()
    assert renovation.startswith("first call as soon as a window opens after the call day")
    assert "<job>-start, -mid and -end" in renovation
    assert "next month, quarter or year" in template("care-insurance").timing()
    assert "bought=yes" in template("clinic-visitor").timing()


def test_templates_show_care_insurance_lists_the_appointment_question() -> None:
    """The CSV columns and the appointment question of the care flow are shown."""
    result = CliRunner().invoke(templates, ["show", "care-insurance"])
    assert 0 == result.exit_code, result.output
    for expected in ("next_appointment", "frequency", "{appointment_date}", "reschedule"):
        assert expected in result.output


@pytest.mark.parametrize(
    ("name", "rotate"),
    [
        ("post-discharge", True),
        ("post-discharge-72h", True),
        ("cooling-off", True),
        ("care-insurance", True),
        ("renovation", True),
        ("clinic-treated", False),
        ("clinic-visitor", False),
    ],
)
def test_templates_call_every_day_and_rotate_where_there_are_two_halves_of_the_day(
    name: str, rotate: bool
) -> None:
    """All days, no blackout; retries alternate morning and afternoon where both have windows."""
    policy = campaign_config(resolve_options(template(name), {})).policy
    assert (None, frozenset(), rotate) == (policy.days, policy.blackout, policy.rotate)


def test_calendar_options_round_trip_to_their_canonical_text() -> None:
    """Windows per weekday, day rule, blackout dates and rotation are stored canonically."""
    options = resolve_options(
        template("post-discharge"),
        {
            "windows": "sat 09:00-12:00; Mon-Fri 14:00-17:00 , 08:00-11:00",
            "days": "Workdays",
            "blackout": "2027-01-02, 2026-12-31..2027-01-01,2026-12-24",
            "rotate": "no",
        },
    )
    assert (
        "mon-fri 08:00-11:00,14:00-17:00; sat 09:00-12:00",
        "workdays",
        "2026-12-24,2026-12-31..2027-01-02",
        "no",
    ) == (options["windows"], options["days"], options["blackout"], options["rotate"])
    assert options == resolve_options(template("post-discharge"), options)
    policy = campaign_config(options).policy
    assert policy.days is not None and not policy.rotate
    assert 4 == len(policy.blackout)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"days": "weekdays"}, "days='weekdays': must be all, workdays, no_holidays"),
        ({"blackout": "2026-12-32"}, "blackout item 1 '2026-12-32' is not a date"),
        ({"blackout": "2027-01-02..2026-12-31"}, "ends before it starts"),
        ({"rotate": "sometimes"}, "rotate='sometimes': must be yes or no"),
        ({"windows": "mon-fry 08:00-11:00"}, "'mon-fry' is not a day"),
        ({"windows": "mon 08:00-11:00; mon 14:00-17:00"}, "mon is given calling windows twice"),
        ({"windows": "fri 22:00-02:00; sat 01:00-03:00"}, "runs past midnight into sat's"),
        ({"days": "workdays", "default_region": "AC"}, "no holiday calendar for region AC"),
    ],
)
def test_bad_calendar_options_are_refused_with_the_reason(
    overrides: dict[str, str], message: str
) -> None:
    """A typo in a day, a date or a flag is refused at creation, naming the bad part."""
    with pytest.raises(OptionError) as caught:
        resolve_options(template("post-discharge"), overrides)
    assert message in str(caught.value)


def test_campaigns_stored_before_the_calendar_options_keep_todays_behaviour() -> None:
    """Stored options without days, blackout and rotate: every day, no blackout, no rotation."""
    stored = {
        key: value
        for key, value in resolve_options(template("post-discharge"), {}).items()
        if key not in ("days", "blackout", "rotate")
    }
    policy = campaign_config(stored).policy
    assert (None, frozenset(), False) == (policy.days, policy.blackout, policy.rotate)


def test_timing_names_the_calling_days_when_they_are_not_every_day() -> None:
    """Working days only, or a blackout list, is said in the summary; the defaults are not."""
    base = template("post-discharge")
    assert "working days" not in base.timing() and "no calls on" not in base.timing()
    changed = dataclasses.replace(
        base, defaults={**base.defaults, "days": "workdays", "blackout": "2026-12-24"}
    )
    timing = changed.timing()
    assert "working days only (weekends and public holidays skipped, 调休 days called)" in timing
    assert "no calls on 2026-12-24" in timing
    holidays = dataclasses.replace(base, defaults={**base.defaults, "days": "no_holidays"})
    assert "no calls on public holidays" in holidays.timing()
